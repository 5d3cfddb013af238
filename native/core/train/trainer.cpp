#include "train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <torch/serialize/archive.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <functional>
#include <random>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>

#if ITL_WITH_CUDA
#include <ATen/cuda/CUDAGeneratorImpl.h>
#endif

#include "dist/gradient_reducer.h"
#include "io/safetensors.h"
#include "model/model_io.h"
#include "train/adamw_step.h"
#include "train/optimizer_state.h"
#include "util/error.h"

namespace itl {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// 2: itl_trainer_state.json records the optimiser settings and the scheduler ("options").
constexpr int kCheckpointFormatVersion = 2;
const char* kTrainerState = "trainer_state.json";  // transformers' TrainerState
const char* kItlState = "itl_trainer_state.json";  // what exact resume needs beyond it
const char* kOptimizerState = "optimizer.pt";      // libtorch's archive of AdamW's state
// One per rank: rng_state.safetensors alone, rng_state_<rank>.safetensors in a data-parallel job.
std::string rng_state_file(int rank, int world_size) {
  return world_size == 1 ? "rng_state.safetensors" : "rng_state_" + std::to_string(rank) + ".safetensors";
}
const char* kMasterWeights = "master_weights.safetensors";  // bf16-mixed: the fp32 weights AdamW updates

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// The dropout masks' own generator on the model's device: seeding the process-wide default one
// instead would change every other user's random stream (and theirs this trainer's).
at::Generator make_dropout_generator(const at::Device& device, uint64_t seed) {
  if (device.is_cpu()) return at::make_generator<at::CPUGeneratorImpl>(seed);
#if ITL_WITH_CUDA
  if (device.is_cuda()) {
    at::Generator generator = at::cuda::detail::createCUDAGenerator(device.has_index() ? device.index() : -1);
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_current_seed(seed);
    return generator;
  }
  throw Error(ErrorCode::kInvalidArgument, "the trainer runs on the CPU or CUDA, not on " + device.str());
#else
  throw Error(ErrorCode::kInvalidArgument,
              "the trainer runs on the CPU in this build of itl (its libtorch has no CUDA), not on " + device.str());
#endif
}

// transformers' Trainer (get_decay_parameter_names) leaves biases and normalisation weights out of
// weight decay, by these patterns searched in the lower-cased parameter name.
bool decays(const std::string& name) {
  static const std::regex excluded(R"(bias|layernorm|rmsnorm|(?:^|\.)norm(?:$|\.)|_norm(?:$|\.))");
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return !std::regex_search(lower, excluded);
}

nlohmann::json read_json_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorCode::kCheckpointFormat, "the checkpoint lacks " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kCheckpointFormat, path.string() + " is not valid JSON: " + e.what());
  }
}

// Puts `staging` where `target` is, replacing an older folder of that name: a reader sees the old
// complete folder or the new one, never a half-written one.
void replace_directory(const fs::path& staging, const fs::path& target) {
  std::error_code ec;
  fs::path old;
  if (fs::exists(target)) {
    old = target.parent_path() / ("." + target.filename().string() + ".old-" + std::to_string(getpid()));
    fs::remove_all(old, ec);
    fs::rename(target, old, ec);
    if (ec) throw Error(ErrorCode::kIo, "cannot move the old " + target.string() + " aside: " + ec.message());
  }
  fs::rename(staging, target, ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot rename " + staging.string() + " to " + target.string() + ": " + ec.message());
  if (!old.empty()) fs::remove_all(old, ec);
}

// The schedule fields a resumed run must share with the checkpoint it continues.
nlohmann::json schedule_record(const TrainingSchedule& s, int64_t eval_rows) {
  return {{"rows", s.inputs.rows},
          {"batch", s.inputs.batch},
          {"grad_accumulation", s.inputs.grad_accumulation},
          {"world_size", s.inputs.world_size},
          {"epochs", s.inputs.epochs},
          {"total_steps", s.total_steps},
          {"warmup_steps", s.warmup_steps},
          {"lr_scheduler", lr_scheduler_name(s.inputs.lr_scheduler)},
          {"eval_rows", eval_rows}};
}

// The optimiser settings a resumed run must share with the checkpoint it continues.
nlohmann::json options_record(const TrainerOptions& o) {
  return {{"learning_rate", o.learning_rate},
          {"weight_decay", o.weight_decay},
          {"adam_beta1", o.adam_beta1},
          {"adam_beta2", o.adam_beta2},
          {"adam_epsilon", o.adam_epsilon},
          {"max_grad_norm", o.max_grad_norm},
          {"seed", o.seed}};
}

// "schedule.batch 2 there, 4 here; options.weight_decay 0 there, 0.01 here" for each differing field.
void list_differences(const nlohmann::json& there, const nlohmann::json& here, const std::string& prefix, std::string& out) {
  for (const auto& [key, value] : here.items()) {
    const nlohmann::json theirs = there.is_object() && there.contains(key) ? there[key] : nlohmann::json();
    if (theirs == value) continue;
    out += (out.empty() ? "" : "; ") + prefix + key + " " + (theirs.is_null() ? "absent" : theirs.dump()) + " there, " + value.dump() +
           " here";
  }
}

}  // namespace

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "bf16") return Precision::kBf16;
  if (name == "bf16-mixed") return Precision::kBf16Mixed;
  throw Error(ErrorCode::kInvalidArgument, "unknown precision '" + name + "': expected fp32, bf16 or bf16-mixed");
}

std::string precision_name(Precision precision) {
  switch (precision) {
    case Precision::kFp32:
      return "fp32";
    case Precision::kBf16:
      return "bf16";
    case Precision::kBf16Mixed:
      return "bf16-mixed";
  }
  return "?";
}

void validate_trainer_options(const TrainerOptions& o) {
  auto check = [](bool ok, const std::string& field, const std::string& range, double value) {
    if (!ok) throw Error(ErrorCode::kInvalidArgument, "TrainerOptions." + field + " must be " + range + ", got " + std::to_string(value));
  };
  require(!o.run_dir.empty(), "TrainerOptions.run_dir (the run folder) is required");
  check(std::isfinite(o.learning_rate) && o.learning_rate >= 0, "learning_rate", "≥ 0", o.learning_rate);
  check(std::isfinite(o.max_grad_norm), "max_grad_norm", "a number (≤ 0: no clipping)", o.max_grad_norm);
  check(o.adam_beta1 >= 0 && o.adam_beta1 < 1, "adam_beta1", "in [0, 1)", o.adam_beta1);
  check(o.adam_beta2 >= 0 && o.adam_beta2 < 1, "adam_beta2", "in [0, 1)", o.adam_beta2);
  check(std::isfinite(o.adam_epsilon) && o.adam_epsilon > 0, "adam_epsilon", "> 0", o.adam_epsilon);
  check(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "weight_decay", "≥ 0", o.weight_decay);
  check(o.eval_batch > 0, "eval_batch", "positive", static_cast<double>(o.eval_batch));
  check(o.lora.r >= 0, "lora.r", "≥ 0", static_cast<double>(o.lora.r));
  check(o.lora.r == 0 || o.lora.alpha > 0, "lora.alpha", "positive with a LoRA rank", o.lora.alpha);
  check(o.lora.dropout >= 0 && o.lora.dropout < 1, "lora.dropout", "in [0, 1)", o.lora.dropout);
  check(o.pad_id >= 0, "pad_id", "≥ 0", static_cast<double>(o.pad_id));
  check(o.loss_chunk >= 0, "loss_chunk", "≥ 0 label positions (0: automatic)", static_cast<double>(o.loss_chunk));
  check(std::isfinite(o.collective_timeout_seconds) && o.collective_timeout_seconds > 0, "collective_timeout_seconds", "positive",
        o.collective_timeout_seconds);
  validate_dist_env(o.dist);
}

Trainer::Trainer(std::shared_ptr<LlamaModel> model, TokenRows train, TokenRows eval, TrainerOptions options)
    : model_(std::move(model)), train_(std::move(train)), eval_(std::move(eval)), options_(std::move(options)) {
  require(model_ != nullptr, "the trainer needs a model");
  validate_trainer_options(options_);
  const at::ScalarType want = options_.precision == Precision::kFp32 ? at::kFloat : at::kBFloat16;
  // fp64 passes as fp32: the exactness tests run in it.
  const bool fp64_test = options_.precision == Precision::kFp32 && model_->options().dtype == at::kDouble;
  require(model_->options().dtype == want || fp64_test, "precision " + precision_name(options_.precision) + " needs the model loaded in " +
                                                            c10::toString(want) + ", not " + c10::toString(model_->options().dtype));
  train_.validate(model_->config().vocab_size, "training");
  eval_.validate(model_->config().vocab_size, "eval");
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(std::ceil(options_.collective_timeout_seconds * 1000)));
  communicator_ = Communicator::create(options_.dist, model_->options().device, timeout);
  options_.schedule.rows = train_.count();
  options_.schedule.world_size = communicator_->world_size();
  schedule_ = TrainingSchedule::compute(options_.schedule);

  // A-matrices come from a CPU generator, so one seed gives the same adapter on every device.
  at::Generator init_generator = at::make_generator<at::CPUGeneratorImpl>(options_.seed);
  dropout_generator_ = make_dropout_generator(model_->options().device, options_.seed);
  if (!options_.init_adapter.empty()) {
    const LoraOptions adapter = load_adapter(*model_, options_.init_adapter, init_generator);
    if (options_.lora.r > 0 && options_.lora.r != adapter.r) {
      throw Error(ErrorCode::kConfig, "the run asks for LoRA rank " + std::to_string(options_.lora.r) + " but " + options_.init_adapter +
                                          " has rank " + std::to_string(adapter.r));
    }
    const double dropout = options_.lora.dropout;
    options_.lora = adapter;
    options_.lora.dropout = dropout;
  } else if (options_.lora.r > 0) {
    apply_lora(*model_, options_.lora, init_generator);
  }
  for (const auto& [name, layer] : lora_layers(*model_)) {
    layer->dropout = options_.lora.dropout;
    layer->set_dropout_generator(dropout_generator_);
  }

  std::vector<std::string> names;  // of trainable_, for the weight-decay groups
  for (const auto& item : model_->named_parameters(true)) {
    if (!item.value().requires_grad()) continue;
    trainable_.push_back(item.value());
    names.push_back(item.key());
  }
  require(!trainable_.empty(), "the model has no trainable parameter");
  if (communicator_->world_size() > 1) {
    // Every rank starts from rank 0's weights, as DDP does (one seed makes them equal already;
    // this makes it so whatever the seed), and sums gradients in buckets during backward.
    std::vector<at::Tensor> start;
    for (const auto& p : trainable_) start.push_back(p.detach());
    communicator_->broadcast(start, 0);
    reducer_ = std::make_unique<GradientReducer>(trainable_, *communicator_);
  }
  if (options_.precision == Precision::kBf16Mixed) {
    for (const auto& p : trainable_) masters_.push_back(p.detach().to(at::kFloat).clone());
  }
  // Two parameter groups, as transformers' Trainer makes them: weight decay on all but the biases
  // and normalisation weights (with weight decay 0 both update exactly as one group would).
  torch::optim::AdamWOptions adam(options_.learning_rate);
  adam.betas({options_.adam_beta1, options_.adam_beta2}).eps(options_.adam_epsilon).weight_decay(0.0);
  const std::vector<at::Tensor>& updated = masters_.empty() ? trainable_ : masters_;
  std::vector<at::Tensor> decayed, kept;
  for (size_t i = 0; i < updated.size(); ++i) (decays(names[i]) ? decayed : kept).push_back(updated[i]);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  if (!decayed.empty()) {
    auto options = std::make_unique<torch::optim::AdamWOptions>(adam);
    options->weight_decay(options_.weight_decay);
    groups.emplace_back(decayed, std::move(options));
  }
  if (!kept.empty()) groups.emplace_back(kept, std::make_unique<torch::optim::AdamWOptions>(adam));
  optimizer_ = std::make_unique<torch::optim::AdamW>(groups, adam);
  std::error_code ec;
  fs::create_directories(options_.run_dir, ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot create the run folder " + options_.run_dir + ": " + ec.message());
  check_shared_run_dir();
}

Trainer::~Trainer() = default;

// Every rank writes its RNG state into the checkpoint folder rank 0 assembles, and reads a checkpoint
// back on resume: all ranks must see one run folder. Nodes that do not share it otherwise fail at the
// first checkpoint (rank 1: "cannot create …/.checkpoint-4.tmp-…", rank 0: a Gloo "connection closed").
// Rank 0 writes a file of a random name there; every rank looks for it; all agree on who did not see it.
void Trainer::check_shared_run_dir() {
  const int world = communicator_->world_size();
  if (world == 1) return;
  const at::TensorOptions on_device = at::TensorOptions().dtype(at::kLong).device(model_->options().device);
  // Not from libtorch's generators: drawing from them would change the run's random numbers.
  std::random_device entropy;
  std::vector<at::Tensor> token = {at::full({1}, static_cast<int64_t>(entropy() & 0x7fffffff) << 20 | (getpid() & 0xfffff), on_device)};
  communicator_->broadcast(token, 0);
  const fs::path probe = fs::path(options_.run_dir) / (".itl-shared-check-" + std::to_string(token[0].item<int64_t>()));
  if (communicator_->rank() == 0) write_file_atomically(probe.string(), "rank 0 writes here\n");
  communicator_->barrier();
  std::vector<at::Tensor> missing = {at::zeros({world}, on_device)};
  if (!fs::exists(probe)) missing[0][communicator_->rank()] = 1;
  communicator_->all_reduce_sum(missing);
  if (communicator_->rank() == 0) {
    std::error_code ec;
    fs::remove(probe, ec);
  }
  const at::Tensor flags = missing[0].to(at::kCPU);
  std::string ranks;
  for (int r = 0; r < world; ++r) {
    if (flags[r].item<int64_t>() != 0) ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
  }
  if (!ranks.empty()) {
    throw Error(ErrorCode::kDistributed,
                "rank(s) " + ranks + " of " + std::to_string(world) + " do not see the files rank 0 writes in " + options_.run_dir +
                    ": the nodes do not share this folder. Multi-node training needs a --save-dir on a file system every "
                    "node mounts (NFS, Lustre, GPFS…), with the same path on each");
  }
}

int64_t Trainer::trainable_parameter_count() const {
  int64_t n = 0;
  for (const auto& p : trainable_) n += p.numel();
  return n;
}

double Trainer::communication_seconds() const { return reducer_ ? reducer_->communication_seconds() : 0.0; }

// transformers' distributed sampler: the epoch order padded with its own first rows to a multiple
// of the world size, then every world_size-th row from this rank's index. Each rank gets the same
// number of rows; with an uneven split a few rows are seen twice in that epoch.
std::vector<int64_t> Trainer::rank_share(int64_t epoch) const {
  const std::vector<int64_t> order = epoch_order(epoch);
  const int64_t world = communicator_->world_size(), rank = communicator_->rank();
  std::vector<int64_t> share;
  for (int64_t i = rank; i < schedule_.rows_per_rank * world; i += world) share.push_back(order[i % order.size()]);
  return share;
}

bool Trainer::any_rank_stopping() {
  if (communicator_->world_size() == 1) return stop_requested_;
  std::vector<at::Tensor> flag = {
      at::full({1}, stop_requested_ ? 1.0 : 0.0, at::TensorOptions().dtype(at::kFloat).device(model_->options().device))};
  communicator_->all_reduce_sum(flag);
  return flag[0].item<double>() > 0;
}

std::vector<int64_t> Trainer::epoch_order(int64_t epoch) const {
  // A fresh generator per epoch: the order depends on (seed, epoch) alone, so a resumed run
  // needs no sampler state to draw the same rows.
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(options_.seed + static_cast<uint64_t>(epoch));
  const at::Tensor order = at::randperm(train_.count(), generator, at::kLong);
  return std::vector<int64_t>(order.data_ptr<int64_t>(), order.data_ptr<int64_t>() + order.numel());
}

StepStats Trainer::train_step() {
  require(global_step_ < schedule_.total_steps, "the run has already made its " + std::to_string(schedule_.total_steps) + " steps");
  at::AutoGradMode grad_mode(true);
  const auto start = Clock::now();
  const int64_t epoch = global_step_ / schedule_.updates_per_epoch;
  const int64_t update = global_step_ % schedule_.updates_per_epoch;
  const int64_t batch = schedule_.inputs.batch;
  const std::vector<int64_t> share = rank_share(epoch);
  const int64_t first = schedule_.first_micro_batch(update) * batch;
  const int64_t end = std::min<int64_t>(static_cast<int64_t>(share.size()), schedule_.end_micro_batch(update) * batch);
  const std::vector<int64_t> rows(share.begin() + first, share.begin() + end);

  StepStats stats;
  int64_t local_labels = 0;
  for (int64_t r : rows) local_labels += train_.label_count(r);
  // transformers' num_items_in_batch: every micro-batch's summed loss is divided by the label
  // tokens of the whole accumulated batch — of every rank — so the update is their plain mean and
  // does not depend on how the rows fell on ranks (the gradients are then summed, not averaged).
  std::vector<at::Tensor> counts = {at::full({1}, static_cast<double>(local_labels), at::kDouble)};
  if (communicator_->world_size() > 1) communicator_->all_reduce_sum(counts);
  const double items = counts[0].item<double>();
  stats.label_tokens = static_cast<int64_t>(items);
  double loss_sum = 0;
  const auto groups = group_by_length(train_, rows, batch);
  for (size_t g = 0; g < groups.size(); ++g) {
    const MicroBatch micro = options_.packing ? make_packed_micro_batch(train_, groups[g], model_->options().device)
                                              : make_micro_batch(train_, groups[g], options_.pad_id, model_->options().device);
    const at::Tensor loss = label_loss_sum(*model_, micro, LossChunking{options_.loss_chunk, 1.0 / items});
    if (reducer_) reducer_->prepare_backward(/*sync=*/g + 1 == groups.size());  // DDP's no_sync() but for the last
    (loss / items).backward();
    if (reducer_) reducer_->finish_backward();
    loss_sum += loss.item<double>();
    stats.real_tokens += micro.real_tokens;
    stats.padded_tokens += micro.padded_tokens;
  }
  if (communicator_->world_size() > 1) {
    std::vector<at::Tensor> totals = {
        at::tensor({loss_sum, static_cast<double>(stats.real_tokens), static_cast<double>(stats.padded_tokens)}, at::kDouble)};
    communicator_->all_reduce_sum(totals);
    loss_sum = totals[0][0].item<double>();
    stats.real_tokens = static_cast<int64_t>(totals[0][1].item<double>());
    stats.padded_tokens = static_cast<int64_t>(totals[0][2].item<double>());
  }

  std::vector<at::Tensor>& updated = masters_.empty() ? trainable_ : masters_;
  if (!masters_.empty()) {
    for (size_t i = 0; i < masters_.size(); ++i) masters_[i].mutable_grad() = trainable_[i].grad().to(at::kFloat);
  }
  stats.grad_norm = options_.max_grad_norm > 0 ? torch::nn::utils::clip_grad_norm_(updated, options_.max_grad_norm)
                                               : torch::nn::utils::clip_grad_norm_(updated, 1e300);
  stats.learning_rate = options_.learning_rate * schedule_.lr_factor(global_step_);
  for (auto& group : optimizer_->param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(stats.learning_rate);
  adamw_step(*optimizer_);
  for (auto& p : trainable_) p.mutable_grad() = at::Tensor();
  for (auto& p : masters_) p.mutable_grad() = at::Tensor();
  if (!masters_.empty()) sync_masters_to_model();

  ++global_step_;
  epoch_ = static_cast<double>(epoch) +
           static_cast<double>(schedule_.end_micro_batch(update)) / static_cast<double>(schedule_.micro_batches_per_epoch);
  stats.step = global_step_;
  stats.epoch = epoch_;
  stats.loss = loss_sum / items;
  stats.seconds = seconds_since(start);
  return stats;
}

void Trainer::sync_masters_to_model() {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < masters_.size(); ++i) trainable_[i].copy_(masters_[i]);
}

double Trainer::evaluate() {
  require(eval_.count() > 0, "there are no eval rows");
  at::NoGradGuard no_grad;
  const bool was_training = model_->is_training();
  model_->train(false);
  double weighted = 0;
  for (int64_t start = 0; start < eval_.count(); start += options_.eval_batch) {
    std::vector<int64_t> rows;
    for (int64_t r = start; r < std::min(eval_.count(), start + options_.eval_batch); ++r) rows.push_back(r);
    const MicroBatch micro = options_.packing ? make_packed_micro_batch(eval_, rows, model_->options().device)
                                              : make_micro_batch(eval_, rows, options_.pad_id, model_->options().device);
    // transformers: the batch's mean token loss, repeated once per row, then averaged over rows.
    const double mean =
        label_loss_sum(*model_, micro, LossChunking{options_.loss_chunk, 1.0}).item<double>() / static_cast<double>(micro.targets.numel());
    weighted += mean * static_cast<double>(rows.size());
  }
  model_->train(was_training);
  return weighted / static_cast<double>(eval_.count());
}

void Trainer::append_metrics(const nlohmann::ordered_json& record) const {
  if (communicator_->rank() != 0) return;
  const fs::path path = fs::path(options_.run_dir) / "metrics.jsonl";
  std::ofstream out(path, std::ios::app);
  if (!out) throw Error(ErrorCode::kIo, "cannot append to " + path.string() + ": " + std::strerror(errno));
  out << record.dump() << '\n';
  out.flush();
  // A full disk shows here, not as a metrics log that silently stops.
  if (!out) throw Error(ErrorCode::kIo, "cannot append to " + path.string() + ": " + std::strerror(errno));
}

void Trainer::truncate_metrics(int64_t last_step) const {
  if (communicator_->rank() != 0) return;
  const fs::path path = fs::path(options_.run_dir) / "metrics.jsonl";
  std::ifstream in(path);
  if (!in) return;
  std::string kept, line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      if (nlohmann::json::parse(line).value("step", int64_t{0}) <= last_step) kept += line + "\n";
    } catch (const nlohmann::json::exception&) {
      // A line cut by a kill mid-write: dropped, as are the steps after the checkpoint.
    }
  }
  write_file_atomically(path.string(), kept);
}

void Trainer::log_step(const StepStats& s, const RunControl& control) {
  run_tokens_ += s.real_tokens;
  run_seconds_ += s.seconds;
  window_loss_ += s.loss;
  ++window_steps_;
  nlohmann::ordered_json record = {{"step", s.step},
                                   {"epoch", s.epoch},
                                   {"loss", s.loss},
                                   {"learning_rate", s.learning_rate},
                                   {"grad_norm", s.grad_norm},
                                   {"tokens", s.real_tokens},
                                   {"label_tokens", s.label_tokens},
                                   {"tokens_per_s", s.real_tokens / std::max(s.seconds, 1e-9)},
                                   {"padding_fraction", 1.0 - static_cast<double>(s.real_tokens) / static_cast<double>(s.padded_tokens)}};
  append_metrics(record);
  if (s.step % schedule_.logging_steps == 0) {
    // transformers (4.57, 5.18) logs the learning rate of the logged step's own update.
    log_history_.push_back({{"step", s.step},
                            {"epoch", s.epoch},
                            {"loss", window_loss_ / window_steps_},
                            {"grad_norm", s.grad_norm},
                            {"learning_rate", s.learning_rate}});
    window_loss_ = 0;
    window_steps_ = 0;
  }
  control.report(Progress{"step", s.step, schedule_.total_steps, s.loss, record.dump()});
}

void Trainer::log_eval(double eval_loss, double seconds, const RunControl& control) {
  nlohmann::ordered_json record = {{"step", global_step_}, {"epoch", epoch_}, {"eval_loss", eval_loss}, {"eval_runtime", seconds}};
  append_metrics(record);
  log_history_.push_back({{"step", global_step_},
                          {"epoch", epoch_},
                          {"eval_loss", eval_loss},
                          {"eval_runtime", seconds},
                          {"eval_samples_per_second", static_cast<double>(eval_.count()) / std::max(seconds, 1e-9)}});
  control.report(Progress{"eval", global_step_, schedule_.total_steps, eval_loss, record.dump()});
}

RunOutcome Trainer::run_until_checkpoint(const RunControl& control) {
  RunOutcome outcome;
  model_->train(true);
  while (global_step_ < schedule_.total_steps) {
    log_step(train_step(), control);
    if (eval_.count() > 0 && global_step_ % schedule_.eval_steps == 0) {
      const auto start = Clock::now();
      const double eval_loss = evaluate();
      log_eval(eval_loss, seconds_since(start), control);
    }
    const bool last = global_step_ == schedule_.total_steps;
    const bool stopping = any_rank_stopping();  // every rank takes the same decision
    if (last || global_step_ % schedule_.save_steps == 0 || stopping) {
      if (last) {
        log_history_.push_back({{"step", global_step_},
                                {"epoch", epoch_},
                                {"train_runtime", run_seconds_},
                                {"train_tokens_per_second", static_cast<double>(run_tokens_) / std::max(run_seconds_, 1e-9)}});
      }
      using Policy = TrainerOptions::SavePolicy;
      const Policy policy = options_.save_checkpoints;
      if (policy == Policy::kAll || (policy == Policy::kLast && (last || stopping))) outcome.checkpoint = save_checkpoint();
      outcome.finished = last;
      outcome.stopped = !last && stopping;
      break;
    }
  }
  model_->train(false);
  outcome.global_step = global_step_;
  outcome.finished = global_step_ == schedule_.total_steps;
  return outcome;
}

std::string Trainer::save_checkpoint() {
  const std::string name = "checkpoint-" + std::to_string(global_step_);
  const fs::path target = fs::path(options_.run_dir) / name;
  const int rank = communicator_->rank(), world = communicator_->world_size();
  // Rank 0 names the staging folder after its pid and tells the others, who add their RNG state.
  std::vector<at::Tensor> pid = {at::full({1}, static_cast<int64_t>(getpid()), at::kLong)};
  if (world > 1) communicator_->broadcast(pid, 0);
  const fs::path staging = fs::path(options_.run_dir) / ("." + name + ".tmp-" + std::to_string(pid[0].item<int64_t>()));
  // A failure on any rank (a full disk, a read-only mount) must not leave the others waiting in a
  // barrier, nor a staging folder behind: each step's outcome is agreed on before the next.
  std::string failure;
  ErrorCode failure_code = ErrorCode::kIo;
  auto attempt = [&](const std::function<void()>& work) {
    if (!failure.empty()) return;
    try {
      work();
    } catch (const Error& e) {
      failure = e.what();
      failure_code = e.code();
    } catch (const std::exception& e) {
      failure = e.what();
    }
  };
  auto agree = [&](const char* what) {
    bool any = !failure.empty();
    if (world > 1) {
      std::vector<at::Tensor> flag = {
          at::full({1}, any ? 1.0 : 0.0, at::TensorOptions().dtype(at::kFloat).device(model_->options().device))};
      communicator_->all_reduce_sum(flag);
      any = flag[0].item<double>() > 0;
    }
    if (!any) return;
    std::error_code ignored;
    if (rank == 0) fs::remove_all(staging, ignored);
    const std::string previous = last_checkpoint_.empty() ? "no earlier checkpoint of this run is complete"
                                                          : last_checkpoint_ + " is still the latest complete checkpoint";
    const std::string cause = failure.empty() ? "another rank failed while " + std::string(what) : failure;
    throw Error(failure.empty() ? ErrorCode::kIo : failure_code, "cannot write " + name + " (" + cause + "); " + previous);
  };
  if (rank == 0) {
    attempt([&] {
      std::error_code ec;
      fs::remove_all(staging, ec);
      fs::create_directories(staging, ec);
      if (ec) throw Error(ErrorCode::kIo, "cannot create " + staging.string() + ": " + ec.message());
    });
  }
  agree("creating the staging folder");
  attempt([&] {
    std::lock_guard<std::mutex> lock(dropout_generator_.mutex());
    write_safetensors((staging / rng_state_file(rank, world)).string(), {{"dropout", dropout_generator_.get_state()}});
  });
  if (rank == 0) attempt([&] { write_checkpoint_files(staging); });
  agree("writing its files");  // every rank's RNG state is in
  if (rank == 0) attempt([&] { replace_directory(staging, target); });
  agree("moving it into place");  // nobody goes on before the checkpoint is complete
  last_checkpoint_ = target.string();
  return target.string();
}

// Weights, optimiser, scheduler and log state: everything but the per-rank RNG state.
void Trainer::write_checkpoint_files(const fs::path& staging) const {
  std::error_code ec;
  if (is_lora()) {
    save_adapter(*model_, options_.lora, options_.base_model, staging.string());
    if (options_.save_merged) save_model(*model_, merged_checkpoint_tensors(*model_), (staging / "merged").string());
  } else {
    save_model(*model_, staging.string());
  }
  for (const std::string& file : options_.checkpoint_files) {
    for (const fs::path& folder : {staging, staging / "merged"}) {
      if (!fs::exists(folder)) continue;
      fs::copy_file(file, folder / fs::path(file).filename(), fs::copy_options::overwrite_existing, ec);
      if (ec) throw Error(ErrorCode::kIo, "cannot copy " + file + " into the checkpoint: " + ec.message());
    }
  }
  torch::serialize::OutputArchive archive;
  save_optimizer_state(*optimizer_, archive);  // fixed keys and order: same state, same bytes
  // Through our writer: libtorch's own file writer aborts the process when the disk fills (an
  // exception escapes PyTorchStreamWriter's destructor), ours reports Error(kIo) naming the file.
  write_stream_atomically((staging / kOptimizerState).string(), [&](const ByteSink& sink) { archive.save_to(sink); });
  if (!masters_.empty()) {
    std::vector<std::pair<std::string, at::Tensor>> named;
    for (size_t i = 0; i < masters_.size(); ++i) named.emplace_back("master." + std::to_string(i), masters_[i]);
    write_safetensors((staging / kMasterWeights).string(), named);
  }
  if (!options_.run_record.empty()) write_file_atomically((staging / "run_config.json").string(), options_.run_record);

  nlohmann::json itl_state = {{"format_version", kCheckpointFormatVersion},
                              {"global_step", global_step_},
                              {"epoch", epoch_},
                              {"window_loss", window_loss_},
                              {"window_steps", window_steps_},
                              {"run_tokens", run_tokens_},
                              {"run_seconds", run_seconds_},
                              {"precision", precision_name(options_.precision)},
                              {"lora_r", options_.lora.r},
                              {"options", options_record(options_)},
                              {"schedule", schedule_record(schedule_, eval_.count())}};
  write_file_atomically((staging / kItlState).string(), itl_state.dump(2) + "\n");
  // transformers' TrainerState (sorted keys, as it writes them); written last.
  nlohmann::json state = {{"best_metric", nullptr},
                          {"best_model_checkpoint", nullptr},
                          {"epoch", epoch_},
                          {"eval_steps", schedule_.eval_steps},
                          {"global_step", global_step_},
                          {"is_hyper_param_search", false},
                          {"is_local_process_zero", true},
                          {"is_world_process_zero", true},
                          {"log_history", log_history_},
                          {"logging_steps", schedule_.logging_steps},
                          {"max_steps", schedule_.total_steps},
                          {"num_input_tokens_seen", run_tokens_},
                          {"num_train_epochs", schedule_.inputs.epochs},
                          {"save_steps", schedule_.save_steps},
                          {"total_flos", 0},
                          {"train_batch_size", schedule_.inputs.batch},
                          {"trial_name", nullptr},
                          {"trial_params", nullptr}};
  write_file_atomically((staging / kTrainerState).string(), state.dump(2) + "\n");
}

void Trainer::resume(const std::string& checkpoint_dir) {
  const fs::path dir(checkpoint_dir);
  // Reading the files back: a file that cannot be read (truncated or missing: a full disk, a copy cut
  // short) is a damaged checkpoint, reported as kCheckpointDamaged naming the file, so the caller can
  // fall back to an earlier complete checkpoint; a readable one written for another run stays kCheckpointFormat.
  const auto damaged = [&](const std::string& file, auto&& read) {
    try {
      read();
    } catch (const std::exception& e) {
      throw Error(ErrorCode::kCheckpointDamaged,
                  "the checkpoint " + checkpoint_dir + " is damaged: cannot read " + (dir / file).string() + ": " + e.what());
    }
  };
  nlohmann::json itl_state;
  damaged(kItlState, [&] { itl_state = read_json_file(dir / kItlState); });
  const int format = itl_state.value("format_version", 0);
  if (format != kCheckpointFormatVersion) {
    throw Error(ErrorCode::kCheckpointFormat, checkpoint_dir + " was written in checkpoint format " + std::to_string(format) +
                                                  "; this itl reads format " + std::to_string(kCheckpointFormatVersion) +
                                                  " (resume it with the itl that wrote it, or start the run again)");
  }
  std::string differences;
  list_differences(itl_state["schedule"], schedule_record(schedule_, eval_.count()), "schedule.", differences);
  list_differences(itl_state["options"], options_record(options_), "", differences);
  list_differences(itl_state, {{"precision", precision_name(options_.precision)}, {"lora_r", options_.lora.r}}, "", differences);
  if (!differences.empty()) {
    throw Error(ErrorCode::kCheckpointFormat,
                checkpoint_dir + " belongs to a run with other data, schedule, precision, LoRA rank or optimiser settings: " + differences);
  }
  damaged(is_lora() ? "adapter_model.safetensors" : "model.safetensors", [&] {
    if (is_lora()) {
      load_adapter(*model_, checkpoint_dir, at::make_generator<at::CPUGeneratorImpl>(options_.seed));
    } else {
      load_weights(*model_, checkpoint_dir);
    }
  });
  if (!masters_.empty()) {
    damaged(kMasterWeights, [&] {
      const auto file = SafeTensorsFile::open((dir / kMasterWeights).string());
      at::NoGradGuard no_grad;
      for (size_t i = 0; i < masters_.size(); ++i) masters_[i].copy_(file->tensor("master." + std::to_string(i)));
    });
  }
  damaged(kOptimizerState, [&] {
    torch::serialize::InputArchive archive;
    archive.load_from((dir / kOptimizerState).string());
    optimizer_->load(archive);
  });
  const std::string rng_file = rng_state_file(communicator_->rank(), communicator_->world_size());
  damaged(rng_file, [&] {
    const auto rng = SafeTensorsFile::open((dir / rng_file).string());
    std::lock_guard<std::mutex> lock(dropout_generator_.mutex());
    dropout_generator_.set_state(rng->tensor("dropout").clone());
  });
  global_step_ = itl_state["global_step"].get<int64_t>();
  epoch_ = itl_state["epoch"].get<double>();
  window_loss_ = itl_state["window_loss"].get<double>();
  window_steps_ = itl_state["window_steps"].get<int64_t>();
  run_tokens_ = itl_state["run_tokens"].get<int64_t>();
  run_seconds_ = itl_state["run_seconds"].get<double>();
  damaged(kTrainerState, [&] { log_history_ = read_json_file(dir / kTrainerState).at("log_history"); });
  last_checkpoint_ = checkpoint_dir;
  truncate_metrics(global_step_);
}

}  // namespace itl
