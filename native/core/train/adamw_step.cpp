#include "train/adamw_step.h"

#include <ATen/ATen.h>

#include <cmath>
#include <memory>
#include <vector>

#include "util/torch_version.h"

namespace itl {

bool fused_adamw_applies(const torch::optim::AdamW& optimizer) {
#if ITL_TORCH_AT_LEAST(2, 4)
  const at::Tensor* first = nullptr;
  for (const auto& group : optimizer.param_groups()) {
    if (static_cast<const torch::optim::AdamWOptions&>(group.options()).amsgrad()) return false;
    for (const auto& p : group.params()) {
      if (first == nullptr) first = &p;
      const bool device_ok = p.device().is_cpu() || p.device().is_cuda();
      const bool dtype_ok = p.scalar_type() == at::kFloat || p.scalar_type() == at::kDouble;
      // One kernel call takes tensors of one device and dtype.
      if (!device_ok || !dtype_ok || p.device() != first->device() || p.scalar_type() != first->scalar_type()) return false;
    }
  }
  return true;
#else
  (void)optimizer;
  return false;
#endif
}

#if ITL_TORCH_AT_LEAST(2, 4)
namespace {

// The state AdamW::step would create on a parameter's first update: step 0, zero moments.
torch::optim::AdamWParamState& state_of(torch::optim::AdamW& optimizer, const at::Tensor& p) {
  auto& states = optimizer.state();
  auto found = states.find(p.unsafeGetTensorImpl());
  if (found == states.end()) {
    auto state = std::make_unique<torch::optim::AdamWParamState>();
    state->step(0);
    state->exp_avg(at::zeros_like(p, at::MemoryFormat::Preserve));
    state->exp_avg_sq(at::zeros_like(p, at::MemoryFormat::Preserve));
    found = states.emplace(p.unsafeGetTensorImpl(), std::move(state)).first;
  }
  return static_cast<torch::optim::AdamWParamState&>(*found->second);
}

// One fused call per parameter group: the kernel takes one learning rate and weight decay, and each
// parameter's own step count.
void step_group(torch::optim::AdamW& optimizer, torch::optim::OptimizerParamGroup& group) {
  const auto& options = static_cast<const torch::optim::AdamWOptions&>(group.options());
  std::vector<at::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
  for (auto& p : group.params()) {
    if (!p.grad().defined()) continue;
    auto& state = state_of(optimizer, p);
    state.step(state.step() + 1);  // torch.optim.AdamW counts before it updates, as the kernel expects
    params.push_back(p.detach());
    grads.push_back(p.grad().detach());
    exp_avgs.push_back(state.exp_avg());
    exp_avg_sqs.push_back(state.exp_avg_sq());
    steps.push_back(at::full({}, static_cast<double>(state.step()), p.options().dtype(at::kFloat)));
  }
  if (params.empty()) return;
  const auto [beta1, beta2] = options.betas();
  at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, /*max_exp_avg_sqs=*/{}, steps, options.lr(), beta1, beta2, options.weight_decay(),
                    options.eps(), /*amsgrad=*/false, /*maximize=*/false);
}

}  // namespace
#endif

void adamw_step(torch::optim::AdamW& optimizer) {
#if ITL_TORCH_AT_LEAST(2, 4)
  if (fused_adamw_applies(optimizer)) {
    at::NoGradGuard no_grad;
    for (auto& group : optimizer.param_groups()) step_group(optimizer, group);
    return;
  }
#endif
  optimizer.step();
}

}  // namespace itl
