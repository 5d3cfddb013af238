// The optimiser-step arithmetic of transformers' Trainer as the study ran it: how many updates an
// epoch makes, the warm-up length, the constant_with_warmup factor and the eval/save/log intervals
// (docs/design.md, "Training schedule"). Plain integers, no libtorch: the TypeScript layer and
// the tests check the same numbers.
#pragma once

#include <cstdint>

namespace itl {

struct ScheduleInputs {
  int64_t rows = 0;               // training rows (all ranks together)
  int64_t batch = 1;              // rows per micro-batch on one device
  int64_t grad_accumulation = 1;  // micro-batches per optimiser step
  int64_t world_size = 1;         // data-parallel processes
  int64_t epochs = 1;
  double warmup_ratio = 0.05;
  int64_t eval_steps = 0;     // 0: max(1, steps_per_epoch / 2), as the study's script
  int64_t save_steps = 0;     // 0: 2 × steps_per_epoch
  int64_t logging_steps = 5;
};

struct TrainingSchedule {
  ScheduleInputs inputs;
  int64_t rows_per_rank = 0;            // ceil(rows / world): the distributed sampler pads the last share
  int64_t micro_batches_per_epoch = 0;  // ceil(rows_per_rank / batch)
  int64_t updates_per_epoch = 0;        // max(1, ceil(micro_batches / grad_accumulation)): a short last one still steps
  int64_t total_steps = 0;              // epochs × updates_per_epoch
  int64_t warmup_steps = 0;             // ceil(warmup_ratio × total_steps)
  int64_t steps_per_epoch = 0;          // ceil(rows / global batch): the study's interval unit
  int64_t eval_steps = 0;
  int64_t save_steps = 0;
  int64_t logging_steps = 0;

  // Error(kInvalidArgument) naming a non-positive or inconsistent input.
  static TrainingSchedule compute(const ScheduleInputs& inputs);

  // constant_with_warmup: the learning-rate factor of the update made after `completed_steps`
  // updates — s / max(1, W) while s < W, then 1 (so the very first update has factor 0).
  double lr_factor(int64_t completed_steps) const;
  // Micro-batches [first, last) of an epoch that update u (0-based within the epoch) consumes.
  int64_t first_micro_batch(int64_t update) const;
  int64_t end_micro_batch(int64_t update) const;
};

}  // namespace itl
