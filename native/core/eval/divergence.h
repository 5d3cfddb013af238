// Divergence of a model q from a reference model p on the same token sequences, the primitive of
// the study's KL/TV evaluation. At each selected position (the one predicting token x_t from x_<t),
// over the whole vocabulary, with d(v) = log q(v) − log p(v):
//   standard    Σ_v p(v) (log p(v) − log q(v))                 KL(p‖q)
//   log_square  ½ Σ_v p(v) (log p(v) − log q(v))²
//   bregman     Σ_v p(v) (e^d(v) − 1 − d(v))                    the study's reported estimator; = KL up to rounding
//   tv          ½ Σ_v |p(v) − q(v)|
// and, as extra fields, the same estimators at the observed token only (k1, k2, k3 of the
// single-sample KL estimators; unbiased for KL when x_t ~ p):
//   observed_standard    log p(x_t) − log q(x_t)
//   observed_log_square  ½ (log p(x_t) − log q(x_t))²
//   observed_bregman     q(x_t)/p(x_t) − 1 − log(q(x_t)/p(x_t))
// Logits are turned into fp32 log-probabilities a chunk of positions at a time, so no (B, T, vocab)
// fp32 tensor of a whole batch ever exists. A batch's sequences are packed end to end (no padding),
// each attending only to itself.
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
  std::vector<float> standard, log_square, bregman, tv;                         // expectations over the vocabulary
  std::vector<float> observed_standard, observed_log_square, observed_bregman;  // at the observed token
};

// token_masks[i][t] = 1 selects token t of sequence i (t >= 1: token 0 has no prediction).
DivergenceResult divergence(LlamaModel& p, LlamaModel& q, const std::vector<std::vector<int64_t>>& sequences,
                            const std::vector<std::vector<uint8_t>>& token_masks, const DivergenceOptions& options = {},
                            const RunControl& control = {});

}  // namespace itl
