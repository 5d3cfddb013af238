#include "eval/divergence.h"

#include <ATen/core/grad_mode.h>
#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>
#include <string>

#include "eval/generator.h"
#include "util/error.h"

namespace itl {
namespace {

void append(std::vector<float>& out, const at::Tensor& values) {
  const at::Tensor c = values.to(at::kFloat).cpu().contiguous();
  out.insert(out.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// Every field of `from` appended to `to`, in the struct's field order.
void extend(DivergenceResult& to, const DivergenceResult& from, size_t i) {
  to.standard.push_back(from.standard[i]);
  to.log_square.push_back(from.log_square[i]);
  to.bregman.push_back(from.bregman[i]);
  to.tv.push_back(from.tv[i]);
  to.observed_standard.push_back(from.observed_standard[i]);
  to.observed_log_square.push_back(from.observed_log_square[i]);
  to.observed_bregman.push_back(from.observed_bregman[i]);
}

// Estimators for hidden states (n, hidden) of both models at the positions predicting `targets` (n).
void chunk_divergence(LlamaModel& p, LlamaModel& q, const at::Tensor& hp, const at::Tensor& hq, const at::Tensor& targets,
                      DivergenceResult& out) {
  const at::Tensor lp = at::log_softmax(p.logits(hp).to(at::kFloat), -1);  // (n, V)
  const at::Tensor lq = at::log_softmax(q.logits(hq).to(at::kFloat), -1);  // (n, V)
  const at::Tensor pp = lp.exp(), qq = lq.exp();                           // (n, V)
  const at::Tensor log_ratio = lp - lq;                                    // (n, V) log p/q = −d
  append(out.standard, (pp * log_ratio).sum(-1));
  append(out.log_square, 0.5 * (pp * log_ratio * log_ratio).sum(-1));
  // p·(eᵈ − 1 − d) with p·eᵈ written as q: the literal form overflows eᵈ to inf where p underflows
  // to 0 (a token q likes and p rules out) and turns the whole sum into NaN.
  append(out.bregman, (qq - pp + pp * log_ratio).sum(-1));
  append(out.tv, 0.5 * (pp - qq).abs().sum(-1));
  const at::Tensor observed = log_ratio.gather(1, targets.view({-1, 1})).view({-1});  // (n)
  append(out.observed_standard, observed);
  append(out.observed_log_square, 0.5 * observed * observed);
  append(out.observed_bregman, at::exp(-observed) - 1 + observed);
}

}  // namespace

DivergenceResult divergence(LlamaModel& p, LlamaModel& q, const std::vector<std::vector<int64_t>>& sequences,
                            const std::vector<std::vector<uint8_t>>& token_masks, const DivergenceOptions& o, const RunControl& control) {
  require(o.batch_rows >= 1, "batch_rows must be at least 1, got " + std::to_string(o.batch_rows));
  require(o.chunk_positions >= 1, "chunk_positions must be at least 1, got " + std::to_string(o.chunk_positions));
  require(p.config().vocab_size == q.config().vocab_size, "the two models have different vocabularies (" +
                                                              std::to_string(p.config().vocab_size) + " and " +
                                                              std::to_string(q.config().vocab_size) + ")");
  require(p.options().device == q.options().device, "the two models must be on the same device");
  require(token_masks.size() == sequences.size(), "expected one token mask per sequence: " + std::to_string(sequences.size()) +
                                                      " sequences, " + std::to_string(token_masks.size()) + " masks");
  for (size_t i = 0; i < sequences.size(); ++i) {
    const std::string what = "sequence " + std::to_string(i);
    require(!sequences[i].empty(), what + " is empty");
    require(token_masks[i].size() == sequences[i].size(),
            what + " has " + std::to_string(sequences[i].size()) + " tokens but its mask has " + std::to_string(token_masks[i].size()));
    require(token_masks[i][0] == 0, what + ": token 0 is selected, but nothing predicts a sequence's first token");
    check_token_ids(sequences[i], p.config().vocab_size, what);
  }
  at::NoGradGuard no_grad;
  const auto dev = p.options().device;
  const auto long_cpu = at::TensorOptions().dtype(at::kLong);

  std::vector<size_t> order(sequences.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return sequences[a].size() < sequences[b].size(); });
  std::vector<DivergenceResult> per_sequence(sequences.size());

  for (size_t first = 0; first < order.size(); first += static_cast<size_t>(o.batch_rows)) {
    control.check_abort();
    const size_t last = std::min(order.size(), first + static_cast<size_t>(o.batch_rows));
    // Packed: the sequences end to end, each attending to itself, positions restarting at 0.
    std::vector<int64_t> ids, positions, lengths, flat_positions, targets;
    std::vector<size_t> owners;
    for (size_t i = first; i < last; ++i) {
      const auto& s = sequences[order[i]];
      const int64_t start = static_cast<int64_t>(ids.size());
      ids.insert(ids.end(), s.begin(), s.end());
      for (size_t t = 0; t < s.size(); ++t) positions.push_back(static_cast<int64_t>(t));
      lengths.push_back(static_cast<int64_t>(s.size()));
      for (size_t t = 1; t < s.size(); ++t) {
        if (!token_masks[order[i]][t]) continue;
        flat_positions.push_back(start + static_cast<int64_t>(t) - 1);
        targets.push_back(s[t]);
        owners.push_back(order[i]);
      }
    }
    if (targets.empty()) continue;
    const PackedLayout layout = PackedLayout::rows(lengths, dev);
    const at::Tensor flat_ids = at::tensor(ids, long_cpu).to(dev), flat_pos = at::tensor(positions, long_cpu).to(dev);
    const at::Tensor where = at::tensor(flat_positions, long_cpu).to(dev);
    const at::Tensor hp = p.packed_hidden_states(flat_ids, flat_pos, layout).index_select(0, where);  // (P, hidden)
    const at::Tensor hq = q.packed_hidden_states(flat_ids, flat_pos, layout).index_select(0, where);  // (P, hidden)
    const at::Tensor all_targets = at::tensor(targets, long_cpu).to(dev);
    DivergenceResult batch;
    const int64_t P = hp.size(0);
    for (int64_t start = 0; start < P; start += o.chunk_positions) {
      const int64_t n = std::min(o.chunk_positions, P - start);
      chunk_divergence(p, q, hp.narrow(0, start, n), hq.narrow(0, start, n), all_targets.narrow(0, start, n), batch);
    }
    for (size_t i = 0; i < owners.size(); ++i) extend(per_sequence[owners[i]], batch, i);
    control.report({"divergence", static_cast<int64_t>(last), static_cast<int64_t>(sequences.size()), 0.0});
  }
  DivergenceResult out;
  for (const DivergenceResult& r : per_sequence) {
    for (size_t i = 0; i < r.standard.size(); ++i) extend(out, r, i);
  }
  return out;
}

}  // namespace itl
