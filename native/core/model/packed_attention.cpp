#include "model/packed_attention.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <string>

#include "model/explicit_attention.h"
#include "util/error.h"
#include "util/torch_version.h"

namespace itl {
namespace {

#if !ITL_TORCH_AT_LEAST(2, 1)
// libtorch before 2.1 has no scaled_dot_product_attention: HF's eager attention, one segment at a
// time, with the query heads that share a kv head stacked into one matmul. q (1, H, Tq, D) over
// k, v (1, Hkv, Tk, D), q being the last Tq keys: query t sees keys up to Tk − Tq + t.
at::Tensor attend_segment(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scaling) {
  const int64_t H = q.size(1), Hkv = k.size(1), Tq = q.size(2), Tk = k.size(2), D = q.size(3);
  const int64_t rep = H / Hkv;
  at::Tensor scores = at::matmul(q.reshape({1, Hkv, rep * Tq, D}), k.transpose(-1, -2)) * scaling;  // (1, Hkv, rep·Tq, Tk)
  scores = scores.view({1, Hkv, rep, Tq, Tk});
  const auto long_options = at::TensorOptions().dtype(at::kLong).device(q.device());
  const at::Tensor hidden = at::arange(Tk, long_options).view({1, Tk}) > at::arange(Tk - Tq, Tk, long_options).view({Tq, 1});
  const double lowest = q.scalar_type() == at::kDouble ? std::numeric_limits<double>::lowest() : std::numeric_limits<float>::lowest();
  scores = scores.masked_fill(hidden.view({1, 1, 1, Tq, Tk}), lowest);
  const at::Tensor probs = at::softmax(scores, -1, at::promote_types(q.scalar_type(), at::kFloat)).to(q.scalar_type());
  return at::matmul(probs.view({1, Hkv, rep * Tq, Tk}), v).view({1, H, Tq, D});
}

at::Tensor per_segment(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const PackedLayout& layout, double scaling) {
  const at::Tensor keys = layout.keys_are_queries() ? k : k.index_select(2, layout.key_index());    // (1, Hkv, Σ keys, D)
  const at::Tensor values = layout.keys_are_queries() ? v : v.index_select(2, layout.key_index());  // (1, Hkv, Σ keys, D)
  std::vector<at::Tensor> outs;
  for (int64_t s = 0; s < layout.segment_count(); ++s) {
    outs.push_back(attend_segment(q.narrow(2, layout.query_start(s), layout.query_length(s)),
                                  keys.narrow(2, layout.key_start(s), layout.key_length(s)),
                                  values.narrow(2, layout.key_start(s), layout.key_length(s)), scaling));
  }
  return outs.size() == 1 ? outs[0] : at::cat(outs, 2);
}
#endif

// Segments sorted by length, longest first, and cut into groups whose padding up to each group's
// longest segment stays within ~1/8 of their tokens (+ 8): a few attention calls per layer instead
// of one per row, and little work on padding. Profiled against one call per row and against one
// block-masked call over all tokens (docs: packing).
std::vector<std::vector<int64_t>> length_groups(const PackedLayout& layout) {
  std::vector<int64_t> order(static_cast<size_t>(layout.segment_count()));
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return layout.key_length(a) != layout.key_length(b) ? layout.key_length(a) > layout.key_length(b)
                                                        : layout.query_length(a) > layout.query_length(b);
  });
  std::vector<std::vector<int64_t>> groups;
  int64_t max_q = 0, max_k = 0, real_q = 0, real_k = 0;
  for (const int64_t s : order) {
    const int64_t lq = layout.query_length(s), lk = layout.key_length(s);
    if (!groups.empty()) {
      const int64_t n = static_cast<int64_t>(groups.back().size()) + 1;
      const int64_t mq = std::max(max_q, lq), mk = std::max(max_k, lk), rq = real_q + lq, rk = real_k + lk;
      if (8 * (n * mq - rq) <= rq + 64 && 8 * (n * mk - rk) <= rk + 64) {
        groups.back().push_back(s);
        max_q = mq, max_k = mk, real_q = rq, real_k = rk;
        continue;
      }
    }
    groups.push_back({s});
    max_q = real_q = lq;
    max_k = real_k = lk;
  }
  return groups;
}

#if ITL_TORCH_AT_LEAST(2, 1)
// (1, heads, N, D) → (G, heads, L, D): the tokens `index` (G·L entries, padding slots included).
at::Tensor gather_group(const at::Tensor& x, const at::Tensor& index, int64_t G, int64_t L) {
  const int64_t heads = x.size(1), D = x.size(3);
  return x.index_select(2, index).view({heads, G, L, D}).transpose(0, 1);
}

// Training in bf16/fp16 on the CPU: libtorch's flash kernel's backward in reduced precision runs at
// a fraction of its fp32 speed (profiled: 16 % of a bench-20m bf16 step). Rows this short go through
// explicit_attention.h instead: widened to fp32, as precise as the kernel, its memory, faster. Up to
// 2^24 scores a call (64 MiB of fp32, transient); longer groups keep the kernel.
constexpr int64_t kExplicitScoreLimit = int64_t{1} << 24;

bool explicit_attention_applies(const at::Tensor& q, const AttentionGroup& g) {
  return q.device().is_cpu() && at::GradMode::is_enabled() && (q.scalar_type() == at::kBFloat16 || q.scalar_type() == at::kHalf) &&
         !g.mask.defined() && g.query_length == g.key_length && g.count * q.size(1) * g.query_length * g.key_length <= kExplicitScoreLimit;
}

// One scaled_dot_product_attention per group of layout.groups(). A row's queries and keys start
// together (right padding: the kernel's causal rule keeps real queries off the padded keys after
// them); a scored continuation's queries are the last of its keys (left padding and the group's mask).
at::Tensor grouped(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const PackedLayout& layout, double scaling) {
  const int64_t H = q.size(1), Hkv = k.size(1), D = q.size(3), rep = H / Hkv;
  std::vector<at::Tensor> outs;
  for (const AttentionGroup& g : layout.groups()) {
    const int64_t G = g.count, Lq = g.query_length, Lk = g.key_length;
    const at::Tensor qg = gather_group(q, g.query_index, G, Lq);                                    // (G, H, Lq, D)
    at::Tensor kg = gather_group(k, g.key_index, G, Lk), vg = gather_group(v, g.key_index, G, Lk);  // (G, Hkv, Lk, D)
    const c10::optional<at::Tensor> mask = g.mask.defined() ? c10::optional<at::Tensor>(g.mask) : c10::nullopt;
    const bool causal = !g.mask.defined() && Lq > 1;
    at::Tensor out;
    if (explicit_attention_applies(q, g)) out = explicit_causal_attention(qg, kg, vg, scaling);
#if ITL_TORCH_AT_LEAST(2, 5)
    // Grouped-query attention inside the CPU kernel, as llama_model.cpp's attend does.
    if (!out.defined() && q.device().is_cpu() && rep > 1)
      out = at::scaled_dot_product_attention(qg, kg, vg, mask, 0.0, causal, scaling, true);
#endif
    if (!out.defined()) {
      if (rep > 1) {
        kg = kg.unsqueeze(2).expand({G, Hkv, rep, Lk, D}).reshape({G, H, Lk, D});
        vg = vg.unsqueeze(2).expand({G, Hkv, rep, Lk, D}).reshape({G, H, Lk, D});
      }
      out = at::scaled_dot_product_attention(qg, kg, vg, mask, 0.0, causal, scaling);
    }
    outs.push_back(out.transpose(0, 1).reshape({1, H, G * Lq, D}));
  }
  const at::Tensor all = outs.size() == 1 ? outs[0] : at::cat(outs, 2);
  return all.index_select(2, layout.group_output_index());  // (1, H, N, D)
}
#endif

#if ITL_TORCH_AT_LEAST(2, 2)
// Set once a flash call failed on this machine (a GPU older than Ampere, a build without flash):
// the grouped path is then taken from the next call on.
std::atomic<bool> g_flash_failed{false};

bool flash_applies(const at::Tensor& q) {
  const int64_t D = q.size(3);
  return q.is_cuda() && (q.scalar_type() == at::kBFloat16 || q.scalar_type() == at::kHalf) && D % 8 == 0 && D <= 256 &&
         !g_flash_failed.load();
}

// libtorch's variable-length flash attention: (total, heads, D) tensors and int32 cumulative
// lengths; its causal mask is aligned to the last key (lower right), as a segment's is. Grouped
// kv heads are native to it. Autograd is libtorch's (FlashAttentionBackward).
at::Tensor flash_varlen(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const PackedLayout& layout, double scaling) {
  const at::Tensor keys = layout.keys_are_queries() ? k : k.index_select(2, layout.key_index());    // (1, Hkv, Σ keys, D)
  const at::Tensor values = layout.keys_are_queries() ? v : v.index_select(2, layout.key_index());  // (1, Hkv, Σ keys, D)
  const at::Tensor qf = q.select(0, 0).transpose(0, 1).contiguous();                                // (N, H, D)
  const at::Tensor kf = keys.select(0, 0).transpose(0, 1).contiguous();                             // (Nk, Hkv, D)
  const at::Tensor vf = values.select(0, 0).transpose(0, 1).contiguous();                           // (Nk, Hkv, D)
  const auto result = at::_flash_attention_forward(qf, kf, vf, layout.cu_seqlens_q(), layout.cu_seqlens_k(), layout.max_query_length(),
                                                   layout.max_key_length(), 0.0, /*is_causal=*/true, /*return_debug_mask=*/false, scaling);
  return std::get<0>(result).transpose(0, 1).unsqueeze(0);  // (1, H, N, D)
}
#endif

}  // namespace

PackedLayout PackedLayout::rows(const std::vector<int64_t>& lengths, const at::Device& device) {
  require(!lengths.empty(), "a packed layout needs at least one row");
  PackedLayout layout;
  for (size_t i = 0; i < lengths.size(); ++i) {
    require(lengths[i] >= 1, "packed row " + std::to_string(i) + " is empty");
    layout.query_starts_.push_back(layout.query_starts_.back() + lengths[i]);
  }
  layout.key_starts_ = layout.query_starts_;
  layout.finish(device);
  return layout;
}

PackedLayout PackedLayout::segments(const std::vector<int64_t>& query_lengths, const std::vector<std::vector<int64_t>>& keys,
                                    const at::Device& device) {
  require(!query_lengths.empty() && keys.size() == query_lengths.size(), "a packed layout needs one key list per segment");
  PackedLayout layout;
  std::vector<int64_t> index;
  for (size_t i = 0; i < query_lengths.size(); ++i) {
    const int64_t start = layout.query_starts_.back(), n = query_lengths[i];
    const int64_t k = static_cast<int64_t>(keys[i].size());
    require(n >= 1, "packed segment " + std::to_string(i) + " has no query");
    require(k >= n, "packed segment " + std::to_string(i) + " has fewer keys than queries");
    for (int64_t t = 0; t < n; ++t) {
      require(keys[i][k - n + t] == start + t, "packed segment " + std::to_string(i) + "'s keys must end with its own queries");
    }
    layout.query_starts_.push_back(start + n);
    layout.key_starts_.push_back(layout.key_starts_.back() + k);
    index.insert(index.end(), keys[i].begin(), keys[i].end());
  }
  const int64_t N = layout.query_starts_.back();
  for (int64_t token : index) {
    require(token >= 0 && token < N, "a packed key names token " + std::to_string(token) + " of " + std::to_string(N));
  }
  layout.key_index_ = at::tensor(index, at::kLong).to(device);
  layout.key_tokens_ = std::move(index);
  layout.finish(device);
  return layout;
}

void PackedLayout::finish(const at::Device& device) {
  for (int64_t s = 0; s < segment_count(); ++s) {
    max_q_ = std::max(max_q_, query_length(s));
    max_k_ = std::max(max_k_, key_length(s));
  }
  if (device.is_cuda()) {
    cu_q_ = at::tensor(std::vector<int32_t>(query_starts_.begin(), query_starts_.end()), at::kInt).to(device);
    cu_k_ = at::tensor(std::vector<int32_t>(key_starts_.begin(), key_starts_.end()), at::kInt).to(device);
  }
  plan_groups(device);
}

void PackedLayout::plan_groups(const at::Device& device) {
  const int64_t N = tokens();
  const bool rows = keys_are_queries();
  std::vector<int64_t> place(static_cast<size_t>(N));
  int64_t written = 0;
  for (const std::vector<int64_t>& members : length_groups(*this)) {
    AttentionGroup g;
    g.count = static_cast<int64_t>(members.size());
    for (const int64_t s : members) {
      g.query_length = std::max(g.query_length, query_length(s));
      g.key_length = std::max(g.key_length, key_length(s));
    }
    const int64_t G = g.count, Lq = g.query_length, Lk = g.key_length;
    // Padding slots hold a copy of token 0: no query reads them (the causal rule after a row's last
    // token, the mask before a segment's first key), their outputs are dropped, and their gradients
    // are exact zeros. Any real token serves; a zero row would cost q, k and v a copy per layer.
    std::vector<int64_t> qi(static_cast<size_t>(G * Lq), 0), ki(static_cast<size_t>(G * Lk), 0);
    std::vector<uint8_t> allowed(rows ? 0 : static_cast<size_t>(G * Lq * Lk), 1);  // padded query slots see every key
    for (int64_t b = 0; b < G; ++b) {
      const int64_t s = members[static_cast<size_t>(b)], tq = query_length(s), tk = key_length(s);
      const int64_t q0 = rows ? 0 : Lq - tq, k0 = rows ? 0 : Lk - tk;  // rows: right padding; segments: left
      for (int64_t t = 0; t < tq; ++t) {
        qi[static_cast<size_t>(b * Lq + q0 + t)] = query_start(s) + t;
        place[static_cast<size_t>(query_start(s) + t)] = written + b * Lq + q0 + t;
      }
      for (int64_t j = 0; j < tk; ++j) ki[static_cast<size_t>(b * Lk + k0 + j)] = key_token(s, j);
      for (int64_t t = 0; !rows && t < tq; ++t) {
        // Query t sees its keys up to its own, key tk − tq + t: slots k0 … k0 + tk − tq + t.
        uint8_t* row = allowed.data() + (b * Lq + q0 + t) * Lk;
        for (int64_t c = 0; c < Lk; ++c) row[c] = c >= k0 && c <= k0 + tk - tq + t;
      }
    }
    g.query_index = at::tensor(qi, at::kLong).to(device);
    g.key_index = at::tensor(ki, at::kLong).to(device);
    if (!rows) g.mask = at::tensor(allowed, at::kByte).to(at::kBool).view({G, 1, Lq, Lk}).to(device);
    groups_.push_back(std::move(g));
    written += G * Lq;
  }
  group_output_index_ = at::tensor(place, at::kLong).to(device);
}

at::Tensor packed_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const PackedLayout& layout, double scaling) {
  require(q.dim() == 4 && q.size(0) == 1 && q.size(2) == layout.tokens() && k.size(2) == layout.tokens(),
          "packed attention expects (1, heads, " + std::to_string(layout.tokens()) + ", head_dim) tensors");
#if ITL_TORCH_AT_LEAST(2, 2)
  if (flash_applies(q)) {
    try {
      return flash_varlen(q, k, v, layout, scaling);
    } catch (const c10::OutOfMemoryError&) {
      throw;
    } catch (const c10::Error&) {
      g_flash_failed = true;  // no flash kernel for this GPU or build: the grouped kernels, from now on
    }
  }
#endif
#if ITL_TORCH_AT_LEAST(2, 1)
  return grouped(q, k, v, layout, scaling);
#else
  return per_segment(q, k, v, layout, scaling);
#endif
}

}  // namespace itl
