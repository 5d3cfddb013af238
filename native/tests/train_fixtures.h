// A small LlamaModel and token rows made in code, shared by the trainer tests and the
// data-parallel worker (native/tools/dist_worker.cpp) so both train on exactly the same things.
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <memory>

#include "model/llama_model.h"
#include "train/batch.h"
#include "train/trainer.h"

namespace itl::testing {

inline LlamaConfig small_config(bool tied) {
  LlamaConfig c;
  c.vocab_size = 40;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 4;
  c.max_position_embeddings = 64;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 10000;
  c.tie_word_embeddings = tied;
  c.pad_token_id = 2;
  c.eos_token_ids = {2};
  return c;
}

inline std::shared_ptr<LlamaModel> small_model(bool tied, at::ScalarType dtype, uint64_t seed = 7) {
  auto model = std::make_shared<LlamaModel>(small_config(tied), ModelOptions{dtype, at::kCPU});
  model->initialize(seed, 0.2);  // larger than HF's 0.02 so the loss surface is not flat
  return model;
}

// `count` rows of lengths 5..11 whose second half is labelled; id 2 (the pad id) appears in every row.
inline TokenRows make_rows(int64_t count, uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  TokenRows rows;
  for (int64_t r = 0; r < count; ++r) {
    const int64_t n = 5 + (r * 3 + static_cast<int64_t>(seed)) % 7;
    const at::Tensor ids = at::randint(3, 40, {n}, generator, at::kLong);
    for (int64_t t = 0; t < n; ++t) {
      const int32_t id = t == n - 2 ? 2 : static_cast<int32_t>(ids[t].item<int64_t>());
      rows.ids.push_back(id);
      rows.labels.push_back(t >= n / 2 ? id : kIgnoreIndex);
    }
    rows.offsets.push_back(static_cast<int64_t>(rows.ids.size()));
  }
  return rows;
}

// Complete trainer options for the small model and rows above — TrainerOptions has no defaults, so
// this is where the tests' values live: the study's optimiser and schedule settings (AdamW β
// 0.9/0.999, ε 1e-8, no weight decay, constant_with_warmup over 5 %, clipping at 1, logging every 5
// steps) with the seed, pad id and learning rate every trainer test shares. LoRA, precision,
// schedule extras and data parallelism are changed by the test.
inline TrainerOptions small_trainer_options(const std::string& run_dir, int64_t batch, int64_t grad_accumulation, int64_t epochs) {
  TrainerOptions o{};
  o.run_dir = run_dir;
  o.base_model = "/nonexistent/base";
  o.schedule.rows = 0;  // taken from the training rows
  o.schedule.batch = batch;
  o.schedule.grad_accumulation = grad_accumulation;
  o.schedule.world_size = 1;  // taken from the job
  o.schedule.epochs = epochs;
  o.schedule.warmup_ratio = 0.05;
  o.schedule.lr_scheduler = LrScheduler::kConstantWithWarmup;
  o.schedule.eval_steps = 0;
  o.schedule.save_steps = 0;
  o.schedule.logging_steps = 5;
  o.learning_rate = 1e-2;
  o.max_grad_norm = 1.0;
  o.adam_beta1 = 0.9;
  o.adam_beta2 = 0.999;
  o.adam_epsilon = 1e-8;
  o.weight_decay = 0.0;
  o.seed = 3;
  o.eval_batch = 8;
  o.precision = Precision::kFp32;
  o.lora = LoraOptions{};
  o.lora.r = 0;
  o.lora.alpha = 0;
  o.lora.dropout = 0.05;
  o.init_adapter = "";
  o.save_merged = false;
  o.save_checkpoints = TrainerOptions::SavePolicy::kAll;
  o.pad_id = 2;
  o.packing = true;
  o.loss_chunk = 0;  // automatic
  o.checkpoint_files = {};
  o.run_record = "";
  o.dist = DistEnv{};  // alone
  o.collective_timeout_seconds = 600;
  return o;
}

}  // namespace itl::testing
