#include "train/schedule.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "util/error.h"

namespace itl {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// transformers' get_cosine_schedule_with_warmup default: half a cycle, from 1 down to 0.
constexpr double kCosineCycles = 0.5;
constexpr double kPi = 3.141592653589793;  // Python's math.pi, the double nearest π

}  // namespace

LrScheduler parse_lr_scheduler(const std::string& name) {
  if (name == "constant_with_warmup") return LrScheduler::kConstantWithWarmup;
  if (name == "linear") return LrScheduler::kLinear;
  if (name == "cosine") return LrScheduler::kCosine;
  throw Error(ErrorCode::kInvalidArgument,
              "unknown learning-rate scheduler '" + name + "': expected constant_with_warmup, linear or cosine");
}

std::string lr_scheduler_name(LrScheduler scheduler) {
  switch (scheduler) {
    case LrScheduler::kConstantWithWarmup:
      return "constant_with_warmup";
    case LrScheduler::kLinear:
      return "linear";
    case LrScheduler::kCosine:
      return "cosine";
  }
  return "?";
}

TrainingSchedule TrainingSchedule::compute(const ScheduleInputs& in) {
  require(in.rows > 0, "training needs at least one row, got " + std::to_string(in.rows));
  require(in.batch > 0, "batch must be positive, got " + std::to_string(in.batch));
  require(in.grad_accumulation > 0, "gradient accumulation must be positive, got " + std::to_string(in.grad_accumulation));
  require(in.world_size > 0, "world size must be positive, got " + std::to_string(in.world_size));
  require(in.epochs > 0, "epochs must be positive, got " + std::to_string(in.epochs));
  require(in.warmup_ratio >= 0 && in.warmup_ratio <= 1, "warm-up ratio must be in [0, 1], got " + std::to_string(in.warmup_ratio));
  require(in.eval_steps >= 0 && in.save_steps >= 0 && in.logging_steps > 0, "eval/save steps must be ≥ 0 and logging steps > 0");
  TrainingSchedule s;
  s.inputs = in;
  s.rows_per_rank = ceil_div(in.rows, in.world_size);
  s.micro_batches_per_epoch = ceil_div(s.rows_per_rank, in.batch);
  s.updates_per_epoch = std::max<int64_t>(1, ceil_div(s.micro_batches_per_epoch, in.grad_accumulation));
  s.total_steps = in.epochs * s.updates_per_epoch;
  s.warmup_steps = static_cast<int64_t>(std::ceil(in.warmup_ratio * static_cast<double>(s.total_steps)));
  s.steps_per_epoch = ceil_div(in.rows, in.batch * in.grad_accumulation * in.world_size);
  s.eval_steps = in.eval_steps > 0 ? in.eval_steps : std::max<int64_t>(1, s.steps_per_epoch / 2);
  s.save_steps = in.save_steps > 0 ? in.save_steps : 2 * s.steps_per_epoch;
  s.logging_steps = in.logging_steps;
  return s;
}

double TrainingSchedule::lr_factor(int64_t completed_steps) const {
  if (completed_steps < warmup_steps) return static_cast<double>(completed_steps) / static_cast<double>(std::max<int64_t>(1, warmup_steps));
  const double decay_steps = static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps));
  switch (inputs.lr_scheduler) {
    case LrScheduler::kConstantWithWarmup:
      return 1.0;
    case LrScheduler::kLinear:
      return std::max(0.0, static_cast<double>(total_steps - completed_steps) / decay_steps);
    case LrScheduler::kCosine: {
      const double progress = static_cast<double>(completed_steps - warmup_steps) / decay_steps;
      return std::max(0.0, 0.5 * (1.0 + std::cos(kPi * kCosineCycles * 2.0 * progress)));
    }
  }
  return 1.0;
}

int64_t TrainingSchedule::first_micro_batch(int64_t update) const { return update * inputs.grad_accumulation; }

int64_t TrainingSchedule::end_micro_batch(int64_t update) const {
  return std::min(micro_batches_per_epoch, (update + 1) * inputs.grad_accumulation);
}

}  // namespace itl
