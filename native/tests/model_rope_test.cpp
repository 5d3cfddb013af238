// The llama3 rope frequencies against Meta's published `apply_scaling` formula, computed here
// independently in double precision from the real Llama-3.2-3B config.json.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>

#include "io/llama_config.h"
#include "model/fused_rope.h"
#include "model/rope.h"
#include "io_test_support.h"
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

// transformers' apply_rotary_pos_emb for one tensor, op by op.
at::Tensor composite_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  const at::Tensor rotated = at::cat({x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)}, -1);
  return x * cos.unsqueeze(2) + rotated * sin.unsqueeze(2);
}

TEST(FusedRope, HasTheCompositeBitsForwardAndBackward) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(8);
  LlamaConfig config;
  config.head_dim = 8;
  config.rope_theta = 10000;
  const at::Tensor positions = at::tensor(std::vector<int64_t>{0, 1, 2, 0, 1, 5, 6}, at::kLong).view({1, 7});  // two packed rows
  const auto [cos32, sin32] = rope_cos_sin(rope_inverse_frequencies(config), positions);
  for (const at::ScalarType dtype : {at::kFloat, at::kDouble}) {
    const at::Tensor cos = cos32.to(dtype), sin = sin32.to(dtype);
    const at::Tensor x0 = at::randn({1, 7, 3, 8}, generator, at::kDouble).to(dtype),
                     d_out = at::randn({1, 7, 3, 8}, generator, at::kDouble).to(dtype);
    auto run = [&](bool fused) {
      const at::Tensor x = x0.clone().requires_grad_();
      const at::Tensor out = fused ? fused_rope(x, cos, sin) : composite_rope(x, cos, sin);
      (out * d_out).sum().backward();
      return std::pair{out.detach(), x.grad()};
    };
    const auto [want_out, want_grad] = run(false);
    const auto [got_out, got_grad] = run(true);
    EXPECT_TRUE(at::equal(got_out, want_out)) << c10::toString(dtype);
    EXPECT_TRUE(at::equal(got_grad, want_grad)) << c10::toString(dtype);
    EXPECT_FALSE(at::equal(want_grad, d_out * cos.unsqueeze(2))) << "the rotation's own term is in the gradient";
  }
  testing::expect_error(
      [&] {
        fused_rope(at::zeros({1, 7, 3, 8}, at::kBFloat16), cos32, sin32);
      },
      ErrorCode::kInvalidArgument, "fp32/fp64");
  testing::expect_error([&] { fused_rope(at::zeros({1, 6, 3, 8}), cos32, sin32); }, ErrorCode::kInvalidArgument, "(B, T, D)");
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
