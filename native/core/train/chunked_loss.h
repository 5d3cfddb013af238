// The output layer and the cross-entropy over chunks of label positions, so the (label positions ×
// vocabulary) logits never exist at once — neither in the forward pass nor in the backward one. With
// a vocabulary of 49,152 or 128,256 those logits (in fp32, with their softmax and gradient) are the
// largest tensors of a training step. Per chunk, in order: logits = hidden · weightᵀ in the weight's
// dtype, upcast to fp32 (fp64 stays fp64) as transformers does, cross-entropy summed; when gradients
// are wanted, the chunk's gradient (softmax − one-hot) goes straight into the hidden states' and the
// weight's gradients, so the backward pass only scales them. Same loss and gradients as the full
// logits (up to float rounding, tested in fp64).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace itl {

struct LossChunking {
  // Label positions per chunk; 0: automatic (about 16M logits at a time, ≥ 1 position).
  int64_t positions = 0;
  // What the caller multiplies the summed loss by before backward (1 / label tokens of the step): the
  // gradients computed in the forward pass include it, so backward rescales only if it differs.
  double gradient_scale = 1.0;
};

// Label positions per chunk for a vocabulary of `vocab` under `chunking`.
int64_t loss_chunk_positions(const LossChunking& chunking, int64_t vocab);

// Σ cross-entropy of targets (n) int64 under the logits hidden (n, H) · weightᵀ (weight (V, H)):
// a scalar in fp32 (fp64 for fp64 inputs), differentiable in hidden and weight.
at::Tensor chunked_cross_entropy_sum(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets,
                                     const LossChunking& chunking = {});

}  // namespace itl
