// Trainer: supervised fine-tuning of a LlamaModel as transformers' Trainer ran the study — AdamW,
// constant_with_warmup, grad-norm clipping, gradient accumulation with the loss normalised by the
// label tokens of the whole accumulated batch — full or LoRA, with crash-safe checkpoints in the
// Trainer's layout and exact resume. One optimiser step reads top to bottom in train_step():
// rows → micro-batches → forward → loss → backward → clip → step → log; run_until_checkpoint()
// strings steps together with evaluation and checkpoints.
// Not here: tokenisation and run names (lib/train), LoRA itself (lora.h), step arithmetic (schedule.h).
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "model/llama_model.h"
#include "train/lora.h"
#include "train/schedule.h"
#include "train/batch.h"
#include "util/progress.h"

namespace torch::optim {
class AdamW;
}

namespace itl {

class GradientReducer;

enum class Precision {
  kFp32,       // fp32 weights, gradients and optimiser state
  kBf16,       // pure bf16 weights, gradients and AdamW state, as the study trained
  kBf16Mixed,  // fp32 master weights and optimiser state, bf16 compute
};
Precision parse_precision(const std::string& name);  // "fp32", "bf16", "bf16-mixed"
std::string precision_name(Precision precision);

// Everything one training run needs. No field has a default: the TypeScript option schema
// (lib/train/trainOptions.ts) holds the one default of each option, the addon requires every field,
// and code that builds this struct directly sets all of them (tests: testing::small_trainer_options).
// validate_trainer_options() checks each value, naming the field; the Trainer calls it.
struct TrainerOptions {
  std::string run_dir;      // checkpoints: run_dir/checkpoint-<step>; the metrics log: run_dir/metrics.jsonl
  std::string base_model;   // the base model folder, recorded in adapters as base_model_name_or_path
  ScheduleInputs schedule;  // rows and world_size are taken from the training data and the job
  double learning_rate;     // peak (after warm-up)
  double max_grad_norm;     // global L2 norm; <= 0 disables clipping
  double adam_beta1;        // AdamW's first-moment decay
  double adam_beta2;        // AdamW's second-moment decay
  double adam_epsilon;      // AdamW's denominator term
  double weight_decay;      // decoupled (AdamW); as transformers' Trainer, not on norm weights or biases
  uint64_t seed;            // epoch shuffles (seed + epoch), LoRA init and dropout
  int64_t eval_batch;       // rows per eval-loss forward
  Precision precision;
  LoraOptions lora;          // r = 0: full fine-tuning
  std::string init_adapter;  // a PEFT adapter folder to start from (LoRA only; "" for none)
  bool save_merged;          // LoRA: also write merged full weights to checkpoint-<step>/merged
  // Which save points reach the disk: every one, only the last (and a stop), or none. A run still
  // returns at every save point, so a caller can evaluate the model in memory there.
  enum class SavePolicy { kAll, kLast, kNone } save_checkpoints;
  int64_t pad_id;  // written at padded positions; masked, so its value never matters
  // Micro-batches packed (rows end to end, attention within each row: no compute on padding) or
  // right-padded to their longest row. Same rows, same loss normalisation; packing changes only the
  // float rounding (and which random numbers LoRA dropout draws).
  bool packing;
  int64_t loss_chunk;                         // label positions whose full-vocabulary logits exist at once (0: automatic)
  std::vector<std::string> checkpoint_files;  // copied into every checkpoint (tokenizer files)
  std::string run_record;                     // JSON text describing the run, written to every checkpoint as run_config.json ("" for none)
  DistEnv dist;                               // this process's rank in a data-parallel job (world_size 1: alone)
  double collective_timeout_seconds;          // a rank that died or hangs ends the others' collectives after this
};

// Error(kInvalidArgument) naming the first field of `options` whose value is out of range
// ("TrainerOptions.adam_beta1 must be in [0, 1), got 1"). The schedule's own fields are checked by
// TrainingSchedule::compute.
void validate_trainer_options(const TrainerOptions& options);

// What one optimiser step did.
struct StepStats {
  int64_t step = 0;           // global step after the update
  double epoch = 0;           // fractional epoch, as transformers logs it
  double loss = 0;            // Σ token cross-entropy over the step's label tokens ÷ their count
  double grad_norm = 0;       // global norm before clipping
  double learning_rate = 0;   // the learning rate of this step's update
  int64_t real_tokens = 0;    // tokens of the rows
  int64_t padded_tokens = 0;  // tokens computed, padding included (= real_tokens when packed)
  int64_t label_tokens = 0;
  double seconds = 0;
};

struct RunOutcome {
  int64_t global_step = 0;
  bool finished = false;   // the last step is done and checkpointed
  bool stopped = false;    // request_stop() ended the call early (a checkpoint was written)
  std::string checkpoint;  // the folder written by this call ("" when the save policy wrote none)
};

class Trainer {
 public:
  // Takes the loaded model (on its device, in the dtype the precision implies), applies LoRA (or the
  // initial adapter) when options.lora.r > 0 or init_adapter is set, and builds the optimiser.
  Trainer(std::shared_ptr<LlamaModel> model, TokenRows train, TokenRows eval, TrainerOptions options);
  ~Trainer();

  // Continues from a checkpoint folder this trainer wrote (weights, optimiser, RNG, log history).
  // Error(kCheckpointFormat) when it was written for other data, schedule or model;
  // Error(kCheckpointDamaged) naming the file when one of its files cannot be read back (truncated).
  void resume(const std::string& checkpoint_dir);

  // Trains until the next save point (save interval, last step, or a stop request, which finishes
  // the step in progress first) and writes a checkpoint there as the save policy says. Progress events: phase "step" after each update and
  // "eval" after each evaluation, with the metrics-log line as `record`.
  RunOutcome run_until_checkpoint(const RunControl& control);

  StepStats train_step();
  double evaluate();  // transformers' eval_loss over the eval rows (mean of per-batch token means, weighted by rows)
  std::string save_checkpoint();

  // Safe from any thread: the run ends after the step in progress, with a checkpoint.
  void request_stop() { stop_requested_ = true; }

  const TrainingSchedule& schedule() const { return schedule_; }
  int64_t global_step() const { return global_step_; }
  const std::shared_ptr<LlamaModel>& model() const { return model_; }
  const TrainerOptions& options() const { return options_; }
  int64_t trainable_parameter_count() const;
  bool is_lora() const { return options_.lora.r > 0; }
  int rank() const { return communicator_->rank(); }
  // Seconds the gradient all-reduce added to the run's steps (what backward did not hide).
  double communication_seconds() const;

 private:
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  std::vector<int64_t> rank_share(int64_t epoch) const;
  bool any_rank_stopping();
  void sync_masters_to_model();
  void log_step(const StepStats& stats, const RunControl& control);
  void log_eval(double eval_loss, double seconds, const RunControl& control);
  void write_checkpoint_files(const std::filesystem::path& staging) const;
  void append_metrics(const nlohmann::ordered_json& record) const;
  void truncate_metrics(int64_t last_step) const;
  void check_shared_run_dir();

  std::shared_ptr<LlamaModel> model_;
  TokenRows train_;
  TokenRows eval_;
  TrainerOptions options_;
  TrainingSchedule schedule_;
  std::vector<at::Tensor> trainable_;  // parameters of the model that learn
  std::vector<at::Tensor> masters_;    // bf16-mixed: their fp32 copies, which the optimiser updates
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::unique_ptr<Communicator> communicator_;
  std::unique_ptr<GradientReducer> reducer_;  // null when alone
  at::Generator dropout_generator_;
  int64_t global_step_ = 0;
  double epoch_ = 0;
  // transformers logs the mean loss of the steps since the last log: kept across checkpoints.
  double window_loss_ = 0;
  int64_t window_steps_ = 0;
  nlohmann::json log_history_ = nlohmann::json::array();  // sorted keys, as transformers writes them
  int64_t run_tokens_ = 0;
  double run_seconds_ = 0;
  std::atomic<bool> stop_requested_{false};
  std::string last_checkpoint_;  // the latest checkpoint this trainer wrote or resumed from, for messages
};

}  // namespace itl
