// Batched generation with a KV cache: greedy (HF generate's do_sample=False) or seeded
// temperature/top-p sampling. Prompts are left-padded within a batch; rows leave the batch as soon
// as they stop, so finished rows cost nothing. Not here: tokenisation, chat templates.
#pragma once

#include <cstdint>
#include <vector>

#include "model/llama_model.h"
#include "util/progress.h"

namespace itl {

struct GenerateOptions {
  int64_t max_new_tokens = 64;   // per row, including a final eos
  std::vector<int64_t> eos_ids;  // a row stops after emitting any of these (kept in its output, as HF does)
  int64_t batch_size = 32;       // rows decoded together; prompts are grouped by length first
  bool sample = false;           // false: greedy argmax
  double temperature = 1.0;      // sampling only: logits / temperature before top-p
  double top_p = 1.0;            // sampling only: HF's TopPLogitsWarper (1: no filtering)
  uint64_t seed = 0;             // sampling only: row i draws from its own generator (seed, i)
};

// New token ids per prompt, in the prompts' order. Every prompt must be non-empty and in the
// vocabulary (Error kInvalidArgument naming the row and token).
std::vector<std::vector<int64_t>> generate(LlamaModel& model, const std::vector<std::vector<int64_t>>& prompts,
                                           const GenerateOptions& options, const RunControl& control = {});

// Row-wise argmax of logits (n, V): the first index of each row's maximum, exactly as at::argmax.
// On CPU fp32 with a large vocabulary it takes the vectorised maximum of 512-column chunks and then
// scans only the first chunk holding the row's maximum (libtorch's argmax compares element by element:
// ~0.8 ms for 32 × 49,152 here, a sixth of a tiny model's decode step). Rows with a NaN, other
// devices and dtypes go to at::argmax. Returns int64 (n) on the logits' device.
at::Tensor argmax_rows(const at::Tensor& logits);

// Checks ids are in [0, vocab); `what` names the input in the error ("prompt 3").
void check_token_ids(const std::vector<int64_t>& ids, int64_t vocab, const std::string& what);

}  // namespace itl
