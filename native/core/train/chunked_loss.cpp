#include "train/chunked_loss.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "util/error.h"

namespace itl {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kAutomaticChunkLogits = int64_t{1} << 24;

// One chunk's logits in fp32 at least, as label_loss_sum always computed them.
at::Tensor chunk_logits(const at::Tensor& hidden, const at::Tensor& weight) {
  const at::Tensor raw = at::linear(hidden, weight);  // (c, V) in the weight's dtype
  return raw.to(at::promote_types(raw.scalar_type(), at::kFloat));
}

// d × scale in `dtype` (narrower than d's), in one pass: rounded once, from fp32.
at::Tensor scaled_as(const at::Tensor& d, double scale, at::ScalarType dtype) {
  at::Tensor out = at::empty(d.sizes(), d.options().dtype(dtype));
  return at::mul_out(out, d, at::scalar_tensor(scale, d.options()));
}

at::Tensor chunk_loss(const at::Tensor& logits, const at::Tensor& targets) {
  return at::cross_entropy_loss(logits, targets, {}, at::Reduction::Sum);
}

// The loss, with each chunk's gradient taken in the forward pass (the loss is a scalar at the end of
// the graph: its incoming gradient is the caller's scale, known in advance). Saves (n, H) and (V, H)
// gradients instead of (n, V) logits.
class ChunkedCrossEntropy : public torch::autograd::Function<ChunkedCrossEntropy> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets,
                            int64_t chunk, double scale, bool grad_hidden, bool grad_weight) {
    const int64_t n = hidden.size(0);
    at::Tensor loss = at::zeros({}, hidden.options().dtype(at::promote_types(weight.scalar_type(), at::kFloat)));
    at::Tensor d_hidden = grad_hidden ? at::empty_like(hidden) : at::Tensor();
    at::Tensor d_weight;  // accumulated over chunks in fp32 at least, rounded once to the weight's dtype
    for (int64_t start = 0; start < n; start += chunk) {
      const int64_t c = std::min(chunk, n - start);
      const at::Tensor h = hidden.narrow(0, start, c), t = targets.narrow(0, start, c);
      // One log-softmax serves the loss (nll_loss: the bits cross_entropy_loss gives) and, through
      // exp, the gradient: no second softmax pass over the (c, V) logits.
      at::Tensor d_logits = at::log_softmax(chunk_logits(h, weight), -1);  // (c, V) log-probabilities
      loss.add_(at::nll_loss(d_logits, t, {}, at::Reduction::Sum));
      // d(Σ CE)/d logits = softmax − one-hot, times the caller's scale (as autograd would apply it).
      d_logits.exp_();
      d_logits.scatter_add_(1, t.view({-1, 1}), at::full({c, 1}, -1.0, d_logits.options()));
      // In the weight's own dtype the scale goes on the (c, H) factors instead: one pass fewer over (c, V).
      const bool fold_scale = d_logits.scalar_type() == weight.scalar_type();
      const at::Tensor d = fold_scale ? d_logits : scaled_as(d_logits, scale, weight.scalar_type());
      if (grad_hidden) {
        at::Tensor rows = d_hidden.narrow(0, start, c);
        rows.copy_(at::mm(d, weight));
        if (fold_scale) rows.mul_(scale);
      }
      if (grad_weight) {
        const at::Tensor part = at::mm(d.t(), fold_scale ? h * scale : h);  // (V, H)
        if (!d_weight.defined()) {
          d_weight = c == n ? part : part.to(at::promote_types(part.scalar_type(), at::kFloat));
        } else {
          d_weight.add_(part);
        }
      }
    }
    ctx->saved_data["scale"] = scale;
    if (grad_hidden) ctx->saved_data["d_hidden"] = d_hidden;
    if (grad_weight) ctx->saved_data["d_weight"] = d_weight.to(weight.scalar_type());
    return loss;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    // Taken out of the context, so autograd can adopt the tensors as .grad instead of copying them.
    auto take = [&](const char* key) {
      auto found = ctx->saved_data.find(key);
      if (found == ctx->saved_data.end()) return at::Tensor();
      at::Tensor value = found->second.toTensor();
      ctx->saved_data.erase(found);
      return value;
    };
    const double scale = ctx->saved_data["scale"].toDouble();
    at::Tensor d_hidden = take("d_hidden"), d_weight = take("d_weight");
    const at::Tensor& g = grad_outputs[0];
    // Normally g is the scale itself (loss × scale, then backward), rounded to the loss's dtype:
    // then nothing is left to do. Anything else rescales the saved gradients.
    const double tolerance = g.defined() && g.scalar_type() == at::kDouble ? 0.0 : 1e-6;
    if (g.defined() && std::abs(g.item<double>() / scale - 1.0) > tolerance) {
      const at::Tensor factor = g / scale;
      if (d_hidden.defined()) d_hidden = d_hidden * factor.to(d_hidden.scalar_type());
      if (d_weight.defined()) d_weight = d_weight * factor.to(d_weight.scalar_type());
    }
    return {d_hidden, d_weight, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

int64_t loss_chunk_positions(const LossChunking& chunking, int64_t vocab) {
  require(chunking.positions >= 0, "the loss chunk must be ≥ 0 label positions (0: automatic), got " + std::to_string(chunking.positions));
  if (chunking.positions > 0) return chunking.positions;
  return std::max<int64_t>(1, kAutomaticChunkLogits / std::max<int64_t>(1, vocab));
}

at::Tensor chunked_cross_entropy_sum(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets,
                                     const LossChunking& chunking) {
  require(
      hidden.dim() == 2 && weight.dim() == 2 && hidden.size(1) == weight.size(1) && targets.dim() == 1 && targets.size(0) == hidden.size(0),
      "the chunked loss expects hidden (n, H), weight (V, H) and targets (n)");
  require(chunking.gradient_scale != 0, "the loss's gradient scale must not be 0");
  const int64_t chunk = loss_chunk_positions(chunking, weight.size(0));
  const bool grad_hidden = at::GradMode::is_enabled() && hidden.requires_grad();
  const bool grad_weight = at::GradMode::is_enabled() && weight.requires_grad();
  if (grad_hidden || grad_weight) {
    return ChunkedCrossEntropy::apply(hidden, weight, targets, chunk, chunking.gradient_scale, grad_hidden, grad_weight);
  }
  at::Tensor loss = at::zeros({}, hidden.options().dtype(at::promote_types(weight.scalar_type(), at::kFloat)));
  for (int64_t start = 0; start < hidden.size(0); start += chunk) {
    const int64_t c = std::min(chunk, hidden.size(0) - start);
    loss.add_(chunk_loss(chunk_logits(hidden.narrow(0, start, c), weight), targets.narrow(0, start, c)));
  }
  return loss;
}

}  // namespace itl
