// model_bounds: a config.json that contradicts its checkpoint, or a model that cannot fit, is refused
// before any allocation, with the numbers in the message (issue 24: num_hidden_layers 1e9 allocated
// until the OOM killer came; hidden_size 1e9 gave a libtorch allocation error).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>

#include "io_test_support.h"
#include "io/checkpoint.h"
#include "model/model_bounds.h"
#include "model/model_io.h"
#include "model/presets.h"

namespace itl {
namespace {

// A tiny-smollm model saved into DIR, with config.json's FIELD replaced by VALUE (raw JSON text).
void write_model_with(const testing::TempDir& dir, const std::string& field, const std::string& value) {
  LlamaModel model(model_preset("tiny-smollm").config, ModelOptions{at::kFloat, at::kCPU});
  model.initialize(1);
  save_model(model, dir.path().string());
  nlohmann::json config = nlohmann::json::parse(testing::read_bytes(dir / "config.json"));
  config[field] = nlohmann::json::parse(value);
  testing::write_bytes(dir / "config.json", config.dump(2));
}

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

TEST(ModelBounds, EstimateEqualsTheModelsOwnCountForEveryPreset) {
  for (const ModelPreset& preset : model_presets()) {
    const LlamaModel shape(preset.config, ModelOptions{at::kFloat, at::Device(at::kMeta)});
    EXPECT_EQ(estimated_parameter_count(preset.config), static_cast<double>(shape.parameter_count())) << preset.name;
  }
  const LlamaConfig& c = model_preset("smollm-135m").config;
  EXPECT_EQ(estimated_model_bytes(c, ModelOptions{at::kBFloat16, at::kCPU, true}), 4 * estimated_parameter_count(c));
  EXPECT_EQ(estimated_model_bytes(c, ModelOptions{at::kBFloat16, at::kCPU, false}), 2 * estimated_parameter_count(c));
}

TEST(ModelBounds, AConfigOfABillionLayersIsRefusedBeforeAnyAllocation) {
  testing::TempDir dir;
  write_model_with(dir, "num_hidden_layers", "1000000000");
  testing::expect_error([&] { load_model(dir.path().string(), ModelOptions{}); }, ErrorCode::kConfig,
                        "config.json: num_hidden_layers is 1000000000 but the checkpoint in " + dir.path().string() + " holds 2 layers");
}

TEST(ModelBounds, AHiddenSizeTheCheckpointDoesNotHaveIsRefusedNamingBothShapes) {
  testing::TempDir dir;
  write_model_with(dir, "hidden_size", "1000000000");
  testing::expect_error(
      [&] { load_model(dir.path().string(), ModelOptions{}); }, ErrorCode::kConfig,
      "hidden_size 1000000000 imply model.embed_tokens.weight of shape [49152, 1000000000] but the checkpoint has [49152, 64]");
}

TEST(ModelBounds, AnyOtherTensorShapeIsComparedOnTheMetaDevice) {
  testing::TempDir dir;
  write_model_with(dir, "intermediate_size", "100000000000");
  testing::expect_error([&] { load_model(dir.path().string(), ModelOptions{}); }, ErrorCode::kCheckpointFormat,
                        "tensor 'model.layers.0.mlp.gate_proj.weight' in " + dir.path().string() +
                            " has shape [192, 64] but config.json implies [100000000000, 64]");
}

TEST(ModelBounds, AModelLargerThanTheFreeMemoryIsRefusedWithTheEstimateAndTheMemory) {
  testing::TempDir dir;
  write_model_with(dir, "torch_dtype", "\"float32\"");
  const double bytes = estimated_model_bytes(model_preset("tiny-smollm").config, ModelOptions{});
  {
    ScopedEnv limit("ITL_MEMORY_LIMIT_BYTES", std::to_string(static_cast<int64_t>(bytes) - 1).c_str());
    testing::expect_error(
        [&] { load_model(dir.path().string(), ModelOptions{}); }, ErrorCode::kOutOfMemory,
        dir.path().string() + " needs about 13.0 MB for its weights (0.00324B parameters in Float) but 13.0 MB is available on cpu");
  }
  ScopedEnv limit("ITL_MEMORY_LIMIT_BYTES", std::to_string(static_cast<int64_t>(bytes) + 1).c_str());
  EXPECT_NO_THROW(load_model(dir.path().string(), ModelOptions{}));
}

TEST(ModelBounds, TheHostsMemoryIsKnownAndAGarbageLimitIsAnError) {
  EXPECT_GT(available_memory_bytes(at::kCPU), 1e6);
  ScopedEnv limit("ITL_MEMORY_LIMIT_BYTES", "lots");
  testing::expect_error([] { available_memory_bytes(at::kCPU); }, ErrorCode::kInvalidArgument,
                        "ITL_MEMORY_LIMIT_BYTES but received 'lots'");
}

}  // namespace
}  // namespace itl
