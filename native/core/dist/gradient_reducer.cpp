// GradientReducer: buckets, hooks on AccumulateGrad, in-order launch. See the header for the why.
#include "dist/gradient_reducer.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/variable.h>

#include <chrono>
#include <map>
#include <string>
#include <tuple>
#include <utility>

#include "util/error.h"

namespace itl {
namespace {

// 1.13 returns std::shared_ptr<Node>, 2.x c10::intrusive_ptr<Node>.
using AccumulatorPtr = decltype(torch::autograd::impl::grad_accumulator(std::declval<const at::Tensor&>()));

torch::autograd::Node* node_of(const std::shared_ptr<void>& holder) { return static_cast<AccumulatorPtr*>(holder.get())->get(); }

}  // namespace

// Runs after AccumulateGrad has added this backward's gradient into the parameter's .grad, so with
// gradient accumulation the bucket sees the sum over micro-batches, as in DDP.
class GradientReducer::ReadyHook final : public torch::autograd::FunctionPostHook {
 public:
  ReadyHook(GradientReducer* owner, std::size_t param) : owner_(owner), param_(param) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    owner_->mark_ready(param_);
    return outputs;
  }

 private:
  GradientReducer* owner_;
  std::size_t param_;
};

GradientReducer::GradientReducer(std::vector<at::Tensor> params, Communicator& communicator, std::size_t bucket_bytes)
    : params_(std::move(params)), communicator_(communicator) {
  require(bucket_bytes > 0, "GradientReducer: bucket_bytes must be positive");
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const at::Tensor& p = params_[i];
    require(p.defined() && p.requires_grad() && p.is_leaf(),
            "GradientReducer: parameter " + std::to_string(i) + " is not a leaf tensor that requires grad");
  }
  bucket_of_.assign(params_.size(), 0);
  ready_.assign(params_.size(), false);

  // Reverse order, one open bucket per (dtype, device); a bucket closes when it reaches its cap.
  std::map<std::pair<c10::ScalarType, std::string>, std::size_t> open;  // key → index in buckets_
  std::vector<std::size_t> bucket_bytes_used;
  for (std::size_t k = params_.size(); k-- > 0;) {
    const at::Tensor& p = params_[k];
    const auto key = std::make_pair(p.scalar_type(), p.device().str());
    auto it = open.find(key);
    if (it == open.end()) {
      it = open.emplace(key, buckets_.size()).first;
      buckets_.emplace_back();
      bucket_bytes_used.push_back(0);
    }
    Bucket& bucket = buckets_[it->second];
    bucket.params.push_back(k);
    bucket_of_[k] = it->second;
    bucket_bytes_used[it->second] += static_cast<std::size_t>(p.numel()) * p.element_size();
    const std::size_t cap = it->second == 0 ? std::min(kFirstBucketBytes, bucket_bytes) : bucket_bytes;
    if (bucket_bytes_used[it->second] >= cap) open.erase(it);
  }
  for (Bucket& bucket : buckets_) {
    int64_t numel = 0;
    for (std::size_t k : bucket.params) {
      bucket.offsets.push_back(numel);
      numel += params_[k].numel();
    }
    const at::Tensor& first = params_[bucket.params.front()];
    bucket.flat = at::empty({numel}, first.options().requires_grad(false));  // (numel,)
  }

  if (communicator_.world_size() == 1) return;  // nothing to reduce: no hooks, no cost
  for (std::size_t i = 0; i < params_.size(); ++i) {
    AccumulatorPtr accumulator = torch::autograd::impl::grad_accumulator(params_[i]);
    require(accumulator != nullptr, "GradientReducer: parameter " + std::to_string(i) + " has no gradient accumulator");
    hook_keys_.push_back(accumulator->add_post_hook(std::make_unique<ReadyHook>(this, i)));
    accumulators_.push_back(std::make_shared<AccumulatorPtr>(std::move(accumulator)));
  }
}

GradientReducer::~GradientReducer() {
  for (std::size_t i = 0; i < accumulators_.size(); ++i) node_of(accumulators_[i])->del_post_hook(hook_keys_[i]);
}

void GradientReducer::prepare_backward(bool sync) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (in_backward_ && sync_) {
    throw Error(ErrorCode::kInternal, "GradientReducer: prepare_backward called again before finish_backward of a synchronised backward");
  }
  reset_backward_state();
  sync_ = sync;
  in_backward_ = true;
}

void GradientReducer::reset_backward_state() {
  ready_.assign(params_.size(), false);
  for (Bucket& bucket : buckets_) {
    bucket.pending = bucket.params.size();
    bucket.work.reset();
  }
  next_bucket_ = 0;
}

void GradientReducer::mark_ready(std::size_t param) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!in_backward_ || !sync_ || ready_[param]) return;  // no_sync(), or a second hook call in one backward
  ready_[param] = true;
  if (--buckets_[bucket_of_[param]].pending == 0) launch_ready_buckets();
}

void GradientReducer::launch_ready_buckets() {
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].pending == 0) launch(buckets_[next_bucket_++]);
}

void GradientReducer::launch(Bucket& bucket) {
  for (std::size_t j = 0; j < bucket.params.size(); ++j) {
    const at::Tensor& p = params_[bucket.params[j]];
    at::Tensor slot = bucket.flat.narrow(0, bucket.offsets[j], p.numel());  // (numel,)
    const at::Tensor& grad = p.grad();
    if (grad.defined()) {
      slot.copy_(grad.reshape({-1}));
    } else {
      slot.zero_();  // unused on this rank in this step: contributes nothing, as in DDP
    }
  }
  bucket.work = communicator_.start_all_reduce_sum(bucket.flat);
  bytes_reduced_ += static_cast<std::uint64_t>(bucket.flat.numel()) * bucket.flat.element_size();
}

void GradientReducer::finish_backward() {
  std::unique_lock<std::mutex> lock(mutex_);
  require(in_backward_, "GradientReducer: finish_backward without prepare_backward");
  in_backward_ = false;
  if (!sync_ || communicator_.world_size() == 1) return;
  // Parameters backward never reached (no gradient on this rank) still take part, as zeros.
  for (Bucket& bucket : buckets_) bucket.pending = 0;
  launch_ready_buckets();

  for (Bucket& bucket : buckets_) {
    const auto start = std::chrono::steady_clock::now();
    bucket.work->wait();
    communication_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    bucket.work.reset();
    for (std::size_t j = 0; j < bucket.params.size(); ++j) {
      at::Tensor& p = params_[bucket.params[j]];
      at::Tensor sum = bucket.flat.narrow(0, bucket.offsets[j], p.numel()).view(p.sizes());
      if (p.grad().defined()) {
        p.mutable_grad().copy_(sum);
      } else {
        p.mutable_grad() = sum.clone();
      }
    }
  }
}

}  // namespace itl
