#include "model/explicit_attention.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <limits>

#include "util/error.h"

namespace itl {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Scores of the query heads grouped by their kv head: (G, Hkv, rep·L, L) widened, future keys −∞.
at::Tensor masked_scores(const at::Tensor& q32, const at::Tensor& k32, double scaling) {
  const int64_t G = q32.size(0), Hkv = k32.size(1), L = k32.size(2);
  at::Tensor scores = at::matmul(q32, k32.transpose(-1, -2)).mul_(scaling);  // (G, Hkv, rep·L, L)
  const at::Tensor future = at::ones({L, L}, q32.options().dtype(at::kBool)).triu_(1);
  return scores.view({G, Hkv, -1, L, L}).masked_fill_(future, -std::numeric_limits<double>::infinity()).view({G, Hkv, -1, L});
}

// fp32, or fp64 for fp64 inputs (the exactness tests).
at::ScalarType compute_type(const at::Tensor& x) { return at::promote_types(x.scalar_type(), at::kFloat); }

// (G, H, L, D) → (G, Hkv, rep·L, D) widened: the query heads of one kv head stacked along the rows.
at::Tensor stacked_queries(const at::Tensor& q, int64_t Hkv) { return q.to(compute_type(q)).reshape({q.size(0), Hkv, -1, q.size(3)}); }

class ExplicitCausalAttention : public torch::autograd::Function<ExplicitCausalAttention> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scaling) {
    const at::Tensor q32 = stacked_queries(q, k.size(1)), k32 = k.to(compute_type(k)), v32 = v.to(compute_type(v));
    at::Tensor scores = masked_scores(q32, k32, scaling);
    const at::Tensor lse = at::logsumexp(scores, -1, /*keepdim=*/true);  // (G, Hkv, rep·L, 1)
    const at::Tensor out32 = at::matmul(scores.sub_(lse).exp_(), v32);   // scores now hold the probabilities
    const at::Tensor out = out32.view(q.sizes()).to(q.scalar_type());
    ctx->save_for_backward({q, k, v, lse, out32});
    ctx->saved_data["scaling"] = scaling;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &lse = saved[3], &out32 = saved[4];
    const double scaling = ctx->saved_data["scaling"].toDouble();
    const int64_t Hkv = k.size(1);
    const at::Tensor q32 = stacked_queries(q, Hkv), k32 = k.to(compute_type(k)), v32 = v.to(compute_type(v));
    const at::Tensor d_out = stacked_queries(grad_outputs[0], Hkv);              // (G, Hkv, rep·L, D)
    const at::Tensor probs = masked_scores(q32, k32, scaling).sub_(lse).exp_();  // recomputed, as saved
    const at::Tensor d_v = at::matmul(probs.transpose(-1, -2), d_out);           // (G, Hkv, L, D)
    // Softmax backward: dS = P ∘ (dP − rowsum(dO ∘ O)), dP = dO·Vᵀ.
    const at::Tensor row_dot = (d_out * out32).sum(-1, /*keepdim=*/true);
    const at::Tensor d_scores = at::matmul(d_out, v32.transpose(-1, -2)).sub_(row_dot).mul_(probs).mul_(scaling);
    const at::Tensor d_q = at::matmul(d_scores, k32).view(q.sizes()).to(q.scalar_type());
    const at::Tensor d_k = at::matmul(d_scores.transpose(-1, -2), q32).to(k.scalar_type());
    return {d_q, d_k, d_v.to(v.scalar_type()), at::Tensor()};
  }
};

}  // namespace

at::Tensor explicit_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scaling) {
  require(q.dim() == 4 && k.dim() == 4 && v.sizes() == k.sizes() && q.size(0) == k.size(0) && q.size(2) == k.size(2) &&
              q.size(3) == k.size(3) && k.size(1) > 0 && q.size(1) % k.size(1) == 0,
          "explicit attention expects q (G, H, L, D) and k, v (G, Hkv, L, D) with H a multiple of Hkv");
  return ExplicitCausalAttention::apply(q, k, v, scaling);
}

}  // namespace itl
