// The families beside Llama (qwen2, qwen3, smollm3, mistral), each on a tiny model that transformers
// wrote (native/tests/fixtures/families, made by scripts/reference/make_family_fixtures.py): its
// config parses to the family's features and refuses what is not implemented by the key's name;
// logits equal transformers' (≤ 1e-5); save → load is bit-exact and keeps the family's
// architectures/model_type; LoRA with B = 0 leaves the logits; a short training run lowers the loss.
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "io/llama_config.h"
#include "io/safetensors.h"
#include "io_test_support.h"
#include "model/llama_model.h"
#include "model/model_io.h"
#include "model/presets.h"
#include "train/batch.h"
#include "train/lora.h"
#include "train/trainer.h"
#include "train_fixtures.h"

namespace itl {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using testing::expect_error;
using testing::TempDir;

fs::path fixture(const std::string& family) { return fs::path(__FILE__).parent_path() / "fixtures" / "families" / family; }

Json fixture_config(const std::string& family) {
  std::ifstream in(fixture(family) / "config.json");
  return Json::parse(in);
}

LlamaConfig parse(const Json& json) { return parse_llama_config(json.dump(), "test/config.json"); }

struct Expected {
  at::Tensor ids, mask, logits;
};

Expected expected(const std::string& family) {
  const auto file = SafeTensorsFile::open((fixture(family) / "expected.safetensors").string());
  return {file->tensor("ids").clone(), file->tensor("mask").clone(), file->tensor("logits").clone()};
}

// Largest |a − b| over the positions the mask marks real (padded positions' outputs are arbitrary).
double max_real_diff(const at::Tensor& a, const at::Tensor& b, const at::Tensor& mask) {
  const at::Tensor real = mask.to(at::kBool).unsqueeze(-1).expand_as(a);
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().masked_select(real).max().item<double>();
}

class Family : public ::testing::TestWithParam<std::string> {};

INSTANTIATE_TEST_SUITE_P(Families, Family, ::testing::Values("qwen2", "qwen3", "smollm3", "mistral"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST_P(Family, ConfigParsesToTheFamilysFeatures) {
  const std::string family = GetParam();
  const LlamaConfig c = load_llama_config(fixture(family).string());
  EXPECT_EQ(c.model_type, family);
  EXPECT_EQ(c.qkv_bias, family == "qwen2");
  EXPECT_FALSE(c.o_bias);
  EXPECT_EQ(c.qk_norm, family == "qwen3");
  EXPECT_EQ(c.head_dim, family == "qwen3" ? 16 : 8);
  if (family == "smollm3") {
    EXPECT_EQ(c.rope_layers, (std::vector<bool>{true, true, true, false}));
  } else {
    EXPECT_TRUE(c.rope_layers.empty());
  }
  EXPECT_EQ(c.sliding_window, family == "mistral" ? std::optional<int64_t>(16) : std::nullopt);
  // The parameters are the checkpoint's, by name: biases and q/k norms where the family has them.
  LlamaModel model(c, ModelOptions{at::kFloat, at::Device(at::kMeta)});
  auto params = model.named_parameters(true);
  EXPECT_EQ(params.contains("model.layers.0.self_attn.q_proj.bias"), family == "qwen2");
  EXPECT_EQ(params.contains("model.layers.0.self_attn.v_proj.bias"), family == "qwen2");
  EXPECT_FALSE(params.contains("model.layers.0.self_attn.o_proj.bias"));
  EXPECT_EQ(params.contains("model.layers.1.self_attn.q_norm.weight"), family == "qwen3");
  EXPECT_EQ(params.contains("model.layers.1.self_attn.k_norm.weight"), family == "qwen3");
}

TEST(FamilyConfig, FamilyDefaultsForAbsentKeys) {
  Json q3 = fixture_config("qwen3");
  for (const char* key : {"head_dim", "bos_token_id", "eos_token_id", "pad_token_id", "tie_word_embeddings", "max_position_embeddings"})
    q3.erase(key);
  const LlamaConfig qwen3 = parse(q3);
  EXPECT_EQ(qwen3.head_dim, 128);  // Qwen3Config's default, not hidden_size / heads
  EXPECT_EQ(qwen3.bos_token_id, std::nullopt);
  EXPECT_TRUE(qwen3.eos_token_ids.empty());
  EXPECT_FALSE(qwen3.tie_word_embeddings);
  EXPECT_EQ(qwen3.max_position_embeddings, 32768);

  Json s3 = fixture_config("smollm3");
  for (const char* key : {"no_rope_layers", "layer_types", "rope_theta", "rope_parameters", "bos_token_id", "eos_token_id", "pad_token_id",
                          "tie_word_embeddings"})
    s3.erase(key);
  s3["num_hidden_layers"] = 8;
  s3["no_rope_layer_interval"] = 3;
  const LlamaConfig smollm3 = parse(s3);
  EXPECT_EQ(smollm3.rope_layers, (std::vector<bool>{true, true, false, true, true, false, true, true}));
  EXPECT_EQ(smollm3.rope_theta, 2e6);
  EXPECT_EQ(smollm3.bos_token_id, 128000);
  EXPECT_EQ(smollm3.eos_token_ids, std::vector<int64_t>{128001});
  EXPECT_EQ(smollm3.pad_token_id, 128004);
  EXPECT_TRUE(smollm3.tie_word_embeddings);

  Json m = fixture_config("mistral");
  m.erase("sliding_window");
  EXPECT_EQ(parse(m).sliding_window, 4096);  // MistralConfig's default window
  m["sliding_window"] = nullptr;
  EXPECT_EQ(parse(m).sliding_window, std::nullopt);

  // Sliding windows of Qwen and SmolLM3 apply only with use_sliding_window, on the layers the
  // config class picks (Qwen: from max_window_layers on; SmolLM3: its NoPE layers).
  Json q2 = fixture_config("qwen2");
  q2["sliding_window"] = 6;
  EXPECT_EQ(parse(q2).sliding_window, std::nullopt);
  q2["use_sliding_window"] = true;
  q2["max_window_layers"] = 2;  // no layer from index 2 on: full attention everywhere
  q2.erase("layer_types");
  EXPECT_EQ(parse(q2).sliding_window, std::nullopt);
  q2["max_window_layers"] = 1;
  EXPECT_EQ(parse(q2).sliding_window, 6);
  q2["layer_types"] = {"full_attention", "full_attention"};
  EXPECT_EQ(parse(q2).sliding_window, std::nullopt);
  Json s3w = fixture_config("smollm3");
  s3w["use_sliding_window"] = true;
  s3w["sliding_window"] = 5;
  s3w.erase("layer_types");
  EXPECT_EQ(parse(s3w).sliding_window, 5);
}

TEST(FamilyConfig, RefusesWhatIsNotImplementedNamingTheKey) {
  struct Rejection {
    const char* family;
    std::function<void(Json&)> edit;
    const char* message;
  };
  const std::vector<Rejection> cases = {
      {"qwen3", [](Json& j) { j["model_type"] = "qwen3_moe"; },
       "model_type 'qwen3_moe' is not implemented (Mixture-of-Experts models are not)"},
      {"qwen3", [](Json& j) { j["num_experts"] = 128; }, "field 'num_experts' (128): Mixture-of-Experts layers are not implemented"},
      {"qwen2", [](Json& j) { j["moe_intermediate_size"] = 768; }, "field 'moe_intermediate_size'"},
      {"qwen2", [](Json& j) { j["architectures"] = {"Qwen3ForCausalLM"}; },
       "architecture \"Qwen3ForCausalLM\" is not implemented for model_type 'qwen2' (only \"Qwen2ForCausalLM\")"},
      {"mistral", [](Json& j) { j["architectures"] = {"LlamaForCausalLM"}; }, "only \"MistralForCausalLM\""},
      {"smollm3",
       [](Json& j) {
         j["no_rope_layers"] = {1, 1};
       },
       "field 'no_rope_layers': expected a list of 4 entries"},
      {"smollm3",
       [](Json& j) {
         j["no_rope_layers"] = {1, 1, 2, 0};
       },
       "field 'no_rope_layers': expected entries 0 or 1 but received 2"},
      {"smollm3", [](Json& j) { j["mlp_bias"] = true; }, "mlp_bias true is not implemented"},
      {"qwen2",
       [](Json& j) {
         j["use_sliding_window"] = true;
         j["layer_types"] = {"full_attention", "chunked_attention"};
       },
       "field 'layer_types': layer type \"chunked_attention\" is not implemented"},
      {"qwen3",
       [](Json& j) {
         j["use_sliding_window"] = true;
         j["layer_types"] = {"full_attention"};
       },
       "field 'layer_types': expected a list of 2 entries"},
      {"mistral", [](Json& j) { j["sliding_window"] = 0; }, "field 'sliding_window': expected a positive integer"},
      {"qwen3", [](Json& j) { j["hidden_act"] = "gelu"; }, "hidden_act 'gelu' is not implemented"},
      {"qwen2",
       [](Json& j) {
         j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
       },
       "rope type 'yarn' in 'rope_scaling' is not implemented"},
  };
  for (const Rejection& c : cases) {
    SCOPED_TRACE(c.message);
    Json j = fixture_config(c.family);
    j.erase("rope_parameters");  // so the edited rope_scaling is the one read
    c.edit(j);
    expect_error([&] { parse(j); }, ErrorCode::kConfig, c.message);
  }
  // attention_bias means biases on q, k, v and o where the family's attention reads it.
  Json q3 = fixture_config("qwen3");
  q3["attention_bias"] = true;
  const LlamaConfig biased = parse(q3);
  EXPECT_TRUE(biased.qkv_bias && biased.o_bias);
  Json m = fixture_config("mistral");
  m["attention_bias"] = true;  // MistralAttention never has biases; transformers ignores the key
  EXPECT_FALSE(parse(m).qkv_bias);
}

TEST_P(Family, ForwardEqualsTransformers) {
  const std::string family = GetParam();
  const Expected e = expected(family);
  auto model = load_model(fixture(family).string(), ModelOptions{});
  at::NoGradGuard no_grad;
  const at::Tensor logits = model->forward(e.ids, e.mask);
  EXPECT_LE(max_real_diff(logits, e.logits, e.mask), 1e-5);
  // Each row alone (no padding: the mask-free kernel path) gives the same numbers.
  const at::Tensor row = e.ids.narrow(0, 1, 1).narrow(1, 3, 6);
  const at::Tensor alone = model->forward(row, at::ones_like(row));
  EXPECT_LE((alone - e.logits.narrow(0, 1, 1).narrow(1, 3, 6)).abs().max().item<double>(), 1e-5);
  // The training path (grad on, one matmul per projection) too.
  at::AutoGradMode grad(true);
  model->train(true);
  EXPECT_LE(max_real_diff(model->forward(e.ids, e.mask).detach(), e.logits, e.mask), 1e-5);
}

TEST_P(Family, EachFeatureChangesTheLogits) {
  // The comparison above can fail: the family's feature switched off gives other logits.
  const std::string family = GetParam();
  const Expected e = expected(family);
  auto model = load_model(fixture(family).string(), ModelOptions{});
  at::NoGradGuard no_grad;
  if (family == "qwen2") model->model->decoder_layers[0]->self_attn->k_proj->bias.zero_();
  if (family == "qwen3") model->model->decoder_layers[1]->self_attn->q_norm->weight.fill_(1.0);
  if (family == "smollm3") {
    LlamaConfig all_rope = model->config();
    all_rope.rope_layers.clear();
    auto rotated = std::make_shared<LlamaModel>(all_rope, ModelOptions{});
    load_weights(*rotated, fixture(family).string());
    model = rotated;
  }
  if (family == "mistral") model->model->decoder_layers[0]->self_attn->o_proj->weight.mul_(1.5);
  EXPECT_GT(max_real_diff(model->forward(e.ids, e.mask), e.logits, e.mask), 1e-3);
}

TEST_P(Family, SaveLoadRoundTripIsBitExactAndKeepsTheFamily) {
  const std::string family = GetParam();
  TempDir dir;
  auto model = load_model(fixture(family).string(), ModelOptions{});
  save_model(*model, dir / "saved");
  auto reloaded = load_model(dir / "saved", ModelOptions{});
  const auto a = model->checkpoint_tensors(), b = reloaded->checkpoint_tensors();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
  }
  std::ifstream in(dir / "saved/config.json");
  const Json saved = Json::parse(in), original = fixture_config(family);
  EXPECT_EQ(saved["architectures"], original["architectures"]);
  EXPECT_EQ(saved["model_type"], family);
  EXPECT_EQ(saved.contains("no_rope_layers"), family == "smollm3");
  EXPECT_EQ(saved.contains("attention_bias"), family == "qwen3" || family == "smollm3");
  if (family == "smollm3") EXPECT_EQ(saved["no_rope_layers"], original["no_rope_layers"]);
  if (family == "mistral") EXPECT_EQ(saved["sliding_window"], 16);
  const LlamaConfig c = reloaded->config();
  EXPECT_EQ(c.qkv_bias, model->config().qkv_bias);
  EXPECT_EQ(c.qk_norm, model->config().qk_norm);
  EXPECT_EQ(c.rope_layers, model->config().rope_layers);
  EXPECT_EQ(c.sliding_window, model->config().sliding_window);
}

TEST_P(Family, LoraWithZeroBGivesTheBaseLogits) {
  const std::string family = GetParam();
  const Expected e = expected(family);
  auto base = load_model(fixture(family).string(), ModelOptions{});
  auto adapted = load_model(fixture(family).string(), ModelOptions{});
  LoraOptions options;
  options.r = 4;
  options.alpha = 8;
  apply_lora(*adapted, options, at::make_generator<at::CPUGeneratorImpl>(1));
  const int64_t layers = adapted->config().num_hidden_layers;
  EXPECT_EQ(static_cast<int64_t>(lora_layers(*adapted).size()), 7 * layers);
  at::NoGradGuard no_grad;
  EXPECT_LE(max_real_diff(adapted->forward(e.ids, e.mask), base->forward(e.ids, e.mask), e.mask), 1e-6);
  // Biases and norms stay frozen with the base weights (PEFT's bias "none").
  for (const auto& item : adapted->named_parameters(true)) {
    EXPECT_EQ(item.value().requires_grad(), item.key().find(".lora_") != std::string::npos) << item.key();
  }
  // A non-zero B moves them (so the equality above is not vacuous), also through a biased projection.
  lora_layers(*adapted)[0].second->lora_B->weight.fill_(0.5);
  EXPECT_GT(max_real_diff(adapted->forward(e.ids, e.mask), base->forward(e.ids, e.mask), e.mask), 1e-3);
}

TEST_P(Family, ShortInWeightTrainingLowersTheLoss) {
  const std::string family = GetParam();
  TempDir dir;
  auto model = load_model(fixture(family).string(), ModelOptions{});
  const TokenRows rows = testing::make_rows(8, 5);  // ids < 40, the second half of each row labelled
  TrainerOptions o = testing::small_trainer_options(dir / "run", 4, 1, 8);
  o.pad_id = 0;
  o.learning_rate = 3e-3;
  std::map<std::string, at::Tensor> before;
  for (const auto& item : model->named_parameters(true)) before[item.key()] = item.value().detach().clone();
  Trainer trainer(model, rows, TokenRows{}, o);
  std::vector<double> losses;
  for (int step = 0; step < 16; ++step) losses.push_back(trainer.train_step().loss);
  EXPECT_LT(losses.back(), 0.5 * losses.front()) << "first " << losses.front() << ", last " << losses.back();
  // Every parameter was trained, the family's own (biases, q/k norms) included.
  for (const auto& item : model->named_parameters(true)) {
    EXPECT_FALSE(at::equal(item.value().detach(), before.at(item.key()))) << item.key();
  }
}

TEST(FamilySlidingWindow, SequencesLongerThanTheWindowAreRefused) {
  auto model = load_model(fixture("mistral").string(), ModelOptions{});
  at::NoGradGuard no_grad;
  const at::Tensor fits = at::arange(3, 19, at::kLong).view({1, 16});
  EXPECT_NO_THROW(model->forward(fits, at::ones_like(fits)));
  const at::Tensor longer = at::arange(3, 20, at::kLong).view({1, 17});
  expect_error([&] { model->forward(longer, at::ones_like(longer)); }, ErrorCode::kConfig,
               "a sequence of 17 positions is longer than the config's sliding_window (16): sliding-window attention is not implemented");
  // Through a KV cache too: 16 positions fill the window, a 17th step is refused.
  KVCache cache = KVCache::allocate(model->config(), 1, 20, model->tensor_options());
  model->hidden_states(fits, at::ones({1, 16}, at::kLong), positions_from_mask(at::ones({1, 16}, at::kLong)), &cache);
  const at::Tensor next = at::full({1, 1}, 5, at::kLong);
  expect_error(
      [&] {
        model->hidden_states(next, at::ones({1, 17}, at::kLong), at::full({1, 1}, 16, at::kLong), &cache);
      },
      ErrorCode::kConfig, "sliding_window (16)");
}

TEST(FamilyPresets, TinyFamilyPresetsInitialiseWithTheirFeatures) {
  for (const char* name : {"tiny-qwen2", "tiny-qwen3", "tiny-smollm3", "tiny-mistral"}) {
    SCOPED_TRACE(name);
    const ModelPreset& preset = model_preset(name);
    LlamaModel model(preset.config, ModelOptions{});
    model.initialize(3);
    auto params = model.named_parameters(true);
    if (preset.config.qkv_bias) {
      EXPECT_EQ(params["model.layers.0.self_attn.q_proj.bias"].abs().max().item<double>(), 0.0);  // HF: biases start at 0
    }
    if (preset.config.qk_norm) {
      EXPECT_EQ(params["model.layers.0.self_attn.k_norm.weight"].min().item<double>(), 1.0);
    }
    // The written config parses back to the same family features.
    const LlamaConfig back = parse_llama_config(llama_config_to_json(preset.config), "written");
    EXPECT_EQ(back.model_type, preset.config.model_type);
    EXPECT_EQ(back.qkv_bias, preset.config.qkv_bias);
    EXPECT_EQ(back.qk_norm, preset.config.qk_norm);
    EXPECT_EQ(back.rope_layers, preset.config.rope_layers);
    EXPECT_EQ(back.sliding_window, preset.config.sliding_window);
  }
}

}  // namespace
}  // namespace itl
