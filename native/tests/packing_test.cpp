// Packed sequences (model/packed_attention.h) and the chunked output layer (train/chunked_loss.h)
// against the padded, whole-vocabulary paths they replace: in fp64, where the two differ only by the
// order of float additions, they must agree to 1e-12 — loss, every gradient, log-likelihoods and
// divergences — for rows of very different lengths, full and LoRA; positions restart per row; no
// row sees another (its neighbours' logits stay bit-identical when it changes).
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "eval/divergence.h"
#include "eval/scorer.h"
#include "io_test_support.h"
#include "model/explicit_attention.h"
#include "model/llama_model.h"
#include "model/packed_attention.h"
#include "model/presets.h"
#include "train/batch.h"
#include "train/chunked_loss.h"
#include "train/lora.h"
#include "train/trainer.h"
#include "train_fixtures.h"

namespace itl {
namespace {

using testing::small_model;
using testing::small_trainer_options;
using testing::TempDir;

std::shared_ptr<LlamaModel> tiny(const std::string& preset, uint64_t seed, at::ScalarType dtype, double init = 0.2) {
  auto model = std::make_shared<LlamaModel>(model_preset(preset).config, ModelOptions{dtype, at::kCPU});
  model->initialize(seed, init);
  return model;
}

double max_abs(const at::Tensor& t) { return t.abs().max().item<double>(); }

// Rows of very different lengths (2 … 45 tokens) over the small model's vocabulary, labelled from
// their middle on; id 2 (the pad id) occurs in them as a real token.
TokenRows uneven_rows(uint64_t seed) {
  const std::vector<int64_t> lengths = {45, 3, 17, 2, 30, 8};
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  TokenRows rows;
  for (const int64_t n : lengths) {
    const at::Tensor ids = at::randint(2, 40, {n}, generator, at::kLong);
    for (int64_t t = 0; t < n; ++t) {
      rows.ids.push_back(static_cast<int32_t>(ids[t].item<int64_t>()));
      rows.labels.push_back(t >= n / 2 ? rows.ids.back() : kIgnoreIndex);
    }
    rows.offsets.push_back(static_cast<int64_t>(rows.ids.size()));
  }
  return rows;
}

std::vector<int64_t> all_rows(const TokenRows& rows) {
  std::vector<int64_t> out;
  for (int64_t r = 0; r < rows.count(); ++r) out.push_back(r);
  return out;
}

std::map<std::string, at::Tensor> take_gradients(LlamaModel& model) {
  std::map<std::string, at::Tensor> out;
  for (const auto& item : model.named_parameters(true)) {
    if (item.value().grad().defined()) out[item.key()] = item.value().grad().clone();
    item.value().mutable_grad() = at::Tensor();
  }
  return out;
}

void add_lora(LlamaModel& model) {
  LoraOptions options;
  options.r = 2;
  options.alpha = 4;
  options.dropout = 0;  // dropout draws differ between layouts; with none the two must agree
  apply_lora(model, options, at::make_generator<at::CPUGeneratorImpl>(1));
  at::NoGradGuard no_grad;
  for (const auto& [name, layer] : lora_layers(model)) layer->lora_B->weight.normal_(0, 0.3);
}

// Logits (n, V) of one row run alone, the reference for its packed logits.
at::Tensor alone(LlamaModel& model, const std::vector<int64_t>& ids) {
  const int64_t n = static_cast<int64_t>(ids.size());
  return model.forward(at::tensor(ids, at::kLong).view({1, n}), at::ones({1, n}, at::kLong))[0];
}

// Packed logits (N, V) of `rows`, positions restarting per row unless `continue_positions`.
at::Tensor packed_logits(LlamaModel& model, const std::vector<std::vector<int64_t>>& rows, bool continue_positions = false) {
  std::vector<int64_t> ids, positions, lengths;
  for (const auto& row : rows) {
    for (size_t t = 0; t < row.size(); ++t) {
      positions.push_back(continue_positions ? static_cast<int64_t>(ids.size()) : static_cast<int64_t>(t));
      ids.push_back(row[t]);
    }
    lengths.push_back(static_cast<int64_t>(row.size()));
  }
  const PackedLayout layout = PackedLayout::rows(lengths, at::kCPU);
  return model.logits(model.packed_hidden_states(at::tensor(ids, at::kLong), at::tensor(positions, at::kLong), layout));
}

const std::vector<std::vector<int64_t>> kRows = {
    {5, 17, 300, 41, 9, 77, 1200}, {8}, {7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}, {1000, 2}};

TEST(PackedModel, EachRowsLogitsEqualTheRowAloneAndPositionsRestart) {
  for (const std::string preset : {"tiny-smollm", "tiny-llama31"}) {
    auto model = tiny(preset, 7, at::kDouble);
    at::NoGradGuard no_grad;
    const at::Tensor packed = packed_logits(*model, kRows);
    ASSERT_EQ(packed.size(0), 7 + 1 + 12 + 2);
    int64_t start = 0;
    for (const auto& row : kRows) {
      const int64_t n = static_cast<int64_t>(row.size());
      EXPECT_LE(max_abs(packed.narrow(0, start, n) - alone(*model, row)), 1e-12) << preset << " row at " << start;
      start += n;
    }
    // Positions that ran on across rows would move every row but the first by a different rope
    // rounding: visible at this tolerance, so the check above does see the restart.
    const at::Tensor shifted = packed_logits(*model, kRows, /*continue_positions=*/true);
    EXPECT_GT(max_abs(shifted.narrow(0, 7, 13) - packed.narrow(0, 7, 13)), 1e-9) << preset;
  }
}

TEST(PackedModel, NoAttentionAcrossRows) {
  for (const auto& [training, dtype] : std::vector<std::pair<bool, at::ScalarType>>{
           {false, at::kFloat}, {true, at::kFloat}, {true, at::kBFloat16}}) {  // bf16 training: the explicit attention
    auto model = tiny("tiny-smollm", 9, dtype);
    model->train(training);  // training: grad mode and the per-projection path
    at::AutoGradMode grad(training);
    auto changed = kRows;
    changed[2] = {40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51};  // same length, other tokens
    const at::Tensor a = packed_logits(*model, kRows), b = packed_logits(*model, changed);
    EXPECT_TRUE(at::equal(a.narrow(0, 0, 8), b.narrow(0, 0, 8))) << "rows before the changed one, training " << training;
    EXPECT_TRUE(at::equal(a.narrow(0, 20, 2), b.narrow(0, 20, 2))) << "the row after the changed one, training " << training;
    EXPECT_GT(max_abs(a.narrow(0, 8, 12) - b.narrow(0, 8, 12)), 1e-2) << "the changed row itself";
  }
}

TEST(PackedModel, AContinuationSegmentSeesItsContextAndItself) {
  auto model = tiny("tiny-llama32", 5, at::kDouble);
  at::NoGradGuard no_grad;
  // Flat tokens: a context (0..4), a continuation of it (5..7), another continuation (8..9).
  const std::vector<int64_t> ids = {9, 8, 7, 6, 5, 100, 101, 102, 300, 301};
  const std::vector<int64_t> positions = {0, 1, 2, 3, 4, 5, 6, 7, 5, 6};
  const PackedLayout layout =
      PackedLayout::segments({5, 3, 2}, {{0, 1, 2, 3, 4}, {0, 1, 2, 3, 4, 5, 6, 7}, {0, 1, 2, 3, 4, 8, 9}}, at::kCPU);
  const at::Tensor hidden = model->packed_hidden_states(at::tensor(ids, at::kLong), at::tensor(positions, at::kLong), layout);
  const at::Tensor logits = model->logits(hidden);
  const at::Tensor first = alone(*model, {9, 8, 7, 6, 5, 100, 101, 102}), second = alone(*model, {9, 8, 7, 6, 5, 300, 301});
  EXPECT_LE(max_abs(logits.narrow(0, 0, 8) - first), 1e-12);
  EXPECT_LE(max_abs(logits.narrow(0, 8, 2) - second.narrow(0, 5, 2)), 1e-12);
}

// The explicit attention (bf16 CPU training) against libtorch's kernel: in fp64 the same outputs and
// gradients to 1e-12, grouped-query heads included; garbage shapes are refused by name.
TEST(ExplicitAttention, EqualsTheKernelInFp64WithGradients) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(11);
  for (const int64_t Hkv : {int64_t{4}, int64_t{2}}) {
    const int64_t G = 3, H = 4, L = 9, D = 8;
    const at::Tensor q0 = at::randn({G, H, L, D}, generator, at::kDouble), k0 = at::randn({G, Hkv, L, D}, generator, at::kDouble);
    const at::Tensor v0 = at::randn({G, Hkv, L, D}, generator, at::kDouble), d_out = at::randn({G, H, L, D}, generator, at::kDouble);
    auto run = [&](bool explicit_path) {
      const at::Tensor q = q0.clone().requires_grad_(), k = k0.clone().requires_grad_(), v = v0.clone().requires_grad_();
      at::Tensor out;
      if (explicit_path) {
        out = explicit_causal_attention(q, k, v, 0.3);
      } else {
        const int64_t rep = H / Hkv;
        const at::Tensor ke = k.unsqueeze(2).expand({G, Hkv, rep, L, D}).reshape({G, H, L, D});
        const at::Tensor ve = v.unsqueeze(2).expand({G, Hkv, rep, L, D}).reshape({G, H, L, D});
        out = at::scaled_dot_product_attention(q, ke, ve, c10::nullopt, 0.0, /*is_causal=*/true, 0.3);
      }
      (out * d_out).sum().backward();
      return std::vector<at::Tensor>{out.detach(), q.grad(), k.grad(), v.grad()};
    };
    const auto want = run(false), got = run(true);
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_LE(max_abs(got[i] - want[i]), 1e-12) << "tensor " << i << " Hkv " << Hkv;
      EXPECT_GT(max_abs(want[i]), 1e-3) << "tensor " << i;
    }
  }
  testing::expect_error(
      [] {
        explicit_causal_attention(at::zeros({1, 3, 4, 8}), at::zeros({1, 2, 4, 8}), at::zeros({1, 2, 4, 8}), 1.0);
      },
      ErrorCode::kInvalidArgument, "H a multiple of Hkv");
}

TEST(PackedLayout, RejectsMalformedSegments) {
  using testing::expect_error;
  expect_error([] { PackedLayout::rows({3, 0}, at::kCPU); }, ErrorCode::kInvalidArgument, "packed row 1 is empty");
  expect_error([] { PackedLayout::segments({2}, {{1, 0}}, at::kCPU); }, ErrorCode::kInvalidArgument, "must end with its own queries");
  expect_error([] { PackedLayout::segments({2, 1}, {{0, 1}, {5, 2}}, at::kCPU); }, ErrorCode::kInvalidArgument, "names token 5");
  expect_error([] { PackedLayout::segments({2}, {{1}}, at::kCPU); }, ErrorCode::kInvalidArgument, "fewer keys than queries");
  const PackedLayout layout = PackedLayout::segments({2, 1}, {{0, 1}, {0, 2}}, at::kCPU);
  EXPECT_EQ(layout.tokens(), 3);
  EXPECT_EQ(layout.key_length(1), 2);
  EXPECT_EQ(layout.max_key_length(), 2);
}

TEST(PackedLayout, GroupsSegmentsOfSimilarLengthWithLittlePadding) {
  const PackedLayout layout = PackedLayout::rows({45, 3, 17, 2, 30, 8, 44, 16, 45, 3}, at::kCPU);
  std::vector<at::Tensor> slot_tokens;
  int64_t slots = 0;
  for (const AttentionGroup& g : layout.groups()) {
    EXPECT_EQ(g.query_index.numel(), g.count * g.query_length);
    EXPECT_FALSE(g.mask.defined());  // rows: the kernel's causal rule
    slot_tokens.push_back(g.query_index);
    slots += g.count * g.query_length;
  }
  EXPECT_LE(layout.groups().size(), 6u);  // not one call per row
  EXPECT_LE(8 * (slots - layout.tokens()), layout.tokens() + 64 * static_cast<int64_t>(layout.groups().size()));
  // Every token's output is read back from a slot of its own, which holds that token.
  const at::Tensor place = layout.group_output_index();
  EXPECT_EQ(std::get<0>(at::_unique(place)).numel(), layout.tokens());
  EXPECT_TRUE(at::equal(at::cat(slot_tokens).index_select(0, place), at::arange(layout.tokens(), at::kLong)));
}

// The chunked output layer against logits = hidden·Wᵀ and cross-entropy on the whole (n, V) matrix.
TEST(ChunkedLoss, EqualsTheFullHeadLossAndGradients) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(3);
  const at::Tensor hidden0 = at::randn({11, 6}, generator, at::kDouble), weight0 = at::randn({29, 6}, generator, at::kDouble);
  const at::Tensor targets = at::randint(29, {11}, generator, at::kLong);
  const at::Tensor hidden = hidden0.clone().requires_grad_(), weight = weight0.clone().requires_grad_();
  const at::Tensor full = at::cross_entropy_loss(at::linear(hidden, weight), targets, {}, at::Reduction::Sum);
  (full * 0.25).backward();
  const at::Tensor want_h = hidden.grad().clone(), want_w = weight.grad().clone();
  for (const int64_t chunk : {int64_t{1}, int64_t{3}, int64_t{11}, int64_t{0}}) {
    for (const double scale : {0.25, 0.5}) {  // 0.5: backward's gradient differs from the promised one
      const at::Tensor h = hidden0.clone().requires_grad_(), w = weight0.clone().requires_grad_();
      const at::Tensor loss = chunked_cross_entropy_sum(h, w, targets, LossChunking{chunk, scale});
      EXPECT_NEAR(loss.item<double>(), full.item<double>(), 1e-12) << "chunk " << chunk;
      (loss * 0.25).backward();
      EXPECT_LE(max_abs(h.grad() - want_h), 1e-12) << "chunk " << chunk << " scale " << scale;
      EXPECT_LE(max_abs(w.grad() - want_w), 1e-12) << "chunk " << chunk << " scale " << scale;
    }
  }
  // A frozen weight (LoRA) gets no gradient, the hidden states still do; without grad mode, just the loss.
  const at::Tensor h = hidden0.clone().requires_grad_();
  chunked_cross_entropy_sum(h, weight0, targets, LossChunking{4, 1.0}).backward();
  EXPECT_LE(max_abs(h.grad() * 0.25 - want_h), 1e-12);
  at::NoGradGuard no_grad;
  EXPECT_NEAR(chunked_cross_entropy_sum(hidden0, weight0, targets, LossChunking{5, 1.0}).item<double>(), full.item<double>(), 1e-12);
  EXPECT_EQ(loss_chunk_positions(LossChunking{}, 128256), 130);
  EXPECT_EQ(loss_chunk_positions(LossChunking{}, 49152), 341);
}

TEST(TrainLoss, PackedEqualsPaddedForRowsOfVeryDifferentLengthsInFp64) {
  const TokenRows rows = uneven_rows(5);
  int64_t items = 0;
  for (int64_t r = 0; r < rows.count(); ++r) items += rows.label_count(r);
  for (const bool tied : {true, false}) {
    for (const bool lora : {false, true}) {
      auto model = small_model(tied, at::kDouble);
      if (lora) add_lora(*model);
      model->train(true);
      const MicroBatch padded = make_micro_batch(rows, all_rows(rows), 2, at::kCPU);
      const MicroBatch packed = make_packed_micro_batch(rows, all_rows(rows), at::kCPU);
      ASSERT_EQ(packed.real_tokens, padded.real_tokens);
      EXPECT_EQ(packed.padded_tokens, packed.real_tokens);
      EXPECT_EQ(padded.padded_tokens, 6 * 45);
      EXPECT_TRUE(at::equal(packed.targets, padded.targets));
      const LossChunking chunking{3, 1.0 / static_cast<double>(items)};  // several chunks of the output layer
      const at::Tensor a = label_loss_sum(*model, padded, chunking);
      (a / static_cast<double>(items)).backward();
      const auto padded_grads = take_gradients(*model);
      const at::Tensor b = label_loss_sum(*model, packed, chunking);
      (b / static_cast<double>(items)).backward();
      const auto packed_grads = take_gradients(*model);
      EXPECT_NEAR(b.item<double>(), a.item<double>(), 1e-12 * a.item<double>()) << "tied " << tied << " lora " << lora;
      ASSERT_EQ(packed_grads.size(), padded_grads.size());
      ASSERT_GT(packed_grads.size(), lora ? 14u : 10u);
      for (const auto& [name, g] : padded_grads) {
        EXPECT_LE(max_abs(packed_grads.at(name) - g), 1e-12) << name << " tied " << tied << " lora " << lora;
        EXPECT_GT(max_abs(g), 0.0) << name;
      }
    }
  }
}

// Training in bf16 on the CPU takes the explicit attention in the packed path, not libtorch's kernel: its loss and gradients must be as
// close to the exact (fp64) ones as the padded path's, which calls the kernel, for rows of very different lengths.
TEST(TrainLoss, PackedBf16IsAsPreciseAsThePaddedKernel) {
  const TokenRows rows = uneven_rows(8);
  int64_t items = 0;
  for (int64_t r = 0; r < rows.count(); ++r) items += rows.label_count(r);
  const LossChunking chunking{0, 1.0 / static_cast<double>(items)};
  auto reduced = small_model(/*tied=*/true, at::kBFloat16), exact = small_model(/*tied=*/true, at::kDouble);
  {
    at::NoGradGuard no_grad;  // the same (bf16-representable) weights in both
    auto from = reduced->named_parameters(true);
    for (auto& item : exact->named_parameters(true)) item.value().copy_(from[item.key()]);
  }
  auto loss_and_gradients = [&](LlamaModel& model, bool packed) {
    model.train(true);
    const MicroBatch micro =
        packed ? make_packed_micro_batch(rows, all_rows(rows), at::kCPU) : make_micro_batch(rows, all_rows(rows), 2, at::kCPU);
    const at::Tensor loss = label_loss_sum(model, micro, chunking);
    (loss / static_cast<double>(items)).backward();
    return std::make_pair(loss.item<double>(), take_gradients(model));
  };
  const auto truth = loss_and_gradients(*exact, true);
  const auto packed = loss_and_gradients(*reduced, true);
  const auto padded = loss_and_gradients(*reduced, false);
  EXPECT_NEAR(packed.first, truth.first, 1e-2 * truth.first);
  ASSERT_EQ(packed.second.size(), truth.second.size());
  double packed_error = 0, padded_error = 0;
  for (const auto& [name, g] : truth.second) {
    const double scale = max_abs(g);
    ASSERT_GT(scale, 0.0) << name;
    packed_error = std::max(packed_error, max_abs(packed.second.at(name).to(at::kDouble) - g) / scale);
    padded_error = std::max(padded_error, max_abs(padded.second.at(name).to(at::kDouble) - g) / scale);
  }
  EXPECT_GT(packed_error, 0.0);  // bf16 does round
  EXPECT_LE(packed_error, 1.25 * padded_error) << "packed " << packed_error << " padded " << padded_error;
}

TEST(TrainLoss, PackedPositionsRestartAndLabelsPointIntoTheFlatRows) {
  const TokenRows rows = uneven_rows(6);
  const MicroBatch packed = make_packed_micro_batch(rows, {3, 0}, at::kCPU);  // lengths 2 and 45
  ASSERT_EQ(packed.ids.numel(), 47);
  EXPECT_EQ(packed.positions[1].item<int64_t>(), 1);
  EXPECT_EQ(packed.positions[2].item<int64_t>(), 0);
  EXPECT_EQ(packed.positions[46].item<int64_t>(), 44);
  // Row 3 (2 tokens, label from t = 1) contributes flat position 0; row 0 labels t ≥ 22 → flat 2 + 21 …
  EXPECT_EQ(packed.label_index[0].item<int64_t>(), 0);
  EXPECT_EQ(packed.label_index[1].item<int64_t>(), 2 + 21);
  EXPECT_EQ(packed.targets[0].item<int64_t>(), rows.ids[rows.offsets[3] + 1]);
}

// Whole optimiser steps (grouped micro-batches, accumulation, clipping, AdamW) and the eval loss,
// packing on against packing off.
TEST(Trainer, PackedAndPaddedRunsTakeTheSameStepsInFp64) {
  for (const int64_t rank : {0, 2}) {
    TempDir dir;
    const TokenRows train = uneven_rows(1), eval = uneven_rows(2);
    auto options = [&](const std::string& run, bool packing) {
      TrainerOptions o = small_trainer_options(dir / run, 2, 2, 2);  // 2 updates per epoch, 4 steps
      o.packing = packing;
      o.loss_chunk = 4;
      o.eval_batch = 4;
      o.lora.r = rank;
      o.lora.alpha = 4;
      o.lora.dropout = 0;
      return o;
    };
    auto packed_model = small_model(false, at::kDouble), padded_model = small_model(false, at::kDouble);
    Trainer packed(packed_model, train, eval, options("packed", true)), padded(padded_model, train, eval, options("padded", false));
    for (int step = 0; step < 4; ++step) {
      const StepStats a = packed.train_step(), b = padded.train_step();
      EXPECT_NEAR(a.loss, b.loss, 1e-12 * b.loss) << "step " << step << " rank " << rank;
      EXPECT_NEAR(a.grad_norm, b.grad_norm, 1e-12 * b.grad_norm) << "step " << step;
      EXPECT_EQ(a.real_tokens, b.real_tokens);
      EXPECT_EQ(a.label_tokens, b.label_tokens);
      EXPECT_EQ(a.padded_tokens, a.real_tokens);  // padding_fraction 0
      EXPECT_GT(b.padded_tokens, b.real_tokens);
    }
    EXPECT_NEAR(packed.evaluate(), padded.evaluate(), 1e-12);
    auto pa = packed_model->named_parameters(true), pb = padded_model->named_parameters(true);
    for (const auto& item : pa) EXPECT_LE(max_abs(item.value() - pb[item.key()]), 1e-12) << item.key() << " rank " << rank;
  }
}

// HellaSwag-style requests (shared contexts, continuations of 1 to 6 tokens) scored packed against
// the same (context + continuation) rows right-padded into one batch, in an fp64 model.
TEST(PackedScoring, LogLikelihoodsEqualAPaddedBatchInFp64) {
  auto model = tiny("tiny-llama32", 31, at::kDouble);
  const std::vector<int64_t> ctx_a = {9, 8, 7, 6, 5}, ctx_b = {100, 200};
  const std::vector<ScoreRequest> requests = {
      {ctx_a, {1, 2, 3}}, {ctx_b, {4}}, {ctx_a, {70000}}, {ctx_b, {5, 6, 7, 8}}, {ctx_a, {11, 12, 13, 14, 15, 16}}, {{3}, {4, 5}}};
  ScoreOptions o;
  o.batch_rows = 4;
  o.chunk_positions = 3;
  const auto results = score(*model, requests, o);
  const int64_t R = static_cast<int64_t>(requests.size()), L = 11;
  at::Tensor ids = at::zeros({R, L}, at::kLong), mask = at::zeros({R, L}, at::kLong);
  for (int64_t r = 0; r < R; ++r) {
    std::vector<int64_t> all = requests[r].context;
    all.insert(all.end(), requests[r].continuation.begin(), requests[r].continuation.end());
    for (size_t t = 0; t < all.size(); ++t) ids[r][static_cast<int64_t>(t)] = all[t];
    mask[r].narrow(0, 0, static_cast<int64_t>(all.size())).fill_(1);
  }
  at::NoGradGuard no_grad;
  // The scorer takes log_softmax in fp32 (as lm-eval's log-probs are): so does the reference, from
  // its fp64 logits; packed and padded hidden states agree to ~1e-15, so the fp32 values match.
  const at::Tensor lp = at::log_softmax(model->forward(ids, mask).to(at::kFloat), -1).to(at::kDouble);  // (R, L, V)
  for (int64_t r = 0; r < R; ++r) {
    const int64_t c = static_cast<int64_t>(requests[r].context.size());
    double expected = 0;
    bool greedy = true;
    for (size_t j = 0; j < requests[r].continuation.size(); ++j) {
      const at::Tensor row = lp[r][c + static_cast<int64_t>(j) - 1];
      expected += row[requests[r].continuation[j]].item<double>();
      greedy = greedy && row.argmax().item<int64_t>() == requests[r].continuation[j];
    }
    EXPECT_NEAR(results[r].logprob, expected, 1e-6) << "request " << r;
    EXPECT_EQ(results[r].is_greedy, greedy) << "request " << r;
  }
}

TEST(PackedScoring, DivergenceEqualsAPaddedBatchInFp64) {
  auto p = tiny("tiny-llama31", 42, at::kDouble), q = tiny("tiny-llama31", 43, at::kDouble);
  const std::vector<std::vector<int64_t>> seqs = {{10, 20, 30, 40, 50, 60}, {7, 8, 9}, {1000, 2000, 3000, 4000}};
  const std::vector<std::vector<uint8_t>> masks = {{0, 1, 0, 1, 1, 1}, {0, 0, 1}, {0, 1, 1, 1}};
  DivergenceOptions o;
  o.batch_rows = 3;
  o.chunk_positions = 2;
  const DivergenceResult r = divergence(*p, *q, seqs, masks, o);
  at::Tensor ids = at::zeros({3, 6}, at::kLong), mask = at::zeros({3, 6}, at::kLong);
  for (int64_t s = 0; s < 3; ++s) {
    for (size_t t = 0; t < seqs[s].size(); ++t) ids[s][static_cast<int64_t>(t)] = seqs[s][t];
    mask[s].narrow(0, 0, static_cast<int64_t>(seqs[s].size())).fill_(1);
  }
  at::NoGradGuard no_grad;
  const at::Tensor lp = at::log_softmax(p->forward(ids, mask), -1), lq = at::log_softmax(q->forward(ids, mask), -1);
  size_t k = 0;
  for (int64_t s = 0; s < 3; ++s) {
    for (size_t t = 1; t < seqs[s].size(); ++t) {
      if (!masks[s][t]) continue;
      const at::Tensor a = lp[s][static_cast<int64_t>(t) - 1], b = lq[s][static_cast<int64_t>(t) - 1];
      ASSERT_LT(k, r.standard.size());
      // The estimators are computed in fp32 from the logits: equal up to that rounding.
      auto near = [](double got, double want) { return std::abs(got - want) <= 2e-5 * std::max(1.0, std::abs(want)); };
      EXPECT_TRUE(near(r.standard[k], (a.exp() * (a - b)).sum().item<double>())) << "token " << k;
      EXPECT_TRUE(near(r.tv[k], 0.5 * (a.exp() - b.exp()).abs().sum().item<double>())) << "token " << k;
      EXPECT_TRUE(near(r.observed_standard[k], (a - b)[seqs[s][t]].item<double>())) << "token " << k;
      ++k;
    }
  }
  EXPECT_EQ(k, r.standard.size());
}

}  // namespace
}  // namespace itl
