#include "model/forward_benchmark.h"

#include <ATen/core/grad_mode.h>
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <chrono>

#include "util/error.h"

namespace itl {

double forward_flops_per_token(const LlamaConfig& c, int64_t seq_len) {
  const double h = static_cast<double>(c.hidden_size), d = static_cast<double>(c.head_dim);
  const double attention_params = h * d * (2.0 * c.num_attention_heads + 2.0 * c.num_key_value_heads);
  const double layer_params = attention_params + 3.0 * h * c.intermediate_size;
  const double matmul_params = c.num_hidden_layers * layer_params + h * c.vocab_size;  // + lm_head
  const double attention = 4.0 * c.num_hidden_layers * c.num_attention_heads * d * static_cast<double>(seq_len);
  return 2.0 * matmul_params + attention;
}

ForwardBenchmarkResult run_forward_benchmark(LlamaModel& model, const ForwardBenchmarkOptions& o, const RunControl& control) {
  require(o.batch >= 1 && o.seq_len >= 1, "forward benchmark needs batch and seq_len ≥ 1");
  require(o.min_seconds > 0 && o.min_seconds <= 600, "forward benchmark min_seconds must be in (0, 600]");
  at::NoGradGuard no_grad;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  const at::Tensor ids = at::randint(model.config().vocab_size, {o.batch, o.seq_len}, generator, at::kLong).to(model.options().device);
  const at::Tensor mask = at::ones_like(ids);
  auto wait = [](const at::Tensor& t) { (void)t.flatten()[0].item<float>(); };
  wait(model.forward(ids, mask));  // warm-up: allocator and BLAS threads
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  ForwardBenchmarkResult r;
  while (r.seconds < o.min_seconds) {
    control.check_abort();
    wait(model.forward(ids, mask));
    ++r.calls;
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    control.report({"forward", r.calls, 0, r.calls * o.batch * o.seq_len / r.seconds});
  }
  r.tokens = r.calls * o.batch * o.seq_len;
  r.tokens_per_s = r.tokens / r.seconds;
  r.flops_per_token = forward_flops_per_token(model.config(), o.seq_len);
  r.gflops = r.tokens_per_s * r.flops_per_token / 1e9;
  return r;
}

}  // namespace itl
