// AdamW against torch.optim.AdamW's own results (native/tests/fixtures/adamw, written by the real
// Python optimizer): bit for bit in bf16, to float rounding in fp32; the fused fp32 kernel against
// libtorch's AdamW::step.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "train/adamw_step.h"

namespace itl {
namespace {

// Both optimisers over copies of the same parameters, in the Trainer's two groups (weight decay on
// the first only); a learning rate changed between steps; one parameter without a gradient at one step.
TEST(AdamwStep, FusedEqualsLibtorchsAdamW) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(3);
  for (const at::ScalarType dtype : {at::kDouble, at::kFloat}) {
    std::vector<at::Tensor> reference, fused;
    for (const auto& shape : std::vector<std::vector<int64_t>>{{4, 5}, {7}, {3, 2}}) {
      const at::Tensor start = at::randn(shape, generator, at::kDouble).to(dtype);
      reference.push_back(start.clone().requires_grad_());
      fused.push_back(start.clone().requires_grad_());
    }
    auto make = [](const std::vector<at::Tensor>& p) {
      torch::optim::AdamWOptions options(1e-2);
      options.betas({0.9, 0.95}).eps(1e-6).weight_decay(0.0);
      auto decayed = std::make_unique<torch::optim::AdamWOptions>(options);
      decayed->weight_decay(0.1);
      std::vector<torch::optim::OptimizerParamGroup> groups;
      groups.emplace_back(std::vector<at::Tensor>{p[0], p[1]}, std::move(decayed));
      groups.emplace_back(std::vector<at::Tensor>{p[2]}, std::make_unique<torch::optim::AdamWOptions>(options));
      return std::make_unique<torch::optim::AdamW>(groups, options);
    };
    auto libtorch = make(reference), ours = make(fused);
    EXPECT_TRUE(fused_adamw_applies(*ours)) << c10::toString(dtype);
    for (int step = 0; step < 5; ++step) {
      for (auto* optimizer : {libtorch.get(), ours.get()}) {
        for (auto& group : optimizer->param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(1e-2 / (step + 1));
      }
      for (size_t i = 0; i < fused.size(); ++i) {
        const at::Tensor grad = step == 2 && i == 1 ? at::Tensor() : at::randn(fused[i].sizes(), generator, at::kDouble).to(dtype);
        reference[i].mutable_grad() = grad.defined() ? grad.clone() : grad;
        fused[i].mutable_grad() = grad.defined() ? grad.clone() : grad;
      }
      libtorch->step();
      adamw_step(*ours);
    }
    const double tolerance = dtype == at::kDouble ? 1e-12 : 1e-6;
    for (size_t i = 0; i < fused.size(); ++i) {
      const auto& want = static_cast<torch::optim::AdamWParamState&>(*libtorch->state().at(reference[i].unsafeGetTensorImpl()));
      const auto& got = static_cast<torch::optim::AdamWParamState&>(*ours->state().at(fused[i].unsafeGetTensorImpl()));
      EXPECT_EQ(got.step(), want.step()) << i;
      EXPECT_EQ(got.step(), i == 1 ? 4 : 5) << i;
      for (const auto& [g, w] : {std::pair{fused[i].detach(), reference[i].detach()}, std::pair{got.exp_avg(), want.exp_avg()},
                                 std::pair{got.exp_avg_sq(), want.exp_avg_sq()}}) {
        const double scale = w.abs().max().item<double>();
        EXPECT_GT(scale, 1e-4) << i;
        EXPECT_LE((g.to(at::kDouble) - w.to(at::kDouble)).abs().max().item<double>(), tolerance * scale)
            << c10::toString(dtype) << " parameter " << i;
      }
    }
  }
}

TEST(AdamwStep, AmsgradKeepsLibtorchsStep) {
  torch::optim::AdamWOptions options(1e-3);
  options.amsgrad(true);
  torch::optim::AdamW optimizer(std::vector<at::Tensor>{at::zeros({3}).requires_grad_()}, options);
  EXPECT_FALSE(fused_adamw_applies(optimizer));
}

std::shared_ptr<SafeTensorsFile> torch_adamw_fixture() {
  return SafeTensorsFile::open((std::filesystem::path(__FILE__).parent_path() / "fixtures" / "adamw" / "torch_adamw.safetensors").string());
}

// The fixture's five updates replayed through adamw_step; returns the parameters and the optimizer
// (for its state).
struct Replay {
  std::vector<at::Tensor> params;
  std::unique_ptr<torch::optim::AdamW> optimizer;
};

Replay replay_fixture(const SafeTensorsFile& fixture, const std::string& dtype, AdamWKernels kernels) {
  Replay r;
  for (int i = 0; i < 3; ++i) r.params.push_back(fixture.tensor(dtype + ".param." + std::to_string(i)).clone().requires_grad_());
  // The fixture's three groups (make_adamw_fixture.py): the study's, with weight decay 0.1, and one
  // whose scalars round visibly in bf16.
  torch::optim::AdamWOptions options(1e-2);
  options.betas({0.9, 0.999}).eps(1e-8).weight_decay(0.0);
  auto decayed = std::make_unique<torch::optim::AdamWOptions>(options);
  decayed->weight_decay(0.1);
  auto coarse = std::make_unique<torch::optim::AdamWOptions>(options);
  coarse->weight_decay(0.5).betas({0.8, 0.95}).eps(1e-6);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<at::Tensor>{r.params[0]}, std::make_unique<torch::optim::AdamWOptions>(options));
  groups.emplace_back(std::vector<at::Tensor>{r.params[1]}, std::move(decayed));
  groups.emplace_back(std::vector<at::Tensor>{r.params[2]}, std::move(coarse));
  r.optimizer = std::make_unique<torch::optim::AdamW>(groups, options);
  const at::Tensor lrs = fixture.tensor("lr");
  for (int64_t k = 0; k < lrs.numel(); ++k) {
    for (auto& group : r.optimizer->param_groups()) {
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lrs[k].item<double>());
    }
    for (int i = 0; i < 3; ++i) {
      const std::string name = dtype + ".grad." + std::to_string(i) + "." + std::to_string(k);
      r.params[i].mutable_grad() = fixture.find(name) != nullptr ? fixture.tensor(name).clone() : at::Tensor();
    }
    adamw_step(*r.optimizer, kernels);
  }
  return r;
}

const torch::optim::AdamWParamState& state(const Replay& r, int i) {
  return static_cast<const torch::optim::AdamWParamState&>(*r.optimizer->state().at(r.params[i].unsafeGetTensorImpl()));
}

// In bf16 every operation rounds, so only Python's operations, in Python's order and with its
// scalars, give these bits; libtorch's own AdamW::step does not (checked below).
TEST(AdamwStep, Bf16EqualsTorchOptimAdamWBitForBit) {
  const auto fixture = torch_adamw_fixture();
  const Replay r = replay_fixture(*fixture, "bf16", AdamWKernels::kFastest);
  auto bits = [](const at::Tensor& t) { return t.view(at::kShort); };
  for (int i = 0; i < 3; ++i) {
    const std::string n = std::to_string(i);
    EXPECT_EQ(state(r, i).step(), i == 1 ? 4 : 5) << "parameter " << i;
    EXPECT_TRUE(at::equal(bits(r.params[i].detach()), bits(fixture->tensor("bf16.final." + n)))) << "parameter " << i;
    EXPECT_TRUE(at::equal(bits(state(r, i).exp_avg()), bits(fixture->tensor("bf16.exp_avg." + n)))) << "parameter " << i;
    EXPECT_TRUE(at::equal(bits(state(r, i).exp_avg_sq()), bits(fixture->tensor("bf16.exp_avg_sq." + n)))) << "parameter " << i;
  }
}

// What the fixture rules out: libtorch's C++ AdamW::step, the bf16 path before, differs.
TEST(AdamwStep, LibtorchsOwnBf16StepDiffersFromPythons) {
  const auto fixture = torch_adamw_fixture();
  std::vector<at::Tensor> params;
  for (int i = 0; i < 3; ++i) params.push_back(fixture->tensor("bf16.param." + std::to_string(i)).clone().requires_grad_());
  torch::optim::AdamWOptions options(1e-2);
  options.betas({0.9, 0.999}).eps(1e-8).weight_decay(0.0);
  torch::optim::AdamW libtorch(params, options);
  const at::Tensor lrs = fixture->tensor("lr");
  for (int64_t k = 0; k < lrs.numel(); ++k) {
    static_cast<torch::optim::AdamWOptions&>(libtorch.param_groups()[0].options()).lr(lrs[k].item<double>());
    for (int i = 0; i < 3; ++i) {
      const std::string name = "bf16.grad." + std::to_string(i) + "." + std::to_string(k);
      params[i].mutable_grad() = fixture->find(name) != nullptr ? fixture->tensor(name).clone() : at::Tensor();
    }
    libtorch.step();
  }
  // Parameter 0 is the study's group (no weight decay) in both runs: only the moments' arithmetic differs.
  EXPECT_FALSE(at::equal(params[0].detach(), fixture->tensor("bf16.final.0")));
}

TEST(AdamwStep, Fp32FollowsTorchOptimAdamWToFloatRounding) {
  const auto fixture = torch_adamw_fixture();
  for (const AdamWKernels kernels : {AdamWKernels::kFastest, AdamWKernels::kOneOperationAtATime}) {
    const Replay r = replay_fixture(*fixture, "fp32", kernels);
    for (int i = 0; i < 3; ++i) {
      const std::string n = std::to_string(i);
      for (const auto& [got, want] : {std::pair{r.params[i].detach(), fixture->tensor("fp32.final." + n)},
                                      std::pair{state(r, i).exp_avg(), fixture->tensor("fp32.exp_avg." + n)},
                                      std::pair{state(r, i).exp_avg_sq(), fixture->tensor("fp32.exp_avg_sq." + n)}}) {
        const double scale = want.abs().max().item<double>();
        EXPECT_LE((got.to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>(), 1e-6 * scale) << "parameter " << i;
      }
    }
  }
}

}  // namespace
}  // namespace itl
