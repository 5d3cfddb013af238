// Log-likelihood of continuations given contexts — lm-evaluation-harness's `loglikelihood`
// primitive: the sum of log p(continuation token | everything before it) and whether each
// continuation token is the argmax. Requests sharing one context encode it once: a forward pass is
// packed (model/packed_attention.h) — each context, then each continuation as a segment attending
// to its context and itself — so no position is padding. Log-probs are log_softmax of the logits in
// fp32. Unlike the harness, nothing is truncated to a maximum length.
#pragma once

#include <cstdint>
#include <vector>

#include "model/llama_model.h"
#include "util/progress.h"

namespace itl {

struct ScoreRequest {
  std::vector<int64_t> context;       // non-empty
  std::vector<int64_t> continuation;  // non-empty
};

struct ScoreResult {
  double logprob = 0;      // sum over continuation tokens
  bool is_greedy = false;  // every continuation token is the argmax of its position
};

struct ScoreOptions {
  int64_t batch_rows = 64;        // continuations per forward pass (with their contexts)
  int64_t chunk_positions = 256;  // positions whose full-vocabulary logits exist at once
};

std::vector<ScoreResult> score(LlamaModel& model, const std::vector<ScoreRequest>& requests, const ScoreOptions& options = {},
                               const RunControl& control = {});

}  // namespace itl
