// Bounds checked before a model is allocated, so a hostile or mistaken config.json fails with a
// message instead of allocating until the kernel's OOM killer ends the process (num_hidden_layers
// 1e9 against a 4-layer checkpoint) or printing nonsense (`itl model info` of hidden_size 1e9):
// the config must agree with the checkpoint's tensor shapes (headers only), and the weights must fit
// in the memory the device has free. Not here: the shapes themselves (llama_config.cpp parses them)
// or the copy of the weights (model_io.cpp).
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <string>

#include "io/checkpoint.h"
#include "io/llama_config.h"
#include "model/llama_model.h"

namespace itl {

// Parameters a LlamaForCausalLM with CONFIG holds, from the config's numbers alone (in double: a
// hostile config overflows int64). No module is built, so a config of 1e9 layers costs nothing.
double estimated_parameter_count(const LlamaConfig& config);

// Bytes the model's weights take once loaded with OPTIONS (bf16 on the CPU with prepacking: twice).
double estimated_model_bytes(const LlamaConfig& config, const ModelOptions& options);

// CONFIG (FOLDER/config.json) against the checkpoint READER holds, reading headers only: the layer
// count first (so no model with a hostile layer count is ever built, not even on the meta device),
// then the embedding, then every tensor the model expects, by building it on the meta device.
// Error(kConfig) naming config.json, the field and both values.
void check_config_matches_checkpoint(const LlamaConfig& config, const CheckpointReader& reader, const std::string& folder);

// Error(kOutOfMemory) with the estimate and the memory available when the weights cannot fit on
// OPTIONS.device. WHAT names the model in the message.
void check_model_fits_memory(const LlamaConfig& config, const ModelOptions& options, const std::string& what);

// Bytes available for new allocations: on the CPU MemAvailable, capped by the cgroup's limit; on a
// CUDA device its free memory (through the CUDA runtime libtorch loaded); -1 when unknown.
// ITL_MEMORY_LIMIT_BYTES (a number) overrides it, for tests.
double available_memory_bytes(const c10::Device& device);

}  // namespace itl
