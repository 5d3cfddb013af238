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

namespace {

// A Python number as torch's Python binding passes it to mul_, div and add_: a 0-dim double tensor
// marked as a wrapped number. C++'s Scalar overload of mul_ rounds its factor to a bf16 tensor's
// dtype first; from Python it stays fp32 (the fixture test tells the two apart).
at::Tensor python_number(double x) {
  at::Tensor t = at::scalar_tensor(x, at::TensorOptions().dtype(at::kDouble));
  t.unsafeGetTensorImpl()->set_wrapped_number(true);
  return t;
}

// torch.optim.AdamW's single-tensor update of one parameter (torch/optim/adam.py,
// _single_tensor_adam with decoupled weight decay), `step` counted from 1.
void update_by_operations(const torch::optim::AdamWOptions& options, int64_t step, const at::Tensor& param, const at::Tensor& grad,
                          const at::Tensor& exp_avg, const at::Tensor& exp_avg_sq) {
  const auto [beta1, beta2] = options.betas();
  const double lr = options.lr();
  if (options.weight_decay() != 0) param.mul_(python_number(1 - lr * options.weight_decay()));
  exp_avg.lerp_(grad, 1 - beta1);
  exp_avg_sq.mul_(python_number(beta2)).addcmul_(grad, grad, 1 - beta2);
  const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(step));
  const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(step));
  const double step_size = lr / bias_correction1;
  // Python's `bias_correction2 ** 0.5`: pow, not sqrt.
  const at::Tensor denom = exp_avg_sq.sqrt().div(python_number(std::pow(bias_correction2, 0.5))).add_(python_number(options.eps()));
  param.addcdiv_(exp_avg, denom, -step_size);
}

bool uses_amsgrad(const torch::optim::AdamW& optimizer) {
  for (const auto& group : optimizer.param_groups()) {
    if (static_cast<const torch::optim::AdamWOptions&>(group.options()).amsgrad()) return true;
  }
  return false;
}

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

#if ITL_TORCH_AT_LEAST(2, 4)
// One fused call per parameter group: the kernel takes one learning rate and weight decay, and each
// parameter's own step count.
void fused_step_group(torch::optim::AdamW& optimizer, torch::optim::OptimizerParamGroup& group) {
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
#endif

// Parameter by parameter, as torch.optim.AdamW's single-tensor path goes.
void step_group(torch::optim::AdamW& optimizer, torch::optim::OptimizerParamGroup& group) {
  const auto& options = static_cast<const torch::optim::AdamWOptions&>(group.options());
  for (auto& p : group.params()) {
    if (!p.grad().defined()) continue;
    auto& state = state_of(optimizer, p);
    state.step(state.step() + 1);
    update_by_operations(options, state.step(), p.detach(), p.grad().detach(), state.exp_avg(), state.exp_avg_sq());
  }
}

}  // namespace

void adamw_step(torch::optim::AdamW& optimizer, AdamWKernels kernels) {
  if (uses_amsgrad(optimizer)) {
    optimizer.step();
    return;
  }
  at::NoGradGuard no_grad;
#if ITL_TORCH_AT_LEAST(2, 4)
  if (kernels == AdamWKernels::kFastest && fused_adamw_applies(optimizer)) {
    for (auto& group : optimizer.param_groups()) fused_step_group(optimizer, group);
    return;
  }
#endif
  for (auto& group : optimizer.param_groups()) step_group(optimizer, group);
}

}  // namespace itl
