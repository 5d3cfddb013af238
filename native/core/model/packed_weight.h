// A weight in oneDNN's pre-packed layout, for bf16 inference on the CPU. libtorch's bf16 linear
// hands oneDNN a plain (out, in) matrix, and oneDNN re-packs it into its blocked layout on every
// call; packed once, the same kernel skips that copy: bench-20m's decode-step projections
// 5.0 → 3.6 ms (1 thread), 1.14× at 2,048 rows, with bit-identical results (tested). Inference
// only (no grad, eval mode); fp32 keeps MKL's sgemm, which transformers' results are measured on.
//
// The packed copy is made on first use and made again whenever the source tensor moved or was
// written in place (its storage and version counter are checked on every call), so a trainer's
// in-training evaluation never multiplies by stale weights (a write that bypasses libtorch, a
// memcpy into the storage, would not be seen: none exists after a model is loaded). It costs the
// weight's size in memory again, until the model goes back to training (LlamaModel::train drops
// the copies); ModelOptions::prepack_bf16 (load option `prepack`) turns it off.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace itl {

// Whether this libtorch has oneDNN's packed linear (mkldnn::_linear_pointwise and
// mkldnn::_reorder_linear_weight) and, on this CPU, it gives at::linear's bf16 results bit for bit
// (probed once on a few shapes: where libtorch's bf16 linear takes another kernel, it does not).
bool packed_bf16_linear_available();

class PackedWeight {
 public:
  // x·wᵀ (+ b when defined) for w (out, in): through the packed copy of w when x and w are bf16 on
  // the CPU, grad is off and packing is available (then b is added after); at::linear otherwise.
  at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b = at::Tensor());
  // Drops the packed copy (its memory).
  void reset();
  bool holds_packed() const { return packed_.defined(); }
  bool enabled = true;  // false: always at::linear (ModelOptions::prepack_bf16)

 private:
  at::Tensor packed_;
  const void* source_data_ = nullptr;
  int64_t source_version_ = -1;
};

}  // namespace itl
