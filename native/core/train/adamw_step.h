// One AdamW update of every parameter with a gradient, as torch.optim.AdamW (the Trainer's
// "adamw_torch") makes it, on the optimizer's own state (AdamWParamState), so checkpoints,
// resumption and Optimizer::load are unchanged.
// - fp32/fp64: libtorch's fused kernel where it has one: a single pass over each parameter's value,
//   gradient and two moments, where torch::optim::AdamW::step makes about eight (profiled: 2 % of a
//   bench-20m fp32 step, a third of that after). It rounds once per element where the operations
//   round after each (tests: equal to AdamW::step to 1e-12 in fp64; to torch.optim.AdamW's own
//   results to float rounding in fp32).
// - bf16 (pure-bf16 training) and anything else: torch.optim.AdamW's operations, one libtorch call
//   each, with its scalars passed as Python passes them. In bf16 every operation rounds, so their
//   kind and order decide the bits: libtorch's C++ AdamW::step updates the first moment with mul_
//   then add_ (two roundings) where Python's lerp_ makes one, and its mul_(double) rounds β2 to bf16
//   where Python's mul_ keeps it in fp32 (test: bit for bit torch.optim.AdamW's five updates in
//   native/tests/fixtures/adamw). A fused bf16 pass that rounds as those kernels do was measured no
//   faster than them here (17.7 against 17.9 ms a step over bench-20m's 20M bf16 parameters, 2 threads).
#pragma once

#include <torch/optim/adamw.h>

namespace itl {

enum class AdamWKernels {
  kFastest,              // libtorch's fused kernel where it applies
  kOneOperationAtATime,  // torch.optim.AdamW's operations, one libtorch call each (the reference)
};

// Whether adamw_step takes the fused kernel for these parameters (libtorch ≥ 2.4, CPU or CUDA,
// fp32/fp64, no amsgrad).
bool fused_adamw_applies(const torch::optim::AdamW& optimizer);

// optimizer.step() with Python's arithmetic (amsgrad: libtorch's AdamW::step itself).
void adamw_step(torch::optim::AdamW& optimizer, AdamWKernels kernels = AdamWKernels::kFastest);

}  // namespace itl
