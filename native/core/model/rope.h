// Rotary position embeddings as Hugging Face's LlamaRotaryEmbedding computes them: the inverse
// frequencies (default, or llama3-scaled exactly as transformers' `_compute_llama3_parameters`) and
// the fp32 cos/sin tables for given positions. Not the rotation itself (see llama_model.cpp).
#pragma once

#include <ATen/core/Tensor.h>

#include "io/llama_config.h"

namespace itl {

// (head_dim / 2) float32 inverse frequencies on the CPU, llama3-scaled when the config says so.
// Error(kConfig) for a rope_type other than llama3 or an odd head_dim.
at::Tensor rope_inverse_frequencies(const LlamaConfig& config);

// cos and sin of shape (B, T, head_dim) in float32 for int64 positions (B, T), each frequency
// repeated twice as HF's cat((freqs, freqs)). `inv_freq` must be on the positions' device.
std::pair<at::Tensor, at::Tensor> rope_cos_sin(const at::Tensor& inv_freq, const at::Tensor& positions);

}  // namespace itl
