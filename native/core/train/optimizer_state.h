// AdamW's state written to an archive in a fixed order with fixed keys, so two runs that reach the
// same state write the same bytes (a resumed run's checkpoints are then bit-identical to the
// uninterrupted run's). libtorch's own Optimizer::save keys each parameter's state by the address of
// its TensorImpl and walks a hash map in address order: same content, different bytes every process.
// The layout is the one libtorch's loader reads (torch/optim/serialize.h: any numeric keys, matched
// through param_groups' "params" lists), so Optimizer::load reads these files and older ones alike.
#pragma once

#include <torch/optim/adamw.h>
#include <torch/serialize/archive.h>

namespace itl {

// Keys are 1, 2, … in the order of the parameter groups' parameters.
void save_optimizer_state(const torch::optim::AdamW& optimizer, torch::serialize::OutputArchive& archive);

}  // namespace itl
