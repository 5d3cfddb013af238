// The optimiser-step arithmetic of transformers' Trainer as the study ran it: how many updates an
// epoch makes, the warm-up length, the learning-rate factor of each update (constant_with_warmup as
// the study, linear and cosine as transformers' schedulers) and the eval/save/log intervals
// (docs/design.md, "Training schedule"). Plain numbers, no libtorch: the TypeScript layer and
// the tests check the same numbers.
#pragma once

#include <cstdint>
#include <string>

namespace itl {

// transformers' lr_scheduler_type values this trainer implements, each with warm-up.
enum class LrScheduler {
  kConstantWithWarmup,  // the study: 1 after the warm-up
  kLinear,              // get_linear_schedule_with_warmup: down to 0 at the last step
  kCosine,              // get_cosine_schedule_with_warmup, num_cycles 0.5: half a cosine down to 0
};
// "constant_with_warmup", "linear", "cosine"; Error(kInvalidArgument) naming the others.
LrScheduler parse_lr_scheduler(const std::string& name);
std::string lr_scheduler_name(LrScheduler scheduler);

// Every field is set by whoever builds it (no defaults here: the TypeScript option schema,
// lib/train/trainOptions.ts, holds them); compute() checks them.
struct ScheduleInputs {
  int64_t rows;               // training rows (all ranks together)
  int64_t batch;              // rows per micro-batch on one device
  int64_t grad_accumulation;  // micro-batches per optimiser step
  int64_t world_size;         // data-parallel processes
  int64_t epochs;
  double warmup_ratio;  // warm-up steps = ceil(ratio × total steps)
  LrScheduler lr_scheduler;
  int64_t eval_steps;  // 0: max(1, steps_per_epoch / 2), as the study's script
  int64_t save_steps;  // 0: 2 × steps_per_epoch
  int64_t logging_steps;
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

  // The learning-rate factor of the update made after `completed_steps` = s updates, as
  // transformers' LambdaLR schedules compute it (in doubles, in the same order): s / max(1, W) while
  // s < W (so the very first update has factor 0), then constant_with_warmup 1; linear
  // max(0, (T − s) / max(1, T − W)); cosine max(0, ½(1 + cos(π · 0.5 · 2 · p))), p = (s − W) / max(1, T − W).
  double lr_factor(int64_t completed_steps) const;
  // Micro-batches [first, last) of an epoch that update u (0-based within the epoch) consumes.
  int64_t first_micro_batch(int64_t update) const;
  int64_t end_micro_batch(int64_t update) const;
};

}  // namespace itl
