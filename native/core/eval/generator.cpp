#include "eval/generator.h"

#include <ATen/core/grad_mode.h>
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "util/error.h"

namespace itl {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// HF's TemperatureLogitsWarper then TopPLogitsWarper (min_tokens_to_keep 1), on fp32 CPU logits (V).
at::Tensor sampling_probabilities(const at::Tensor& logits, double temperature, double top_p) {
  at::Tensor scores = logits / temperature;
  if (top_p < 1.0) {
    auto sorted = scores.sort(-1, false);  // ascending
    const at::Tensor cumulative = std::get<0>(sorted).softmax(-1).cumsum(-1);
    at::Tensor remove_sorted = cumulative <= (1 - top_p);
    remove_sorted[-1] = false;
    const at::Tensor remove = remove_sorted.scatter(0, std::get<1>(sorted), remove_sorted);
    scores = scores.masked_fill(remove, -std::numeric_limits<float>::infinity());
  }
  return scores.softmax(-1);
}

struct Batch {
  std::vector<size_t> rows;  // indices into the prompts
};

std::vector<Batch> batches_by_length(const std::vector<std::vector<int64_t>>& prompts, int64_t batch_size) {
  std::vector<size_t> order(prompts.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return prompts[a].size() > prompts[b].size(); });
  std::vector<Batch> out;
  for (size_t i = 0; i < order.size(); i += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(order.size(), i + static_cast<size_t>(batch_size));
    out.push_back(Batch{std::vector<size_t>(order.begin() + i, order.begin() + end)});
  }
  return out;
}

void generate_batch(LlamaModel& model, const std::vector<std::vector<int64_t>>& prompts, const Batch& batch, const GenerateOptions& o,
                    std::vector<std::vector<int64_t>>& out, const RunControl& control) {
  const auto dev = model.options().device;
  const auto long_cpu = at::TensorOptions().dtype(at::kLong);
  const int64_t B = static_cast<int64_t>(batch.rows.size());
  int64_t L = 0;
  for (size_t r : batch.rows) L = std::max<int64_t>(L, static_cast<int64_t>(prompts[r].size()));
  const int64_t capacity = L + o.max_new_tokens;

  // Left padding: every row's last prompt token sits in column L - 1.
  at::Tensor ids = at::zeros({B, L}, long_cpu);
  at::Tensor mask = at::zeros({B, capacity}, long_cpu);  // grows one column per step
  for (int64_t b = 0; b < B; ++b) {
    const auto& p = prompts[batch.rows[b]];
    const int64_t n = static_cast<int64_t>(p.size());
    std::copy(p.begin(), p.end(), ids[b].data_ptr<int64_t>() + (L - n));
    mask[b].narrow(0, L - n, n).fill_(1);
  }
  ids = ids.to(dev);
  mask = mask.to(dev);

  std::vector<at::Generator> generators;
  if (o.sample) {
    for (size_t r : batch.rows) generators.push_back(at::make_generator<at::CPUGeneratorImpl>(splitmix64(o.seed) + r));
  }

  KVCache cache = KVCache::allocate(model.config(), B, capacity, model.tensor_options());
  at::Tensor positions = positions_from_mask(mask.narrow(1, 0, L));
  at::Tensor hidden = model.hidden_states(ids, mask.narrow(1, 0, L), positions, &cache);  // (B, L, hidden)
  positions = positions.narrow(1, L - 1, 1);                                              // (B, 1)
  std::vector<int64_t> alive(B);                                                          // batch slot -> position in batch.rows
  std::iota(alive.begin(), alive.end(), 0);

  for (int64_t step = 0;; ++step) {
    control.check_abort();
    const at::Tensor logits = model.logits(hidden.select(1, hidden.size(1) - 1)).to(at::kFloat);  // (n, V)
    std::vector<int64_t> next(alive.size());
    if (o.sample) {
      const at::Tensor cpu_logits = logits.cpu();
      for (size_t i = 0; i < alive.size(); ++i) {
        const at::Tensor probs = sampling_probabilities(cpu_logits[i], o.temperature, o.top_p);
        next[i] = at::multinomial(probs, 1, false, generators[alive[i]]).item<int64_t>();
      }
    } else {
      const at::Tensor best = argmax_rows(logits).cpu();
      std::copy(best.data_ptr<int64_t>(), best.data_ptr<int64_t>() + best.numel(), next.begin());
    }
    std::vector<int64_t> keep;
    for (size_t i = 0; i < alive.size(); ++i) {
      auto& row_out = out[batch.rows[alive[i]]];
      row_out.push_back(next[i]);
      const bool stop = std::find(o.eos_ids.begin(), o.eos_ids.end(), next[i]) != o.eos_ids.end() ||
                        static_cast<int64_t>(row_out.size()) >= o.max_new_tokens;
      if (!stop) keep.push_back(static_cast<int64_t>(i));
    }
    control.report({"generate", step + 1, o.max_new_tokens, static_cast<double>(alive.size())});
    if (keep.empty()) return;

    at::Tensor tokens = at::tensor(next, long_cpu).to(dev);  // (n)
    if (keep.size() != alive.size()) {
      // Finished rows leave the batch: one copy of the cache now instead of compute on them every step.
      const at::Tensor rows = at::tensor(keep, long_cpu).to(dev);
      cache = cache.select_rows(rows);
      mask = mask.index_select(0, rows);
      positions = positions.index_select(0, rows);
      tokens = tokens.index_select(0, rows);
      std::vector<int64_t> still;
      for (int64_t i : keep) still.push_back(alive[i]);
      alive.swap(still);
    }
    const int64_t length = cache.length;
    mask.select(1, length).fill_(1);
    positions = positions + 1;
    hidden = model.hidden_states(tokens.view({-1, 1}), mask.narrow(1, 0, length + 1), positions, &cache);  // (n, 1, hidden)
  }
}

}  // namespace

at::Tensor argmax_rows(const at::Tensor& logits) {
  constexpr int64_t kChunk = 512;
  const int64_t n = logits.size(0), V = logits.size(1);
  if (logits.dim() != 2 || !logits.device().is_cpu() || logits.scalar_type() != at::kFloat || V < 8 * kChunk) {
    return logits.argmax(-1);
  }
  const at::Tensor x = logits.contiguous();
  const int64_t full = V / kChunk, tail = V - full * kChunk;
  at::Tensor chunk_max = x.narrow(1, 0, full * kChunk).view({n, full, kChunk}).amax(-1);  // (n, full)
  if (tail > 0) chunk_max = at::cat({chunk_max, x.narrow(1, full * kChunk, tail).amax(-1, true)}, 1);
  chunk_max = chunk_max.contiguous();
  const int64_t chunks = chunk_max.size(1);
  const float* data = x.data_ptr<float>();
  const float* maxima = chunk_max.data_ptr<float>();
  at::Tensor out = at::empty({n}, at::kLong);
  int64_t* best = out.data_ptr<int64_t>();
  for (int64_t r = 0; r < n; ++r) {
    const float* m = maxima + r * chunks;
    int64_t chunk = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      if (std::isnan(m[c])) return logits.argmax(-1);  // at::argmax ranks NaN highest
      if (m[c] > m[chunk]) chunk = c;                  // strictly greater: the first chunk holding the maximum
    }
    const float* row = data + r * V;
    const int64_t end = std::min(V, (chunk + 1) * kChunk);
    int64_t i = chunk * kChunk;
    while (i < end && row[i] != m[chunk]) ++i;  // the chunk's first element equal to its maximum
    best[r] = i;
  }
  return out;
}

void check_token_ids(const std::vector<int64_t>& ids, int64_t vocab, const std::string& what) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      throw Error(ErrorCode::kInvalidArgument, what + ": token " + std::to_string(i) + " is " + std::to_string(ids[i]) +
                                                   ", outside the vocabulary [0, " + std::to_string(vocab) + ")");
    }
  }
}

std::vector<std::vector<int64_t>> generate(LlamaModel& model, const std::vector<std::vector<int64_t>>& prompts, const GenerateOptions& o,
                                           const RunControl& control) {
  require(o.max_new_tokens >= 1, "max_new_tokens must be at least 1, got " + std::to_string(o.max_new_tokens));
  require(o.batch_size >= 1, "batch_size must be at least 1, got " + std::to_string(o.batch_size));
  if (o.sample) {
    require(o.temperature > 0, "temperature must be positive, got " + std::to_string(o.temperature));
    require(o.top_p > 0 && o.top_p <= 1, "top_p must be in (0, 1], got " + std::to_string(o.top_p));
  }
  for (size_t r = 0; r < prompts.size(); ++r) {
    require(!prompts[r].empty(), "prompt " + std::to_string(r) + " is empty");
    check_token_ids(prompts[r], model.config().vocab_size, "prompt " + std::to_string(r));
  }
  at::NoGradGuard no_grad;
  std::vector<std::vector<int64_t>> out(prompts.size());
  for (const Batch& batch : batches_by_length(prompts, o.batch_size)) generate_batch(model, prompts, batch, o, out, control);
  return out;
}

}  // namespace itl
