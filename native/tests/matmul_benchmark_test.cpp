#include <gtest/gtest.h>

#include <atomic>

#include "bench/matmul_benchmark.h"
#include "util/error.h"

namespace itl {
namespace {

TEST(MatmulBenchmark, MeasuresAPositiveRateAndReportsProgress) {
  MatmulBenchmarkOptions options;
  options.size = 128;
  options.min_seconds = 0.05;
  int reports = 0;
  RunControl control;
  control.on_progress = [&](const Progress& p) {
    ++reports;
    EXPECT_EQ(p.phase, "matmul");
    EXPECT_GT(p.value, 0);
  };
  const MatmulBenchmarkResult r = run_matmul_benchmark(options, control);
  EXPECT_GT(r.gflops, 0);
  EXPECT_GE(r.seconds, 0.05);
  EXPECT_GE(r.iterations, 1);
  EXPECT_EQ(reports, r.iterations);
  EXPECT_NEAR(r.gflops, 2.0 * 128 * 128 * 128 * r.iterations / r.seconds / 1e9, 1e-9 * r.gflops);
}

TEST(MatmulBenchmark, RejectsBadOptions) {
  MatmulBenchmarkOptions options;
  options.size = 0;
  EXPECT_THROW(run_matmul_benchmark(options), Error);
  options.size = 16;
  options.dtype = "int4";
  EXPECT_THROW(run_matmul_benchmark(options), Error);
}

TEST(MatmulBenchmark, StopsWhenAborted) {
  std::atomic<bool> stop{true};
  RunControl control;
  control.abort = &stop;
  MatmulBenchmarkOptions options;
  options.size = 16;
  try {
    run_matmul_benchmark(options, control);
    FAIL() << "aborted benchmark returned";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kAborted);
  }
}

}  // namespace
}  // namespace itl
