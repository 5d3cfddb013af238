// Per-token divergence of a model q from a reference model p on the same token sequences, the
// primitive of the study's KL/TV evaluation. For each selected token x_t (predicted from x_<t):
//   standard    log p(x_t) − log q(x_t)                      (k1: unbiased for KL(p‖q) when x_t ~ p)
//   log_square  ½ (log p(x_t) − log q(x_t))²                 (k2: ½·E_p[(log p − log q)²] in expectation)
//   bregman     q(x_t)/p(x_t) − 1 − log(q(x_t)/p(x_t))        (k3: E_p[q/p − 1 − log(q/p)] = KL, never negative)
//   exact       Σ_v p(v) (log p(v) − log q(v))               (the full-vocabulary KL(p‖q) at that position)
//   tv          ½ Σ_v |p(v) − q(v)|
// Logits are turned into fp32 log-probabilities a chunk of positions at a time, so no (B, T, vocab)
// fp32 tensor of a whole batch ever exists.
#pragma once

#include <cstdint>
#include <vector>

#include "model/llama_model.h"
#include "util/progress.h"

namespace itl {

struct DivergenceOptions {
  int64_t batch_rows = 8;         // sequences per forward pass (sorted by length)
  int64_t chunk_positions = 256;  // positions whose full-vocabulary distributions exist at once
};

struct DivergenceResult {
  // One value per selected token, sequences in the given order, tokens in order within each.
  std::vector<float> standard, log_square, bregman, exact, tv;
};

// token_masks[i][t] = 1 selects token t of sequence i (t >= 1: token 0 has no prediction).
DivergenceResult divergence(LlamaModel& p, LlamaModel& q, const std::vector<std::vector<int64_t>>& sequences,
                            const std::vector<std::vector<uint8_t>>& token_masks, const DivergenceOptions& options = {},
                            const RunControl& control = {});

}  // namespace itl
