// LoRA as PEFT implements it: a LoraLinear takes the place of a projection by name
// (LlamaModel::replace_linear), keeps the frozen base weight and adds
// lora_B(lora_A(dropout(x))) · alpha / r. Adapters are saved and loaded in PEFT's own layout
// (adapter_config.json + adapter_model.safetensors with keys
// "base_model.model.<module>.lora_A.weight"), so PeftModel.from_pretrained reads ours and we read
// PEFT's. Not here: which parameters the optimiser updates (train/trainer.h).
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/llama_model.h"

namespace itl {

// r, alpha and dropout are training options (no defaults here: lib/train/trainOptions.ts holds them);
// use_rslora and target_modules are PEFT's adapter fields, fixed for a run as the study used them.
struct LoraOptions {
  int64_t r;       // rank; 0 means no adapter (full fine-tuning)
  double alpha;    // scaling = alpha / r (alpha / sqrt(r) with use_rslora)
  double dropout;  // on the adapter's input, training mode only
  bool use_rslora = false;
  // Module names as PEFT matches them: the last component of the projection's name.
  std::vector<std::string> target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
};

class LoraLinear : public Linear {
 public:
  // Wraps `base`'s weight and bias (frozen). A is Kaiming-uniform(a=√5) from `generator` as PEFT draws it
  // (uniform ±1/√in), B zero, so a new adapter leaves the model's outputs unchanged.
  LoraLinear(const Linear& base, const LoraOptions& options, at::Generator generator);
  at::Tensor forward(const at::Tensor& x) override;  // x·weightᵀ + bias + adapter_delta(x)
  bool is_linear_plus_delta() const override { return true; }
  at::Tensor adapter_delta(const at::Tensor& x) override;  // lora_B(lora_A(dropout(x))) · scaling
  // W + scaling · B A in the weight's dtype: what merging writes.
  at::Tensor merged_weight() const;
  void set_dropout_generator(at::Generator generator) { dropout_generator_ = std::move(generator); }

  std::shared_ptr<Linear> lora_A;  // (r, in)
  std::shared_ptr<Linear> lora_B;  // (out, r)
  double scaling;
  double dropout;

 private:
  at::Generator dropout_generator_;
};

// Replaces every projection whose last name component is in options.target_modules with a
// LoraLinear and freezes every other parameter of the model. `generator` draws the A matrices (in
// projection order) and then the dropout masks. Error(kConfig) when no projection matches.
void apply_lora(LlamaModel& model, const LoraOptions& options, at::Generator generator);

// The model's LoRA layers by projection name, in layer order (empty without an adapter).
std::vector<std::pair<std::string, std::shared_ptr<LoraLinear>>> lora_layers(const LlamaModel& model);

// Adapter tensors under PEFT's saved names ("base_model.model.<module>.lora_A.weight").
std::vector<std::pair<std::string, at::Tensor>> adapter_tensors(const LlamaModel& model);

// Writes adapter_config.json (PEFT's LoraConfig fields) and adapter_model.safetensors into folder;
// base_model is recorded as base_model_name_or_path. The config is written last.
void save_adapter(const LlamaModel& model, const LoraOptions& options, const std::string& base_model, const std::string& folder);

// Reads folder/adapter_config.json: r, lora_alpha, lora_dropout, target_modules, use_rslora.
// Error(kConfig) for PEFT features this engine does not implement (DoRA, bias, fan_in_fan_out,
// per-module rank/alpha patterns, layer selection), naming the field.
LoraOptions read_adapter_config(const std::string& folder);
// base_model_name_or_path of folder/adapter_config.json ("" when absent).
std::string adapter_base_model(const std::string& folder);

// Applies the adapter in `folder` to the model (apply_lora with its config unless the model already
// carries LoRA layers of that rank) and copies its tensors in. Error(kCheckpointFormat) naming a
// missing, unexpected or wrongly shaped tensor. Returns the adapter's options.
LoraOptions load_adapter(LlamaModel& model, const std::string& folder, at::Generator generator);

// The checkpoint tensors with every LoRA layer's weight replaced by its merged weight: what a full
// model saved from an adapter run holds.
std::vector<std::pair<std::string, at::Tensor>> merged_checkpoint_tensors(const LlamaModel& model);

}  // namespace itl
