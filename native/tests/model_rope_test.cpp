// The llama3 rope frequencies against Meta's published `apply_scaling` formula, computed here
// independently in double precision from the real Llama-3.2-3B config.json.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>

#include "io/llama_config.h"
#include "model/rope.h"
#include "util/error.h"

namespace itl {
namespace {

std::filesystem::path reference_models() {
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().parent_path() / "shared" / "reference" / "models";
}

// Meta's llama3 `apply_scaling` (llama-models, reference_impl/model.py), per frequency.
double published_llama3(double freq, double factor, double low, double high, double old_context) {
  const double low_wavelen = old_context / low, high_wavelen = old_context / high;
  const double wavelen = 2 * M_PI / freq;
  if (wavelen < high_wavelen) return freq;
  if (wavelen > low_wavelen) return freq / factor;
  const double smooth = (old_context / wavelen - low) / (high - low);
  return (1 - smooth) * freq / factor + smooth * freq;
}

TEST(Rope, Llama32FrequenciesEqualThePublishedFormula) {
  const LlamaConfig config = load_llama_config((reference_models() / "meta-llama__Llama-3.2-3B-Instruct").string());
  ASSERT_TRUE(config.rope_scaling.has_value());
  ASSERT_EQ(config.head_dim, 128);
  const at::Tensor inv_freq = rope_inverse_frequencies(config);
  ASSERT_EQ(inv_freq.scalar_type(), at::kFloat);
  ASSERT_EQ(inv_freq.numel(), 64);
  int low = 0, medium = 0, high = 0;
  for (int64_t i = 0; i < 64; ++i) {
    const double base = 1.0 / std::pow(500000.0, (2.0 * i) / 128.0);
    const double expected = published_llama3(base, 32.0, 1.0, 4.0, 8192.0);
    const double wavelen = 2 * M_PI / base;
    (wavelen < 2048 ? high : wavelen > 8192 ? low : medium) += 1;
    EXPECT_NEAR(inv_freq[i].item<float>(), expected, 2e-6 * expected) << "frequency " << i;
  }
  // The config exercises all three regions of the formula.
  EXPECT_GT(low, 0);
  EXPECT_GT(medium, 0);
  EXPECT_GT(high, 0);
}

TEST(Rope, DefaultFrequenciesAndTables) {
  LlamaConfig config;
  config.head_dim = 8;
  config.rope_theta = 10000.0;
  const at::Tensor inv_freq = rope_inverse_frequencies(config);
  for (int64_t i = 0; i < 4; ++i) EXPECT_NEAR(inv_freq[i].item<float>(), std::pow(10000.0, -2.0 * i / 8), 1e-7);
  const at::Tensor positions = at::tensor({0, 3, 7}, at::kLong).view({1, 3});
  auto [cos, sin] = rope_cos_sin(inv_freq, positions);
  ASSERT_EQ(cos.sizes(), (std::vector<int64_t>{1, 3, 8}));
  for (int64_t t = 0; t < 3; ++t) {
    for (int64_t d = 0; d < 8; ++d) {
      const double angle = positions[0][t].item<int64_t>() * inv_freq[d % 4].item<float>();
      EXPECT_NEAR(cos[0][t][d].item<float>(), std::cos(angle), 1e-6);
      EXPECT_NEAR(sin[0][t][d].item<float>(), std::sin(angle), 1e-6);
    }
  }
}

TEST(Rope, RejectsUnknownRopeType) {
  LlamaConfig config;
  config.head_dim = 8;
  config.rope_scaling = RopeScaling{"yarn"};
  try {
    rope_inverse_frequencies(config);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kConfig);
    EXPECT_NE(std::string(e.what()).find("yarn"), std::string::npos);
  }
}

}  // namespace
}  // namespace itl
