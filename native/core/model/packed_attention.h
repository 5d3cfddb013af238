// Packed sequences: the rows of a batch laid end to end as one flat sequence of real tokens, so that
// embeddings, norms, projections and the MLP run on a (tokens × hidden) matrix with no padding, and
// attention is kept inside each row by a PackedLayout. A layout is a list of segments; a segment's
// queries are consecutive flat tokens and its keys a list of flat tokens that ends with those
// queries, in order. Query t of a segment sees its keys up to and including itself (causal, aligned
// to the last key): for a training row the keys are the row itself; for a scored continuation they
// are its context followed by itself, so one pass scores every ending of a HellaSwag context.
// Not here: positions (each row's restart at 0, see LlamaModel::packed_hidden_states) and batching.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <vector>

namespace itl {

// Segments of similar length, batched for one attention call (the CPU kernels, see
// packed_attention.cpp): each slot of (count, length) holds a flat token, or tokens() for padding.
struct AttentionGroup {
  int64_t count = 0, query_length = 0, key_length = 0;
  at::Tensor query_index;  // (count · query_length) int64 on the device
  at::Tensor key_index;    // (count · key_length) int64 on the device
  at::Tensor mask;         // (count, 1, query_length, key_length) bool, or undefined: plain causal (rows)
};

class PackedLayout {
 public:
  // Rows of these lengths (each ≥ 1), laid end to end; every row attends to itself only.
  static PackedLayout rows(const std::vector<int64_t>& lengths, const at::Device& device);
  // Segment i has query_lengths[i] (≥ 1) consecutive flat tokens, segments in order, and attends to
  // the flat tokens keys[i], which must end with its own queries. Error(kInvalidArgument) otherwise.
  static PackedLayout segments(const std::vector<int64_t>& query_lengths, const std::vector<std::vector<int64_t>>& keys,
                               const at::Device& device);

  int64_t tokens() const { return query_starts_.back(); }
  int64_t segment_count() const { return static_cast<int64_t>(query_starts_.size()) - 1; }
  int64_t query_start(int64_t segment) const { return query_starts_[segment]; }
  int64_t query_length(int64_t segment) const { return query_starts_[segment + 1] - query_starts_[segment]; }
  int64_t key_start(int64_t segment) const { return key_starts_[segment]; }
  int64_t key_length(int64_t segment) const { return key_starts_[segment + 1] - key_starts_[segment]; }
  // Flat token of key j of a segment.
  int64_t key_token(int64_t segment, int64_t j) const {
    return key_tokens_.empty() ? query_starts_[segment] + j : key_tokens_[static_cast<size_t>(key_starts_[segment] + j)];
  }
  // Whether every segment's keys are exactly its own queries (a row), as PackedLayout::rows makes them.
  bool keys_are_queries() const { return key_tokens_.empty(); }
  // (Σ keys) int64 flat token of every gathered key on the device, or undefined when keys_are_queries().
  const at::Tensor& key_index() const { return key_index_; }
  // For the CUDA variable-length kernels: (segments + 1) int32 cumulative lengths on the device
  // (undefined on the CPU) and the longest segment.
  const at::Tensor& cu_seqlens_q() const { return cu_q_; }
  const at::Tensor& cu_seqlens_k() const { return cu_k_; }
  int64_t max_query_length() const { return max_q_; }
  int64_t max_key_length() const { return max_k_; }
  // The segments in groups of similar length, and where each flat token's output lies in the
  // groups' outputs laid end to end ((tokens) int64 on the device).
  const std::vector<AttentionGroup>& groups() const { return groups_; }
  const at::Tensor& group_output_index() const { return group_output_index_; }

 private:
  PackedLayout() = default;
  void finish(const at::Device& device);
  void plan_groups(const at::Device& device);

  std::vector<int64_t> query_starts_ = {0};
  std::vector<int64_t> key_starts_ = {0};
  std::vector<int64_t> key_tokens_;  // empty: each segment's keys are its queries
  at::Tensor key_index_;
  at::Tensor cu_q_, cu_k_;
  int64_t max_q_ = 0, max_k_ = 0;
  std::vector<AttentionGroup> groups_;
  at::Tensor group_output_index_;
};

// Attention of packed q (1, H, N, D) over k, v (1, Hkv, N, D) within each segment of `layout`
// (N = layout.tokens()), scaled by `scaling`: (1, H, N, D), with autograd. On CUDA in bf16/fp16,
// libtorch's variable-length flash attention with cumulative sequence lengths (one kernel for all
// segments, no padding); elsewhere one scaled_dot_product_attention per group of segments of similar
// length (layout.groups()), padded inside attention only to the group's longest.
at::Tensor packed_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const PackedLayout& layout, double scaling);

}  // namespace itl
