#include "train/lora.h"

#include <ATen/core/grad_mode.h>
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "io/safetensors.h"
#include "util/error.h"

namespace itl {
namespace {

const char* kAdapterConfig = "adapter_config.json";
const char* kAdapterWeights = "adapter_model.safetensors";
const std::string kPeftPrefix = "base_model.model.";

std::string last_component(const std::string& name) {
  const size_t dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

bool is_target(const std::string& name, const LoraOptions& options) {
  const std::string leaf = last_component(name);
  return std::find(options.target_modules.begin(), options.target_modules.end(), leaf) != options.target_modules.end();
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorCode::kIo, "cannot open " + path);
  std::stringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kConfig, path + " is not valid JSON: " + e.what());
  }
}

void reject_feature(bool present, const std::string& path, const std::string& field) {
  if (present) throw Error(ErrorCode::kConfig, path + ": " + field + " is set, which this engine does not implement");
}

}  // namespace

LoraLinear::LoraLinear(const Linear& base, const LoraOptions& options, at::Generator generator)
    : Linear(base.weight, base.bias), dropout(options.dropout), dropout_generator_(generator) {
  require(options.r > 0, "LoRA rank must be positive, got " + std::to_string(options.r));
  const int64_t out = weight.size(0), in = weight.size(1);
  scaling = options.use_rslora ? options.alpha / std::sqrt(static_cast<double>(options.r)) : options.alpha / options.r;
  weight.requires_grad_(false);
  if (bias.defined()) bias.requires_grad_(false);  // PEFT's bias "none": the base layer's bias stays frozen
  const at::TensorOptions t = weight.options();
  lora_A = register_module("lora_A", std::make_shared<Linear>(in, options.r, t));
  lora_B = register_module("lora_B", std::make_shared<Linear>(options.r, out, t));
  at::NoGradGuard no_grad;
  // kaiming_uniform_(a=√5): gain √(2/(1+5)), bound gain·√(3/fan_in) = 1/√fan_in.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  lora_A->weight.copy_(at::empty({options.r, in}, at::kFloat).uniform_(-bound, bound, generator));
  lora_B->weight.zero_();
}

at::Tensor LoraLinear::forward(const at::Tensor& x) { return at::linear(x, weight, bias) + adapter_delta(x); }

at::Tensor LoraLinear::adapter_delta(const at::Tensor& x) {
  at::Tensor adapter_input = x;
  if (is_training() && dropout > 0) {
    // As nn.Dropout: zero with probability p, scale the rest by 1/(1-p); our generator, not the global one.
    const at::Tensor keep = at::empty_like(x).bernoulli_(1.0 - dropout, dropout_generator_);
    adapter_input = x * keep / (1.0 - dropout);
  }
  return lora_B->forward(lora_A->forward(adapter_input)) * scaling;
}

at::Tensor LoraLinear::merged_weight() const {
  at::NoGradGuard no_grad;
  const at::Tensor delta = at::matmul(lora_B->weight.to(at::kFloat), lora_A->weight.to(at::kFloat)) * scaling;
  return (weight.to(at::kFloat) + delta).to(weight.scalar_type());
}

void apply_lora(LlamaModel& model, const LoraOptions& options, at::Generator generator) {
  require(options.r > 0, "LoRA rank must be positive, got " + std::to_string(options.r));
  require(options.dropout >= 0 && options.dropout < 1, "LoRA dropout must be in [0, 1), got " + std::to_string(options.dropout));
  require(lora_layers(model).empty(), "the model already carries LoRA layers");
  for (auto& param : model.parameters(true)) param.requires_grad_(false);
  int64_t wrapped = 0;
  for (const std::string& name : model.linear_names()) {
    if (!is_target(name, options)) continue;
    model.replace_linear(name, std::make_shared<LoraLinear>(*model.linear(name), options, generator));
    ++wrapped;
  }
  if (wrapped == 0) throw Error(ErrorCode::kConfig, "no projection of the model matches the LoRA target modules");
}

std::vector<std::pair<std::string, std::shared_ptr<LoraLinear>>> lora_layers(const LlamaModel& model) {
  std::vector<std::pair<std::string, std::shared_ptr<LoraLinear>>> out;
  for (const std::string& name : model.linear_names()) {
    if (auto lora = std::dynamic_pointer_cast<LoraLinear>(model.linear(name))) out.emplace_back(name, lora);
  }
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> adapter_tensors(const LlamaModel& model) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& [name, layer] : lora_layers(model)) {
    out.emplace_back(kPeftPrefix + name + ".lora_A.weight", layer->lora_A->weight);
    out.emplace_back(kPeftPrefix + name + ".lora_B.weight", layer->lora_B->weight);
  }
  return out;
}

void save_adapter(const LlamaModel& model, const LoraOptions& options, const std::string& base_model, const std::string& folder) {
  const auto tensors = adapter_tensors(model);
  require(!tensors.empty(), "the model has no LoRA adapter to save");
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot create the adapter folder " + folder + ": " + ec.message());
  const std::filesystem::path dir(folder);
  std::filesystem::remove(dir / kAdapterConfig, ec);
  write_safetensors((dir / kAdapterWeights).string(), tensors);
  // PEFT's LoraConfig fields (those that change the computation, plus what from_pretrained expects).
  nlohmann::ordered_json j;
  j["base_model_name_or_path"] = base_model;
  j["bias"] = "none";
  j["fan_in_fan_out"] = false;
  j["inference_mode"] = true;
  j["init_lora_weights"] = true;
  j["lora_alpha"] = options.alpha;
  j["lora_dropout"] = options.dropout;
  j["modules_to_save"] = nullptr;
  j["peft_type"] = "LORA";
  j["r"] = options.r;
  j["target_modules"] = options.target_modules;
  j["task_type"] = "CAUSAL_LM";
  j["use_dora"] = false;
  j["use_rslora"] = options.use_rslora;
  write_file_atomically((dir / kAdapterConfig).string(), j.dump(2) + "\n");
}

LoraOptions read_adapter_config(const std::string& folder) {
  const std::string path = (std::filesystem::path(folder) / kAdapterConfig).string();
  const nlohmann::json j = read_json(path);
  auto field = [&](const char* key) { return j.contains(key) && !j[key].is_null(); };
  try {
    if (field("peft_type") && j["peft_type"] != "LORA")
      throw Error(ErrorCode::kConfig, path + ": peft_type is " + j["peft_type"].dump() + ", not LORA");
    reject_feature(field("use_dora") && j["use_dora"].get<bool>(), path, "use_dora");
    reject_feature(field("bias") && j["bias"] != "none", path, "bias");
    reject_feature(field("fan_in_fan_out") && j["fan_in_fan_out"].get<bool>(), path, "fan_in_fan_out");
    reject_feature(field("rank_pattern") && !j["rank_pattern"].empty(), path, "rank_pattern");
    reject_feature(field("alpha_pattern") && !j["alpha_pattern"].empty(), path, "alpha_pattern");
    reject_feature(field("layers_to_transform"), path, "layers_to_transform");
    reject_feature(field("modules_to_save") && !j["modules_to_save"].empty(), path, "modules_to_save");
    LoraOptions options;
    if (!field("r") || !field("lora_alpha")) throw Error(ErrorCode::kConfig, path + " lacks r or lora_alpha");
    options.r = j["r"].get<int64_t>();
    options.alpha = j["lora_alpha"].get<double>();
    options.dropout = field("lora_dropout") ? j["lora_dropout"].get<double>() : 0.0;
    options.use_rslora = field("use_rslora") && j["use_rslora"].get<bool>();
    if (field("target_modules")) {
      if (!j["target_modules"].is_array()) {
        throw Error(ErrorCode::kConfig, path + ": target_modules as a regular expression is not implemented; list the module names");
      }
      options.target_modules = j["target_modules"].get<std::vector<std::string>>();
    }
    if (options.r <= 0) throw Error(ErrorCode::kConfig, path + ": r must be positive, got " + std::to_string(options.r));
    return options;
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kConfig, path + ": a field has the wrong type: " + e.what());
  }
}

std::string adapter_base_model(const std::string& folder) {
  const nlohmann::json j = read_json((std::filesystem::path(folder) / kAdapterConfig).string());
  return j.contains("base_model_name_or_path") && j["base_model_name_or_path"].is_string() ? j["base_model_name_or_path"].get<std::string>()
                                                                                           : "";
}

LoraOptions load_adapter(LlamaModel& model, const std::string& folder, at::Generator generator) {
  const LoraOptions options = read_adapter_config(folder);
  const auto existing = lora_layers(model);
  if (existing.empty()) {
    apply_lora(model, options, generator);
  } else if (existing.front().second->lora_A->weight.size(0) != options.r) {
    throw Error(ErrorCode::kConfig, "the adapter in " + folder + " has rank " + std::to_string(options.r) +
                                        " but the model carries LoRA layers of rank " +
                                        std::to_string(existing.front().second->lora_A->weight.size(0)));
  }
  const std::string path = (std::filesystem::path(folder) / kAdapterWeights).string();
  const auto file = SafeTensorsFile::open(path);
  at::NoGradGuard no_grad;
  std::set<std::string> expected;
  for (auto& [name, param] : adapter_tensors(model)) {
    expected.insert(name);
    const TensorInfo* info = file->find(name);
    if (info == nullptr) throw Error(ErrorCode::kCheckpointFormat, path + " has no tensor '" + name + "'");
    const at::Tensor source = file->tensor(name);
    if (source.sizes() != param.sizes()) {
      throw Error(ErrorCode::kCheckpointFormat, "tensor '" + name + "' in " + path + " has the wrong shape for this model and rank");
    }
    param.copy_(source);
  }
  for (const TensorInfo& info : file->header().tensors) {
    if (!expected.count(info.name)) {
      throw Error(ErrorCode::kCheckpointFormat, path + " has tensor '" + info.name + "', which the adapter of this model does not have");
    }
  }
  for (const auto& [name, layer] : lora_layers(model)) layer->dropout = options.dropout;
  return options;
}

std::vector<std::pair<std::string, at::Tensor>> merged_checkpoint_tensors(const LlamaModel& model) {
  auto tensors = model.checkpoint_tensors();
  for (const auto& [name, layer] : lora_layers(model)) {
    const std::string key = name + ".weight";
    for (auto& entry : tensors) {
      if (entry.first == key) entry.second = layer->merged_weight();
    }
  }
  return tensors;
}

}  // namespace itl
