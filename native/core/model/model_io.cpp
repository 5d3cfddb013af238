#include "model/model_io.h"

#include <ATen/core/grad_mode.h>
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <set>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "model/model_bounds.h"
#include "util/error.h"

namespace itl {
namespace {

std::string shape_text(at::IntArrayRef shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// Keys HF checkpoints may carry that the model derives instead of storing.
bool ignorable_key(const std::string& name, const LlamaConfig& config) {
  const std::string inv = "rotary_emb.inv_freq";
  if (name.size() >= inv.size() && name.compare(name.size() - inv.size(), inv.size(), inv) == 0) return true;
  return config.tie_word_embeddings && name == "lm_head.weight";
}

std::string generation_config_json(const LlamaConfig& c) {
  nlohmann::ordered_json j;
  j["_from_model_config"] = true;
  if (c.bos_token_id) j["bos_token_id"] = *c.bos_token_id;
  if (c.eos_token_ids.size() == 1)
    j["eos_token_id"] = c.eos_token_ids[0];
  else if (!c.eos_token_ids.empty())
    j["eos_token_id"] = c.eos_token_ids;
  if (c.pad_token_id) j["pad_token_id"] = *c.pad_token_id;
  j["transformers_version"] = "4.45.0";
  return j.dump(2) + "\n";
}

}  // namespace

std::string torch_dtype_name(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
      return "float32";
    case at::kBFloat16:
      return "bfloat16";
    case at::kHalf:
      return "float16";
    default:
      throw Error(ErrorCode::kInvalidArgument, std::string("no Hugging Face dtype name for ") + c10::toString(dtype));
  }
}

std::shared_ptr<LlamaModel> load_model(const std::string& name_or_path, const ModelOptions& options) {
  const std::string folder = resolve_model_folder(name_or_path);
  LlamaConfig config = load_llama_config(folder);
  // Before anything is allocated: the config must describe the checkpoint, and the weights must fit.
  check_config_matches_checkpoint(config, CheckpointReader::open(folder), folder);
  check_model_fits_memory(config, options, folder);
  auto model = std::make_shared<LlamaModel>(std::move(config), options);
  load_weights(*model, folder);
  return model;
}

void load_weights(LlamaModel& model, const std::string& folder) {
  const CheckpointReader reader = CheckpointReader::open(folder);
  at::NoGradGuard no_grad;
  std::set<std::string> expected;
  for (auto& [name, param] : model.checkpoint_tensors()) {
    expected.insert(name);
    if (!reader.contains(name)) {
      throw Error(ErrorCode::kCheckpointFormat, "the checkpoint in " + folder + " has no tensor '" + name + "'");
    }
    const at::Tensor source = reader.tensor(name);
    if (source.sizes() != param.sizes()) {
      throw Error(ErrorCode::kCheckpointFormat, "tensor '" + name + "' in " + folder + " has shape " + shape_text(source.sizes()) +
                                                    " but config.json implies " + shape_text(param.sizes()));
    }
    param.copy_(source);
  }
  for (const std::string& name : reader.names()) {
    if (!expected.count(name) && !ignorable_key(name, model.config())) {
      throw Error(ErrorCode::kCheckpointFormat, "the checkpoint in " + folder + " has tensor '" + name + "', which a " +
                                                    model.config().model_type + " model with this config.json does not have");
    }
  }
}

void save_model(const LlamaModel& model, const std::string& folder, uint64_t max_shard_bytes) {
  save_model(model, model.checkpoint_tensors(), folder, max_shard_bytes);
}

void save_model(const LlamaModel& model, const std::vector<std::pair<std::string, at::Tensor>>& tensors, const std::string& folder,
                uint64_t max_shard_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot create the model folder " + folder + ": " + ec.message());
  LlamaConfig config = model.config();
  config.torch_dtype = torch_dtype_name(model.options().dtype);
  const std::filesystem::path dir(folder);
  std::filesystem::remove(dir / "config.json", ec);  // an older config must not vouch for half-written weights
  write_checkpoint(folder, tensors, max_shard_bytes);
  write_file_atomically((dir / "generation_config.json").string(), generation_config_json(config));
  write_file_atomically((dir / "config.json").string(), llama_config_to_json(config));
}

}  // namespace itl
