#include "eval/scorer.h"

#include <ATen/core/grad_mode.h>
#include <ATen/ATen.h>

#include <algorithm>
#include <map>
#include <string>

#include "eval/generator.h"
#include "util/error.h"

namespace itl {
namespace {

struct ContextGroup {
  const std::vector<int64_t>* context;
  std::vector<size_t> requests;
};

std::vector<ContextGroup> group_by_context(const std::vector<ScoreRequest>& requests) {
  std::map<std::vector<int64_t>, size_t> index;
  std::vector<ContextGroup> groups;
  for (size_t i = 0; i < requests.size(); ++i) {
    auto [it, inserted] = index.emplace(requests[i].context, groups.size());
    if (inserted) groups.push_back(ContextGroup{&requests[i].context, {}});
    groups[it->second].requests.push_back(i);
  }
  std::stable_sort(groups.begin(), groups.end(),
                   [](const ContextGroup& a, const ContextGroup& b) { return a.context->size() < b.context->size(); });
  return groups;
}

// Adds log p(target) and the greedy check for `targets` (P) given hidden states (P, hidden),
// `chunk` positions at a time so (P, vocab) logits never exist at once.
void accumulate(LlamaModel& model, const at::Tensor& hidden, const at::Tensor& targets, const std::vector<size_t>& owners, int64_t chunk,
                std::vector<ScoreResult>& results) {
  const int64_t P = hidden.size(0);
  for (int64_t start = 0; start < P; start += chunk) {
    const int64_t n = std::min(chunk, P - start);
    const at::Tensor lp = at::log_softmax(model.logits(hidden.narrow(0, start, n)).to(at::kFloat), -1);  // (n, V)
    const at::Tensor t = targets.narrow(0, start, n);
    const at::Tensor picked = lp.gather(1, t.view({-1, 1})).view({-1}).to(at::kDouble).cpu();
    const at::Tensor greedy = (argmax_rows(lp) == t).cpu();
    for (int64_t i = 0; i < n; ++i) {
      ScoreResult& r = results[owners[start + i]];
      r.logprob += picked.data_ptr<double>()[i];
      if (!greedy.data_ptr<bool>()[i]) r.is_greedy = false;
    }
  }
}

// One forward pass over the context groups [first, last), packed: each context once, then each of
// its continuations but the last token, as segments attending to their context and themselves.
void score_batch(LlamaModel& model, const std::vector<ScoreRequest>& requests, const std::vector<ContextGroup>& groups, size_t first,
                 size_t last, const ScoreOptions& o, std::vector<ScoreResult>& results) {
  const auto dev = model.options().device;
  std::vector<int64_t> ids, positions, query_lengths;
  std::vector<std::vector<int64_t>> keys;
  std::vector<int64_t> predicting, targets;  // the flat token that predicts each continuation token, and that token
  std::vector<size_t> owners;
  auto span = [](int64_t start, int64_t n) {
    std::vector<int64_t> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = start + i;
    return out;
  };
  for (size_t g = first; g < last; ++g) {
    const std::vector<int64_t>& context = *groups[g].context;
    const int64_t context_start = static_cast<int64_t>(ids.size()), Lc = static_cast<int64_t>(context.size());
    const std::vector<int64_t> context_keys = span(context_start, Lc);
    ids.insert(ids.end(), context.begin(), context.end());
    for (int64_t t = 0; t < Lc; ++t) positions.push_back(t);
    query_lengths.push_back(Lc);
    keys.push_back(context_keys);
    for (size_t r : groups[g].requests) {
      const std::vector<int64_t>& k = requests[r].continuation;
      const int64_t n = static_cast<int64_t>(k.size());
      // The continuation's first token is predicted by the context's last position, token j by token j − 1.
      predicting.push_back(context_start + Lc - 1);
      targets.push_back(k[0]);
      owners.push_back(r);
      if (n == 1) continue;
      const int64_t start = static_cast<int64_t>(ids.size());
      ids.insert(ids.end(), k.begin(), k.end() - 1);
      for (int64_t j = 0; j < n - 1; ++j) positions.push_back(Lc + j);
      query_lengths.push_back(n - 1);
      std::vector<int64_t> segment_keys = context_keys;
      for (int64_t j = 0; j < n - 1; ++j) segment_keys.push_back(start + j);
      keys.push_back(std::move(segment_keys));
      for (int64_t j = 1; j < n; ++j) {
        predicting.push_back(start + j - 1);
        targets.push_back(k[j]);
        owners.push_back(r);
      }
    }
  }
  const auto long_cpu = at::TensorOptions().dtype(at::kLong);
  const PackedLayout layout = PackedLayout::segments(query_lengths, keys, dev);
  const at::Tensor hidden = model.packed_hidden_states(at::tensor(ids, long_cpu).to(dev), at::tensor(positions, long_cpu).to(dev), layout);
  accumulate(model, hidden.index_select(0, at::tensor(predicting, long_cpu).to(dev)), at::tensor(targets, long_cpu).to(dev), owners,
             o.chunk_positions, results);
}

}  // namespace

std::vector<ScoreResult> score(LlamaModel& model, const std::vector<ScoreRequest>& requests, const ScoreOptions& o,
                               const RunControl& control) {
  require(o.batch_rows >= 1, "batch_rows must be at least 1, got " + std::to_string(o.batch_rows));
  require(o.chunk_positions >= 1, "chunk_positions must be at least 1, got " + std::to_string(o.chunk_positions));
  const int64_t vocab = model.config().vocab_size;
  for (size_t i = 0; i < requests.size(); ++i) {
    require(!requests[i].context.empty(), "request " + std::to_string(i) + " has an empty context");
    require(!requests[i].continuation.empty(), "request " + std::to_string(i) + " has an empty continuation");
    check_token_ids(requests[i].context, vocab, "request " + std::to_string(i) + " context");
    check_token_ids(requests[i].continuation, vocab, "request " + std::to_string(i) + " continuation");
  }
  at::NoGradGuard no_grad;
  std::vector<ScoreResult> results(requests.size(), ScoreResult{0.0, true});
  const std::vector<ContextGroup> groups = group_by_context(requests);
  size_t done = 0;
  for (size_t first = 0; first < groups.size();) {
    control.check_abort();
    size_t last = first;
    int64_t rows = 0;
    while (last < groups.size() && (last == first || rows + static_cast<int64_t>(groups[last].requests.size()) <= o.batch_rows)) {
      rows += static_cast<int64_t>(groups[last].requests.size());
      ++last;
    }
    score_batch(model, requests, groups, first, last, o, results);
    done += static_cast<size_t>(rows);
    control.report({"score", static_cast<int64_t>(done), static_cast<int64_t>(requests.size()), 0.0});
    first = last;
  }
  return results;
}

}  // namespace itl
