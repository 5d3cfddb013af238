// Loading a LlamaModel from a Hugging Face model folder and saving one in the layout
// AutoModelForCausalLM.from_pretrained reads (config.json, model.safetensors or shards + index,
// generation_config.json). Parsing and the safetensors format itself live in io/.
#pragma once

#include <memory>
#include <string>

#include "model/llama_model.h"

namespace itl {

// Resolves NAME_OR_PATH (see resolve_model_folder), parses its config and copies every weight from
// the memory-mapped checkpoint into the model's dtype/device one tensor at a time (peak memory: the
// model plus one tensor; the mapping is page cache). Before allocating, the config is checked against
// the checkpoint's headers and the weights against the free memory (model_bounds.h: Error(kConfig),
// Error(kOutOfMemory)). Error(kCheckpointFormat) naming a missing, unexpected or wrongly shaped tensor.
std::shared_ptr<LlamaModel> load_model(const std::string& name_or_path, const ModelOptions& options);

// Copies the weights of the checkpoint in FOLDER into an existing model (same checks as load_model).
void load_weights(LlamaModel& model, const std::string& folder);

// Writes the weights (model dtype), then generation_config.json, then config.json last, so a folder
// interrupted midway has no config.json and never resolves as a model.
void save_model(const LlamaModel& model, const std::string& folder, uint64_t max_shard_bytes = 5'000'000'000ull);
// The same with the given checkpoint tensors in place of the model's own (merged LoRA weights).
void save_model(const LlamaModel& model, const std::vector<std::pair<std::string, at::Tensor>>& tensors, const std::string& folder,
                uint64_t max_shard_bytes = 5'000'000'000ull);

// Hugging Face's torch_dtype name: "float32", "bfloat16", "float16".
std::string torch_dtype_name(at::ScalarType dtype);

}  // namespace itl
