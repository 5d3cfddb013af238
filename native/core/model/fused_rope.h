// transformers' rotation of queries or keys, x·cos + rotate_half(x)·sin, for fp32/fp64 training on
// the CPU as one pass forward and one backward, where autograd runs about nine kernels (neg, cat,
// products, sums) over the (tokens × heads × head_dim) tensor. The same products and sums in the
// same order, so the same bits as the composite, forward and backward (tests). bf16/fp16 keep
// the composite (their per-operation roundings), as do other devices and inference.
#pragma once

#include <ATen/ATen.h>

namespace itl {

// Whether fused_rope takes tensors of this device and dtype (CPU; fp32, fp64).
bool fused_rope_applies(const at::Tensor& x);

// x (B, T, H, D); cos, sin (B, T, D) of x's dtype (D even): x·cos + rotate_half(x)·sin, each head alike.
at::Tensor fused_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace itl
