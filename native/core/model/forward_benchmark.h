// Timing the model's forward pass (logits for every position, no grad) on random token ids: the
// figure behind `itl bench engine`'s forward_tokens_per_s and forward_flops_utilisation.
#pragma once

#include <cstdint>

#include "model/llama_model.h"
#include "util/progress.h"

namespace itl {

struct ForwardBenchmarkOptions {
  int64_t batch = 16;        // sequences per forward call
  int64_t seq_len = 128;     // tokens per sequence
  double min_seconds = 2.0;  // keep calling until this much time has passed
  uint64_t seed = 0;         // of the random ids
};

struct ForwardBenchmarkResult {
  int64_t calls = 0;
  int64_t tokens = 0;  // batch * seq_len * calls
  double seconds = 0;
  double tokens_per_s = 0;
  double flops_per_token = 0;  // matmul FLOPs the forward pass does per token (see forward_flops_per_token)
  double gflops = 0;           // achieved matmul GFLOP/s
};

// 2 FLOPs per multiply-add of every projection and the lm_head, plus attention scores and the
// weighted sum (4 · layers · heads · head_dim · seq_len per token: the full T×T square the kernel computes).
double forward_flops_per_token(const LlamaConfig& config, int64_t seq_len);

ForwardBenchmarkResult run_forward_benchmark(LlamaModel& model, const ForwardBenchmarkOptions& options, const RunControl& control = {});

}  // namespace itl
