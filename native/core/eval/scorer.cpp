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
void accumulate(LlamaModel& model, const at::Tensor& hidden, const at::Tensor& targets, const std::vector<size_t>& owners,
                int64_t chunk, std::vector<ScoreResult>& results) {
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

void score_batch(LlamaModel& model, const std::vector<ScoreRequest>& requests, const std::vector<ContextGroup>& groups,
                 size_t first, size_t last, const ScoreOptions& o, std::vector<ScoreResult>& results) {
  const auto dev = model.options().device;
  const auto long_cpu = at::TensorOptions().dtype(at::kLong);
  const int64_t G = static_cast<int64_t>(last - first);
  int64_t Lc = 0, Lk = 0;  // longest context, longest continuation
  for (size_t g = first; g < last; ++g) {
    Lc = std::max<int64_t>(Lc, static_cast<int64_t>(groups[g].context->size()));
    for (size_t r : groups[g].requests) Lk = std::max<int64_t>(Lk, static_cast<int64_t>(requests[r].continuation.size()));
  }

  // Contexts, left-padded so each one's last token sits in column Lc - 1.
  at::Tensor ctx = at::zeros({G, Lc}, long_cpu), ctx_mask = at::zeros({G, Lc}, long_cpu);
  for (int64_t g = 0; g < G; ++g) {
    const auto& c = *groups[first + g].context;
    const int64_t n = static_cast<int64_t>(c.size());
    std::copy(c.begin(), c.end(), ctx[g].data_ptr<int64_t>() + (Lc - n));
    ctx_mask[g].narrow(0, Lc - n, n).fill_(1);
  }
  ctx = ctx.to(dev);
  ctx_mask = ctx_mask.to(dev);
  KVCache cache = KVCache::allocate(model.config(), G, Lc + Lk - 1, model.tensor_options());
  const at::Tensor ctx_positions = positions_from_mask(ctx_mask);
  const at::Tensor ctx_hidden = model.hidden_states(ctx, ctx_mask, ctx_positions, &cache).select(1, Lc - 1);  // (G, hidden)

  // Each continuation's first token is predicted by its context's last position.
  std::vector<int64_t> row_group, first_tokens;
  std::vector<size_t> row_request;
  for (int64_t g = 0; g < G; ++g) {
    for (size_t r : groups[first + g].requests) {
      row_group.push_back(g);
      row_request.push_back(r);
      first_tokens.push_back(requests[r].continuation[0]);
    }
  }
  const at::Tensor rows = at::tensor(row_group, long_cpu).to(dev);
  accumulate(model, ctx_hidden.index_select(0, rows), at::tensor(first_tokens, long_cpu).to(dev), row_request,
             o.chunk_positions, results);
  if (Lk == 1) return;

  // The rest: continuation tokens 0..n-2 are fed after the context (right-padded), predicting 1..n-1.
  const int64_t N = static_cast<int64_t>(row_request.size()), T = Lk - 1;
  at::Tensor inputs = at::zeros({N, T}, long_cpu), cont_mask = at::zeros({N, T}, long_cpu);
  std::vector<int64_t> targets, flat_positions;
  std::vector<size_t> owners;
  for (int64_t i = 0; i < N; ++i) {
    const auto& k = requests[row_request[i]].continuation;
    const int64_t n = static_cast<int64_t>(k.size()) - 1;
    std::copy(k.begin(), k.end() - 1, inputs[i].data_ptr<int64_t>());
    cont_mask[i].narrow(0, 0, n).fill_(1);
    for (int64_t j = 0; j < n; ++j) {
      targets.push_back(k[j + 1]);
      flat_positions.push_back(i * T + j);
      owners.push_back(row_request[i]);
    }
  }
  if (targets.empty()) return;
  cont_mask = cont_mask.to(dev);
  KVCache rows_cache = cache.select_rows(rows);
  const at::Tensor key_mask = at::cat({ctx_mask.index_select(0, rows), cont_mask}, 1);  // (N, Lc + T)
  const at::Tensor positions = positions_from_mask(key_mask).narrow(1, Lc, T);
  const at::Tensor hidden = model.hidden_states(inputs.to(dev), key_mask, positions, &rows_cache);  // (N, T, hidden)
  const at::Tensor picked = hidden.reshape({N * T, -1}).index_select(0, at::tensor(flat_positions, long_cpu).to(dev));
  accumulate(model, picked, at::tensor(targets, long_cpu).to(dev), owners, o.chunk_positions, results);
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
