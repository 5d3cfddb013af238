#include "model/llama_model.h"

#include <ATen/core/grad_mode.h>
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/version.h>

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <string>
#include <tuple>
#include <typeinfo>

#include "model/fused_rms_norm.h"
#include "model/fused_rope.h"
#include "model/rope.h"
#include "util/error.h"
#include "util/torch_version.h"

namespace itl {
namespace {

// HF's rotate_half: cat(-x2, x1) over the last dimension's halves.
at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)}, -1);
}

double lowest_value(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
      return std::numeric_limits<float>::lowest();
    case at::kBFloat16:
      return static_cast<float>(std::numeric_limits<c10::BFloat16>::lowest());
    case at::kHalf:
      return static_cast<float>(std::numeric_limits<c10::Half>::lowest());
    case at::kDouble:
      return std::numeric_limits<double>::lowest();
    default:
      throw Error(ErrorCode::kInvalidArgument, std::string("no attention mask for dtype ") + c10::toString(dtype));
  }
}

void require_config(bool ok, const std::string& message) {
  if (!ok) throw Error(ErrorCode::kConfig, message);
}

// Whether `base` is exactly the row blocks of these layers' weights, in order, and each layer's
// forward is x·weightᵀ + its adapter_delta.
bool views_row_blocks(const at::Tensor& base, std::initializer_list<const Linear*> parts) {
  if (!base.defined()) return false;
  int64_t offset = 0;  // elements
  for (const Linear* part : parts) {
    if (part == nullptr || !part->is_linear_plus_delta()) return false;
    const at::Tensor& w = part->weight;
    if (!w.defined() || w.scalar_type() != base.scalar_type() || w.device() != base.device() || !w.is_contiguous() || w.dim() != 2 ||
        w.size(1) != base.size(1) ||
        w.data_ptr() != static_cast<char*>(base.data_ptr()) + offset * static_cast<int64_t>(base.element_size())) {
      return false;
    }
    offset += w.numel();
  }
  return offset == base.numel();
}

// Adds each layer's bias and adapter term to its column block of `fused` (…, Σ out), which holds
// x·weightᵀ of all of them: then each block equals that layer's forward(x).
void add_biases_and_adapter_deltas(at::Tensor& fused, const at::Tensor& x, std::initializer_list<Linear*> parts) {
  int64_t offset = 0;
  for (Linear* part : parts) {
    const int64_t n = part->weight.size(0);
    if (part->bias.defined()) fused.narrow(-1, offset, n).add_(part->bias);
    const at::Tensor delta = part->adapter_delta(x);
    if (delta.defined()) fused.narrow(-1, offset, n).add_(delta);
    offset += n;
  }
}

// HF's q * cos + rotate_half(q) * sin, with two fewer temporaries; for inference only (in place on
// fresh tensors). x (…, D); cos, sin broadcastable to it. Same products and sum, so the same bits.
at::Tensor rope_inference(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  at::Tensor rotated = rotate_half(x);
  rotated.mul_(sin);
  at::Tensor out = x * cos;
  return out.add_(rotated);
}

// bf16/fp16 on the CPU: the KV cache holds fp32 and one-token attention runs in fp32 (below).
bool attends_in_fp32_on_cpu(at::ScalarType dtype, const at::Device& device) {
  return device.is_cpu() && (dtype == at::kBFloat16 || dtype == at::kHalf);
}

// One new token's attention in bf16/fp16 on the CPU, in fp32: libtorch's flash kernel runs a bf16
// gemv per head there, ~6–8× the time of this (bench-20m decode: 0.95 ms vs 0.17 ms per layer, 37 %
// of the step). Scores, softmax and the value sum in fp32 on the exact fp32 images of the bf16 keys
// and values, rounded once at the end: as close to the fp32 result as the flash kernel's (which
// rounds the softmax weights to bf16 before the value product). q (B, H, 1, D); mask (B, 1, 1, S) or undefined.
at::Tensor attend_one_token_in_fp32(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask, int64_t heads,
                                    int64_t kv_heads, double scaling) {
  const int64_t B = q.size(0), D = q.size(3), S = k.size(2);
  const at::Tensor grouped = q.reshape({B, kv_heads, heads / kv_heads, D}).to(at::kFloat);    // heads sharing a kv head
  at::Tensor scores = at::matmul(grouped, k.to(at::kFloat).transpose(-1, -2)).mul_(scaling);  // (B, Hkv, rep, S)
  if (mask.defined()) scores.add_(mask.view({B, 1, 1, S}));
  return at::matmul(scores.softmax(-1), v.to(at::kFloat)).view({B, heads, 1, D}).to(q.scalar_type());
}

// Attention over the visible keys. q (B, H, T, D); k, v (B, Hkv, S, D); mask (B, 1, T, S) additive,
// or undefined: causal when T > 1 (S = T), none when T = 1.
at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask, int64_t heads, int64_t kv_heads,
                  double scaling) {
  const int64_t B = q.size(0), D = q.size(3), S = k.size(2);
  const int64_t rep = heads / kv_heads;
  const bool causal = !mask.defined() && q.size(2) > 1;
  if (attends_in_fp32_on_cpu(q.scalar_type(), q.device()) && q.size(2) == 1 && !at::GradMode::is_enabled()) {
    return attend_one_token_in_fp32(q, k, v, mask, heads, kv_heads, scaling);
  }
  const c10::optional<at::Tensor> attn_mask = mask.defined() ? c10::optional<at::Tensor>(mask) : c10::nullopt;
#if ITL_TORCH_AT_LEAST(2, 5)
  // Grouped-query attention inside the CPU kernel: no repeat_kv copy of the keys and values (for a
  // decode step, a copy of the whole cache, and one more OpenMP region per layer); same results. Not
  // on CUDA, where not every fused kernel takes enable_gqa and the math fallback would cost more.
  if (q.device().is_cpu() && rep > 1) {
    return at::scaled_dot_product_attention(q, k, v, attn_mask, 0.0, causal, scaling, true);  // (B, H, T, D)
  }
#endif
#if ITL_TORCH_AT_LEAST(2, 1)
  // HF's repeat_kv, then the fused kernel (flash / memory-efficient on CUDA).
  const at::Tensor k_full = rep == 1 ? k : k.unsqueeze(2).expand({B, kv_heads, rep, S, D}).reshape({B, heads, S, D});
  const at::Tensor v_full = rep == 1 ? v : v.unsqueeze(2).expand({B, kv_heads, rep, S, D}).reshape({B, heads, S, D});
  return at::scaled_dot_product_attention(q, k_full, v_full, attn_mask, 0.0, causal, scaling);  // (B, H, T, D)
#else
  // HF's eager path, with the query heads that share a kv head stacked into one matmul instead of
  // copying every kv head `rep` times (same dot products, no repeat_kv copy).
  const int64_t T = q.size(2);
  const at::Tensor qg = q.reshape({B, kv_heads, rep * T, D});
  at::Tensor scores = at::matmul(qg, k.transpose(-1, -2)) * scaling;   // (B, Hkv, rep*T, S)
  scores = scores.view({B, kv_heads, rep, T, S}) + mask.unsqueeze(2);  // (B, Hkv, rep, T, S)
  const at::Tensor probs = at::softmax(scores, -1, at::promote_types(q.scalar_type(), at::kFloat)).to(q.scalar_type());
  return at::matmul(probs.view({B, kv_heads, rep * T, S}), v).view({B, heads, T, D});
#endif
}

}  // namespace

Linear::Linear(int64_t in_features, int64_t out_features, const at::TensorOptions& options, bool with_bias) {
  weight = register_parameter("weight", at::empty({out_features, in_features}, options));
  if (with_bias) bias = register_parameter("bias", at::zeros({out_features}, options));
}

Linear::Linear(const at::Tensor& existing_weight, const at::Tensor& existing_bias) {
  weight = register_parameter("weight", existing_weight);
  if (existing_bias.defined()) bias = register_parameter("bias", existing_bias);
}

// With a bias, at::linear is the addmm nn.Linear runs (bias + x·Wᵀ in one BLAS call), so the
// family's biased projections give transformers' numbers.
at::Tensor Linear::forward(const at::Tensor& x) { return is_training() ? at::linear(x, weight, bias) : packed.linear(x, weight, bias); }

bool Linear::is_linear_plus_delta() const { return typeid(*this) == typeid(Linear); }

at::Tensor Linear::adapter_delta(const at::Tensor&) { return {}; }

Embedding::Embedding(int64_t vocab, int64_t hidden, int64_t padding_idx_, const at::TensorOptions& options) : padding_idx(padding_idx_) {
  weight = register_parameter("weight", at::empty({vocab, hidden}, options));
}

at::Tensor Embedding::forward(const at::Tensor& ids) { return at::embedding(weight, ids, padding_idx); }

RMSNorm::RMSNorm(int64_t size, double eps_, const at::TensorOptions& options) : eps(eps_) {
  weight = register_parameter("weight", at::ones({size}, options));
}

at::Tensor RMSNorm::forward(const at::Tensor& x) {
  // Training on the CPU: the same graph as below in one kernel each way.
  if (at::GradMode::is_enabled() && fused_rms_norm_applies(x) && weight.scalar_type() == x.scalar_type()) {
    return fused_rms_norm(x, weight, eps);
  }
  // fp32 at least (fp64 stays fp64: the gradient checks run in it).
  const at::Tensor h = x.to(at::promote_types(x.scalar_type(), at::kFloat));
  const at::Tensor variance = h.pow(2).mean(-1, true);
  if (!at::GradMode::is_enabled()) {
    at::Tensor normed = (h * variance.add_(eps).rsqrt_()).to(x.scalar_type());
    return normed.mul_(weight);  // weight * normed, in place on a fresh tensor
  }
  return weight * (h * at::rsqrt(variance + eps)).to(x.scalar_type());
}

KVCache KVCache::allocate(const LlamaConfig& config, int64_t batch, int64_t capacity, const at::TensorOptions& options) {
  // bf16/fp16 keys and values are kept as their exact fp32 images on the CPU: one-token attention
  // runs in fp32 there (attend_one_token_in_fp32), and converting the whole cache on every step cost
  // 10 % of a bench-20m bf16 decode step. Twice the memory of a bf16 cache, CPU only.
  const at::TensorOptions cache_options =
      attends_in_fp32_on_cpu(options.dtype().toScalarType(), options.device()) ? options.dtype(at::kFloat) : options;
  KVCache cache;
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    cache.keys.push_back(at::zeros({batch, config.num_key_value_heads, capacity, config.head_dim}, cache_options));
    cache.values.push_back(at::zeros({batch, config.num_key_value_heads, capacity, config.head_dim}, cache_options));
  }
  return cache;
}

KVCache KVCache::select_rows(const at::Tensor& rows) const {
  KVCache out;
  out.length = length;
  for (size_t i = 0; i < keys.size(); ++i) {
    out.keys.push_back(keys[i].index_select(0, rows));
    out.values.push_back(values[i].index_select(0, rows));
  }
  return out;
}

LlamaAttention::LlamaAttention(const LlamaConfig& c, int64_t layer, const at::TensorOptions& options)
    : heads_(c.num_attention_heads),
      kv_heads_(c.num_key_value_heads),
      head_dim_(c.head_dim),
      rope_(c.uses_rope(layer)),
      scaling_(1.0 / std::sqrt(static_cast<double>(c.head_dim))) {
  const int64_t nq = heads_ * head_dim_, nkv = kv_heads_ * head_dim_;
  qkv_weight_ = at::empty({nq + 2 * nkv, c.hidden_size}, options);
  const auto bias = [&](int64_t n) { return c.qkv_bias ? at::zeros({n}, options) : at::Tensor(); };
  q_proj = register_module("q_proj", std::make_shared<Linear>(qkv_weight_.narrow(0, 0, nq), bias(nq)));
  k_proj = register_module("k_proj", std::make_shared<Linear>(qkv_weight_.narrow(0, nq, nkv), bias(nkv)));
  v_proj = register_module("v_proj", std::make_shared<Linear>(qkv_weight_.narrow(0, nq + nkv, nkv), bias(nkv)));
  o_proj = register_module("o_proj", std::make_shared<Linear>(heads_ * head_dim_, c.hidden_size, options, c.o_bias));
  if (c.qk_norm) {
    q_norm = register_module("q_norm", std::make_shared<RMSNorm>(head_dim_, c.rms_norm_eps, options));
    k_norm = register_module("k_norm", std::make_shared<RMSNorm>(head_dim_, c.rms_norm_eps, options));
  }
}

std::pair<at::Tensor, at::Tensor> LlamaAttention::position_queries_keys(at::Tensor q, at::Tensor k, const at::Tensor& cos,
                                                                        const at::Tensor& sin) const {
  if (q_norm) {  // Qwen3: over each head's D values, before the rotation
    q = q_norm->forward(q);
    k = k_norm->forward(k);
  }
  if (!rope_) return {q, k};
  if (at::GradMode::is_enabled() && fused_rope_applies(q) && k.scalar_type() == q.scalar_type()) {
    const at::Tensor c = cos.to(q.scalar_type()), s = sin.to(q.scalar_type());  // exact: fp32 tables
    return {fused_rope(q, c, s), fused_rope(k, c, s)};
  }
  const at::Tensor c = cos.unsqueeze(2), s = sin.unsqueeze(2);  // (B, T, 1, D)
  if (!at::GradMode::is_enabled()) return {rope_inference(q, c, s), rope_inference(k, c, s)};
  return {q * c + rotate_half(q) * s, k * c + rotate_half(k) * s};
}

at::Tensor LlamaAttention::fused_qkv_weight() const {
  return views_row_blocks(qkv_weight_, {q_proj.get(), k_proj.get(), v_proj.get()}) ? qkv_weight_ : at::Tensor();
}

at::Tensor LlamaAttention::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask,
                                   KVCache* cache, int64_t layer, const PackedLayout* packed) {
  const int64_t B = x.size(0), T = x.size(1);
  const at::Tensor qkv_weight = at::GradMode::is_enabled() || is_training() ? at::Tensor() : fused_qkv_weight();
  at::Tensor q, k, v;
  if (qkv_weight.defined()) {
    const int64_t HK = heads_ + kv_heads_;
    at::Tensor qkv = qkv_packed.linear(x, qkv_weight);  // (B, T, (H + 2 Hkv) D)
    add_biases_and_adapter_deltas(qkv, x, {q_proj.get(), k_proj.get(), v_proj.get()});
    const at::Tensor qk_heads = qkv.narrow(-1, 0, HK * head_dim_).view({B, T, HK, head_dim_});  // (B, T, H + Hkv, D)
    if (!q_norm && rope_) {
      // One matmul, and rope on q's and k's heads together (elementwise, so the same numbers as apart).
      const at::Tensor qk = rope_inference(qk_heads, cos.unsqueeze(2), sin.unsqueeze(2));  // (B, T, H + Hkv, D)
      q = qk.narrow(2, 0, heads_);
      k = qk.narrow(2, heads_, kv_heads_);
    } else {
      std::tie(q, k) = position_queries_keys(qk_heads.narrow(2, 0, heads_), qk_heads.narrow(2, heads_, kv_heads_), cos, sin);
    }
    q = q.transpose(1, 2);                                                                                         // (B, H, T, D)
    k = k.transpose(1, 2);                                                                                         // (B, Hkv, T, D)
    v = qkv.narrow(-1, HK * head_dim_, kv_heads_ * head_dim_).view({B, T, kv_heads_, head_dim_}).transpose(1, 2);  // (B, Hkv, T, D)
  } else {
    std::tie(q, k) = position_queries_keys(q_proj->forward(x).view({B, T, heads_, head_dim_}),     // (B, T, H, D)
                                           k_proj->forward(x).view({B, T, kv_heads_, head_dim_}),  // (B, T, Hkv, D)
                                           cos, sin);
    q = q.transpose(1, 2);                                                      // (B, H, T, D)
    k = k.transpose(1, 2);                                                      // (B, Hkv, T, D)
    v = v_proj->forward(x).view({B, T, kv_heads_, head_dim_}).transpose(1, 2);  // (B, Hkv, T, D)
  }
  if (cache != nullptr) {
    const int64_t start = cache->length;
    cache->keys[layer].narrow(2, start, T).copy_(k);
    cache->values[layer].narrow(2, start, T).copy_(v);
    k = cache->keys[layer].narrow(2, 0, start + T);     // (B, Hkv, S, D)
    v = cache->values[layer].narrow(2, 0, start + T);   // (B, Hkv, S, D)
    if (T > 1 && k.scalar_type() != q.scalar_type()) {  // an fp32 cache of a bf16 model (see KVCache::allocate): exact
      k = k.to(q.scalar_type());
      v = v.to(q.scalar_type());
    }
  }
  const at::Tensor out = packed ? packed_attention(q, k, v, *packed, scaling_)  // (B, H, T, D)
                                : attend(q, k, v, mask, heads_, kv_heads_, scaling_);
  return o_proj->forward(out.transpose(1, 2).reshape({B, T, heads_ * head_dim_}));
}

LlamaMLP::LlamaMLP(const LlamaConfig& c, const at::TensorOptions& options) {
  const int64_t I = c.intermediate_size;
  gate_up_weight_ = at::empty({2 * I, c.hidden_size}, options);
  gate_proj = register_module("gate_proj", std::make_shared<Linear>(gate_up_weight_.narrow(0, 0, I)));
  up_proj = register_module("up_proj", std::make_shared<Linear>(gate_up_weight_.narrow(0, I, I)));
  down_proj = register_module("down_proj", std::make_shared<Linear>(c.intermediate_size, c.hidden_size, options));
}

at::Tensor LlamaMLP::fused_gate_up_weight() const {
  return views_row_blocks(gate_up_weight_, {gate_proj.get(), up_proj.get()}) ? gate_up_weight_ : at::Tensor();
}

at::Tensor LlamaMLP::forward(const at::Tensor& x) {
  const at::Tensor gate_up_weight = at::GradMode::is_enabled() || is_training() ? at::Tensor() : fused_gate_up_weight();
  if (gate_up_weight.defined()) {
    const int64_t I = gate_up_weight.size(0) / 2;
    at::Tensor gate_up = gate_up_packed.linear(x, gate_up_weight);  // (B, T, 2 I)
    add_biases_and_adapter_deltas(gate_up, x, {gate_proj.get(), up_proj.get()});
    at::Tensor a = at::silu(gate_up.narrow(-1, 0, I));  // (B, T, I)
    return down_proj->forward(a.mul_(gate_up.narrow(-1, I, I)));
  }
  return down_proj->forward(at::silu(gate_proj->forward(x)) * up_proj->forward(x));
}

LlamaDecoderLayer::LlamaDecoderLayer(const LlamaConfig& c, int64_t layer, const at::TensorOptions& options) {
  self_attn = register_module("self_attn", std::make_shared<LlamaAttention>(c, layer, options));
  mlp = register_module("mlp", std::make_shared<LlamaMLP>(c, options));
  input_layernorm = register_module("input_layernorm", std::make_shared<RMSNorm>(c.hidden_size, c.rms_norm_eps, options));
  post_attention_layernorm = register_module("post_attention_layernorm", std::make_shared<RMSNorm>(c.hidden_size, c.rms_norm_eps, options));
}

at::Tensor LlamaDecoderLayer::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask,
                                      KVCache* cache, int64_t layer, const PackedLayout* packed) {
  if (!at::GradMode::is_enabled()) {
    // The residual sums in place on the sublayers' fresh outputs (a + b = b + a bit for bit).
    at::Tensor h = self_attn->forward(input_layernorm->forward(x), cos, sin, mask, cache, layer, packed);
    h.add_(x);
    at::Tensor out = mlp->forward(post_attention_layernorm->forward(h));
    return out.add_(h);
  }
  const at::Tensor h = x + self_attn->forward(input_layernorm->forward(x), cos, sin, mask, cache, layer, packed);
  return h + mlp->forward(post_attention_layernorm->forward(h));
}

LlamaBackbone::LlamaBackbone(const LlamaConfig& c, const at::TensorOptions& options) {
  embed_tokens =
      register_module("embed_tokens", std::make_shared<Embedding>(c.vocab_size, c.hidden_size, c.pad_token_id.value_or(-1), options));
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    decoder_layers.push_back(std::make_shared<LlamaDecoderLayer>(c, i, options));
    layers->push_back(decoder_layers.back());
  }
  register_module("layers", layers);
  norm = register_module("norm", std::make_shared<RMSNorm>(c.hidden_size, c.rms_norm_eps, options));
}

void validate_llama_config(const LlamaConfig& c) {
  require_config(c.vocab_size > 0, "vocab_size must be positive, got " + std::to_string(c.vocab_size));
  require_config(c.hidden_size > 0, "hidden_size must be positive, got " + std::to_string(c.hidden_size));
  require_config(c.intermediate_size > 0, "intermediate_size must be positive, got " + std::to_string(c.intermediate_size));
  require_config(c.num_hidden_layers > 0, "num_hidden_layers must be positive, got " + std::to_string(c.num_hidden_layers));
  require_config(c.num_attention_heads > 0, "num_attention_heads must be positive, got " + std::to_string(c.num_attention_heads));
  require_config(c.num_key_value_heads > 0 && c.num_attention_heads % c.num_key_value_heads == 0,
                 "num_key_value_heads must divide num_attention_heads (" + std::to_string(c.num_attention_heads) + "), got " +
                     std::to_string(c.num_key_value_heads));
  require_config(c.head_dim > 0 && c.head_dim % 2 == 0, "head_dim must be positive and even, got " + std::to_string(c.head_dim));
  require_config(c.rms_norm_eps > 0, "rms_norm_eps must be positive, got " + std::to_string(c.rms_norm_eps));
  require_config(c.rope_theta > 0, "rope_theta must be positive, got " + std::to_string(c.rope_theta));
  if (c.pad_token_id) {
    require_config(*c.pad_token_id >= 0 && *c.pad_token_id < c.vocab_size,
                   "pad_token_id " + std::to_string(*c.pad_token_id) + " is outside the vocabulary");
  }
  // The features each family has (llama_config.h), so a config built in code cannot describe a
  // model transformers would load differently.
  const std::string& type = c.model_type;
  bool known = false;
  for (const ModelTypeInfo& info : implemented_model_types()) known = known || type == info.model_type;
  require_config(known, "model_type '" + type + "' is not implemented");
  if (type == "qwen2") {
    require_config(c.qkv_bias && !c.o_bias, "qwen2 has biases on q_proj, k_proj and v_proj and none on o_proj");
  } else if (type == "mistral") {
    require_config(!c.qkv_bias && !c.o_bias, "mistral has no attention biases");
  } else {
    require_config(c.qkv_bias == c.o_bias, type + ": attention_bias puts biases on q, k, v and o_proj together");
  }
  require_config(c.qk_norm == (type == "qwen3"), "q_norm/k_norm belong to qwen3 (and only to it)");
  require_config(c.rope_layers.empty() || (type == "smollm3" && static_cast<int64_t>(c.rope_layers.size()) == c.num_hidden_layers),
                 "no_rope_layers must be a smollm3 config's, one entry per layer");
  if (c.sliding_window) require_config(*c.sliding_window > 0, "sliding_window must be positive, got " + std::to_string(*c.sliding_window));
}

LlamaModel::LlamaModel(LlamaConfig config, ModelOptions options) : config_(std::move(config)), options_(options) {
  validate_llama_config(config_);
  require(options_.dtype == at::kFloat || options_.dtype == at::kBFloat16 || options_.dtype == at::kHalf || options_.dtype == at::kDouble,
          std::string("model dtype must be fp32, bf16, fp16 or fp64 (tests), got ") + c10::toString(options_.dtype));
  const at::TensorOptions t = tensor_options();
  model = register_module("model", std::make_shared<LlamaBackbone>(config_, t));
  if (!config_.tie_word_embeddings) {
    lm_head = register_module("lm_head", std::make_shared<Linear>(config_.hidden_size, config_.vocab_size, t));
  }
  inv_freq_ = rope_inverse_frequencies(config_).to(options_.device);
  for (PackedWeight* packed : packed_weights()) packed->enabled = options_.prepack_bf16;
  train(false);  // inference until a trainer says otherwise (adapter dropout is training-only)
}

void LlamaModel::initialize(uint64_t seed, double initializer_range) {
  at::NoGradGuard no_grad;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto params = named_parameters(true);
  std::vector<std::string> names;
  for (const auto& item : params) names.push_back(item.key());
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    at::Tensor param = params[name];
    const bool is_norm = name.size() >= 11 && name.compare(name.size() - 11, 11, "norm.weight") == 0;
    if (is_norm) {
      param.fill_(1.0);
      continue;
    }
    if (name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0) {
      param.zero_();
      continue;
    }
    at::Tensor values = at::empty(param.sizes(), at::kFloat);
    values.normal_(0.0, initializer_range, generator);
    if (name == "model.embed_tokens.weight" && config_.pad_token_id) values[*config_.pad_token_id].zero_();
    param.copy_(values);
  }
}

at::Tensor LlamaModel::hidden_states(const at::Tensor& ids, const at::Tensor& key_mask, const at::Tensor& positions, KVCache* cache) {
  const int64_t T = ids.size(1);
  const int64_t past = cache ? cache->length : 0;
  require(key_mask.dim() == 2 && key_mask.size(0) == ids.size(0) && key_mask.size(1) == past + T,
          "key mask must be (B, cached + T) = (" + std::to_string(ids.size(0)) + ", " + std::to_string(past + T) + ")");
  if (cache)
    require(past + T <= cache->capacity(),
            "KV cache overflow: " + std::to_string(past + T) + " positions, capacity " + std::to_string(cache->capacity()));
  if (config_.sliding_window && past + T > *config_.sliding_window) {
    // Within the window a sliding layer attends as a full one does; beyond it, it would not.
    throw Error(ErrorCode::kConfig, "a sequence of " + std::to_string(past + T) +
                                        " positions is longer than the config's sliding_window (" +
                                        std::to_string(*config_.sliding_window) + "): sliding-window attention is not implemented");
  }
  const at::ScalarType dtype = options_.dtype;
  at::Tensor x = model->embed_tokens->forward(ids);  // (B, T, hidden)
  auto cos_sin = rope_cos_sin(inv_freq_, positions);
  const at::Tensor cos = cos_sin.first.to(dtype), sin = cos_sin.second.to(dtype);  // (B, T, D)
#if ITL_TORCH_AT_LEAST(2, 1)
  // No padding (and nothing cached, or one new token): the kernel's own causal rule, no mask tensor.
  const bool maskless = !at::GradMode::is_enabled() && (past == 0 || T == 1) && key_mask.all().item<bool>();
#else
  const bool maskless = false;  // the eager attention needs the mask
#endif
  const at::Tensor mask = maskless ? at::Tensor() : attention_mask(key_mask, T, dtype);  // (B, 1, T, S)
  for (size_t i = 0; i < model->decoder_layers.size(); ++i) {
    x = model->decoder_layers[i]->forward(x, cos, sin, mask, cache, static_cast<int64_t>(i));
  }
  if (cache) cache->length += T;
  return model->norm->forward(x);
}

at::Tensor LlamaModel::packed_hidden_states(const at::Tensor& ids, const at::Tensor& positions, const PackedLayout& layout) {
  const int64_t N = layout.tokens();
  require(ids.numel() == N && positions.numel() == N, "packed ids and positions must hold the layout's " + std::to_string(N) +
                                                          " tokens, got " + std::to_string(ids.numel()) + " and " +
                                                          std::to_string(positions.numel()));
  if (config_.sliding_window) {
    for (int64_t s = 0; s < layout.segment_count(); ++s) {
      if (layout.key_length(s) <= *config_.sliding_window) continue;
      throw Error(ErrorCode::kConfig, "a sequence of " + std::to_string(layout.key_length(s)) +
                                          " positions is longer than the config's sliding_window (" +
                                          std::to_string(*config_.sliding_window) + "): sliding-window attention is not implemented");
    }
  }
  const at::ScalarType dtype = options_.dtype;
  at::Tensor x = model->embed_tokens->forward(ids.view({1, N}));  // (1, N, hidden)
  auto cos_sin = rope_cos_sin(inv_freq_, positions.view({1, N}));
  const at::Tensor cos = cos_sin.first.to(dtype), sin = cos_sin.second.to(dtype);  // (1, N, D)
  for (size_t i = 0; i < model->decoder_layers.size(); ++i) {
    x = model->decoder_layers[i]->forward(x, cos, sin, at::Tensor(), nullptr, static_cast<int64_t>(i), &layout);
  }
  return model->norm->forward(x).select(0, 0);  // (N, hidden)
}

at::Tensor LlamaModel::logits(const at::Tensor& hidden) {
  const at::Tensor& weight = lm_head ? lm_head->weight : model->embed_tokens->weight;
  return is_training() ? at::linear(hidden, weight) : head_packed.linear(hidden, weight);
}

at::Tensor LlamaModel::forward(const at::Tensor& ids, const at::Tensor& mask) {
  return logits(hidden_states(ids, mask, positions_from_mask(mask)));
}

std::vector<std::pair<std::string, LlamaModel::LinearSlot>> LlamaModel::linear_slots() const {
  std::vector<std::pair<std::string, LinearSlot>> out;
  for (size_t i = 0; i < model->decoder_layers.size(); ++i) {
    const auto& layer = model->decoder_layers[i];
    const std::string prefix = "model.layers." + std::to_string(i) + ".";
    LlamaAttention* a = layer->self_attn.get();
    LlamaMLP* m = layer->mlp.get();
    out.push_back({prefix + "self_attn.q_proj", {a, "q_proj", &a->q_proj}});
    out.push_back({prefix + "self_attn.k_proj", {a, "k_proj", &a->k_proj}});
    out.push_back({prefix + "self_attn.v_proj", {a, "v_proj", &a->v_proj}});
    out.push_back({prefix + "self_attn.o_proj", {a, "o_proj", &a->o_proj}});
    out.push_back({prefix + "mlp.gate_proj", {m, "gate_proj", &m->gate_proj}});
    out.push_back({prefix + "mlp.up_proj", {m, "up_proj", &m->up_proj}});
    out.push_back({prefix + "mlp.down_proj", {m, "down_proj", &m->down_proj}});
  }
  if (lm_head) {
    out.push_back({"lm_head", {const_cast<LlamaModel*>(this), "lm_head", const_cast<std::shared_ptr<Linear>*>(&lm_head)}});
  }
  return out;
}

std::vector<PackedWeight*> LlamaModel::packed_weights() {
  std::vector<PackedWeight*> out;
  for (const auto& entry : linear_slots()) out.push_back(&(*entry.second.slot)->packed);
  for (const auto& layer : model->decoder_layers) {
    out.push_back(&layer->self_attn->qkv_packed);
    out.push_back(&layer->mlp->gate_up_packed);
  }
  out.push_back(&head_packed);
  return out;
}

void LlamaModel::train(bool on) {
  torch::nn::Module::train(on);
  if (!on) return;
  for (PackedWeight* packed : packed_weights()) packed->reset();
}

std::vector<std::string> LlamaModel::linear_names() const {
  std::vector<std::string> out;
  for (const auto& entry : linear_slots()) out.push_back(entry.first);
  return out;
}

std::shared_ptr<Linear> LlamaModel::linear(const std::string& name) const {
  for (const auto& entry : linear_slots()) {
    if (entry.first == name) return *entry.second.slot;
  }
  throw Error(ErrorCode::kInvalidArgument, "the model has no linear layer '" + name + "'");
}

void LlamaModel::replace_linear(const std::string& name, std::shared_ptr<Linear> replacement) {
  require(replacement != nullptr, "replace_linear('" + name + "') needs a module");
  for (const auto& entry : linear_slots()) {
    if (entry.first != name) continue;
    replacement->train(is_training());  // a new module starts in training mode; take the model's
    entry.second.parent->replace_module(entry.second.child, replacement);
    *entry.second.slot = std::move(replacement);
    return;
  }
  throw Error(ErrorCode::kInvalidArgument, "the model has no linear layer '" + name + "'");
}

std::vector<std::pair<std::string, at::Tensor>> LlamaModel::checkpoint_tensors() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& item : named_parameters(true)) {
    if (item.key().find(".lora_") != std::string::npos) continue;
    out.emplace_back(item.key(), item.value());
  }
  return out;
}

int64_t LlamaModel::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters(true)) n += p.numel();
  return n;
}

at::Tensor positions_from_mask(const at::Tensor& mask) {
  const at::Tensor m = mask.to(at::kLong);
  return (m.cumsum(-1) - 1).masked_fill(m == 0, 1);
}

at::Tensor attention_mask(const at::Tensor& key_mask, int64_t query_length, at::ScalarType dtype) {
  const int64_t B = key_mask.size(0), S = key_mask.size(1), T = query_length;
  const auto device = key_mask.device();
  const at::Tensor keys = at::arange(S, at::TensorOptions().dtype(at::kLong).device(device)).view({1, S});
  const at::Tensor slots = at::arange(S - T, S, at::TensorOptions().dtype(at::kLong).device(device)).view({T, 1});
  const at::Tensor allowed = (keys <= slots).unsqueeze(0).logical_and(key_mask.to(at::kBool).view({B, 1, S}));  // (B, T, S)
  return at::zeros({B, 1, T, S}, at::TensorOptions().dtype(dtype).device(device))
      .masked_fill(allowed.logical_not().unsqueeze(1), lowest_value(dtype));
}

}  // namespace itl
