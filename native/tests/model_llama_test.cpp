// LlamaModel: HF parameter names, padding invariance, KV-cache equivalence, autograd, presets
// against the real configs, and the save → load round trip.
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>

#include "io/checkpoint.h"
#include "io/llama_config.h"
#include "io/safetensors.h"
#include "io_test_support.h"
#include "model/forward_benchmark.h"
#include "model/fused_rms_norm.h"
#include "model/llama_model.h"
#include "model/model_io.h"
#include "model/packed_weight.h"
#include "model/presets.h"

namespace itl {
namespace {

std::filesystem::path reference_models() {
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().parent_path() / "shared" / "reference" / "models";
}

std::shared_ptr<LlamaModel> tiny(const std::string& preset, uint64_t seed = 7, at::ScalarType dtype = at::kFloat) {
  auto model = std::make_shared<LlamaModel>(model_preset(preset).config, ModelOptions{dtype, at::kCPU});
  model->initialize(seed);
  return model;
}

at::Tensor row_ids(std::vector<int64_t> ids) { return at::tensor(ids, at::kLong).view({1, -1}); }

TEST(LlamaModel, ParametersCarryHuggingFaceNames) {
  auto untied = tiny("tiny-llama31");
  std::map<std::string, std::vector<int64_t>> shapes;
  for (auto& [name, t] : untied->checkpoint_tensors()) shapes[name] = t.sizes().vec();
  const LlamaConfig& c = untied->config();
  EXPECT_EQ(shapes.size(), 3u + 9u * c.num_hidden_layers);
  EXPECT_EQ(shapes["model.embed_tokens.weight"], (std::vector<int64_t>{128256, 16}));
  EXPECT_EQ(shapes["lm_head.weight"], (std::vector<int64_t>{128256, 16}));
  EXPECT_EQ(shapes["model.norm.weight"], (std::vector<int64_t>{16}));
  EXPECT_EQ(shapes["model.layers.1.self_attn.q_proj.weight"], (std::vector<int64_t>{16, 16}));
  EXPECT_EQ(shapes["model.layers.1.self_attn.k_proj.weight"], (std::vector<int64_t>{8, 16}));
  EXPECT_EQ(shapes["model.layers.0.mlp.down_proj.weight"], (std::vector<int64_t>{16, 48}));
  EXPECT_EQ(shapes["model.layers.0.post_attention_layernorm.weight"], (std::vector<int64_t>{16}));
  auto tied = tiny("tiny-smollm");
  for (auto& [name, t] : tied->checkpoint_tensors()) EXPECT_NE(name, "lm_head.weight");
  EXPECT_EQ(tied->lm_head, nullptr);
}

// A stand-in adapter: the base projection plus a registered low-rank term, as LoRA will be.
class PlusLowRank : public Linear {
 public:
  explicit PlusLowRank(const std::shared_ptr<Linear>& base) : Linear(base->weight.size(1), base->weight.size(0), base->weight.options()) {
    at::NoGradGuard no_grad;
    weight.copy_(base->weight);
    lora_A = register_module("lora_A", std::make_shared<Linear>(weight.size(1), 1, weight.options()));
    lora_B = register_module("lora_B", std::make_shared<Linear>(1, weight.size(0), weight.options()));
    lora_A->weight.fill_(0.01);
    lora_B->weight.fill_(0.01);
  }
  at::Tensor forward(const at::Tensor& x) override { return Linear::forward(x) + lora_B->forward(lora_A->forward(x)); }
  std::shared_ptr<Linear> lora_A, lora_B;
};

TEST(LlamaModel, LinearLayersCanBeReplacedByName) {
  auto model = tiny("tiny-llama31");
  const auto names = model->linear_names();
  EXPECT_EQ(names.size(), 7u * 2 + 1);
  EXPECT_EQ(names.front(), "model.layers.0.self_attn.q_proj");
  EXPECT_EQ(names.back(), "lm_head");
  at::NoGradGuard no_grad;
  const at::Tensor ids = row_ids({3, 4, 5});
  const at::Tensor before = model->forward(ids, at::ones({1, 3}, at::kLong));
  model->replace_linear("model.layers.1.mlp.up_proj", std::make_shared<PlusLowRank>(model->linear("model.layers.1.mlp.up_proj")));
  // The replacement joins the module tree under the old name…
  const auto tree = model->named_parameters(true);
  EXPECT_TRUE(tree.contains("model.layers.1.mlp.up_proj.weight"));
  EXPECT_TRUE(tree.contains("model.layers.1.mlp.up_proj.lora_A.weight"));
  EXPECT_TRUE(tree.contains("model.layers.1.mlp.up_proj.lora_B.weight"));
  // …while the checkpoint keeps its own tensors: lora_* children belong to an adapter (train/lora.h).
  std::map<std::string, at::Tensor> params;
  for (auto& [name, t] : model->checkpoint_tensors()) params[name] = t;
  EXPECT_TRUE(params.count("model.layers.1.mlp.up_proj.weight"));
  EXPECT_FALSE(params.count("model.layers.1.mlp.up_proj.lora_A.weight"));
  EXPECT_FALSE(params.count("model.layers.1.mlp.up_proj.lora_B.weight"));
  EXPECT_FALSE(at::allclose(model->forward(ids, at::ones({1, 3}, at::kLong)), before));
  EXPECT_THROW(model->replace_linear("model.layers.7.mlp.up_proj", model->linear("lm_head")), Error);
}

TEST(LlamaModel, InitialisationIsSeededAndFollowsHf) {
  auto a = tiny("tiny-smollm", 3), b = tiny("tiny-smollm", 3), c = tiny("tiny-smollm", 4);
  const at::Tensor wa = a->model->layers[0]->named_parameters()["self_attn.q_proj.weight"];
  EXPECT_TRUE(at::equal(wa, b->model->decoder_layers[0]->self_attn->q_proj->weight));
  EXPECT_FALSE(at::equal(wa, c->model->decoder_layers[0]->self_attn->q_proj->weight));
  EXPECT_NEAR(wa.std().item<double>(), 0.02, 0.002);
  EXPECT_TRUE(at::equal(a->model->norm->weight, at::ones({64})));
  // nn.Embedding(padding_idx=pad) starts with a zero padding row.
  EXPECT_EQ(a->model->embed_tokens->weight[2].abs().sum().item<double>(), 0.0);
}

TEST(LlamaModel, LeftPaddedBatchEqualsEachRowAlone) {
  for (const std::string preset : {"tiny-smollm", "tiny-llama32", "tiny-llama31"}) {
    auto model = tiny(preset);
    at::NoGradGuard no_grad;
    const std::vector<std::vector<int64_t>> rows = {{5, 17, 300, 41, 9}, {7, 8, 9, 10, 11, 12, 13, 14, 15}, {1000, 2}};
    const int64_t L = 9;
    at::Tensor ids = at::zeros({3, L}, at::kLong), mask = at::zeros({3, L}, at::kLong);
    for (int64_t b = 0; b < 3; ++b) {
      const int64_t n = static_cast<int64_t>(rows[b].size());
      for (int64_t t = 0; t < n; ++t) ids[b][L - n + t] = rows[b][t];
      mask[b].narrow(0, L - n, n).fill_(1);
    }
    const at::Tensor batch = model->forward(ids, mask);  // (3, L, V)
    for (int64_t b = 0; b < 3; ++b) {
      const int64_t n = static_cast<int64_t>(rows[b].size());
      const at::Tensor alone = model->forward(row_ids(rows[b]), at::ones({1, n}, at::kLong))[0];
      EXPECT_TRUE(at::allclose(batch[b].narrow(0, L - n, n), alone, 1e-5, 1e-5)) << preset << " row " << b;
      // Right padding (the trainer's layout) gives the same logits too.
      at::Tensor right = at::zeros({1, L}, at::kLong), right_mask = at::zeros({1, L}, at::kLong);
      right[0].narrow(0, 0, n).copy_(row_ids(rows[b])[0]);
      right_mask[0].narrow(0, 0, n).fill_(1);
      EXPECT_TRUE(at::allclose(model->forward(right, right_mask)[0].narrow(0, 0, n), alone, 1e-5, 1e-5)) << preset;
    }
  }
}

// RoPE attention only sees relative positions, so logits alone cannot show the position ids are
// HF generate's; check them and the mask directly.
TEST(LlamaModel, PositionsAndMaskFollowHfGenerate) {
  const at::Tensor mask = at::tensor(std::vector<int64_t>{0, 0, 1, 1, 1, 1, 1, 0}, at::kLong).view({2, 4});
  EXPECT_TRUE(at::equal(positions_from_mask(mask), at::tensor(std::vector<int64_t>{1, 1, 0, 1, 0, 1, 2, 1}, at::kLong).view({2, 4})));
  const at::Tensor additive = attention_mask(mask, 2, at::kFloat);  // the last 2 of 4 slots as queries
  ASSERT_EQ(additive.sizes(), (std::vector<int64_t>{2, 1, 2, 4}));
  const float low = std::numeric_limits<float>::lowest();
  const std::vector<float> expected = {low, low, 0, low, low, low, 0, 0, 0, 0, 0, low, 0, 0, 0, low};
  EXPECT_TRUE(at::equal(additive.flatten(), at::tensor(expected)));
  EXPECT_EQ(attention_mask(mask, 4, at::kBFloat16).scalar_type(), at::kBFloat16);
}

TEST(LlamaModel, KvCacheStepsEqualFullRecompute) {
  auto model = tiny("tiny-llama32");
  at::NoGradGuard no_grad;
  const at::Tensor ids = row_ids({11, 200, 3000, 45, 6, 70000, 8});
  const at::Tensor full = model->forward(ids, at::ones({1, 7}, at::kLong))[0];  // (7, V)
  KVCache cache = KVCache::allocate(model->config(), 1, 7, model->tensor_options());
  const at::Tensor mask = at::ones({1, 7}, at::kLong);
  at::Tensor h = model->hidden_states(ids.narrow(1, 0, 3), mask.narrow(1, 0, 3), at::arange(3, at::kLong).view({1, 3}), &cache);
  EXPECT_TRUE(at::allclose(model->logits(h)[0], full.narrow(0, 0, 3), 1e-5, 1e-5));
  for (int64_t t = 3; t < 7; ++t) {
    h = model->hidden_states(ids.narrow(1, t, 1), mask.narrow(1, 0, t + 1), at::full({1, 1}, t, at::kLong), &cache);
    EXPECT_TRUE(at::allclose(model->logits(h)[0][0], full[t], 1e-5, 1e-5)) << "position " << t;
  }
  EXPECT_EQ(cache.length, 7);
}

// Without grad the engine takes other paths (fused q/k/v and gate/up matmuls, no mask tensor when
// nothing is padded, in-place residuals); with grad on it takes the per-projection, masked ones the
// trainer uses. Both must give the same logits.
at::Tensor logits_with_grad_paths(LlamaModel& model, const at::Tensor& ids, const at::Tensor& mask) {
  at::AutoGradMode grad(true);
  return model.forward(ids, mask).detach();
}

TEST(LlamaModel, FusedProjectionsViewOneTensorAndKeepHfNames) {
  auto model = tiny("tiny-smollm");
  const auto& attn = model->model->decoder_layers[1]->self_attn;
  const auto& mlp = model->model->decoder_layers[1]->mlp;
  const at::Tensor qkv = attn->fused_qkv_weight(), gate_up = mlp->fused_gate_up_weight();
  ASSERT_TRUE(qkv.defined());
  ASSERT_TRUE(gate_up.defined());
  EXPECT_EQ(qkv.sizes(), (std::vector<int64_t>{64 + 2 * 32, 64}));
  EXPECT_EQ(gate_up.sizes(), (std::vector<int64_t>{2 * 192, 64}));
  // The fused tensors are the projections' own storage, so an optimiser's in-place step on a
  // projection (as the trainer's) is what the fused matmul reads next.
  {
    at::NoGradGuard no_grad;
    attn->k_proj->weight.add_(1.0);
    mlp->up_proj->weight.mul_(2.0);
  }
  EXPECT_TRUE(at::equal(qkv.narrow(0, 0, 64), attn->q_proj->weight));
  EXPECT_TRUE(at::equal(qkv.narrow(0, 64, 32), attn->k_proj->weight));
  EXPECT_TRUE(at::equal(qkv.narrow(0, 96, 32), attn->v_proj->weight));
  EXPECT_TRUE(at::equal(gate_up.narrow(0, 0, 192), mlp->gate_proj->weight));
  EXPECT_TRUE(at::equal(gate_up.narrow(0, 192, 192), mlp->up_proj->weight));
  // Saved under HF's per-projection names, split back bit-exactly, and loaded back into the fused storage.
  testing::TempDir dir;
  save_model(*model, dir.path().string());
  const CheckpointReader reader = CheckpointReader::open(dir.path().string());
  EXPECT_FALSE(reader.contains("model.layers.1.self_attn.qkv_proj.weight"));
  EXPECT_TRUE(at::equal(reader.tensor("model.layers.1.self_attn.q_proj.weight"), qkv.narrow(0, 0, 64)));
  EXPECT_TRUE(at::equal(reader.tensor("model.layers.1.self_attn.k_proj.weight"), qkv.narrow(0, 64, 32)));
  EXPECT_TRUE(at::equal(reader.tensor("model.layers.1.self_attn.v_proj.weight"), qkv.narrow(0, 96, 32)));
  EXPECT_TRUE(at::equal(reader.tensor("model.layers.1.mlp.gate_proj.weight"), gate_up.narrow(0, 0, 192)));
  EXPECT_TRUE(at::equal(reader.tensor("model.layers.1.mlp.up_proj.weight"), gate_up.narrow(0, 192, 192)));
  auto loaded = load_model(dir.path().string(), ModelOptions{});
  EXPECT_TRUE(at::equal(loaded->model->decoder_layers[1]->self_attn->fused_qkv_weight(), qkv));
  EXPECT_TRUE(at::equal(loaded->model->decoder_layers[1]->mlp->fused_gate_up_weight(), gate_up));
}

TEST(LlamaModel, InferencePathsEqualTheTrainingPaths) {
  for (const std::string preset : {"tiny-smollm", "tiny-llama32", "tiny-llama31"}) {
    auto model = tiny(preset, 9);
    // Unpadded (no mask tensor: causal kernel), left-padded and right-padded (mask) batches.
    const at::Tensor ids = at::tensor(std::vector<int64_t>{5, 17, 300, 41, 9, 7, 8, 9, 10, 11, 12, 13}, at::kLong).view({2, 6});
    const at::Tensor full = at::ones({2, 6}, at::kLong);
    const at::Tensor padded = at::tensor(std::vector<int64_t>{0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, at::kLong).view({2, 6});
    for (const at::Tensor& mask : {full, padded}) {
      at::Tensor inference;
      {
        at::NoGradGuard no_grad;
        inference = model->forward(ids, mask);
      }
      const at::Tensor training = logits_with_grad_paths(*model, ids, mask);
      const at::Tensor real = mask.to(at::kBool).unsqueeze(-1);
      EXPECT_TRUE(at::allclose(inference.masked_fill(real.logical_not(), 0), training.masked_fill(real.logical_not(), 0), 1e-6, 1e-6))
          << preset << " max |diff| " << (inference - training).masked_fill(real.logical_not(), 0).abs().max().item<double>();
    }
  }
}

TEST(LlamaModel, AnAdapterInPlaceOfAProjectionTurnsItsFusionOff) {
  auto model = tiny("tiny-llama31");
  const at::Tensor ids = row_ids({3, 4, 5, 6});
  const at::Tensor mask = at::ones({1, 4}, at::kLong);
  model->replace_linear("model.layers.0.self_attn.v_proj", std::make_shared<PlusLowRank>(model->linear("model.layers.0.self_attn.v_proj")));
  model->replace_linear("model.layers.1.mlp.gate_proj", std::make_shared<PlusLowRank>(model->linear("model.layers.1.mlp.gate_proj")));
  EXPECT_FALSE(model->model->decoder_layers[0]->self_attn->fused_qkv_weight().defined());
  EXPECT_TRUE(model->model->decoder_layers[0]->mlp->fused_gate_up_weight().defined());
  EXPECT_TRUE(model->model->decoder_layers[1]->self_attn->fused_qkv_weight().defined());
  EXPECT_FALSE(model->model->decoder_layers[1]->mlp->fused_gate_up_weight().defined());
  at::Tensor inference;
  {
    at::NoGradGuard no_grad;
    inference = model->forward(ids, mask);
  }
  // The adapters' low-rank terms are in the inference logits: they equal the per-projection path's.
  EXPECT_TRUE(at::allclose(inference, logits_with_grad_paths(*model, ids, mask), 1e-6, 1e-6));
}

// An adapter that wraps the base weight and declares its forward as x·weightᵀ + delta (as LoRA does)
// keeps the fused matmul: the delta is added to its block.
class DeclaredLowRank : public Linear {
 public:
  explicit DeclaredLowRank(const std::shared_ptr<Linear>& base) : Linear(base->weight) {
    lora_A = register_module("lora_A", std::make_shared<Linear>(weight.size(1), 1, weight.options()));
    lora_B = register_module("lora_B", std::make_shared<Linear>(1, weight.size(0), weight.options()));
    at::NoGradGuard no_grad;
    lora_A->weight.fill_(0.01);
    lora_B->weight.fill_(0.01);
  }
  at::Tensor forward(const at::Tensor& x) override { return Linear::forward(x) + adapter_delta(x); }
  bool is_linear_plus_delta() const override { return true; }
  at::Tensor adapter_delta(const at::Tensor& x) override { return lora_B->forward(lora_A->forward(x)); }
  std::shared_ptr<Linear> lora_A, lora_B;
};

TEST(LlamaModel, ADeclaredAdapterKeepsFusionAndAddsItsTerm) {
  auto model = tiny("tiny-smollm");
  const at::Tensor ids = row_ids({3, 4, 5, 6, 7});
  const at::Tensor mask = at::ones({1, 5}, at::kLong);
  at::Tensor before;
  {
    at::NoGradGuard no_grad;
    before = model->forward(ids, mask);
  }
  for (const std::string name : {"model.layers.0.self_attn.k_proj", "model.layers.1.mlp.up_proj"}) {
    model->replace_linear(name, std::make_shared<DeclaredLowRank>(model->linear(name)));
  }
  EXPECT_TRUE(model->model->decoder_layers[0]->self_attn->fused_qkv_weight().defined());
  EXPECT_TRUE(model->model->decoder_layers[1]->mlp->fused_gate_up_weight().defined());
  at::Tensor inference;
  {
    at::NoGradGuard no_grad;
    inference = model->forward(ids, mask);
  }
  EXPECT_FALSE(at::allclose(inference, before, 1e-4, 1e-4));                                    // the adapters' terms count…
  EXPECT_TRUE(at::allclose(inference, logits_with_grad_paths(*model, ids, mask), 1e-6, 1e-6));  // …as per projection
}

TEST(LlamaModel, LastPositionHeadEqualsTheFullHeadsLastRow) {
  auto model = tiny("tiny-smollm");
  at::NoGradGuard no_grad;
  const at::Tensor ids = at::tensor(std::vector<int64_t>{9, 8, 7, 6, 5, 4, 3, 2, 1, 300, 400, 500}, at::kLong).view({2, 6});
  const at::Tensor mask = at::ones({2, 6}, at::kLong);
  const at::Tensor hidden = model->hidden_states(ids, mask, positions_from_mask(mask));  // (2, 6, hidden)
  const at::Tensor full = model->logits(hidden);                                         // (2, 6, V)
  // Not bit for bit: a 2-row matmul may take another BLAS kernel than a 12-row one (measured ~1e-8).
  const at::Tensor last = model->logits(hidden.select(1, 5));
  EXPECT_TRUE(at::allclose(last, full.select(1, 5), 1e-6, 1e-6)) << (last - full.select(1, 5)).abs().max().item<double>();
  EXPECT_TRUE(at::equal(last.argmax(-1), full.select(1, 5).argmax(-1)));
}

TEST(LlamaModel, KvCacheChunksAndPaddingEqualFullRecompute) {
  for (const std::string preset : {"tiny-smollm", "tiny-llama31"}) {
    auto model = tiny(preset, 13);
    at::NoGradGuard no_grad;
    // Row 0 left-padded by two; row 1 full. Prefill 4 columns, then a chunk of 3 (cached keys and T > 1:
    // the explicit-mask path), then single tokens (T = 1).
    const at::Tensor ids =
        at::tensor(std::vector<int64_t>{0, 0, 11, 200, 3000, 45, 6, 70, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9}, at::kLong).view({2, 9});
    const at::Tensor mask = at::tensor(std::vector<int64_t>{0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, at::kLong).view({2, 9});
    const at::Tensor positions = positions_from_mask(mask);
    const at::Tensor full = model->forward(ids, mask);  // (2, 9, V)
    KVCache cache = KVCache::allocate(model->config(), 2, 9, model->tensor_options());
    std::vector<std::pair<int64_t, int64_t>> chunks = {{0, 4}, {4, 3}, {7, 1}, {8, 1}};
    for (auto [start, n] : chunks) {
      const at::Tensor h =
          model->hidden_states(ids.narrow(1, start, n), mask.narrow(1, 0, start + n), positions.narrow(1, start, n), &cache);
      const at::Tensor got = model->logits(h);
      EXPECT_TRUE(at::allclose(got[1], full[1].narrow(0, start, n), 1e-5, 1e-5)) << preset << " chunk at " << start;
      const int64_t from = std::max<int64_t>(start, 2);  // row 0's real tokens
      if (from < start + n) {
        EXPECT_TRUE(at::allclose(got[0].narrow(0, from - start, start + n - from), full[0].narrow(0, from, start + n - from), 1e-5, 1e-5))
            << preset << " padded row, chunk at " << start;
      }
    }
    EXPECT_EQ(cache.length, 9);
  }
}

// A bf16 model's cache on the CPU holds fp32, and a one-token step attends in fp32
// (attend_one_token_in_fp32) instead of the flash kernel: close to the full bf16 recompute, and at
// least as close to the fp32 model as that recompute is.
TEST(LlamaModel, Bf16KvCacheStepsAttendInFp32AndStayCloseToFullRecompute) {
  for (const std::string preset : {"tiny-smollm", "tiny-llama31"}) {
    // Weights 10× HF's scale: peaked attention, so a wrong score or weighting shows in the logits.
    auto bf16 = std::make_shared<LlamaModel>(model_preset(preset).config, ModelOptions{at::kBFloat16, at::kCPU});
    auto f32 = std::make_shared<LlamaModel>(model_preset(preset).config, ModelOptions{at::kFloat, at::kCPU});
    bf16->initialize(13, 0.2);
    f32->initialize(13, 0.2);
    at::NoGradGuard no_grad;
    const at::Tensor ids =
        at::tensor(std::vector<int64_t>{0, 0, 11, 200, 3000, 45, 6, 70, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9}, at::kLong).view({2, 9});
    const at::Tensor mask = at::tensor(std::vector<int64_t>{0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, at::kLong).view({2, 9});
    const at::Tensor positions = positions_from_mask(mask);
    const at::Tensor full = bf16->forward(ids, mask).to(at::kFloat);  // (2, 9, V)
    const at::Tensor exact = f32->forward(ids, mask);
    const double scale = exact.abs().max().item<double>();
    KVCache cache = KVCache::allocate(bf16->config(), 2, 9, bf16->tensor_options());
    ASSERT_EQ(cache.keys[0].scalar_type(), at::kFloat);
    ASSERT_EQ(cache.values[0].scalar_type(), at::kFloat);
    std::vector<std::pair<int64_t, int64_t>> chunks = {{0, 4}, {4, 3}, {7, 1}, {8, 1}};
    for (auto [start, n] : chunks) {
      const at::Tensor h =
          bf16->hidden_states(ids.narrow(1, start, n), mask.narrow(1, 0, start + n), positions.narrow(1, start, n), &cache);
      const at::Tensor got = bf16->logits(h).to(at::kFloat);
      ASSERT_EQ(h.scalar_type(), at::kBFloat16);
      const int64_t from = std::max<int64_t>(start, 2);  // row 0's real tokens
      for (int64_t row : {0, 1}) {
        const int64_t first = row == 0 ? from : start;
        if (first >= start + n) continue;
        const at::Tensor g = got[row].narrow(0, first - start, start + n - first);
        const at::Tensor want = full[row].narrow(0, first, start + n - first), truth = exact[row].narrow(0, first, start + n - first);
        const double vs_full = (g - want).abs().max().item<double>(), vs_truth = (g - truth).abs().max().item<double>();
        const double full_vs_truth = (want - truth).abs().max().item<double>();
        EXPECT_LT(vs_full, 0.05 * scale) << preset << " row " << row << ", chunk at " << start;
        EXPECT_LT(vs_truth, 0.05 * scale) << preset << " row " << row << ", chunk at " << start;
        if (n == 1) {  // the fp32 one-token path: no further from fp32 than the bf16 flash kernel (plus a bf16 step of slack)
          EXPECT_LE(vs_truth, full_vs_truth + 0.01 * scale) << preset << " row " << row << ", step at " << start;
        }
      }
    }
    EXPECT_EQ(cache.length, 9);
  }
}

// transformers' RMSNorm, op by op, as the model computes it outside training.
at::Tensor composite_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  return weight * (x * at::rsqrt(x.pow(2).mean(-1, true) + eps));
}

TEST(FusedRmsNorm, EqualsTheCompositeGraphWithGradients) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
  for (const at::ScalarType dtype : {at::kDouble, at::kFloat}) {
    // 37 features: the kernel's eight running sums and their remainder. A transposed (strided) input.
    const at::Tensor x0 = (at::randn({5, 3, 37}, generator, at::kDouble) * 3).to(dtype).transpose(0, 1);
    const at::Tensor w0 = at::randn({37}, generator, at::kDouble).to(dtype),
                     d_out = at::randn({3, 5, 37}, generator, at::kDouble).to(dtype);
    for (const bool weight_trains : {true, false}) {
      auto run = [&](bool fused) {
        const at::Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(weight_trains);
        const at::Tensor out = fused ? fused_rms_norm(x, w, 1e-5) : composite_rms_norm(x, w, 1e-5);
        (out * d_out).sum().backward();
        return std::vector<at::Tensor>{out.detach(), x.grad(), w.grad()};
      };
      const auto want = run(false), got = run(true);
      const double tolerance = dtype == at::kDouble ? 1e-12 : 2e-5;
      for (size_t i = 0; i < 2; ++i) {
        EXPECT_LE((got[i] - want[i]).abs().max().item<double>(), tolerance * want[i].abs().max().item<double>())
            << c10::toString(dtype) << " tensor " << i;
        EXPECT_GT(want[i].abs().max().item<double>(), 1e-2);
      }
      if (weight_trains) {
        EXPECT_LE((got[2] - want[2]).abs().max().item<double>(), tolerance * want[2].abs().max().item<double>()) << c10::toString(dtype);
      } else {
        EXPECT_FALSE(got[2].defined()) << "a frozen weight gets no gradient";
      }
    }
  }
  testing::expect_error(
      [] {
        fused_rms_norm(at::ones({2, 4}, at::kBFloat16), at::ones({4}, at::kBFloat16), 1e-5);
      },
      ErrorCode::kInvalidArgument, "fp32/fp64");
  testing::expect_error([] { fused_rms_norm(at::ones({2, 4}), at::ones({3}), 1e-5); }, ErrorCode::kInvalidArgument, "weight (H)");
}

// The weight's gradient sums over rows; summed per thread it would change with the thread count.
TEST(FusedRmsNorm, GivesTheSameBitsOnAnyThreadCount) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(9);
  const at::Tensor x0 = at::randn({300, 200}, generator, at::kDouble).to(at::kFloat);
  const at::Tensor w0 = at::randn({200}, generator, at::kDouble).to(at::kFloat);
  const at::Tensor d_out = at::randn({300, 200}, generator, at::kDouble).to(at::kFloat);
  const int before = at::get_num_threads();
  std::vector<std::vector<at::Tensor>> runs;
  for (const int threads : {1, 2, 3}) {
    at::set_num_threads(threads);
    const at::Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_();
    (fused_rms_norm(x, w, 1e-5) * d_out).sum().backward();
    runs.push_back({x.grad(), w.grad()});
  }
  at::set_num_threads(before);
  for (size_t run = 1; run < runs.size(); ++run) {
    EXPECT_TRUE(at::equal(runs[run][0], runs[0][0])) << "input gradient, " << run + 1 << " threads";
    EXPECT_TRUE(at::equal(runs[run][1], runs[0][1])) << "weight gradient, " << run + 1 << " threads";
  }
}

TEST(FusedRmsNorm, IsWhatTheModelTrainsThroughInFp32OnTheCpu) {
  auto node_name = [](at::ScalarType dtype, bool grad) {
    RMSNorm norm(8, 1e-5, at::TensorOptions().dtype(dtype));
    at::AutoGradMode mode(grad);
    const at::Tensor out = norm.forward(at::randn({2, 8}).to(dtype).requires_grad_(grad));
    return out.grad_fn() ? out.grad_fn()->name() : std::string("none");
  };
  EXPECT_NE(node_name(at::kFloat, true).find("RmsNormFunction"), std::string::npos) << node_name(at::kFloat, true);
  EXPECT_EQ(node_name(at::kBFloat16, true).find("RmsNormFunction"), std::string::npos) << "bf16 keeps the composite";
  EXPECT_EQ(node_name(at::kFloat, false), "none") << "inference keeps the composite";
}

TEST(PackedWeight, EqualsAtLinearAndFollowsInPlaceWrites) {
  at::NoGradGuard no_grad;
  const bool available = packed_bf16_linear_available();
  std::cout << "[ packed ] oneDNN packed bf16 linear available: " << available << "\n";
  at::Tensor w = at::randn({300, 64}).to(at::kBFloat16);
  PackedWeight packed;
  for (int64_t rows : {1, 5, 32, 333}) {
    const at::Tensor x = at::randn({2, rows, 64}).to(at::kBFloat16);
    EXPECT_TRUE(at::equal(packed.linear(x, w), at::linear(x, w))) << rows << " rows";
  }
  EXPECT_EQ(packed.holds_packed(), available);
  w.mul_(-3);  // a training step in place: the next call must not use the old packed copy
  const at::Tensor x = at::randn({4, 64}).to(at::kBFloat16);
  EXPECT_TRUE(at::equal(packed.linear(x, w), at::linear(x, w)));
  const at::Tensor other = at::randn({300, 64}).to(at::kBFloat16);  // another tensor altogether
  EXPECT_TRUE(at::equal(packed.linear(x, other), at::linear(x, other)));
  // Never packed: fp32, with grad, or turned off.
  PackedWeight fp32, grad, off;
  const at::Tensor wf = at::randn({30, 64});
  const at::Tensor xf = at::randn({3, 64});
  EXPECT_TRUE(at::equal(fp32.linear(xf, wf), at::linear(xf, wf)));
  EXPECT_FALSE(fp32.holds_packed());
  {
    at::AutoGradMode enable(true);
    grad.linear(x, w);
  }
  EXPECT_FALSE(grad.holds_packed());
  off.enabled = false;
  off.linear(x, w);
  EXPECT_FALSE(off.holds_packed());
}

// A bf16 model in inference multiplies by packed weights: the same logits as with packing off, also
// after its weights change in place (a trainer's step between two in-training evaluations).
TEST(LlamaModel, PackedBf16WeightsGiveTheUnpackedLogits) {
  for (const std::string preset : {"tiny-smollm", "tiny-llama31"}) {  // tied and untied output layer
    auto packed = std::make_shared<LlamaModel>(model_preset(preset).config, ModelOptions{at::kBFloat16, at::kCPU, true});
    auto plain = std::make_shared<LlamaModel>(model_preset(preset).config, ModelOptions{at::kBFloat16, at::kCPU, false});
    packed->initialize(3, 0.2);
    plain->initialize(3, 0.2);
    at::NoGradGuard no_grad;
    const at::Tensor ids = at::tensor(std::vector<int64_t>{0, 0, 11, 200, 3000, 45, 6, 70, 8, 1, 2, 3}, at::kLong).view({2, 6});
    const at::Tensor mask = at::tensor(std::vector<int64_t>{0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, at::kLong).view({2, 6});
    EXPECT_TRUE(at::equal(packed->forward(ids, mask), plain->forward(ids, mask))) << preset;
    EXPECT_EQ(packed->model->decoder_layers[0]->mlp->gate_up_packed.holds_packed(), packed_bf16_linear_available()) << preset;
    EXPECT_EQ(packed->head_packed.holds_packed(), packed_bf16_linear_available()) << preset;
    EXPECT_FALSE(plain->head_packed.holds_packed()) << preset;
    for (auto* m : {packed.get(), plain.get()}) {
      for (auto& p : m->parameters()) p.mul_(0.9);
    }
    EXPECT_TRUE(at::equal(packed->forward(ids, mask), plain->forward(ids, mask))) << preset << " after an in-place update";
    packed->train(true);  // a trainer's next step: the copies go
    EXPECT_FALSE(packed->head_packed.holds_packed()) << preset;
    EXPECT_FALSE(packed->model->decoder_layers[0]->mlp->gate_up_packed.holds_packed()) << preset;
    packed->train(false);
  }
}

TEST(LlamaModel, GradientsReachEveryParameter) {
  auto model = tiny("tiny-llama31");
  const at::Tensor ids = at::tensor(std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 0, 0}, at::kLong).view({2, 5});
  const at::Tensor mask = at::tensor(std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, at::kLong).view({2, 5});
  const at::Tensor logits = model->forward(ids, mask);
  const at::Tensor loss = at::cross_entropy_loss(logits.narrow(1, 0, 2).reshape({-1, logits.size(-1)}), ids.narrow(1, 1, 2).reshape({-1}));
  loss.backward();
  for (auto& [name, p] : model->checkpoint_tensors()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_GT(p.grad().abs().sum().item<double>(), 0.0) << name;
  }
}

TEST(LlamaModel, Bf16IsCloseToFp32) {
  auto f32 = tiny("tiny-smollm", 5), bf16 = tiny("tiny-smollm", 5, at::kBFloat16);
  at::NoGradGuard no_grad;
  const at::Tensor ids = row_ids({4, 40, 400, 4000});
  const at::Tensor a = f32->forward(ids, at::ones({1, 4}, at::kLong));
  const at::Tensor b = bf16->forward(ids, at::ones({1, 4}, at::kLong));
  EXPECT_EQ(b.scalar_type(), at::kBFloat16);
  EXPECT_LT((a - b.to(at::kFloat)).abs().max().item<double>(), 0.05 * a.abs().max().item<double>());
}

// Parameter count of a LlamaForCausalLM from its shape alone.
int64_t expected_parameters(const LlamaConfig& c) {
  const int64_t h = c.hidden_size, d = c.head_dim;
  const int64_t attention = h * c.num_attention_heads * d * 2 + h * c.num_key_value_heads * d * 2 +
                            (c.qkv_bias ? (c.num_attention_heads + 2 * c.num_key_value_heads) * d : 0) + (c.o_bias ? h : 0) +
                            (c.qk_norm ? 2 * d : 0);
  const int64_t layer = attention + 3 * h * c.intermediate_size + 2 * h;
  return c.num_hidden_layers * layer + h + c.vocab_size * h * (c.tie_word_embeddings ? 1 : 2);
}

TEST(Presets, RealConfigsParseAndMatchTheirShapePresets) {
  const std::map<std::string, std::string> presets = {
      {"HuggingFaceTB__SmolLM-360M-Instruct", "smollm-360m"},
      {"HuggingFaceTB__SmolLM2-135M-Instruct", "smollm2-135m"},
      {"HuggingFaceTB__SmolLM2-360M-Instruct", "smollm2-360m"},
      {"meta-llama__Llama-3.2-3B-Instruct", "llama-3.2-3b"},
  };
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(reference_models())) {
    if (!std::filesystem::exists(entry.path() / "config.json")) continue;
    ++seen;
    const std::string folder = entry.path().filename().string();
    ASSERT_TRUE(presets.count(folder)) << "no shape preset for " << folder;
    const LlamaConfig real = load_llama_config(entry.path().string());
    const LlamaConfig& p = model_preset(presets.at(folder)).config;
    EXPECT_EQ(real.vocab_size, p.vocab_size) << folder;
    EXPECT_EQ(real.hidden_size, p.hidden_size) << folder;
    EXPECT_EQ(real.intermediate_size, p.intermediate_size) << folder;
    EXPECT_EQ(real.num_hidden_layers, p.num_hidden_layers) << folder;
    EXPECT_EQ(real.num_attention_heads, p.num_attention_heads) << folder;
    EXPECT_EQ(real.num_key_value_heads, p.num_key_value_heads) << folder;
    EXPECT_EQ(real.head_dim, p.head_dim) << folder;
    EXPECT_EQ(real.max_position_embeddings, p.max_position_embeddings) << folder;
    EXPECT_EQ(real.rope_theta, p.rope_theta) << folder;
    EXPECT_EQ(real.tie_word_embeddings, p.tie_word_embeddings) << folder;
    EXPECT_EQ(real.bos_token_id, p.bos_token_id) << folder;
    EXPECT_EQ(real.eos_token_ids, p.eos_token_ids) << folder;
    EXPECT_EQ(real.rope_scaling.has_value(), p.rope_scaling.has_value()) << folder;
    if (real.rope_scaling) {
      EXPECT_EQ(real.rope_scaling->factor, p.rope_scaling->factor) << folder;
    }
    // The real config instantiates (on the meta device: shapes only, no memory).
    LlamaModel model(real, ModelOptions{at::kFloat, at::Device(at::kMeta)});
    EXPECT_EQ(model.parameter_count(), expected_parameters(real)) << folder;
  }
  EXPECT_EQ(seen, 4);
}

TEST(Presets, EveryPresetInstantiatesAndTinyOnesAreSmall) {
  for (const ModelPreset& preset : model_presets()) {
    LlamaModel model(preset.config, ModelOptions{at::kFloat, at::Device(at::kMeta)});
    EXPECT_EQ(model.parameter_count(), expected_parameters(preset.config)) << preset.name;
    if (preset.tiny) {
      EXPECT_LT(model.parameter_count(), 5'000'000) << preset.name;
    }
  }
  EXPECT_NEAR(static_cast<double>(expected_parameters(model_preset("bench-20m").config)), 20e6, 1e6);
  EXPECT_NEAR(static_cast<double>(expected_parameters(model_preset("llama-3.1-8b").config)), 8.03e9, 0.01e9);
  EXPECT_NEAR(static_cast<double>(expected_parameters(model_preset("smollm-135m").config)), 134.5e6, 0.5e6);
  // Mistral-Nemo: its explicit head_dim (128) is not hidden_size / heads (160); q/k/v/o are sized by head_dim.
  const LlamaConfig& nemo = model_preset("mistral-nemo-12b").config;
  EXPECT_NE(nemo.head_dim * nemo.num_attention_heads, nemo.hidden_size);
  EXPECT_EQ(expected_parameters(nemo), 12'247'782'400);
  EXPECT_THROW(model_preset("tiny-gpt"), Error);
}

TEST(ForwardBenchmark, CountsFlopsAndTokens) {
  LlamaConfig c = model_preset("tiny-smollm").config;  // hidden 64, heads 4/2 × 16, intermediate 192, 2 layers, vocab 49152
  const double projections = 2 * (64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 192);
  EXPECT_DOUBLE_EQ(forward_flops_per_token(c, 10), 2 * projections + 2 * 64 * 49152.0 + 4 * 2 * 4 * 16 * 10);
  auto model = tiny("tiny-smollm");
  ForwardBenchmarkOptions o;
  o.batch = 2;
  o.seq_len = 8;
  o.min_seconds = 0.05;
  const ForwardBenchmarkResult r = run_forward_benchmark(*model, o);
  EXPECT_GE(r.calls, 1);
  EXPECT_EQ(r.tokens, 16 * r.calls);
  EXPECT_GE(r.seconds, 0.05);
  EXPECT_NEAR(r.gflops, r.tokens / r.seconds * forward_flops_per_token(c, 8) / 1e9, 1e-9 * r.gflops);
}

void expect_same_weights(const LlamaModel& a, const LlamaModel& b) {
  auto ta = a.checkpoint_tensors(), tb = b.checkpoint_tensors();
  ASSERT_EQ(ta.size(), tb.size());
  for (size_t i = 0; i < ta.size(); ++i) {
    EXPECT_EQ(ta[i].first, tb[i].first);
    EXPECT_TRUE(at::equal(ta[i].second, tb[i].second)) << ta[i].first;
  }
}

TEST(ModelIo, SaveLoadRoundTripIsBitExact) {
  testing::TempDir dir;
  for (const std::string preset : {"tiny-llama31", "tiny-smollm"}) {
    for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
      auto model = tiny(preset, 11, dtype);
      const std::string folder = dir / (preset + c10::toString(dtype));
      save_model(*model, folder);
      EXPECT_TRUE(std::filesystem::exists(folder + "/model.safetensors"));
      EXPECT_TRUE(std::filesystem::exists(folder + "/generation_config.json"));
      const LlamaConfig saved = load_llama_config(folder);
      EXPECT_EQ(saved.torch_dtype, dtype == at::kFloat ? "float32" : "bfloat16");
      EXPECT_EQ(saved.tie_word_embeddings, model->config().tie_word_embeddings);
      auto loaded = load_model(folder, ModelOptions{dtype, at::kCPU});
      expect_same_weights(*model, *loaded);
    }
  }
}

TEST(ModelIo, ShardedAndSingleFileLoadIdentically) {
  testing::TempDir dir;
  auto model = tiny("tiny-llama31", 12);
  save_model(*model, dir / "single");
  save_model(*model, dir / "sharded", 2'000'000);
  EXPECT_TRUE(std::filesystem::exists(dir / "sharded/model.safetensors.index.json"));
  EXPECT_FALSE(std::filesystem::exists(dir / "sharded/model.safetensors"));
  auto a = load_model(dir / "single", ModelOptions{});
  auto b = load_model(dir / "sharded", ModelOptions{});
  expect_same_weights(*a, *b);
  expect_same_weights(*model, *b);
}

TEST(ModelIo, LoadNamesMissingUnexpectedAndMisshapenTensors) {
  testing::TempDir dir;
  auto model = tiny("tiny-smollm", 13);
  save_model(*model, dir / "m");
  const LlamaConfig config = load_llama_config(dir / "m");
  auto tensors = model->checkpoint_tensors();
  auto rewrite = [&](std::vector<std::pair<std::string, at::Tensor>> t) {
    std::filesystem::remove(dir / "m/model.safetensors");
    write_safetensors(dir / "m/model.safetensors", t);
  };
  auto missing = tensors;
  missing.erase(missing.begin() + 3);
  rewrite(missing);
  testing::expect_error([&] { load_model(dir / "m", ModelOptions{}); }, ErrorCode::kCheckpointFormat, tensors[3].first);
  auto extra = tensors;
  extra.emplace_back("model.extra_head.weight", at::zeros({2, 2}));
  rewrite(extra);
  testing::expect_error([&] { load_model(dir / "m", ModelOptions{}); }, ErrorCode::kCheckpointFormat, "model.extra_head.weight");
  // A layer the config does not have, or an embedding of another shape, contradicts config.json itself
  // (checked before anything is allocated: model_bounds).
  auto extra_layer = tensors;
  extra_layer.emplace_back("model.layers.9.mlp.up_proj.weight", at::zeros({2, 2}));
  rewrite(extra_layer);
  testing::expect_error([&] { load_model(dir / "m", ModelOptions{}); }, ErrorCode::kConfig, "num_hidden_layers is 2");
  auto misshapen = tensors;
  const auto q_proj =
      std::find_if(misshapen.begin(), misshapen.end(), [](const auto& t) { return t.first == "model.layers.0.self_attn.q_proj.weight"; });
  ASSERT_NE(q_proj, misshapen.end());
  q_proj->second = at::zeros({3, 3});
  rewrite(misshapen);
  testing::expect_error([&] { load_model(dir / "m", ModelOptions{}); }, ErrorCode::kCheckpointFormat,
                        "model.layers.0.self_attn.q_proj.weight");
}

}  // namespace
}  // namespace itl
