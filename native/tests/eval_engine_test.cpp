// Generator, Scorer and Divergence against direct full-recompute computations on tiny models.
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <limits>

#include "eval/divergence.h"
#include "eval/generator.h"
#include "eval/scorer.h"
#include "model/llama_model.h"
#include "model/presets.h"
#include "util/error.h"

namespace itl {
namespace {

std::shared_ptr<LlamaModel> tiny(const std::string& preset, uint64_t seed) {
  auto model = std::make_shared<LlamaModel>(model_preset(preset).config, ModelOptions{});
  model->initialize(seed);
  return model;
}

at::Tensor full_logits(LlamaModel& model, const std::vector<int64_t>& ids) {
  at::NoGradGuard no_grad;
  const int64_t n = static_cast<int64_t>(ids.size());
  return model.forward(at::tensor(ids, at::kLong).view({1, n}), at::ones({1, n}, at::kLong))[0].to(at::kFloat);  // (n, V)
}

// Greedy decoding by recomputing the whole sequence at every step: the reference for the cache.
std::vector<int64_t> recompute_greedy(LlamaModel& model, std::vector<int64_t> ids, int64_t steps) {
  std::vector<int64_t> out;
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t next = full_logits(model, ids)[static_cast<int64_t>(ids.size()) - 1].argmax().item<int64_t>();
    out.push_back(next);
    ids.push_back(next);
  }
  return out;
}

const std::vector<std::vector<int64_t>> kPrompts = {{1, 2, 3}, {400, 5, 6000, 7, 80, 9, 10}, {42}, {300, 301, 302, 303, 304}};

TEST(Generator, ArgmaxRowsEqualsAtArgmaxTiesIncluded) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(3);
  for (const int64_t V : {49152, 8192 + 37, 100}) {  // whole chunks, a short last chunk, below the chunked size
    at::Tensor x = at::randn({6, V}, generator);
    const int64_t last = V - 1;
    x[0][7] = 50.0f;  // the same maximum in two chunks: the first wins
    x[0][last] = 50.0f;
    const int64_t twice = std::min<int64_t>(600, V - 3);
    x[1][twice] = 9.0f;  // twice in one chunk
    x[1][twice + 1] = 9.0f;
    x[2][last] = 40.0f;  // in the last (possibly short) chunk
    x[3].fill_(0.0f);    // -0 before +0, all equal
    x[3][0] = -0.0f;
    x[4][V / 2] = std::numeric_limits<float>::infinity();
    EXPECT_TRUE(at::equal(argmax_rows(x), x.argmax(-1))) << "V " << V;
    x[5][3] = std::numeric_limits<float>::quiet_NaN();  // at::argmax ranks NaN highest
    EXPECT_TRUE(at::equal(argmax_rows(x), x.argmax(-1))) << "V " << V << " with a NaN";
    EXPECT_EQ(argmax_rows(x)[0].item<int64_t>(), 7);
  }
}

TEST(Generator, KvCacheGreedyEqualsFullRecompute) {
  for (const std::string preset : {"tiny-smollm", "tiny-llama32"}) {
    auto model = tiny(preset, 21);
    GenerateOptions o;
    o.max_new_tokens = 8;
    const auto out = generate(*model, kPrompts, o);
    ASSERT_EQ(out.size(), kPrompts.size());
    for (size_t r = 0; r < kPrompts.size(); ++r) EXPECT_EQ(out[r], recompute_greedy(*model, kPrompts[r], 8)) << preset << " row " << r;
  }
}

TEST(Generator, ResultsDoNotDependOnBatchComposition) {
  auto model = tiny("tiny-llama31", 22);
  GenerateOptions o;
  o.max_new_tokens = 6;
  const auto together = generate(*model, kPrompts, o);
  o.batch_size = 3;
  const auto split = generate(*model, kPrompts, o);
  EXPECT_EQ(together, split);
  for (size_t r = 0; r < kPrompts.size(); ++r) EXPECT_EQ(generate(*model, {kPrompts[r]}, o)[0], together[r]) << "row " << r;
}

TEST(Generator, StopsPerRowOnAnyEosId) {
  auto model = tiny("tiny-smollm", 23);
  GenerateOptions o;
  o.max_new_tokens = 6;
  const auto free_run = generate(*model, kPrompts, o);
  // Row 1 stops on its third token, row 3 on its second; others run to max_new_tokens unless they meet one.
  o.eos_ids = {free_run[1][2], free_run[3][1]};
  const auto stopped = generate(*model, kPrompts, o);
  for (size_t r = 0; r < kPrompts.size(); ++r) {
    size_t expected_length = free_run[r].size();
    for (size_t t = 0; t < free_run[r].size(); ++t) {
      if (free_run[r][t] == o.eos_ids[0] || free_run[r][t] == o.eos_ids[1]) {
        expected_length = t + 1;
        break;
      }
    }
    EXPECT_EQ(stopped[r], std::vector<int64_t>(free_run[r].begin(), free_run[r].begin() + expected_length)) << "row " << r;
  }
  EXPECT_LE(stopped[1].size(), 3u);
  EXPECT_LE(stopped[3].size(), 2u);
}

TEST(Generator, SamplingIsSeededAndTopPNearZeroIsGreedy) {
  auto model = tiny("tiny-smollm", 24);
  GenerateOptions o;
  o.max_new_tokens = 10;
  o.sample = true;
  o.seed = 5;
  const auto a = generate(*model, kPrompts, o);
  const auto b = generate(*model, kPrompts, o);
  EXPECT_EQ(a, b);
  o.seed = 6;
  EXPECT_NE(generate(*model, kPrompts, o), a);  // a random tiny model is near uniform over 49152 tokens
  o.top_p = 1e-9;
  GenerateOptions greedy;
  greedy.max_new_tokens = 10;
  EXPECT_EQ(generate(*model, kPrompts, o), generate(*model, kPrompts, greedy));
}

TEST(Generator, RejectsTokensOutsideTheVocabulary) {
  auto model = tiny("tiny-smollm", 25);
  EXPECT_THROW(generate(*model, {{1, 49152}}, GenerateOptions{}), Error);
  EXPECT_THROW(generate(*model, {{}}, GenerateOptions{}), Error);
}

TEST(Scorer, EqualsDirectLogSoftmaxAndSharesContexts) {
  auto model = tiny("tiny-llama32", 31);
  const std::vector<int64_t> ctx_a = {9, 8, 7, 6, 5}, ctx_b = {100, 200};
  const auto greedy_b = recompute_greedy(*model, ctx_b, 3);
  std::vector<ScoreRequest> requests = {
      {ctx_a, {1, 2, 3}}, {ctx_b, {4}}, {ctx_a, {70000}}, {ctx_b, greedy_b}, {ctx_a, {11, 12, 13, 14, 15, 16}}, {{3}, {4, 5}}};
  ScoreOptions o;
  o.batch_rows = 3;  // several batches, one context group spread over none of them twice
  o.chunk_positions = 2;
  const auto results = score(*model, requests, o);
  ASSERT_EQ(results.size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    std::vector<int64_t> all = requests[i].context;
    all.insert(all.end(), requests[i].continuation.begin(), requests[i].continuation.end());
    const at::Tensor lp = at::log_softmax(full_logits(*model, all), -1);
    double expected = 0;
    bool greedy = true;
    const size_t c = requests[i].context.size();
    for (size_t j = 0; j < requests[i].continuation.size(); ++j) {
      const int64_t pos = static_cast<int64_t>(c + j - 1);
      expected += lp[pos][requests[i].continuation[j]].item<double>();
      greedy = greedy && lp[pos].argmax().item<int64_t>() == requests[i].continuation[j];
    }
    EXPECT_NEAR(results[i].logprob, expected, 1e-4) << "request " << i;
    EXPECT_EQ(results[i].is_greedy, greedy) << "request " << i;
  }
  EXPECT_TRUE(results[3].is_greedy);
  EXPECT_FALSE(results[2].is_greedy);
}

TEST(Divergence, ZeroForIdenticalModels) {
  auto p = tiny("tiny-smollm", 41), q = tiny("tiny-smollm", 41);
  const std::vector<std::vector<int64_t>> seqs = {{1, 2, 3, 4}, {5, 6}};
  const std::vector<std::vector<uint8_t>> masks = {{0, 1, 1, 1}, {0, 1}};
  const DivergenceResult r = divergence(*p, *q, seqs, masks);
  ASSERT_EQ(r.standard.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(r.standard[i], 0.0f, 1e-7);
    EXPECT_NEAR(r.log_square[i], 0.0f, 1e-7);
    EXPECT_NEAR(r.bregman[i], 0.0f, 1e-7);
    EXPECT_NEAR(r.tv[i], 0.0f, 1e-7);
    EXPECT_EQ(r.observed_standard[i], 0.0f);
    EXPECT_EQ(r.observed_log_square[i], 0.0f);
    EXPECT_EQ(r.observed_bregman[i], 0.0f);
  }
}

// Every estimator against a float64 full-softmax computation written out term by term, with the
// positions spread over batches (batch_rows 2) and chunks (chunk_positions 3).
TEST(Divergence, EachEstimatorEqualsADirectFullSoftmaxComputation) {
  auto p = tiny("tiny-llama31", 42), q = tiny("tiny-llama31", 43);
  const std::vector<std::vector<int64_t>> seqs = {{10, 20, 30, 40, 50, 60}, {7, 8, 9}, {1000, 2000, 3000, 4000}};
  const std::vector<std::vector<uint8_t>> masks = {{0, 1, 0, 1, 1, 1}, {0, 0, 1}, {0, 1, 1, 1}};
  DivergenceOptions o;
  o.batch_rows = 2;
  o.chunk_positions = 3;
  const DivergenceResult r = divergence(*p, *q, seqs, masks, o);
  size_t k = 0;
  for (size_t s = 0; s < seqs.size(); ++s) {
    const at::Tensor lp = at::log_softmax(full_logits(*p, seqs[s]).to(at::kDouble), -1);
    const at::Tensor lq = at::log_softmax(full_logits(*q, seqs[s]).to(at::kDouble), -1);
    for (size_t t = 1; t < seqs[s].size(); ++t) {
      if (!masks[s][t]) continue;
      ASSERT_LT(k, r.standard.size());
      const int64_t pos = static_cast<int64_t>(t) - 1, x = seqs[s][t];
      const at::Tensor pp = lp[pos].exp(), qq = lq[pos].exp(), d = lq[pos] - lp[pos];  // d = log q − log p
      const double kl = (pp * (lp[pos] - lq[pos])).sum().item<double>();
      EXPECT_NEAR(r.standard[k], kl, 1e-4);
      EXPECT_NEAR(r.log_square[k], 0.5 * (pp * (lp[pos] - lq[pos]).pow(2)).sum().item<double>(), 1e-4);
      EXPECT_NEAR(r.bregman[k], (pp * (d.exp() - 1 - d)).sum().item<double>(), 1e-4);
      EXPECT_NEAR(r.bregman[k], kl, 1e-4);  // the two estimators agree in expectation over the vocabulary
      EXPECT_NEAR(r.tv[k], 0.5 * (pp - qq).abs().sum().item<double>(), 1e-4);
      const double log_ratio = lp[pos][x].item<double>() - lq[pos][x].item<double>();
      EXPECT_NEAR(r.observed_standard[k], log_ratio, 1e-4);
      EXPECT_NEAR(r.observed_log_square[k], 0.5 * log_ratio * log_ratio, 1e-4);
      EXPECT_NEAR(r.observed_bregman[k], std::exp(-log_ratio) - 1 + log_ratio, 1e-4);
      EXPECT_GT(r.standard[k], 0.0f);
      EXPECT_GT(r.log_square[k], 0.0f);
      EXPECT_GT(r.tv[k], 0.0f);
      ++k;
    }
  }
  EXPECT_EQ(k, r.standard.size());
  EXPECT_EQ(r.observed_bregman.size(), r.standard.size());
}

TEST(Divergence, RejectsASelectedFirstToken) {
  auto p = tiny("tiny-smollm", 44);
  EXPECT_THROW(divergence(*p, *p, {{1, 2}}, {{1, 1}}), Error);
  EXPECT_THROW(divergence(*p, *p, {{1, 2}}, {{0}}), Error);
}

}  // namespace
}  // namespace itl
