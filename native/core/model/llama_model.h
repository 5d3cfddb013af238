// LlamaModel: Hugging Face's LlamaForCausalLM in libtorch, built for autograd, and the families that
// differ from it in a few named places, each a feature of LlamaConfig applied here: q/k/v (and o)
// biases (Qwen2; attention_bias), per-head q/k RMSNorm before RoPE (Qwen3), layers without RoPE
// (SmolLM3), a sliding window no sequence may exceed (Mistral). Modules carry the checkpoint's names
// (model.embed_tokens, model.layers.N.self_attn.q_proj, …, q_norm, model.norm, lm_head), so
// named_parameters() are exactly the safetensors keys and LoRA can later be wrapped around any Linear
// by name. Op order and dtypes follow transformers' modeling_llama.py (and modeling_qwen2/qwen3/
// smollm3/mistral.py): RMSNorm in fp32 then cast back before the weight, rope cos/sin in fp32,
// attention softmax in fp32.
// Not here: reading/writing checkpoints (model_io.h), generation and scoring (eval/).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "io/llama_config.h"
#include "model/packed_attention.h"
#include "model/packed_weight.h"

namespace itl {

// A linear layer, y = x Wᵀ (+ b), with HF's parameter names "weight" (out, in) and "bias" (out), the
// bias only where the family has one (Qwen2's q/k/v). forward is virtual so an adapter (LoRA) can
// subclass it and take its place by name (LlamaModel::replace_linear).
class Linear : public torch::nn::Module {
 public:
  Linear(int64_t in_features, int64_t out_features, const at::TensorOptions& options, bool with_bias = false);
  // Takes over an existing weight (out, in) and bias (out, or undefined): an adapter wraps the layer
  // it replaces this way.
  explicit Linear(const at::Tensor& existing_weight, const at::Tensor& existing_bias = at::Tensor());
  virtual ~Linear() = default;
  virtual at::Tensor forward(const at::Tensor& x);
  // Whether forward(x) is x·weightᵀ + bias + adapter_delta(x): true for this class and for adapters that
  // declare it (LoRA). It lets LlamaAttention/LlamaMLP compute several layers' x·weightᵀ in one
  // matmul and add each one's delta; a subclass that does not declare it keeps its own forward.
  virtual bool is_linear_plus_delta() const;
  // forward(x) − x·weightᵀ, or undefined when that is zero (a plain Linear).
  virtual at::Tensor adapter_delta(const at::Tensor& x);
  at::Tensor weight;
  at::Tensor bias;      // undefined: none
  PackedWeight packed;  // bf16 CPU inference (packed_weight.h)
};

// Token embeddings with HF's parameter name "weight" (vocab, hidden). As nn.Embedding(…, padding_idx),
// the padding row receives no gradient.
class Embedding : public torch::nn::Module {
 public:
  Embedding(int64_t vocab, int64_t hidden, int64_t padding_idx, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& ids);
  at::Tensor weight;
  int64_t padding_idx;  // -1: none
};

class RMSNorm : public torch::nn::Module {
 public:
  RMSNorm(int64_t size, double eps, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight;
  double eps;
};

// Past keys and values of every layer, preallocated to `capacity` positions so a decode step
// writes in place instead of concatenating. Inference only (written under NoGradGuard). A bf16/fp16
// model's cache on the CPU holds fp32 (the exact images of its values): see allocate.
struct KVCache {
  std::vector<at::Tensor> keys;    // per layer (B, Hkv, capacity, D)
  std::vector<at::Tensor> values;  // per layer (B, Hkv, capacity, D)
  int64_t length = 0;              // positions filled

  static KVCache allocate(const LlamaConfig& config, int64_t batch, int64_t capacity, const at::TensorOptions& options);
  int64_t capacity() const { return keys.empty() ? 0 : keys[0].size(2); }
  int64_t batch() const { return keys.empty() ? 0 : keys[0].size(0); }
  // The rows `rows` (int64 indices, repeats allowed) as a new cache of the same capacity.
  KVCache select_rows(const at::Tensor& rows) const;
};

// q_proj, k_proj and v_proj keep their own parameters (HF's names, what LoRA, the trainer and the
// checkpoint see), but their weights are row blocks of one (H·D + 2·Hkv·D, hidden) tensor, so without
// grad one matmul computes all three (bit-identical to three: each output column is the same dot
// product on this CPU's BLAS; not promised for every BLAS and shape, hence tests with a 1e-6 tolerance).
// gate_proj/up_proj in LlamaMLP the same way. The fused path is taken in inference only (no grad,
// eval mode) and only while each block is a layer whose forward is x·weightᵀ plus an adapter term
// (Linear::is_linear_plus_delta: plain or LoRA) still viewing that tensor; any other replacement, or
// weights moved elsewhere, fall back to one matmul per projection. Training always runs per projection.
// Family features: q/k/v/o biases, q_norm/k_norm (Qwen3) and no RoPE on some layers (SmolLM3).
class LlamaAttention : public torch::nn::Module {
 public:
  LlamaAttention(const LlamaConfig& config, int64_t layer, const at::TensorOptions& options);
  // x (B, T, hidden); cos/sin (B, T, D) in x's dtype; mask (B, 1, T, S) additive in x's dtype, or
  // undefined for no padding: then causal when T > 1 (only valid with no cached keys) and none when T = 1.
  // With `packed`, x is (1, N, hidden), the packed rows of that layout, attending within their segments
  // (mask undefined, no cache).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask, KVCache* cache,
                     int64_t layer, const PackedLayout* packed = nullptr);
  // The (H·D + 2·Hkv·D, hidden) tensor whose row blocks are q, k and v's weights, or undefined when
  // the projections no longer view it (see above).
  at::Tensor fused_qkv_weight() const;
  std::shared_ptr<Linear> q_proj, k_proj, v_proj, o_proj;
  std::shared_ptr<RMSNorm> q_norm, k_norm;  // Qwen3 (LlamaConfig::qk_norm), else null
  PackedWeight qkv_packed;                  // of fused_qkv_weight()

 private:
  // Queries (B, T, H, D) and keys (B, T, Hkv, D) as attention reads them: q/k-normed where the
  // family norms them, then rotated where this layer uses RoPE.
  std::pair<at::Tensor, at::Tensor> position_queries_keys(at::Tensor q, at::Tensor k, const at::Tensor& cos, const at::Tensor& sin) const;
  int64_t heads_, kv_heads_, head_dim_;
  bool rope_;  // this layer rotates queries and keys
  double scaling_;
  at::Tensor qkv_weight_;  // storage of q/k/v_proj.weight; not a parameter (they are)
};

class LlamaMLP : public torch::nn::Module {
 public:
  LlamaMLP(const LlamaConfig& config, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);
  // The (2·intermediate, hidden) tensor whose row blocks are gate's and up's weights, or undefined.
  at::Tensor fused_gate_up_weight() const;
  std::shared_ptr<Linear> gate_proj, up_proj, down_proj;
  PackedWeight gate_up_packed;  // of fused_gate_up_weight()

 private:
  at::Tensor gate_up_weight_;  // storage of gate/up_proj.weight; not a parameter (they are)
};

class LlamaDecoderLayer : public torch::nn::Module {
 public:
  LlamaDecoderLayer(const LlamaConfig& config, int64_t layer, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask, KVCache* cache,
                     int64_t layer, const PackedLayout* packed = nullptr);
  std::shared_ptr<LlamaAttention> self_attn;
  std::shared_ptr<LlamaMLP> mlp;
  std::shared_ptr<RMSNorm> input_layernorm, post_attention_layernorm;
};

// HF's LlamaModel (the "model." prefix): embeddings, decoder layers, final norm.
class LlamaBackbone : public torch::nn::Module {
 public:
  LlamaBackbone(const LlamaConfig& config, const at::TensorOptions& options);
  std::shared_ptr<Embedding> embed_tokens;
  torch::nn::ModuleList layers;
  std::vector<std::shared_ptr<LlamaDecoderLayer>> decoder_layers;  // the same modules, typed
  std::shared_ptr<RMSNorm> norm;
};

struct ModelOptions {
  at::ScalarType dtype = at::kFloat;  // parameters and activations: fp32 or bf16
  at::Device device = at::kCPU;
  // bf16 on the CPU: multiply by oneDNN-packed copies of the weights in inference (packed_weight.h),
  // which costs their size in memory again.
  bool prepack_bf16 = true;
};

class LlamaModel : public torch::nn::Module {
 public:
  // Parameters are allocated uninitialised; call initialize() or load weights into them.
  LlamaModel(LlamaConfig config, ModelOptions options);

  // HF's _init_weights: every Linear and the embeddings N(0, initializer_range), biases 0, norms 1. Drawn
  // on the CPU in fp32 in parameter-name order, so one seed gives the same model on every device.
  void initialize(uint64_t seed, double initializer_range = 0.02);

  // Final-norm hidden states (B, T, hidden) of ids (B, T) int64.
  // key_mask (B, S): 1 for a real token, 0 for padding, over every key position (S = cached + T).
  // positions (B, T) int64; see positions_from_mask. With a cache, the new keys/values are written
  // at [cache->length, cache->length + T) and cache->length advances.
  // Without grad (inference) and with libtorch ≥ 2.1, a key_mask of all ones builds no mask at all:
  // the attention kernel runs causal (or, for one new token, unmasked), as transformers' sdpa does.
  at::Tensor hidden_states(const at::Tensor& ids, const at::Tensor& key_mask, const at::Tensor& positions, KVCache* cache = nullptr);
  // Final-norm hidden states (N, hidden) of packed rows: ids (N) int64, the rows of `layout` end to
  // end with no padding; positions (N) int64, restarting at 0 for each row (a scored continuation
  // goes on from its context's length). Attention stays inside each segment of the layout.
  at::Tensor packed_hidden_states(const at::Tensor& ids, const at::Tensor& positions, const PackedLayout& layout);
  // lm_head (tied: the embedding matrix): (…, hidden) -> (…, vocab) in the model dtype.
  at::Tensor logits(const at::Tensor& hidden);
  // Logits (B, T, vocab) of ids (B, T) with mask (B, T) (1 = real token; left or right padding).
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& mask);

  // Every projection by its checkpoint name without ".weight" ("model.layers.0.self_attn.q_proj",
  // …, "lm_head" when untied), in layer order.
  std::vector<std::string> linear_names() const;
  std::shared_ptr<Linear> linear(const std::string& name) const;  // Error naming an unknown one
  // Puts `replacement` where `name` was: in the module tree (so its parameters appear under
  // name + "." + …) and in the forward pass. A LoRA layer passes itself, wrapping the old weight.
  void replace_linear(const std::string& name, std::shared_ptr<Linear> replacement);

  // Module::train, and entering training drops the packed bf16 copies (packed_weight.h): the next
  // step changes every weight, so they would only hold memory until the next evaluation re-packs.
  void train(bool on = true) override;

  const LlamaConfig& config() const { return config_; }
  const ModelOptions& options() const { return options_; }
  at::TensorOptions tensor_options() const { return at::TensorOptions().dtype(options_.dtype).device(options_.device); }
  // Tensors as the checkpoint names them (tied models have no lm_head.weight, as HF saves them).
  // Parameters under a child named lora_* belong to an adapter (train/lora.h), not to the checkpoint.
  std::vector<std::pair<std::string, at::Tensor>> checkpoint_tensors() const;
  int64_t parameter_count() const;

  std::shared_ptr<LlamaBackbone> model;
  std::shared_ptr<Linear> lm_head;  // null when tie_word_embeddings
  PackedWeight head_packed;         // of the output layer's weight (lm_head's or the embeddings')

 private:
  LlamaConfig config_;
  ModelOptions options_;
  at::Tensor inv_freq_;  // (D/2) float32 on the device; a buffer-like constant, not a parameter
  // name -> (the module that registered it, the child name there, the typed pointer forward uses)
  struct LinearSlot {
    torch::nn::Module* parent;
    std::string child;
    std::shared_ptr<Linear>* slot;
  };
  std::vector<std::pair<std::string, LinearSlot>> linear_slots() const;
  std::vector<PackedWeight*> packed_weights();  // every packed copy the model holds
};

// HF generate's position ids: cumsum(mask) - 1, with padding positions set to 1.
at::Tensor positions_from_mask(const at::Tensor& mask);

// Additive attention mask (B, 1, T, S) in `dtype`: 0 where query t (absolute slot S - T + t) may see
// key s (s <= its slot and key_mask[b, s] = 1), the dtype's lowest value elsewhere, as HF does.
at::Tensor attention_mask(const at::Tensor& key_mask, int64_t query_length, at::ScalarType dtype);

// Checks the config describes a model this engine implements (positive sizes, heads dividing
// evenly, family features its model_type has, …); Error(kConfig) naming the field.
void validate_llama_config(const LlamaConfig& config);

}  // namespace itl
