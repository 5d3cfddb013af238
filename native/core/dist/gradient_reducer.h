// GradientReducer: DistributedDataParallel's gradient all-reduce for a training loop of our own.
// Gradients are summed over ranks in buckets that start during backward, as soon as every
// parameter of a bucket has its gradient (a post-hook on each parameter's AccumulateGrad node, as
// DDP's C++ Reducer does), so communication overlaps the rest of backward. Not a model wrapper and
// not an optimiser: the trainer calls prepare_backward / finish_backward around loss.backward().
//
// Reduction: SUM. The trainer divides each rank's loss by the label tokens of the whole global
// batch (an all-reduced count), so the sum of the ranks' gradients is the gradient of the global loss.
//
// Buckets follow DDP: parameters in reverse registration order (backward reaches the last layers
// first), split by dtype and device, the first bucket capped at 1 MiB so communication starts early,
// the others at `bucket_bytes`; buckets are launched strictly in index order on every rank, because
// collectives must be issued in the same order everywhere.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "dist/communicator.h"

namespace itl {

class GradientReducer {
 public:
  static constexpr std::size_t kDefaultBucketBytes = 25u << 20;  // DDP's bucket_cap_mb = 25
  static constexpr std::size_t kFirstBucketBytes = 1u << 20;     // DDP's first bucket

  // `params`: the trainable leaves (requires_grad), in registration order; LoRA runs pass only the
  // adapters. Every rank must pass the same shapes in the same order. `communicator` must outlive this.
  GradientReducer(std::vector<at::Tensor> params, Communicator& communicator, std::size_t bucket_bytes = kDefaultBucketBytes);
  ~GradientReducer();  // removes its hooks from the parameters
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Before loss.backward(). sync = false is DDP's no_sync(): gradients only accumulate locally
  // (every micro-batch of an accumulation but the last).
  void prepare_backward(bool sync);
  // After loss.backward(): launches the buckets backward did not complete (parameters that got no
  // gradient count as zeros), waits for all, and writes the sums into each parameter's .grad.
  // Throws itl::Error(kDistributed) when a peer exited or timed out.
  void finish_backward();

  // Seconds finish_backward spent blocked on communication, summed over all calls: the part of the
  // all-reduce that backward did not hide, i.e. what it adds to the step time.
  double communication_seconds() const { return communication_seconds_; }
  std::size_t bucket_count() const { return buckets_.size(); }
  // Payload bytes summed over ranks' buckets so far (one rank's view), for bandwidth figures.
  std::uint64_t bytes_reduced() const { return bytes_reduced_; }

 private:
  struct Bucket {
    std::vector<std::size_t> params;  // indices into params_
    std::vector<int64_t> offsets;     // each parameter's first element in `flat`
    at::Tensor flat;                  // (sum of numel,) contiguous, the parameters' dtype and device
    std::size_t pending = 0;          // parameters still without a gradient in this backward
    std::unique_ptr<PendingCollective> work;
  };
  class ReadyHook;

  void mark_ready(std::size_t param);  // from the autograd thread, under mutex_
  void launch_ready_buckets();         // in index order, under mutex_
  void launch(Bucket& bucket);
  void reset_backward_state();

  std::vector<at::Tensor> params_;
  Communicator& communicator_;
  std::vector<Bucket> buckets_;
  std::vector<std::size_t> bucket_of_;  // per parameter
  std::vector<bool> ready_;             // per parameter, this backward
  std::size_t next_bucket_ = 0;         // the first bucket not yet launched
  bool sync_ = false;
  bool in_backward_ = false;
  std::mutex mutex_;  // hooks may run on autograd's device threads
  // Each AccumulateGrad node is owned by its leaf only weakly: holding it keeps our hook on it.
  std::vector<std::shared_ptr<void>> accumulators_;
  std::vector<std::uintptr_t> hook_keys_;
  double communication_seconds_ = 0;
  std::uint64_t bytes_reduced_ = 0;
};

}  // namespace itl
