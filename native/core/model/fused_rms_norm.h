// transformers' LlamaRMSNorm for fp32/fp64 training on the CPU as one pass forward and one
// backward, where libtorch's autograd runs about 13 elementwise kernels over the (tokens × hidden)
// matrix and keeps their intermediates (3.8× faster at bench-20m's shape). Same operations per
// element as the composite graph; its sums run in another order than libtorch's reductions (tests:
// equal to the composite to 1e-12 in fp64 and the Trainer parity). bf16/fp16 keep the composite:
// with its conversions done one scalar at a time this kernel made bf16 training slower (A/B runs).
// The model takes the composite path on other devices and for inference.
#pragma once

#include <ATen/ATen.h>

namespace itl {

// Whether fused_rms_norm takes tensors of this device and dtype (CPU; fp32, fp64).
bool fused_rms_norm_applies(const at::Tensor& x);

// weight ∘ (x·rsqrt(mean(x²) + eps)) over the last dimension; weight (H), x (…, H) of its dtype.
at::Tensor fused_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

}  // namespace itl
