#include "model/packed_weight.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/grad_mode.h>
#include <ATen/Context.h>

#include <exception>
#include <optional>

namespace itl {
namespace {

// The two operators, looked up by name: they are registered by libtorch builds with oneDNN only,
// and have no C++ function of their own in the public headers.
struct PackedLinearOps {
  std::optional<c10::OperatorHandle> reorder;  // mkldnn::_reorder_linear_weight(Tensor self, int? batch_size) -> Tensor
  std::optional<c10::OperatorHandle> linear;   // mkldnn::_linear_pointwise(X, W, B?, attr, scalars, algorithm) -> Tensor
};

const PackedLinearOps& packed_linear_ops() {
  static const PackedLinearOps ops = [] {
    PackedLinearOps found;
    auto& dispatcher = c10::Dispatcher::singleton();
    found.reorder = dispatcher.findSchema({"mkldnn::_reorder_linear_weight", ""});
    found.linear = dispatcher.findSchema({"mkldnn::_linear_pointwise", ""});
    return found;
  }();
  return ops;
}

// oneDNN picks a layout for a batch size; one decode step's rows are the common case.
constexpr int64_t kPackedForRows = 32;

at::Tensor pack(const at::Tensor& w) {
  torch::jit::Stack stack{w, c10::IValue(kPackedForRows)};
  packed_linear_ops().reorder->callBoxed(&stack);
  return stack.back().toTensor();
}

at::Tensor packed_linear(const at::Tensor& x, const at::Tensor& packed) {
  torch::jit::Stack stack{
      x, packed, c10::IValue(), c10::IValue(std::string("none")), c10::IValue(c10::List<std::optional<at::Scalar>>()), c10::IValue()};
  packed_linear_ops().linear->callBoxed(&stack);
  return stack.back().toTensor();
}

bool probe_equals_at_linear() {
  at::NoGradGuard no_grad;
  const at::Tensor w = at::randn({96, 80}).to(at::kBFloat16);
  const at::Tensor packed = pack(w);
  for (int64_t rows : {1, 7, 32, 200}) {
    const at::Tensor x = at::randn({rows, 80}).to(at::kBFloat16);
    if (!at::equal(packed_linear(x, packed), at::linear(x, w))) return false;
  }
  return true;
}

}  // namespace

bool packed_bf16_linear_available() {
  static const bool available = [] {
    const PackedLinearOps& ops = packed_linear_ops();
    if (!ops.reorder || !ops.linear || !at::hasMKLDNN() || !at::globalContext().userEnabledMkldnn()) return false;
    try {
      return probe_equals_at_linear();
    } catch (const std::exception&) {
      return false;  // registered but unusable here (e.g. no bf16 support in this oneDNN build)
    }
  }();
  return available;
}

at::Tensor PackedWeight::linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  const bool packable = enabled && !at::GradMode::is_enabled() && x.scalar_type() == at::kBFloat16 && w.scalar_type() == at::kBFloat16 &&
                        x.device().is_cpu() && w.device().is_cpu() && w.dim() == 2 && w.is_contiguous() && packed_bf16_linear_available();
  if (!packable) return at::linear(x, w, b);
  if (!packed_.defined() || source_data_ != w.data_ptr() || source_version_ != static_cast<int64_t>(w._version())) {
    packed_ = pack(w);
    source_data_ = w.data_ptr();
    source_version_ = static_cast<int64_t>(w._version());
  }
  at::Tensor y = packed_linear(x, packed_);
  return b.defined() ? y.add_(b) : y;
}

void PackedWeight::reset() {
  packed_ = at::Tensor();
  source_data_ = nullptr;
  source_version_ = -1;
}

}  // namespace itl
