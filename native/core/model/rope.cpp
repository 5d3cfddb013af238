#include "model/rope.h"

#include <ATen/ATen.h>

#include <cmath>

#include "util/error.h"

namespace itl {
namespace {

// transformers' `_compute_default_rope_parameters`: 1 / base ** (arange(0, dim, 2) / dim), in
// float32, with `1 / x` done as reciprocal (how torch evaluates a scalar divided by a tensor).
at::Tensor default_inverse_frequencies(double base, int64_t dim) {
  const at::Tensor exponents = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(dim);
  return at::pow(base, exponents).reciprocal();
}

// transformers' `_compute_llama3_parameters`, op for op on float32 tensors.
at::Tensor llama3_scaled(const at::Tensor& inv_freq, const RopeScaling& s) {
  const double old_context_len = static_cast<double>(s.original_max_position_embeddings);
  const double low_freq_wavelen = old_context_len / s.low_freq_factor;
  const double high_freq_wavelen = old_context_len / s.high_freq_factor;
  const at::Tensor wavelen = inv_freq.reciprocal() * (2 * M_PI);
  at::Tensor scaled = at::where(wavelen > low_freq_wavelen, inv_freq / s.factor, inv_freq);
  const at::Tensor smooth = (at::reciprocal(wavelen) * old_context_len - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
  const at::Tensor smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
  const at::Tensor medium = (wavelen < high_freq_wavelen).logical_not().logical_and((wavelen > low_freq_wavelen).logical_not());
  return at::where(medium, smoothed, scaled);
}

}  // namespace

at::Tensor rope_inverse_frequencies(const LlamaConfig& config) {
  const int64_t dim = config.head_dim;
  if (dim <= 0 || dim % 2 != 0) {
    throw Error(ErrorCode::kConfig, "rotary embeddings need an even head_dim, got " + std::to_string(dim));
  }
  at::Tensor inv_freq = default_inverse_frequencies(config.rope_theta, dim);
  if (!config.rope_scaling) return inv_freq;
  if (config.rope_scaling->rope_type != "llama3") {
    throw Error(ErrorCode::kConfig, "rope_type '" + config.rope_scaling->rope_type + "' is not implemented (only llama3)");
  }
  return llama3_scaled(inv_freq, *config.rope_scaling);
}

std::pair<at::Tensor, at::Tensor> rope_cos_sin(const at::Tensor& inv_freq, const at::Tensor& positions) {
  // HF takes an fp32 outer product (B, D/2, 1) @ (B, 1, T); each element is one multiplication,
  // so the broadcast product below has the same bits.
  const at::Tensor freqs = positions.to(at::kFloat).unsqueeze(-1) * inv_freq;  // (B, T, D/2)
  const at::Tensor emb = at::cat({freqs, freqs}, -1);                          // (B, T, D)
  return {emb.cos(), emb.sin()};
}

}  // namespace itl
