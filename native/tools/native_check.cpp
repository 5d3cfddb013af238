// itl_native_check OUT_DIR DEVICE: writes, for each tiny preset, a random model folder (fp32, HF
// layout) and the logits our engine computes for one left-padded batch on DEVICE in fp32 and bf16 —
// padded, and packed (the rows' real tokens end to end, model/packed_attention.h) — so
// scripts/gpu-check.py can load the same folder with transformers and compare. No Node needed.
// Not a test by itself: it only writes what the Python side checks.
//   OUT_DIR/<preset>/ (model folder), OUT_DIR/<preset>/itl_logits_{fp32,bf16}.f32 (raw little-endian
//   float32, shape (B, T, vocab)), OUT_DIR/<preset>/itl_logits_packed_{fp32,bf16}.f32 (shape (real
//   tokens, vocab), rows in order), OUT_DIR/check.json (ids, mask, shapes, presets).
#include <ATen/core/grad_mode.h>
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/version.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "model/llama_model.h"
#include "model/model_io.h"
#include "model/packed_attention.h"
#include "model/presets.h"
#include "util/device.h"

namespace {

void write_raw(const at::Tensor& t, const std::filesystem::path& path) {
  const at::Tensor host = t.to(at::kCPU).to(at::kFloat).contiguous();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(host.data_ptr<float>()), static_cast<std::streamsize>(host.numel() * sizeof(float)));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: itl_native_check OUT_DIR DEVICE (cpu | cuda | cuda:N)\n";
    return 2;
  }
  try {
    const std::filesystem::path out = argv[1];
    const at::Device device = itl::parse_device(argv[2]);
    std::filesystem::create_directories(out);
    // Left-padded rows of seeded random ids, as the generator batches prompts: 81 real positions.
    const std::vector<int64_t> lengths = {24, 20, 13, 24};
    const int64_t B = static_cast<int64_t>(lengths.size()), T = 24;
    auto generator = at::make_generator<at::CPUGeneratorImpl>(123);
    at::Tensor ids = at::randint(3, 30000, {B, T}, generator, at::kLong), mask = at::zeros({B, T}, at::kLong);
    for (int64_t b = 0; b < B; ++b) {
      mask[b].narrow(0, T - lengths[b], lengths[b]).fill_(1);
      ids[b].narrow(0, 0, T - lengths[b]).fill_(0);
    }
    nlohmann::json report = {{"torch_version", TORCH_VERSION}, {"device", argv[2]}, {"batch", B}, {"length", T}};
    report["ids"] = std::vector<int64_t>(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
    report["mask"] = std::vector<int64_t>(mask.data_ptr<int64_t>(), mask.data_ptr<int64_t>() + mask.numel());
    // The same rows packed: their real tokens end to end, positions restarting per row.
    std::vector<int64_t> packed_ids, packed_positions;
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t t = 0; t < lengths[b]; ++t) {
        packed_ids.push_back(ids[b][T - lengths[b] + t].item<int64_t>());
        packed_positions.push_back(t);
      }
    }
    const itl::PackedLayout layout = itl::PackedLayout::rows(lengths, device);
    at::NoGradGuard no_grad;
    for (const std::string preset : {"tiny-smollm", "tiny-llama32", "tiny-llama31"}) {
      const std::filesystem::path folder = out / preset;
      itl::LlamaModel made(itl::model_preset(preset).config, itl::ModelOptions{at::kFloat, at::kCPU});
      made.initialize(3, 0.2);  // peaked logits, so top-1 comparisons are not decided by near-ties
      itl::save_model(made, folder.string());
      for (const auto& [name, dtype] : {std::pair<std::string, at::ScalarType>{"fp32", at::kFloat}, {"bf16", at::kBFloat16}}) {
        auto model = itl::load_model(folder.string(), itl::ModelOptions{dtype, device});
        const at::Tensor logits = model->forward(ids.to(device), mask.to(device));  // (B, T, V)
        write_raw(logits, folder / ("itl_logits_" + name + ".f32"));
        const at::Tensor packed = model->logits(model->packed_hidden_states(at::tensor(packed_ids, at::kLong).to(device),
                                                                            at::tensor(packed_positions, at::kLong).to(device), layout));
        write_raw(packed, folder / ("itl_logits_packed_" + name + ".f32"));
      }
      report["presets"].push_back({{"name", preset}, {"vocab", made.config().vocab_size}});
    }
    std::ofstream(out / "check.json") << report.dump(2) << "\n";
    std::cout << "itl_native_check: wrote " << (out / "check.json").string() << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "itl_native_check: " << e.what() << "\n";
    return 1;
  }
}
