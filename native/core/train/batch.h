// Training rows (token ids + labels, as the tokenizer layer makes them), the micro-batches the
// trainer computes on — packed (the rows end to end, no padding) or right-padded — and the causal-LM
// loss summed over a micro-batch's label tokens. The loss is evaluated only where a label exists: the
// output layer (hidden → vocabulary, the largest matmul of a small model) never runs on prompt or
// padding positions, and runs over chunks of label positions (chunked_loss.h); the sum equals
// transformers' ForCausalLMLoss with reduction "sum".
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "model/llama_model.h"
#include "model/packed_attention.h"
#include "train/chunked_loss.h"

namespace itl {

constexpr int32_t kIgnoreIndex = -100;

// Rows of token ids and unshifted labels (kIgnoreIndex where no loss applies), concatenated.
struct TokenRows {
  std::vector<int32_t> ids;
  std::vector<int32_t> labels;
  std::vector<int64_t> offsets = {0};  // count + 1 starts: row k is [offsets[k], offsets[k+1])

  int64_t count() const { return static_cast<int64_t>(offsets.size()) - 1; }
  int64_t length(int64_t row) const { return offsets[row + 1] - offsets[row]; }
  // Labels that are predicted: positions t ≥ 1 whose label is set (the model shifts by one).
  int64_t label_count(int64_t row) const;
  // Error(kInvalidArgument) naming the first malformed row: inconsistent sizes, an id outside
  // [0, vocab), a row shorter than 2 tokens or without a predicted label.
  void validate(int64_t vocab_size, const char* what) const;
};

struct MicroBatch {
  // Padded: (b, T) int64, right-padded with the pad id. Packed: (N) int64, the rows end to end.
  at::Tensor ids;
  at::Tensor mask;                             // padded: (b, T) int64, 1 real token, 0 padding; packed: undefined
  at::Tensor positions;                        // (b, T) or (N) int64: 0..len-1 per row
  std::shared_ptr<const PackedLayout> packed;  // packed: the rows' layout; padded: null
  // (n) int64: the positions that predict a label, as flat indices into (b, T-1) (padded) or (N) (packed).
  at::Tensor label_index;
  at::Tensor targets;  // (n) int64: the label each of them predicts
  int64_t real_tokens = 0;
  int64_t padded_tokens = 0;  // tokens computed: b × T padded, N packed
};

// The rows `rows` (indices into `data`) as one right-padded micro-batch on `device`.
MicroBatch make_micro_batch(const TokenRows& data, const std::vector<int64_t>& rows, int64_t pad_id, const at::Device& device);
// The same rows as one packed micro-batch: their tokens end to end, positions restarting per row.
MicroBatch make_packed_micro_batch(const TokenRows& data, const std::vector<int64_t>& rows, const at::Device& device);

// Splits one optimiser step's rows into micro-batches of at most `batch` rows after sorting them by
// length (longest first), so rows of similar length share a micro-batch and little is padded (and,
// packed, their attention groups are few). The step's update is a sum over its rows ÷ its label
// count, so the grouping changes no number beyond float rounding; packed and padded steps use the
// same grouping.
std::vector<std::vector<int64_t>> group_by_length(const TokenRows& data, std::vector<int64_t> rows, int64_t batch);

// Σ cross-entropy (fp32 log-softmax) of the batch's label tokens: a scalar with autograd. The output
// layer runs in chunks (chunked_loss.h) unless it is an adapter (LoRA on lm_head), which runs whole.
at::Tensor label_loss_sum(LlamaModel& model, const MicroBatch& batch, const LossChunking& chunking = {});

}  // namespace itl
