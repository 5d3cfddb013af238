// Causal attention over short rows written out as products (scores, softmax, weighted values), in
// fp32 whatever the inputs' dtype, with a backward pass that recomputes the probabilities from the
// saved inputs and row log-sum-exps instead of keeping (rows × heads × L × L) of them: the memory of
// a flash kernel, the speed of batched matrix products. Why the CPU trainer wants it in bf16: see
// packed_attention.cpp.
#pragma once

#include <ATen/core/Tensor.h>

namespace itl {

// q (G, H, L, D) over k, v (G, Hkv, L, D), H a multiple of Hkv (grouped-query heads share their kv
// head), query t seeing keys 0..t; `scaling` multiplies the scores. Returns (G, H, L, D) in q's dtype.
// Differentiable in q, k and v.
at::Tensor explicit_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scaling);

}  // namespace itl
