#include "bench/matmul_benchmark.h"

#include <ATen/core/grad_mode.h>
#include <ATen/ATen.h>

#include <chrono>

#include "util/device.h"
#include "util/error.h"

namespace itl {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Reading one element back waits for queued device work, without needing CUDA headers here.
void wait_for(const at::Tensor& t) { (void)t.flatten()[0].item<float>(); }

}  // namespace

MatmulBenchmarkResult run_matmul_benchmark(const MatmulBenchmarkOptions& options, const RunControl& control) {
  require(options.size >= 1 && options.size <= 65536, "matmul size must be in 1..65536, got " + std::to_string(options.size));
  require(options.min_seconds > 0 && options.min_seconds <= 600,
          "matmul min_seconds must be in (0, 600], got " + std::to_string(options.min_seconds));
  const c10::Device device = parse_device(options.device);
  const c10::ScalarType dtype = parse_dtype(options.dtype);
  at::NoGradGuard no_grad;

  const auto tensor_options = at::TensorOptions().device(device).dtype(dtype);
  at::Tensor a = at::randn({options.size, options.size}, tensor_options);
  at::Tensor b = at::randn({options.size, options.size}, tensor_options);
  at::Tensor c = at::empty({options.size, options.size}, tensor_options);
  at::mm_out(c, a, b);  // warm-up: first-call allocations and BLAS thread start-up stay out of the timing
  wait_for(c);

  int64_t iterations = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  const double flops_per_call = 2.0 * static_cast<double>(options.size) * options.size * options.size;
  while (elapsed < options.min_seconds) {
    control.check_abort();
    at::mm_out(c, a, b);
    ++iterations;
    if (device.is_cuda() && iterations % 16 != 0) continue;  // keep the GPU queue full between syncs
    wait_for(c);
    elapsed = seconds_since(start);
    control.report({"matmul", iterations, 0, flops_per_call * iterations / elapsed / 1e9});
  }
  wait_for(c);
  elapsed = seconds_since(start);

  MatmulBenchmarkResult result;
  result.size = options.size;
  result.iterations = iterations;
  result.seconds = elapsed;
  result.gflops = flops_per_call * iterations / elapsed / 1e9;
  result.device = options.device;
  result.dtype = dtype_name(dtype);
  return result;
}

}  // namespace itl
