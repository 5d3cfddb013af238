// The engine on CUDA against the same engine on the CPU: forward logits (fp32 and bf16), batched
// greedy generation, scoring, divergence, save/load, that attention runs through
// scaled_dot_product_attention, that a trainer's dropout leaves the device's global generator alone,
// and that packed training (libtorch's variable-length flash attention in bf16) gives the padded
// path's loss and gradients. Built only against a CUDA libtorch (itl_cuda_tests, ctest label
// "cuda"), so the CPU suite carries no test that could only skip; every test here fails without a GPU.
// Not here: the CPU engine's own correctness (model_llama_test, eval_engine_test do that).
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <ATen/record_function.h>
#include <torch/version.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "eval/divergence.h"
#include "eval/generator.h"
#include "eval/scorer.h"
#include "io/llama_config.h"
#include "io_test_support.h"
#include "model/llama_model.h"
#include "model/model_io.h"
#include "model/presets.h"
#include "train/batch.h"
#include "train/trainer.h"
#include "train_fixtures.h"

namespace itl {
namespace {

const char* const kTinyPresets[] = {"tiny-smollm", "tiny-llama32", "tiny-llama31"};

// The device under test. ITL_CUDA_TEST_DEVICE=cpu runs the comparisons CPU against CPU, to check the
// tests' own logic on a machine without a GPU; CudaEngine.CudaIsAvailable fails there regardless.
at::Device device_under_test() {
  const char* name = std::getenv("ITL_CUDA_TEST_DEVICE");
  return at::Device(name && *name ? name : "cuda:0");
}

class CudaEngine : public ::testing::Test {
 protected:
  void SetUp() override {
    if (device_under_test().is_cuda()) {
      ASSERT_TRUE(at::hasCUDA()) << "this libtorch (" << TORCH_VERSION << ") has no usable CUDA device";
    }
  }
  // Larger weights than HF's 0.02 make a random model's logits peaked enough (top-1 margins of
  // ~0.1–1) that argmax comparisons across devices and dtypes test arithmetic, not near-ties.
  static constexpr double kPeakedInit = 0.2;
};

std::shared_ptr<LlamaModel> make_model(const std::string& preset, uint64_t seed, at::ScalarType dtype, at::Device device,
                                       double initializer_range = 0.02) {
  auto model = std::make_shared<LlamaModel>(model_preset(preset).config, ModelOptions{dtype, device});
  model->initialize(seed, initializer_range);
  return model;
}

// A left-padded batch (the generator's layout) of four rows of seeded random ids, and its mask, on
// the CPU: 81 real positions, enough for a stable top-1 agreement rate.
struct Batch {
  at::Tensor ids, mask;  // (4, 24) int64
};
Batch left_padded_batch() {
  const std::vector<int64_t> lengths = {24, 20, 13, 24};
  const int64_t B = static_cast<int64_t>(lengths.size()), L = 24;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(123);
  Batch b{at::randint(3, 30000, {B, L}, generator, at::kLong), at::zeros({B, L}, at::kLong)};
  for (int64_t r = 0; r < B; ++r) {
    b.mask[r].narrow(0, L - lengths[r], lengths[r]).fill_(1);
    b.ids[r].narrow(0, 0, L - lengths[r]).fill_(0);
  }
  return b;
}

// Logits (N, V) in fp32 on the CPU at the batch's real (mask = 1) positions.
at::Tensor real_positions(const at::Tensor& logits, const at::Tensor& mask) {
  const at::Tensor flat = logits.to(at::kCPU).to(at::kFloat).reshape({-1, logits.size(-1)});
  return flat.index_select(0, mask.reshape({-1}).nonzero().reshape({-1}));
}

at::Tensor forward_on(LlamaModel& model, const Batch& b) {
  at::NoGradGuard no_grad;
  const at::Device d = model.options().device;
  return real_positions(model.forward(b.ids.to(d), b.mask.to(d)), b.mask);
}

// Gap between the largest and second-largest logit of each row (N,).
at::Tensor top2_margin(const at::Tensor& logits) {
  const at::Tensor top = std::get<0>(logits.topk(2, -1));
  return top.select(-1, 0) - top.select(-1, 1);
}

TEST_F(CudaEngine, CudaIsAvailable) {
  ASSERT_TRUE(at::hasCUDA()) << "libtorch " << TORCH_VERSION << " sees no CUDA device";
  const at::Tensor x = at::arange(4, at::TensorOptions().dtype(at::kFloat).device(at::Device("cuda:0")));
  EXPECT_EQ(x.sum().item<float>(), 6.0f);
}

TEST_F(CudaEngine, Fp32ForwardMatchesCpu) {
  const Batch b = left_padded_batch();
  for (const std::string preset : kTinyPresets) {
    auto cpu = make_model(preset, 7, at::kFloat, at::kCPU);
    auto dev = make_model(preset, 7, at::kFloat, device_under_test());
    const at::Tensor expected = forward_on(*cpu, b), got = forward_on(*dev, b);  // (N, V)
    ASSERT_EQ(got.sizes(), expected.sizes()) << preset;
    const double diff = (got - expected).abs().max().item<double>();
    EXPECT_LT(diff, 1e-4) << preset << ": max |logit difference| " << diff << " (logit scale " << expected.abs().max().item<double>()
                          << ")";
    // Argmax must agree wherever the CPU's top-2 gap is wider than twice the tolerance.
    const at::Tensor clear = top2_margin(expected) > 2e-4;
    const at::Tensor agree = got.argmax(-1).eq(expected.argmax(-1));
    EXPECT_TRUE(agree.masked_select(clear).all().item<bool>()) << preset;
    EXPECT_GT(clear.sum().item<int64_t>(), 0) << preset << ": no position had a clear top-1";
  }
}

TEST_F(CudaEngine, Bf16ForwardIsCloseToCpuFp32) {
  const Batch b = left_padded_batch();
  for (const std::string preset : kTinyPresets) {
    auto cpu = make_model(preset, 8, at::kFloat, at::kCPU, kPeakedInit);
    auto dev = make_model(preset, 8, at::kBFloat16, device_under_test(), kPeakedInit);
    const at::Tensor expected = forward_on(*cpu, b), got = forward_on(*dev, b);
    const double scale = expected.abs().max().item<double>();
    const double diff = (got - expected).abs().max().item<double>();
    EXPECT_LT(diff, 0.1 * scale) << preset << ": max |bf16 − fp32| " << diff << " against logit scale " << scale;
    const double agreement = got.argmax(-1).eq(expected.argmax(-1)).to(at::kFloat).mean().item<double>();
    EXPECT_GE(agreement, 0.8) << preset << ": top-1 agreement of bf16 with fp32";
    RecordProperty(preset + "_top1_agreement", std::to_string(agreement));
  }
}

TEST_F(CudaEngine, BatchedGreedyGenerationMatchesCpu) {
  const std::vector<std::vector<int64_t>> prompts = {{1, 2, 3}, {400, 5, 6000, 7, 80, 9, 10}, {42}, {300, 301, 302, 303, 304}, {9, 9}};
  for (const std::string preset : kTinyPresets) {
    auto cpu = make_model(preset, 21, at::kFloat, at::kCPU, kPeakedInit);
    auto dev = make_model(preset, 21, at::kFloat, device_under_test(), kPeakedInit);
    GenerateOptions o;
    o.max_new_tokens = 12;
    o.batch_size = 3;  // two batches, rows leaving at different times once eos is set below
    const auto expected = generate(*cpu, prompts, o);
    // Exact equality is only a fair demand where no step of the CPU's path was a near-tie.
    for (size_t r = 0; r < prompts.size(); ++r) {
      std::vector<int64_t> all = prompts[r];
      all.insert(all.end(), expected[r].begin(), expected[r].end());
      at::NoGradGuard no_grad;
      const int64_t n = static_cast<int64_t>(all.size());
      const at::Tensor logits = cpu->forward(at::tensor(all, at::kLong).view({1, n}), at::ones({1, n}, at::kLong))[0];
      const int64_t p = static_cast<int64_t>(prompts[r].size());
      const double margin = top2_margin(logits.narrow(0, p - 1, n - p)).min().item<double>();
      ASSERT_GT(margin, 1e-3) << preset << " row " << r << ": the CPU path has a near-tie; pick another seed";
    }
    EXPECT_EQ(generate(*dev, prompts, o), expected) << preset;
    o.eos_ids = {expected[1][3], expected[3][1]};
    EXPECT_EQ(generate(*dev, prompts, o), generate(*cpu, prompts, o)) << preset << " with eos ids";
  }
}

TEST_F(CudaEngine, ScoreMatchesCpu) {
  auto cpu = make_model("tiny-llama32", 31, at::kFloat, at::kCPU, kPeakedInit);
  auto dev = make_model("tiny-llama32", 31, at::kFloat, device_under_test(), kPeakedInit);
  GenerateOptions g;
  g.max_new_tokens = 4;
  const std::vector<int64_t> ctx_a = {9, 8, 7, 6, 5}, ctx_b = {100, 200};
  const auto greedy_b = generate(*cpu, {ctx_b}, g)[0];
  const std::vector<ScoreRequest> requests = {
      {ctx_a, {1, 2, 3}}, {ctx_b, {4}}, {ctx_a, {70000}}, {ctx_b, greedy_b}, {ctx_a, {11, 12, 13, 14, 15, 16}}, {{3}, {4, 5}}};
  ScoreOptions o;
  o.batch_rows = 3;
  o.chunk_positions = 2;
  const auto expected = score(*cpu, requests, o), got = score(*dev, requests, o);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i].logprob, expected[i].logprob, 1e-3 + 1e-5 * std::abs(expected[i].logprob)) << "request " << i;
    EXPECT_EQ(got[i].is_greedy, expected[i].is_greedy) << "request " << i;
  }
  EXPECT_TRUE(got[3].is_greedy);
  // bf16 on the device: log-likelihoods still close (the study scores HellaSwag in bf16).
  auto dev16 = make_model("tiny-llama32", 31, at::kBFloat16, device_under_test(), kPeakedInit);
  const auto got16 = score(*dev16, requests, o);
  for (size_t i = 0; i < got16.size(); ++i) {
    const double tokens = static_cast<double>(requests[i].continuation.size());
    EXPECT_NEAR(got16[i].logprob, expected[i].logprob, 0.1 * tokens + 0.02 * std::abs(expected[i].logprob)) << "bf16 request " << i;
  }
}

TEST_F(CudaEngine, DivergenceMatchesCpu) {
  auto p_cpu = make_model("tiny-llama31", 42, at::kFloat, at::kCPU, kPeakedInit);
  auto q_cpu = make_model("tiny-llama31", 43, at::kFloat, at::kCPU, kPeakedInit);
  auto p_dev = make_model("tiny-llama31", 42, at::kFloat, device_under_test(), kPeakedInit);
  auto q_dev = make_model("tiny-llama31", 43, at::kFloat, device_under_test(), kPeakedInit);
  const std::vector<std::vector<int64_t>> seqs = {{10, 20, 30, 40, 50, 60}, {7, 8, 9}, {1000, 2000, 3000, 4000}};
  const std::vector<std::vector<uint8_t>> masks = {{0, 1, 0, 1, 1, 1}, {0, 0, 1}, {0, 1, 1, 1}};
  DivergenceOptions o;
  o.batch_rows = 2;
  o.chunk_positions = 3;
  const DivergenceResult e = divergence(*p_cpu, *q_cpu, seqs, masks, o), g = divergence(*p_dev, *q_dev, seqs, masks, o);
  const std::map<std::string, std::pair<const std::vector<float>*, const std::vector<float>*>> fields = {
      {"standard", {&e.standard, &g.standard}},
      {"log_square", {&e.log_square, &g.log_square}},
      {"bregman", {&e.bregman, &g.bregman}},
      {"tv", {&e.tv, &g.tv}},
      {"observed_standard", {&e.observed_standard, &g.observed_standard}},
      {"observed_log_square", {&e.observed_log_square, &g.observed_log_square}},
      {"observed_bregman", {&e.observed_bregman, &g.observed_bregman}}};
  for (const auto& [name, pair] : fields) {
    const auto& [want, have] = pair;
    ASSERT_EQ(have->size(), 8u) << name;
    ASSERT_EQ(have->size(), want->size()) << name;
    for (size_t i = 0; i < want->size(); ++i)
      EXPECT_NEAR((*have)[i], (*want)[i], 1e-4 + 1e-4 * std::abs((*want)[i])) << name << " token " << i;
  }
  EXPECT_GT(e.standard[0], 0.0f);  // two different models: a real divergence was compared, not zeros
}

TEST_F(CudaEngine, SaveLoadRoundTripOnDevice) {
  testing::TempDir dir;
  for (const std::string preset : {"tiny-llama31", "tiny-smollm"}) {
    for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
      auto dev = make_model(preset, 11, dtype, device_under_test());
      const std::string folder = dir / (preset + c10::toString(dtype));
      save_model(*dev, folder);
      auto back = load_model(folder, ModelOptions{dtype, device_under_test()});
      auto on_cpu = load_model(folder, ModelOptions{dtype, at::kCPU});
      auto fresh_cpu = make_model(preset, 11, dtype, at::kCPU);  // initialisation is device-independent
      const auto a = dev->checkpoint_tensors(), b = back->checkpoint_tensors(), c = on_cpu->checkpoint_tensors(),
                 f = fresh_cpu->checkpoint_tensors();
      ASSERT_EQ(a.size(), b.size());
      ASSERT_EQ(a.size(), c.size());
      for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(b[i].second.device(), device_under_test()) << a[i].first;
        EXPECT_EQ(b[i].second.scalar_type(), dtype) << a[i].first;
        EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << preset << " " << a[i].first;
        EXPECT_TRUE(at::equal(a[i].second.to(at::kCPU), c[i].second)) << preset << " " << a[i].first;
        EXPECT_TRUE(at::equal(f[i].second, c[i].second)) << preset << " " << a[i].first << " differs from a CPU-initialised model";
      }
    }
  }
}

TEST_F(CudaEngine, TrainerDrawsDropoutFromAGeneratorOfItsOwn) {
  // LoRA dropout on the device under test must neither reseed nor advance the process-wide
  // generator of that device (other code's random streams), and one seed still gives one run.
  const at::Device device = device_under_test();
  at::Generator global = device.is_cuda() ? at::globalContext().defaultGenerator(device) : at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lock(global.mutex());
    global.set_current_seed(1234);
  }
  const at::Tensor before = global.get_state();
  testing::TempDir dir;
  const TokenRows rows = testing::make_rows(8, 4);
  auto train = [&](const std::string& run) {
    TrainerOptions o = testing::small_trainer_options(dir / run, 4, 1, 1);
    o.lora.r = 4;
    o.lora.alpha = 8;
    o.lora.dropout = 0.3;
    o.schedule.warmup_ratio = 0;
    auto model = std::make_shared<LlamaModel>(testing::small_config(false), ModelOptions{at::kFloat, device});
    model->initialize(7, 0.2);
    Trainer trainer(model, rows, TokenRows{}, o);
    trainer.train_step();
    trainer.train_step();
    std::vector<std::pair<std::string, at::Tensor>> weights;  // LoRA's included
    for (const auto& item : model->named_parameters(true)) weights.emplace_back(item.key(), item.value().detach().to(at::kCPU));
    return weights;
  };
  const auto first = train("a"), second = train("b");
  EXPECT_TRUE(at::equal(global.get_state(), before)) << "the trainer changed the global " << device.str() << " generator";
  EXPECT_EQ(global.current_seed(), 1234u);
  ASSERT_EQ(first.size(), second.size());
  for (size_t i = 0; i < first.size(); ++i) EXPECT_TRUE(at::equal(first[i].second, second[i].second)) << first[i].first;
}

// Names of the operators dispatched on this thread while a Recorder lives.
std::mutex g_ops_mutex;
std::set<std::string> g_ops;
std::unique_ptr<at::ObserverContext> record_op(const at::RecordFunction& fn) {
  std::lock_guard<std::mutex> lock(g_ops_mutex);
  g_ops.insert(fn.name());
  return nullptr;
}
class Recorder {
 public:
  Recorder() {
    g_ops.clear();
    handle_ = at::addThreadLocalCallback(at::RecordFunctionCallback(record_op).needsInputs(false));
  }
  ~Recorder() { at::removeCallback(handle_); }
  bool saw(const std::string& op) const { return g_ops.count(op) > 0; }
  std::string list() const {
    std::string out;
    for (const auto& op : g_ops) {
      if (op.find("attention") != std::string::npos || op.find("softmax") != std::string::npos) out += op + " ";
    }
    return out;
  }

 private:
  at::CallbackHandle handle_;
};

TEST_F(CudaEngine, AttentionRunsThroughScaledDotProductAttention) {
  ASSERT_TRUE(TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1))
      << "libtorch " << TORCH_VERSION << " predates 2.1: llama_model.cpp compiles the eager attention instead";
  const Batch b = left_padded_batch();
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    auto dev = make_model("tiny-smollm", 9, dtype, device_under_test());
    Recorder recorder;
    forward_on(*dev, b);
    EXPECT_TRUE(recorder.saw("aten::scaled_dot_product_attention")) << c10::toString(dtype) << " ran: " << recorder.list();
    const bool fused = recorder.saw("aten::_scaled_dot_product_efficient_attention") ||
                       recorder.saw("aten::_scaled_dot_product_flash_attention") ||
                       recorder.saw("aten::_scaled_dot_product_cudnn_attention");
    RecordProperty(std::string("attention_ops_") + c10::toString(dtype), recorder.list());
    std::cout << "[ attention ] " << c10::toString(dtype) << ": " << recorder.list() << "\n";
    // In bf16 on a GPU a fused kernel (flash, memory-efficient or cuDNN) must take the masked attention.
    if (dtype == at::kBFloat16 && device_under_test().is_cuda()) {
      EXPECT_TRUE(fused) << "bf16 attention fell back to the math kernel: " << recorder.list();
    }
  }
}

// Rows of very different lengths, labelled from their middle on, for the packed-training checks.
TokenRows uneven_rows() {
  const std::vector<int64_t> lengths = {33, 4, 17, 2, 9};
  auto generator = at::make_generator<at::CPUGeneratorImpl>(77);
  TokenRows rows;
  for (const int64_t n : lengths) {
    const at::Tensor ids = at::randint(3, 30000, {n}, generator, at::kLong);
    for (int64_t t = 0; t < n; ++t) {
      rows.ids.push_back(static_cast<int32_t>(ids[t].item<int64_t>()));
      rows.labels.push_back(t >= n / 2 ? rows.ids.back() : kIgnoreIndex);
    }
    rows.offsets.push_back(static_cast<int64_t>(rows.ids.size()));
  }
  return rows;
}

// ‖a − b‖ / ‖b‖ in fp32 on the CPU.
double relative_difference(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor x = a.to(at::kCPU).to(at::kFloat), y = b.to(at::kCPU).to(at::kFloat);
  return (x - y).norm().item<double>() / std::max(1e-30, y.norm().item<double>());
}

TEST_F(CudaEngine, PackedTrainingGivesThePaddedLossAndGradients) {
  const TokenRows rows = uneven_rows();
  const std::vector<int64_t> all = {0, 1, 2, 3, 4};
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    // bf16 on the GPU: flash for both paths' attention but different kernels (fixed-length vs
    // variable-length) and different rounding; fp32: the same arithmetic up to summation order.
    const double tolerance = dtype == at::kFloat ? 1e-4 : 0.05;
    for (const std::string preset : {"tiny-smollm", "tiny-llama32"}) {
      auto model = make_model(preset, 13, dtype, device_under_test(), kPeakedInit);
      model->train(true);
      const at::Device d = device_under_test();
      const at::Tensor padded_loss = label_loss_sum(*model, make_micro_batch(rows, all, 0, d));
      (padded_loss / 40.0).backward();
      std::map<std::string, at::Tensor> padded_grads;
      for (const auto& item : model->named_parameters(true)) {
        padded_grads[item.key()] = item.value().grad().clone();
        item.value().mutable_grad() = at::Tensor();
      }
      at::Tensor packed_loss;
      {
        Recorder recorder;
        packed_loss = label_loss_sum(*model, make_packed_micro_batch(rows, all, d), LossChunking{7, 1.0 / 40.0});
        std::cout << "[ packed attention ] " << preset << " " << c10::toString(dtype) << ": " << recorder.list() << "\n";
        if (dtype == at::kBFloat16 && d.is_cuda()) {
          EXPECT_TRUE(recorder.saw("aten::_flash_attention_forward"))
              << "bf16 packed attention did not use flash varlen: " << recorder.list();
        }
      }
      (packed_loss / 40.0).backward();
      EXPECT_NEAR(packed_loss.item<double>(), padded_loss.item<double>(), tolerance * std::abs(padded_loss.item<double>()))
          << preset << " " << c10::toString(dtype);
      for (const auto& item : model->named_parameters(true)) {
        ASSERT_TRUE(item.value().grad().defined()) << item.key();
        EXPECT_LT(relative_difference(item.value().grad(), padded_grads.at(item.key())), tolerance)
            << preset << " " << c10::toString(dtype) << " " << item.key();
      }
    }
  }
}

}  // namespace
}  // namespace itl
