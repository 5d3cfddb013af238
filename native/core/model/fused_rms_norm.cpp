#include "model/fused_rms_norm.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>

#include "util/error.h"

namespace itl {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kRowGrain = 16;     // rows per task
constexpr int64_t kColumnGrain = 64;  // columns per task

// Σ x² of one row, in eight running sums the compiler can keep in vector lanes.
template <typename T>
T sum_of_squares(const T* x, int64_t n) {
  T lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    for (int k = 0; k < 8; ++k) lanes[k] += x[j + k] * x[j + k];
  }
  T sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
  for (; j < n; ++j) sum += x[j] * x[j];
  return sum;
}

// y = w ∘ (x·r), r = 1/√(mean(x²) + eps) per row, kept for the backward pass.
template <typename T>
void rms_norm_forward(const T* x, const T* w, T* y, T* rstd, int64_t rows, int64_t H, double eps) {
  at::parallel_for(0, rows, kRowGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T* xi = x + i * H;
      T* yi = y + i * H;
      const T r = T(1) / std::sqrt(sum_of_squares(xi, H) / static_cast<T>(H) + static_cast<T>(eps));
      rstd[i] = r;
      for (int64_t j = 0; j < H; ++j) yi[j] = w[j] * (xi[j] * r);
    }
  });
}

// With n = x·r and dn = dy ∘ w: dx = r·dn − x·r³/H·Σ dn∘x, row by row (threads split the rows);
// dw = Σ_rows dy ∘ n, column by column (threads split the columns), each column summed over the
// rows in order: the same bits whatever the thread count, and those of one thread summing them all.
template <typename T>
void rms_norm_backward(const T* x, const T* w, const T* rstd, const T* dy, T* dx, T* dw, int64_t rows, int64_t H) {
  if (dx != nullptr) {
    at::parallel_for(0, rows, kRowGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const T* xi = x + i * H;
        const T* dyi = dy + i * H;
        const T r = rstd[i];
        T dot = 0;
        for (int64_t j = 0; j < H; ++j) dot += dyi[j] * w[j] * xi[j];
        const T c = dot * r * r * r / static_cast<T>(H);
        T* dxi = dx + i * H;
        for (int64_t j = 0; j < H; ++j) dxi[j] = r * (dyi[j] * w[j]) - c * xi[j];
      }
    });
  }
  if (dw != nullptr) {
    at::parallel_for(0, H, kColumnGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = 0; i < rows; ++i) {
        const T* xi = x + i * H;
        const T* dyi = dy + i * H;
        const T r = rstd[i];
        for (int64_t j = begin; j < end; ++j) dw[j] += dyi[j] * (xi[j] * r);
      }
    });
  }
}

class RmsNormFunction : public torch::autograd::Function<RmsNormFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x_in, const at::Tensor& weight, double eps) {
    const at::Tensor x = x_in.contiguous(), w = weight.contiguous();
    const int64_t H = x.size(-1), rows = x.numel() / H;
    at::Tensor y = at::empty_like(x), rstd = at::empty({rows}, x.options());
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "itl_rms_norm", [&] {
      rms_norm_forward<scalar_t>(x.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), rstd.data_ptr<scalar_t>(), rows, H,
                                 eps);
    });
    ctx->save_for_backward({x, w, rstd});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1], &rstd = saved[2];
    const at::Tensor dy = grad_outputs[0].contiguous();
    const bool want_dx = ctx->needs_input_grad(0), want_dw = ctx->needs_input_grad(1);
    const int64_t H = x.size(-1), rows = x.numel() / H;
    at::Tensor dx = want_dx ? at::empty_like(x) : at::Tensor();
    at::Tensor dw = want_dw ? at::zeros({H}, x.options()) : at::Tensor();
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "itl_rms_norm_backward", [&] {
      rms_norm_backward<scalar_t>(x.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), rstd.data_ptr<scalar_t>(), dy.data_ptr<scalar_t>(),
                                  want_dx ? dx.data_ptr<scalar_t>() : nullptr, want_dw ? dw.data_ptr<scalar_t>() : nullptr, rows, H);
    });
    return {dx, dw, at::Tensor()};
  }
};

}  // namespace

bool fused_rms_norm_applies(const at::Tensor& x) {
  return x.device().is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble);
}

at::Tensor fused_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  require(fused_rms_norm_applies(x) && weight.dim() == 1 && x.dim() >= 1 && x.size(-1) == weight.size(0) && x.size(-1) > 0 &&
              weight.scalar_type() == x.scalar_type() && weight.device() == x.device(),
          "fused_rms_norm expects a CPU fp32/fp64 x (…, H) and a weight (H) of its dtype");
  return RmsNormFunction::apply(x, weight, eps);
}

}  // namespace itl
