// The trainer against hand-derived numbers and against itself: the study's step arithmetic and the
// linear/cosine schedules, option checks, AdamW's settings and weight-decay groups, gradients against
// finite differences (fp64), length-grouped vs one padded micro-batch, batch × accumulation splits,
// exact resume and what it compares, LoRA identities and PEFT-layout adapters, padding_idx.
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <unistd.h>

#include "io/safetensors.h"
#include "io_test_support.h"
#include "model/llama_model.h"
#include "model/model_io.h"
#include "train/batch.h"
#include "train/lora.h"
#include "train/schedule.h"
#include "train/trainer.h"
#include "train_fixtures.h"

namespace itl {
namespace {

using testing::make_rows;
using testing::small_model;
using testing::small_trainer_options;
using testing::TempDir;

std::vector<int64_t> all_rows(const TokenRows& rows) {
  std::vector<int64_t> out;
  for (int64_t r = 0; r < rows.count(); ++r) out.push_back(r);
  return out;
}

double mean_loss(LlamaModel& model, const TokenRows& rows, const std::vector<std::vector<int64_t>>& groups, int64_t pad_id) {
  int64_t items = 0;
  for (int64_t r = 0; r < rows.count(); ++r) items += rows.label_count(r);
  at::Tensor total = at::zeros({}, at::kDouble);
  for (const auto& group : groups) total = total + label_loss_sum(model, make_micro_batch(rows, group, pad_id, at::kCPU)).to(at::kDouble);
  return (total / static_cast<double>(items)).item<double>();
}

std::map<std::string, at::Tensor> gradients(LlamaModel& model) {
  std::map<std::string, at::Tensor> out;
  for (const auto& item : model.named_parameters(true)) {
    if (item.value().grad().defined()) out[item.key()] = item.value().grad().clone();
    item.value().mutable_grad() = at::Tensor();
  }
  return out;
}

void expect_same_parameters(const LlamaModel& a, const LlamaModel& b, double tolerance) {
  auto pa = a.named_parameters(true), pb = b.named_parameters(true);
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& item : pa) {
    const double diff = (item.value() - pb[item.key()]).abs().max().item<double>();
    EXPECT_LE(diff, tolerance) << item.key();
  }
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(TrainingSchedule, StudyArithmetic) {
  // Smol135M, 500 facts, batch 64, gradAcc 2, 30 epochs: 8 micro-batches → 4 updates per epoch.
  const TrainingSchedule s = TrainingSchedule::compute({500, 64, 2, 1, 30, 0.05, LrScheduler::kConstantWithWarmup, 0, 0, 5});
  EXPECT_EQ(s.micro_batches_per_epoch, 8);
  EXPECT_EQ(s.updates_per_epoch, 4);
  EXPECT_EQ(s.total_steps, 120);
  EXPECT_EQ(s.warmup_steps, 6);
  EXPECT_EQ(s.steps_per_epoch, 4);
  EXPECT_EQ(s.eval_steps, 2);
  EXPECT_EQ(s.save_steps, 8);
  EXPECT_DOUBLE_EQ(s.lr_factor(0), 0.0);
  EXPECT_DOUBLE_EQ(s.lr_factor(3), 0.5);
  EXPECT_DOUBLE_EQ(s.lr_factor(6), 1.0);
  // A short last accumulation still makes a step: 7 micro-batches, gradAcc 2 → 4 updates, the last of one.
  const TrainingSchedule odd = TrainingSchedule::compute({13, 2, 2, 1, 1, 0.05, LrScheduler::kConstantWithWarmup, 0, 0, 5});
  EXPECT_EQ(odd.micro_batches_per_epoch, 7);
  EXPECT_EQ(odd.updates_per_epoch, 4);
  EXPECT_EQ(odd.first_micro_batch(3), 6);
  EXPECT_EQ(odd.end_micro_batch(3), 7);
  EXPECT_EQ(odd.warmup_steps, 1);
  // Lam8B, 1000 facts, batch 4, gradAcc 64, 2 GPUs: global batch 512.
  const TrainingSchedule ddp = TrainingSchedule::compute({1000, 4, 64, 2, 80, 0.05, LrScheduler::kConstantWithWarmup, 0, 0, 5});
  EXPECT_EQ(ddp.rows_per_rank, 500);
  EXPECT_EQ(ddp.updates_per_epoch, 2);
  EXPECT_EQ(ddp.steps_per_epoch, 2);
  EXPECT_EQ(ddp.eval_steps, 1);
  testing::expect_error(
      [] {
        TrainingSchedule::compute({0, 1, 1, 1, 1, 0.05, LrScheduler::kConstantWithWarmup, 0, 0, 5});
      },
      ErrorCode::kInvalidArgument, "at least one row");
}

TEST(TrainingSchedule, LinearAndCosineFactorsAreTransformersSchedules) {
  // 8 updates, warm-up ceil(0.25 × 8) = 2; the values of get_linear_schedule_with_warmup and
  // get_cosine_schedule_with_warmup (num_cycles 0.5) at each completed step.
  auto schedule = [](LrScheduler kind, double warmup) { return TrainingSchedule::compute({8, 1, 1, 1, 1, warmup, kind, 0, 0, 5}); };
  const TrainingSchedule constant = schedule(LrScheduler::kConstantWithWarmup, 0.25);
  const TrainingSchedule linear = schedule(LrScheduler::kLinear, 0.25);
  const TrainingSchedule cosine = schedule(LrScheduler::kCosine, 0.25);
  ASSERT_EQ(linear.warmup_steps, 2);
  for (const TrainingSchedule* s : {&constant, &linear, &cosine}) {
    EXPECT_EQ(s->lr_factor(0), 0.0);
    EXPECT_EQ(s->lr_factor(1), 0.5);
    EXPECT_EQ(s->lr_factor(2), 1.0);
  }
  EXPECT_EQ(constant.lr_factor(7), 1.0);
  EXPECT_DOUBLE_EQ(linear.lr_factor(5), 0.5);  // (8 − 5) / (8 − 2)
  EXPECT_DOUBLE_EQ(linear.lr_factor(7), 1.0 / 6);
  EXPECT_EQ(linear.lr_factor(8), 0.0);
  EXPECT_DOUBLE_EQ(cosine.lr_factor(3), 0.9330127018922193);   // ½(1 + cos(π/6))
  EXPECT_DOUBLE_EQ(cosine.lr_factor(5), 0.5);                  // half-way: ½(1 + cos(π/2))
  EXPECT_DOUBLE_EQ(cosine.lr_factor(7), 0.06698729810778065);  // ½(1 + cos(5π/6))
  EXPECT_EQ(cosine.lr_factor(8), 0.0);
  // Without warm-up the first update already has the full rate.
  EXPECT_EQ(schedule(LrScheduler::kLinear, 0).lr_factor(0), 1.0);
  EXPECT_EQ(schedule(LrScheduler::kCosine, 0).lr_factor(0), 1.0);
  EXPECT_EQ(parse_lr_scheduler("cosine"), LrScheduler::kCosine);
  EXPECT_EQ(lr_scheduler_name(LrScheduler::kConstantWithWarmup), "constant_with_warmup");
  testing::expect_error([] { parse_lr_scheduler("cosine_with_restarts"); }, ErrorCode::kInvalidArgument,
                        "constant_with_warmup, linear or cosine");
}

TEST(TrainerOptions, ValidationNamesTheField) {
  TempDir dir;
  testing::expect_error([] { validate_trainer_options(TrainerOptions{}); }, ErrorCode::kInvalidArgument, "TrainerOptions.run_dir");
  EXPECT_NO_THROW(validate_trainer_options(small_trainer_options(dir / "run", 2, 1, 1)));
  auto expect_rejected = [&](void (*change)(TrainerOptions&), const std::string& message) {
    TrainerOptions o = small_trainer_options(dir / "run", 2, 1, 1);
    change(o);
    testing::expect_error([&] { validate_trainer_options(o); }, ErrorCode::kInvalidArgument, message);
  };
  expect_rejected([](TrainerOptions& o) { o.adam_beta1 = 1; }, "TrainerOptions.adam_beta1 must be in [0, 1), got 1");
  expect_rejected([](TrainerOptions& o) { o.adam_beta2 = -0.1; }, "TrainerOptions.adam_beta2");
  expect_rejected([](TrainerOptions& o) { o.adam_epsilon = 0; }, "TrainerOptions.adam_epsilon");
  expect_rejected([](TrainerOptions& o) { o.weight_decay = -1; }, "TrainerOptions.weight_decay");
  expect_rejected([](TrainerOptions& o) { o.eval_batch = 0; }, "TrainerOptions.eval_batch");
  expect_rejected([](TrainerOptions& o) { o.lora.dropout = 1; }, "TrainerOptions.lora.dropout");
}

TEST(Trainer, WeightDecaySparesNormWeightsAsTheTrainerDoes) {
  // One full-rate step (no warm-up) with and without weight decay from the same weights and rows:
  // AdamW scales each decayed weight by (1 − lr·wd) before its Adam update, which is the same in both
  // runs, so they differ by exactly −lr·wd·w — on every weight but the RMSNorm ones.
  TempDir dir;
  const TokenRows rows = make_rows(4, 9);
  auto run = [&](const std::string& name, double weight_decay) {
    TrainerOptions o = small_trainer_options(dir / name, 4, 1, 1);
    o.schedule.warmup_ratio = 0;
    o.weight_decay = weight_decay;
    auto model = small_model(/*tied=*/false, at::kDouble);
    Trainer trainer(model, rows, TokenRows{}, o);
    EXPECT_EQ(trainer.train_step().learning_rate, o.learning_rate);
    return model;
  };
  const auto decayed = run("decayed", 0.1), plain = run("plain", 0.0), before = small_model(false, at::kDouble);
  const auto start = before->named_parameters(true);
  int norms = 0, others = 0;
  for (const auto& item : decayed->named_parameters(true)) {
    const at::Tensor difference = item.value() - plain->named_parameters(true)[item.key()];
    if (item.key().find("norm") != std::string::npos) {
      ++norms;
      EXPECT_EQ(difference.abs().max().item<double>(), 0.0) << item.key();
    } else {
      ++others;
      const at::Tensor expected = -1e-2 * 0.1 * start[item.key()];
      EXPECT_LE((difference - expected).abs().max().item<double>(), 1e-14) << item.key();
      EXPECT_GT(difference.abs().max().item<double>(), 1e-6) << item.key();
    }
  }
  EXPECT_EQ(norms, 5);    // 2 layers × 2 + the final norm
  EXPECT_EQ(others, 16);  // 2 layers × 7 projections + embedding + head
}

TEST(Trainer, AdamBetasAndEpsilonReachTheOptimiser) {
  TempDir dir;
  const TokenRows rows = make_rows(4, 9);
  auto weights_after_two_steps = [&](const std::string& name, auto change) {
    TrainerOptions o = small_trainer_options(dir / name, 2, 1, 1);
    o.schedule.warmup_ratio = 0;
    change(o);
    auto model = small_model(true, at::kDouble);
    Trainer trainer(model, rows, TokenRows{}, o);
    trainer.train_step();
    trainer.train_step();
    return model;
  };
  const auto study = weights_after_two_steps("study", [](TrainerOptions&) {});
  const auto same = weights_after_two_steps("same", [](TrainerOptions&) {});
  expect_same_parameters(*study, *same, 0.0);
  for (const auto& [name, change] : std::vector<std::pair<std::string, std::function<void(TrainerOptions&)>>>{
           {"beta1", [](TrainerOptions& o) { o.adam_beta1 = 0.5; }},
           {"beta2", [](TrainerOptions& o) { o.adam_beta2 = 0.5; }},
           {"epsilon", [](TrainerOptions& o) { o.adam_epsilon = 1e-1; }}}) {
    const auto changed = weights_after_two_steps(name, change);
    double largest = 0;
    for (const auto& item : changed->named_parameters(true)) {
      largest = std::max(largest, (item.value() - study->named_parameters(true)[item.key()]).abs().max().item<double>());
    }
    EXPECT_GT(largest, 1e-6) << name;
  }
}

TEST(TrainLoss, GradientsEqualFiniteDifferencesInFp64) {
  for (const bool lora : {false, true}) {
    auto model = small_model(/*tied=*/true, at::kDouble);
    if (lora) {
      LoraOptions options{};
      options.r = 2;
      options.alpha = 4;
      options.dropout = 0;
      apply_lora(*model, options, at::make_generator<at::CPUGeneratorImpl>(1));
      at::NoGradGuard no_grad;
      for (const auto& [name, layer] : lora_layers(*model)) layer->lora_B->weight.normal_(0, 0.3);
    }
    const TokenRows rows = make_rows(3, 11);
    const std::vector<std::vector<int64_t>> one_batch = {all_rows(rows)};
    at::Tensor loss = at::zeros({}, at::kDouble);
    int64_t items = 0;
    for (int64_t r = 0; r < rows.count(); ++r) items += rows.label_count(r);
    (label_loss_sum(*model, make_micro_batch(rows, all_rows(rows), 2, at::kCPU)) / static_cast<double>(items)).backward();
    auto grads = gradients(*model);
    ASSERT_FALSE(grads.empty());
    auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
    int64_t checked = 0;
    for (auto& item : model->named_parameters(true)) {
      if (!item.value().requires_grad()) continue;
      at::Tensor flat = item.value().detach().view({-1});
      for (int k = 0; k < 2; ++k) {
        const int64_t i = at::randint(flat.numel(), {1}, generator, at::kLong).item<int64_t>();
        const double saved = flat[i].item<double>(), eps = 1e-6;
        at::NoGradGuard no_grad;
        flat[i] = saved + eps;
        const double up = mean_loss(*model, rows, one_batch, 2);
        flat[i] = saved - eps;
        const double down = mean_loss(*model, rows, one_batch, 2);
        flat[i] = saved;
        const double numeric = (up - down) / (2 * eps);
        const double analytic = grads[item.key()].view({-1})[i].item<double>();
        EXPECT_NEAR(analytic, numeric, 1e-7 + 1e-5 * std::abs(numeric)) << item.key() << "[" << i << "] lora=" << lora;
        ++checked;
      }
    }
    EXPECT_GT(checked, lora ? 20 : 30);
  }
}

TEST(TrainLoss, LengthGroupedMicroBatchesEqualOnePaddedBatch) {
  auto model = small_model(/*tied=*/false, at::kDouble);
  const TokenRows rows = make_rows(7, 4);
  const int64_t items = [&] {
    int64_t n = 0;
    for (int64_t r = 0; r < rows.count(); ++r) n += rows.label_count(r);
    return n;
  }();
  auto accumulate = [&](const std::vector<std::vector<int64_t>>& groups) {
    double loss = 0;
    int64_t real = 0, padded = 0;
    for (const auto& group : groups) {
      const MicroBatch batch = make_micro_batch(rows, group, 2, at::kCPU);
      const at::Tensor sum = label_loss_sum(*model, batch);
      (sum / static_cast<double>(items)).backward();
      loss += sum.item<double>();
      real += batch.real_tokens;
      padded += batch.padded_tokens;
    }
    return std::make_tuple(loss, gradients(*model), real, padded);
  };
  const auto [padded_loss, padded_grads, real_a, padded_a] = accumulate({all_rows(rows)});
  const auto [grouped_loss, grouped_grads, real_b, padded_b] = accumulate(group_by_length(rows, all_rows(rows), 3));
  EXPECT_NEAR(grouped_loss, padded_loss, 1e-10 * std::abs(padded_loss));
  for (const auto& [name, g] : padded_grads) EXPECT_LE((g - grouped_grads.at(name)).abs().max().item<double>(), 1e-12) << name;
  EXPECT_EQ(real_a, real_b);
  EXPECT_LT(padded_b, padded_a);  // grouping by length computes less padding
}

TEST(TrainLoss, LeftAndRightPaddingGiveTheSameLogits) {
  auto model = small_model(/*tied=*/true, at::kDouble);
  at::NoGradGuard no_grad;
  const at::Tensor a = at::tensor({5, 6, 7, 8, 9}, at::kLong), b = at::tensor({10, 11, 12}, at::kLong);
  const at::Tensor pad = at::full({2}, 2, at::kLong);
  const at::Tensor right_ids = at::stack({a, at::cat({b, pad})}), left_ids = at::stack({a, at::cat({pad, b})});
  const at::Tensor right_mask = at::tensor({1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, at::kLong).view({2, 5});
  const at::Tensor left_mask = at::tensor({1, 1, 1, 1, 1, 0, 0, 1, 1, 1}, at::kLong).view({2, 5});
  const at::Tensor right = model->forward(right_ids, right_mask), left = model->forward(left_ids, left_mask);
  EXPECT_LE((right[0] - left[0]).abs().max().item<double>(), 1e-12);
  EXPECT_LE((right[1].narrow(0, 0, 3) - left[1].narrow(0, 2, 3)).abs().max().item<double>(), 1e-12);
}

TEST(Trainer, BatchTimesAccumulationSplitsGiveTheSameUpdate) {
  TempDir dir;
  const TokenRows rows = make_rows(8, 2);
  // fp64, so the comparison sees the algorithm and not the order of float additions (AdamW divides
  // by √v, which turns a rounding difference in a near-zero gradient into a visible one: the
  // parameters differ by up to 1.6e-12 after two steps. The losses and gradient norms, where a wrong
  // normalisation shows, are held to 1e-12).
  auto a = small_model(true, at::kDouble), b = small_model(true, at::kDouble);
  Trainer four_by_one(a, rows, TokenRows{}, small_trainer_options(dir / "a", 8, 1, 2));
  Trainer two_by_two(b, rows, TokenRows{}, small_trainer_options(dir / "b", 4, 2, 2));
  Trainer one_by_eight(small_model(true, at::kDouble), rows, TokenRows{}, small_trainer_options(dir / "c", 1, 8, 2));
  for (int step = 0; step < 2; ++step) {
    const StepStats sa = four_by_one.train_step(), sb = two_by_two.train_step(), sc = one_by_eight.train_step();
    EXPECT_NEAR(sa.loss, sb.loss, 1e-12 * sa.loss);
    EXPECT_NEAR(sa.loss, sc.loss, 1e-12 * sa.loss);
    EXPECT_NEAR(sa.grad_norm, sb.grad_norm, 1e-12 * sa.grad_norm);
    EXPECT_EQ(sa.label_tokens, sc.label_tokens);
  }
  expect_same_parameters(*a, *b, 1e-11);
  expect_same_parameters(*a, *one_by_eight.model(), 1e-11);
}

TEST(Trainer, FirstUpdateHasLearningRateZeroAndClipsAtOne) {
  TempDir dir;
  const TokenRows rows = make_rows(4, 9);
  auto model = small_model(true, at::kFloat);
  auto before = small_model(true, at::kFloat);
  TrainerOptions o = small_trainer_options(dir / "run", 4, 1, 20);
  o.learning_rate = 0.5;  // large, so clipping is certain to matter
  Trainer trainer(model, rows, TokenRows{}, o);
  ASSERT_EQ(trainer.schedule().warmup_steps, 1);
  const StepStats first = trainer.train_step();
  EXPECT_EQ(first.learning_rate, 0.0);
  expect_same_parameters(*model, *before, 0.0);  // AdamW's moments moved, the weights did not
  const StepStats second = trainer.train_step();
  EXPECT_DOUBLE_EQ(second.learning_rate, 0.5);
  EXPECT_GT(second.grad_norm, 0.0);
  auto p = model->named_parameters(true)["model.norm.weight"];
  EXPECT_GT((p - before->named_parameters(true)["model.norm.weight"]).abs().max().item<double>(), 0.0);
}

TEST(Trainer, ResumedRunEqualsTheUninterruptedOne) {
  for (const int64_t rank : {0, 4}) {
    TempDir dir;
    const TokenRows train = make_rows(10, 1), eval = make_rows(3, 8);
    auto options = [&](const std::string& run) {
      TrainerOptions o = small_trainer_options(dir / run, 2, 2, 3);  // 3 updates per epoch, 9 steps
      o.schedule.save_steps = 4;
      o.schedule.logging_steps = 3;
      o.lora.r = rank;
      o.lora.alpha = 8;
      o.lora.dropout = 0.2;  // the dropout stream must resume where it stopped
      return o;
    };
    auto whole = small_model(false, at::kFloat);
    Trainer uninterrupted(whole, train, eval, options("whole"));
    while (!uninterrupted.run_until_checkpoint(RunControl{}).finished) {
    }
    {
      Trainer first(small_model(false, at::kFloat), train, eval, options("split"));
      const RunOutcome o = first.run_until_checkpoint(RunControl{});
      ASSERT_EQ(o.global_step, 4);
      ASSERT_TRUE(std::filesystem::exists(o.checkpoint + "/trainer_state.json"));
      first.run_until_checkpoint(RunControl{});  // progress past checkpoint-4, thrown away by resuming from it
    }
    auto resumed_model = small_model(false, at::kFloat);
    Trainer resumed(resumed_model, train, eval, options("split"));
    resumed.resume(dir / "split/checkpoint-4");
    EXPECT_EQ(resumed.global_step(), 4);
    while (!resumed.run_until_checkpoint(RunControl{}).finished) {
    }
    expect_same_parameters(*whole, *resumed_model, 0.0);
    EXPECT_EQ(read_text(dir.path() / "whole/metrics.jsonl").size() > 0, true);
    // The metrics logs agree on every loss (the timings differ).
    auto losses = [&](const std::string& run) {
      std::vector<double> out;
      std::ifstream in(dir.path() / run / "metrics.jsonl");
      for (std::string line; std::getline(in, line);) {
        const auto j = nlohmann::json::parse(line);
        out.push_back(j.contains("loss") ? j["loss"].get<double>() : j["eval_loss"].get<double>());
      }
      return out;
    };
    EXPECT_EQ(losses("whole"), losses("split")) << "rank " << rank;
    const auto state_a = nlohmann::json::parse(read_text(dir.path() / "whole/checkpoint-9/trainer_state.json"));
    const auto state_b = nlohmann::json::parse(read_text(dir.path() / "split/checkpoint-9/trainer_state.json"));
    ASSERT_EQ(state_a["log_history"].size(), state_b["log_history"].size());
    for (size_t i = 0; i < state_a["log_history"].size(); ++i) {
      EXPECT_EQ(state_a["log_history"][i].value("loss", -1.0), state_b["log_history"][i].value("loss", -1.0)) << i;
    }
  }
}

TEST(Trainer, ResumeRejectsACheckpointOfAnotherRun) {
  TempDir dir;
  const TokenRows rows = make_rows(4, 1);
  Trainer first(small_model(true, at::kFloat), rows, TokenRows{}, small_trainer_options(dir / "run", 2, 1, 1));
  const std::string checkpoint = first.run_until_checkpoint(RunControl{}).checkpoint;
  Trainer other(small_model(true, at::kFloat), rows, TokenRows{}, small_trainer_options(dir / "run", 4, 1, 1));
  testing::expect_error([&] { other.resume(checkpoint); }, ErrorCode::kCheckpointFormat, "schedule.batch 2 there, 4 here");
  // The optimiser settings and the scheduler are recorded and compared too, each named.
  TrainerOptions decayed = small_trainer_options(dir / "run", 2, 1, 1);
  decayed.weight_decay = 0.01;
  decayed.adam_beta2 = 0.99;
  Trainer third(small_model(true, at::kFloat), rows, TokenRows{}, decayed);
  testing::expect_error([&] { third.resume(checkpoint); }, ErrorCode::kCheckpointFormat, "weight_decay 0.0 there, 0.01 here");
  testing::expect_error([&] { third.resume(checkpoint); }, ErrorCode::kCheckpointFormat, "adam_beta2 0.999 there, 0.99 here");
  TrainerOptions cosine = small_trainer_options(dir / "run", 2, 1, 1);
  cosine.schedule.lr_scheduler = LrScheduler::kCosine;
  Trainer fourth(small_model(true, at::kFloat), rows, TokenRows{}, cosine);
  testing::expect_error([&] { fourth.resume(checkpoint); }, ErrorCode::kCheckpointFormat,
                        "schedule.lr_scheduler \"constant_with_warmup\" there, \"cosine\" here");
  const auto state = nlohmann::json::parse(read_text(std::filesystem::path(checkpoint) / "itl_trainer_state.json"));
  EXPECT_EQ(state["options"], nlohmann::json({{"learning_rate", 1e-2},
                                              {"weight_decay", 0.0},
                                              {"adam_beta1", 0.9},
                                              {"adam_beta2", 0.999},
                                              {"adam_epsilon", 1e-8},
                                              {"max_grad_norm", 1.0},
                                              {"seed", 3}}));
}

TEST(Trainer, StopRequestCheckpointsTheStepInProgress) {
  TempDir dir;
  const TokenRows rows = make_rows(4, 1);
  Trainer trainer(small_model(true, at::kFloat), rows, TokenRows{}, small_trainer_options(dir / "run", 1, 1, 5));
  trainer.request_stop();
  const RunOutcome o = trainer.run_until_checkpoint(RunControl{});
  EXPECT_TRUE(o.stopped);
  EXPECT_FALSE(o.finished);
  EXPECT_EQ(o.global_step, 1);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "run/checkpoint-1/model.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / ("run/.checkpoint-1.tmp-" + std::to_string(::getpid()))));
}

TEST(Trainer, SavePolicyDecidesWhichSavePointsReachTheDisk) {
  for (const auto policy : {TrainerOptions::SavePolicy::kLast, TrainerOptions::SavePolicy::kNone}) {
    TempDir dir;
    TrainerOptions o = small_trainer_options(dir / "run", 2, 1, 3);  // 2 steps an epoch, 6 steps
    o.schedule.save_steps = 2;
    o.save_checkpoints = policy;
    Trainer trainer(small_model(true, at::kFloat), make_rows(4, 1), TokenRows{}, o);
    std::vector<int64_t> stops;
    RunOutcome outcome;
    do {
      outcome = trainer.run_until_checkpoint(RunControl{});
      stops.push_back(outcome.global_step);
      EXPECT_EQ(outcome.checkpoint.empty(), !(policy == TrainerOptions::SavePolicy::kLast && outcome.finished));
    } while (!outcome.finished);
    EXPECT_EQ(stops, (std::vector<int64_t>{2, 4, 6}));  // every save point still returns
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "run/checkpoint-2"));
    EXPECT_EQ(std::filesystem::exists(dir.path() / "run/checkpoint-6"), policy == TrainerOptions::SavePolicy::kLast);
  }
}

TEST(Trainer, PaddingIdxRowGetsNoInputGradient) {
  TempDir dir;
  auto model = small_model(/*tied=*/false, at::kFloat);
  const TokenRows rows = make_rows(4, 3);  // id 2 = pad_token_id occurs in every row, also as a label
  const at::Tensor before = model->model->embed_tokens->weight.detach().clone();
  TrainerOptions o = small_trainer_options(dir / "run", 4, 1, 3);
  Trainer trainer(model, rows, TokenRows{}, o);
  trainer.train_step();
  trainer.train_step();
  const at::Tensor after = model->model->embed_tokens->weight.detach();
  EXPECT_EQ((after[2] - before[2]).abs().max().item<double>(), 0.0);
  EXPECT_GT((after[5] - before[5]).abs().max().item<double>() + (after[6] - before[6]).abs().max().item<double>(), 0.0);
  EXPECT_GT((model->lm_head->weight[2] - small_model(false, at::kFloat)->lm_head->weight[2]).abs().max().item<double>(), 0.0);
}

TEST(Lora, ZeroBLeavesTheBaseModelsLogitsExactly) {
  auto base = small_model(true, at::kFloat), adapted = small_model(true, at::kFloat);
  LoraOptions options{};
  options.r = 4;
  options.alpha = 8;
  options.dropout = 0.05;
  apply_lora(*adapted, options, at::make_generator<at::CPUGeneratorImpl>(1));
  EXPECT_EQ(lora_layers(*adapted).size(), 14u);
  at::NoGradGuard no_grad;
  const at::Tensor ids = at::tensor({4, 5, 6, 7, 8}, at::kLong).view({1, 5});
  const at::Tensor mask = at::ones({1, 5}, at::kLong);
  EXPECT_TRUE(at::equal(base->forward(ids, mask), adapted->forward(ids, mask)));
  // Only the adapters learn.
  for (const auto& item : adapted->named_parameters(true)) {
    EXPECT_EQ(item.value().requires_grad(), item.key().find(".lora_") != std::string::npos) << item.key();
  }
}

TEST(Lora, SavedAdapterAndCheckpointReloadToIdenticalLogits) {
  TempDir dir;
  const TokenRows rows = make_rows(6, 5);
  auto model = small_model(false, at::kFloat);
  save_model(*model, dir / "base");
  TrainerOptions o = small_trainer_options(dir / "run", 3, 1, 2);
  o.lora.r = 4;
  o.lora.alpha = 16;
  o.base_model = dir / "base";
  o.save_merged = true;
  Trainer trainer(model, rows, TokenRows{}, o);
  const std::string checkpoint = trainer.run_until_checkpoint(RunControl{}).checkpoint;
  ASSERT_TRUE(std::filesystem::exists(checkpoint + "/adapter_model.safetensors"));
  const auto file = SafeTensorsFile::open(checkpoint + "/adapter_model.safetensors");
  EXPECT_NE(file->find("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"), nullptr);
  EXPECT_NE(file->find("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"), nullptr);
  EXPECT_EQ(adapter_base_model(checkpoint), dir / "base");

  auto reloaded = load_model(dir / "base", ModelOptions{});
  load_adapter(*reloaded, checkpoint, at::make_generator<at::CPUGeneratorImpl>(0));
  auto merged = load_model(checkpoint + "/merged", ModelOptions{});
  at::NoGradGuard no_grad;
  const at::Tensor ids = at::tensor({4, 5, 6, 7, 8, 9}, at::kLong).view({1, 6});
  const at::Tensor mask = at::ones({1, 6}, at::kLong);
  const at::Tensor trained = model->forward(ids, mask);
  EXPECT_TRUE(at::equal(trained, reloaded->forward(ids, mask)));
  EXPECT_LE((trained - merged->forward(ids, mask)).abs().max().item<double>(), 1e-5);
  auto base = load_model(dir / "base", ModelOptions{});
  EXPECT_GT((trained - base->forward(ids, mask)).abs().max().item<double>(), 1e-4);  // the adapter did learn
}

TEST(Lora, FullCheckpointReloadsToIdenticalLogits) {
  TempDir dir;
  auto model = small_model(true, at::kFloat);
  Trainer trainer(model, make_rows(4, 2), TokenRows{}, small_trainer_options(dir / "run", 2, 1, 1));
  const std::string checkpoint = trainer.run_until_checkpoint(RunControl{}).checkpoint;
  auto reloaded = load_model(checkpoint, ModelOptions{});
  at::NoGradGuard no_grad;
  const at::Tensor ids = at::tensor({3, 9, 27}, at::kLong).view({1, 3});
  EXPECT_TRUE(at::equal(model->forward(ids, at::ones({1, 3}, at::kLong)), reloaded->forward(ids, at::ones({1, 3}, at::kLong))));
}

TEST(Lora, AdapterConfigFeaturesWeDoNotImplementAreRejected) {
  TempDir dir;
  testing::write_bytes(dir / "a/adapter_config.json", R"({"peft_type": "LORA", "r": 4, "lora_alpha": 8, "use_dora": true})");
  testing::expect_error([&] { read_adapter_config(dir / "a"); }, ErrorCode::kConfig, "use_dora");
  testing::write_bytes(dir / "b/adapter_config.json",
                       R"({"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": "q_proj|v_proj"})");
  testing::expect_error([&] { read_adapter_config(dir / "b"); }, ErrorCode::kConfig, "regular expression");
}

TEST(TokenRows, ValidationNamesTheBadRow) {
  TokenRows rows = make_rows(3, 1);
  rows.ids[rows.offsets[1] + 1] = 999;
  testing::expect_error([&] { rows.validate(40, "training"); }, ErrorCode::kInvalidArgument, "training row 1: token id 999");
  TokenRows unlabelled = make_rows(2, 1);
  for (auto& l : unlabelled.labels) l = kIgnoreIndex;
  testing::expect_error([&] { unlabelled.validate(40, "training"); }, ErrorCode::kInvalidArgument, "no label token");
}

}  // namespace
}  // namespace itl
