// One AdamW update of every parameter with a gradient, through libtorch's fused kernel where it has
// one: a single pass over each parameter's value, gradient and two moments, where
// torch::optim::AdamW::step makes about eight (profiled: 2 % of a bench-20m fp32 step, a third of
// that after). It works on the optimizer's own state (AdamWParamState), so checkpoints, resumption
// and Optimizer::load are unchanged. The arithmetic is torch.optim.AdamW's, the order of one
// element's operations aside (tests: equal to AdamW::step to 1e-12 in fp64, 1 ulp-level in fp32).
// fp32/fp64 parameters only: pure-bf16 training keeps AdamW::step, which rounds after every
// operation as the study's optimizer did, where the fused kernel rounds once.
#pragma once

#include <torch/optim/adamw.h>

namespace itl {

// Whether adamw_step takes the fused kernel for these parameters (libtorch ≥ 2.4, CPU or CUDA,
// fp32/fp64, no amsgrad).
bool fused_adamw_applies(const torch::optim::AdamW& optimizer);

// optimizer.step(), fused where fused_adamw_applies.
void adamw_step(torch::optim::AdamW& optimizer);

}  // namespace itl
