#include "model/fused_rope.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include "util/error.h"

namespace itl {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kPositionGrain = 32;  // positions per task

// body(offset, cos row, sin row) for every position's every head: offset is where that head's D values start.
template <typename T, typename Body>
void for_each_head(int64_t positions, int64_t H, int64_t D, const T* cos, const T* sin, const Body& body) {
  at::parallel_for(0, positions, kPositionGrain, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      for (int64_t h = 0; h < H; ++h) body((p * H + h) * D, cos + p * D, sin + p * D);
    }
  });
}

// rotate_half(x)_j is −x_{j+D/2} for the first half and x_{j−D/2} for the second.
template <typename T>
void rope_forward(const T* x, const T* cos, const T* sin, T* y, int64_t positions, int64_t H, int64_t D) {
  const int64_t half = D / 2;
  for_each_head(positions, H, D, cos, sin, [&](int64_t at, const T* c, const T* s) {
    const T* xi = x + at;
    T* yi = y + at;
    for (int64_t j = 0; j < half; ++j) yi[j] = xi[j] * c[j] + (-xi[j + half]) * s[j];
    for (int64_t j = half; j < D; ++j) yi[j] = xi[j] * c[j] + xi[j - half] * s[j];
  });
}

// The transpose: dx = dy·cos + rotate_halfᵀ(dy·sin), rotate_halfᵀ(z)_j = z_{j+D/2} for the first
// half and −z_{j−D/2} for the second; autograd adds the two terms in this order.
template <typename T>
void rope_backward(const T* dy, const T* cos, const T* sin, T* dx, int64_t positions, int64_t H, int64_t D) {
  const int64_t half = D / 2;
  for_each_head(positions, H, D, cos, sin, [&](int64_t at, const T* c, const T* s) {
    const T* dyi = dy + at;
    T* dxi = dx + at;
    for (int64_t j = 0; j < half; ++j) dxi[j] = dyi[j] * c[j] + dyi[j + half] * s[j + half];
    for (int64_t j = half; j < D; ++j) dxi[j] = dyi[j] * c[j] + -(dyi[j - half] * s[j - half]);
  });
}

class RopeFunction : public torch::autograd::Function<RopeFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x_in, const at::Tensor& cos_in, const at::Tensor& sin_in) {
    const at::Tensor x = x_in.contiguous(), cos = cos_in.contiguous(), sin = sin_in.contiguous();
    const int64_t H = x.size(2), D = x.size(3), positions = x.size(0) * x.size(1);
    at::Tensor y = at::empty_like(x);
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "itl_rope", [&] {
      rope_forward<scalar_t>(x.data_ptr<scalar_t>(), cos.data_ptr<scalar_t>(), sin.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), positions,
                             H, D);
    });
    ctx->save_for_backward({cos, sin});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &cos = saved[0], &sin = saved[1];
    const at::Tensor dy = grad_outputs[0].contiguous();
    const int64_t H = dy.size(2), D = dy.size(3), positions = dy.size(0) * dy.size(1);
    at::Tensor dx = at::empty_like(dy);
    AT_DISPATCH_FLOATING_TYPES(dy.scalar_type(), "itl_rope_backward", [&] {
      rope_backward<scalar_t>(dy.data_ptr<scalar_t>(), cos.data_ptr<scalar_t>(), sin.data_ptr<scalar_t>(), dx.data_ptr<scalar_t>(),
                              positions, H, D);
    });
    return {dx, at::Tensor(), at::Tensor()};  // the tables are constants of the positions
  }
};

}  // namespace

bool fused_rope_applies(const at::Tensor& x) {
  return x.device().is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble);
}

at::Tensor fused_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  require(fused_rope_applies(x) && x.dim() == 4 && x.size(3) % 2 == 0 && cos.dim() == 3 && cos.sizes() == sin.sizes() &&
              cos.size(0) == x.size(0) && cos.size(1) == x.size(1) && cos.size(2) == x.size(3) && cos.scalar_type() == x.scalar_type() &&
              sin.scalar_type() == x.scalar_type() && cos.device() == x.device() && sin.device() == x.device(),
          "fused_rope expects a CPU fp32/fp64 x (B, T, H, D), D even, and cos, sin (B, T, D) of its dtype");
  return RopeFunction::apply(x, cos, sin);
}

}  // namespace itl
