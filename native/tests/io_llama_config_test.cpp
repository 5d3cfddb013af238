// LlamaConfig: the real configs of the study's model families parse to the values in their files,
// anything the engine does not implement is refused by name, and writing then reading gives back
// the same config.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <functional>

#include "io/llama_config.h"
#include "io_test_support.h"

namespace itl {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using testing::expect_error;

fs::path reference_models() {
  // native/tests/<this file> -> repository root -> ../shared/reference/models
  return fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path() / "shared" / "reference" / "models";
}

// A small valid config; tests break one field at a time.
Json base_config() {
  return Json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
    "attention_bias": false, "mlp_bias": false, "attention_dropout": 0.0,
    "vocab_size": 256, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512,
    "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
    "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192},
    "tie_word_embeddings": true, "bos_token_id": 1, "eos_token_id": [2, 3], "torch_dtype": "bfloat16"
  })");
}

LlamaConfig parse(const Json& json) { return parse_llama_config(json.dump(), "test/config.json"); }

void expect_same(const LlamaConfig& a, const LlamaConfig& b) {
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.num_key_value_heads, b.num_key_value_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  ASSERT_EQ(a.rope_scaling.has_value(), b.rope_scaling.has_value());
  if (a.rope_scaling) {
    EXPECT_EQ(a.rope_scaling->rope_type, b.rope_scaling->rope_type);
    EXPECT_EQ(a.rope_scaling->factor, b.rope_scaling->factor);
    EXPECT_EQ(a.rope_scaling->low_freq_factor, b.rope_scaling->low_freq_factor);
    EXPECT_EQ(a.rope_scaling->high_freq_factor, b.rope_scaling->high_freq_factor);
    EXPECT_EQ(a.rope_scaling->original_max_position_embeddings, b.rope_scaling->original_max_position_embeddings);
  }
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_ids, b.eos_token_ids);
  EXPECT_EQ(a.pad_token_id, b.pad_token_id);
  EXPECT_EQ(a.torch_dtype, b.torch_dtype);
}

TEST(LlamaConfig, EveryReferenceConfigParses) {
  if (!fs::is_directory(reference_models()))
    FAIL() << "the reference models (../shared/reference/models) are missing at " << reference_models();
  int parsed = 0;
  for (const auto& entry : fs::directory_iterator(reference_models())) {
    if (!fs::is_regular_file(entry.path() / "config.json")) continue;
    SCOPED_TRACE(entry.path().string());
    const LlamaConfig c = load_llama_config(entry.path().string());
    EXPECT_EQ(c.head_dim * c.num_attention_heads, c.hidden_size);
    EXPECT_FALSE(c.json.empty());
    ++parsed;
  }
  EXPECT_GE(parsed, 4);
}

TEST(LlamaConfig, SmolLMValues) {
  const fs::path folder = reference_models() / "HuggingFaceTB__SmolLM-360M-Instruct";
  if (!fs::is_directory(folder)) FAIL() << "a reference model folder is missing: " << folder;
  const LlamaConfig c = load_llama_config(folder.string());
  EXPECT_EQ(c.vocab_size, 49152);
  EXPECT_EQ(c.hidden_size, 960);
  EXPECT_EQ(c.intermediate_size, 2560);
  EXPECT_EQ(c.num_hidden_layers, 32);
  EXPECT_EQ(c.num_attention_heads, 15);
  EXPECT_EQ(c.num_key_value_heads, 5);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.max_position_embeddings, 2048);
  EXPECT_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.rope_theta, 10000.0);
  EXPECT_FALSE(c.rope_scaling.has_value());
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{2});
  EXPECT_EQ(c.pad_token_id, 2);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
}

TEST(LlamaConfig, Llama32Values) {
  const fs::path folder = reference_models() / "meta-llama__Llama-3.2-3B-Instruct";
  if (!fs::is_directory(folder)) FAIL() << "a reference model folder is missing: " << folder;
  const LlamaConfig c = load_llama_config(folder.string());
  EXPECT_EQ(c.vocab_size, 128256);
  EXPECT_EQ(c.hidden_size, 3072);
  EXPECT_EQ(c.num_attention_heads, 24);
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.max_position_embeddings, 131072);
  EXPECT_EQ(c.rope_theta, 500000.0);
  ASSERT_TRUE(c.rope_scaling.has_value());
  EXPECT_EQ(c.rope_scaling->rope_type, "llama3");
  EXPECT_EQ(c.rope_scaling->factor, 32.0);
  EXPECT_EQ(c.rope_scaling->low_freq_factor, 1.0);
  EXPECT_EQ(c.rope_scaling->high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_scaling->original_max_position_embeddings, 8192);
  EXPECT_EQ(c.bos_token_id, 128000);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_FALSE(c.pad_token_id.has_value());
  EXPECT_TRUE(c.tie_word_embeddings);
}

TEST(LlamaConfig, IntegerRopeThetaIsANumber) {
  Json j = base_config();
  j["rope_theta"] = 100000;  // SmolLM2 writes it without a decimal point
  EXPECT_EQ(parse(j).rope_theta, 100000.0);
}

TEST(LlamaConfig, HeadDimWhenPresent) {
  Json j = base_config();
  EXPECT_EQ(parse(j).head_dim, 16);  // hidden_size / heads
  j["head_dim"] = 32;
  EXPECT_EQ(parse(j).head_dim, 32);
  j["hidden_size"] = 70;  // not a multiple of the heads: fine when head_dim says what it is
  EXPECT_EQ(parse(j).head_dim, 32);
  j.erase("head_dim");
  expect_error([&] { parse(j); }, ErrorCode::kConfig, "hidden_size 70 is not a multiple of num_attention_heads 4");
}

TEST(LlamaConfig, TransformersDefaultsForAbsentFields) {
  Json j = base_config();
  for (const char* key :
       {"num_key_value_heads", "rms_norm_eps", "rope_theta", "rope_scaling", "tie_word_embeddings", "bos_token_id", "eos_token_id",
        "torch_dtype", "max_position_embeddings", "hidden_act", "attention_bias", "mlp_bias", "attention_dropout", "architectures"})
    j.erase(key);
  const LlamaConfig c = parse(j);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_EQ(c.rope_theta, 10000.0);
  EXPECT_FALSE(c.rope_scaling.has_value());
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{2});
  EXPECT_EQ(c.torch_dtype, "float32");
  EXPECT_EQ(c.max_position_embeddings, 2048);
}

TEST(LlamaConfig, NullIdsMeanNone) {
  Json j = base_config();
  j["bos_token_id"] = nullptr;
  j["eos_token_id"] = nullptr;
  j["pad_token_id"] = nullptr;
  const LlamaConfig c = parse(j);
  EXPECT_FALSE(c.bos_token_id.has_value());
  EXPECT_TRUE(c.eos_token_ids.empty());
  EXPECT_FALSE(c.pad_token_id.has_value());
}

TEST(LlamaConfig, RopeVariants) {
  Json j = base_config();
  j["rope_scaling"] = {{"rope_type", "default"}};
  EXPECT_FALSE(parse(j).rope_scaling.has_value());
  j["rope_scaling"] = base_config()["rope_scaling"];
  j["rope_scaling"].erase("rope_type");
  j["rope_scaling"]["type"] = "llama3";  // the legacy key transformers still reads
  ASSERT_TRUE(parse(j).rope_scaling.has_value());
  // transformers 5 layout: rope_parameters carries the theta and the scaling together.
  Json v5 = base_config();
  v5.erase("rope_scaling");
  v5.erase("rope_theta");
  v5["rope_parameters"] = base_config()["rope_scaling"];
  v5["rope_parameters"]["rope_theta"] = 250000.0;
  const LlamaConfig c = parse(v5);
  EXPECT_EQ(c.rope_theta, 250000.0);
  ASSERT_TRUE(c.rope_scaling.has_value());
  EXPECT_EQ(c.rope_scaling->factor, 32.0);
}

struct Rejection {
  const char* name;
  std::function<void(Json&)> edit;
  const char* message;
};

TEST(LlamaConfig, RejectsWhatIsNotImplementedOrMalformed) {
  const std::vector<Rejection> cases = {
      {"rope_type", [](Json& j) { j["rope_scaling"]["rope_type"] = "dynamic"; },
       "rope type 'dynamic' in 'rope_scaling' is not implemented"},
      {"rope_type yarn",
       [](Json& j) {
         j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
       },
       "rope type 'yarn'"},
      {"mlp_bias", [](Json& j) { j["mlp_bias"] = true; }, "mlp_bias true is not implemented"},
      {"hidden_act", [](Json& j) { j["hidden_act"] = "gelu"; }, "hidden_act 'gelu' is not implemented"},
      {"model_type", [](Json& j) { j["model_type"] = "gemma"; },
       "model_type 'gemma' is not implemented; implemented: llama, qwen2, qwen3, smollm3, mistral"},
      {"moe model_type", [](Json& j) { j["model_type"] = "qwen3_moe"; },
       "model_type 'qwen3_moe' is not implemented (Mixture-of-Experts models are not)"},
      {"moe key", [](Json& j) { j["num_experts"] = 8; }, "field 'num_experts' (8): Mixture-of-Experts layers are not implemented"},
      {"model_type missing", [](Json& j) { j.erase("model_type"); }, "missing required field 'model_type'"},
      {"architecture", [](Json& j) { j["architectures"] = {"LlamaForSequenceClassification"}; },
       "architecture \"LlamaForSequenceClassification\" is not implemented for model_type 'llama'"},
      {"dropout", [](Json& j) { j["attention_dropout"] = 0.1; }, "attention_dropout 0.1"},
      {"missing hidden_size", [](Json& j) { j.erase("hidden_size"); }, "missing required field 'hidden_size'"},
      {"missing vocab_size", [](Json& j) { j.erase("vocab_size"); }, "missing required field 'vocab_size'"},
      {"string int", [](Json& j) { j["hidden_size"] = "64"; }, "field 'hidden_size': expected an integer but received \"64\""},
      {"float int", [](Json& j) { j["num_hidden_layers"] = 2.5; }, "field 'num_hidden_layers': expected an integer but received 2.5"},
      {"negative", [](Json& j) { j["intermediate_size"] = -1; }, "field 'intermediate_size': expected a positive integer but received -1"},
      {"bool type", [](Json& j) { j["tie_word_embeddings"] = "yes"; }, "field 'tie_word_embeddings': expected true or false"},
      {"number type", [](Json& j) { j["rms_norm_eps"] = "1e-5"; }, "field 'rms_norm_eps': expected a number"},
      {"eos type", [](Json& j) { j["eos_token_id"] = "</s>"; }, "field 'eos_token_id': expected an integer or a list of integers"},
      {"llama3 field", [](Json& j) { j["rope_scaling"].erase("low_freq_factor"); },
       "missing required field 'rope_scaling.low_freq_factor'"},
      {"llama3 order", [](Json& j) { j["rope_scaling"]["high_freq_factor"] = 0.5; }, "low_freq_factor < high_freq_factor"},
      {"rope_scaling type", [](Json& j) { j["rope_scaling"] = 8; }, "field 'rope_scaling': expected an object or null"},
      {"gqa", [](Json& j) { j["num_key_value_heads"] = 3; }, "num_attention_heads 4 is not a multiple of num_key_value_heads 3"},
      {"odd head_dim", [](Json& j) { j["head_dim"] = 15; }, "head_dim 15 must be even"},
      {"dtype", [](Json& j) { j["torch_dtype"] = "int8"; }, "torch_dtype 'int8' is not implemented"},
  };
  for (const Rejection& c : cases) {
    SCOPED_TRACE(c.name);
    Json j = base_config();
    c.edit(j);
    expect_error([&] { parse(j); }, ErrorCode::kConfig, c.message);
    expect_error([&] { parse(j); }, ErrorCode::kConfig, "test/config.json: ");
  }
}

TEST(LlamaConfig, RejectsNonJsonAndNonObjects) {
  expect_error([] { parse_llama_config("{\"vocab_size\": ", "x.json"); }, ErrorCode::kConfig, "x.json: not valid JSON");
  expect_error([] { parse_llama_config("[1, 2]", "x.json"); }, ErrorCode::kConfig,
               "expected a JSON object at the top level but received a JSON list");
  // Deep nesting is named, not printed (printing recurses once per level).
  Json j = base_config();
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  std::string text = j.dump();
  text.replace(text.find("\"hidden_size\":64"), std::strlen("\"hidden_size\":64"), "\"hidden_size\":" + deep);
  expect_error([&] { parse_llama_config(text, "x.json"); }, ErrorCode::kConfig,
               "field 'hidden_size': expected an integer but received a JSON list");
}

TEST(LlamaConfig, MissingFileIsAnIoError) {
  testing::TempDir dir;
  expect_error([&] { load_llama_config(dir.path().string()); }, ErrorCode::kIo, "config.json");
}

TEST(LlamaConfig, ToJsonRoundTripOfReferenceConfigs) {
  if (!fs::is_directory(reference_models()))
    FAIL() << "the reference models (../shared/reference/models) are missing at " << reference_models();
  for (const auto& entry : fs::directory_iterator(reference_models())) {
    if (!fs::is_regular_file(entry.path() / "config.json")) continue;
    SCOPED_TRACE(entry.path().string());
    const LlamaConfig original = load_llama_config(entry.path().string());
    const std::string written = llama_config_to_json(original);
    expect_same(original, parse_llama_config(written, "written"));
    // What the engine does not model is carried over from the file it was read from.
    const Json file = Json::parse(original.json), out = Json::parse(written);
    EXPECT_EQ(out["initializer_range"], file["initializer_range"]);
    EXPECT_EQ(out["eos_token_id"], file["eos_token_id"]);
  }
}

TEST(LlamaConfig, ToJsonOfAConfigBuiltInCode) {
  LlamaConfig c;
  c.vocab_size = 1000;
  c.hidden_size = 96;
  c.intermediate_size = 256;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 6;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.max_position_embeddings = 4096;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000.0;
  c.rope_scaling = RopeScaling{"llama3", 8.0, 1.0, 4.0, 8192};
  c.tie_word_embeddings = false;
  c.bos_token_id = 7;
  c.eos_token_ids = {8, 9};
  c.pad_token_id = 10;
  c.torch_dtype = "float32";
  const std::string text = llama_config_to_json(c);
  expect_same(c, parse_llama_config(text, "written"));
  const Json j = Json::parse(text);
  EXPECT_EQ(j["architectures"], Json::array({"LlamaForCausalLM"}));
  EXPECT_EQ(j["model_type"], "llama");
  EXPECT_EQ(j["hidden_act"], "silu");
  EXPECT_EQ(j["eos_token_id"], Json::array({8, 9}));
  // transformers' layout: two-space indent, sorted keys, final newline.
  EXPECT_EQ(text.rfind("{\n  \"architectures\": [\n    \"LlamaForCausalLM\"\n  ],\n  \"attention_bias\": false,", 0), 0u) << text;
  EXPECT_EQ(text.back(), '\n');

  c.eos_token_ids = {8};
  c.pad_token_id.reset();
  const Json single = Json::parse(llama_config_to_json(c));
  EXPECT_EQ(single["eos_token_id"], 8);
  EXPECT_FALSE(single.contains("pad_token_id"));
}

}  // namespace
}  // namespace itl
