// The matmul peak of this machine, measured: the denominator of every FLOP/s utilisation figure
// the project reports (forward, training), taken in the same run as the figure it divides.
#pragma once

#include <cstdint>
#include <string>

#include "util/progress.h"

namespace itl {

struct MatmulBenchmarkOptions {
  int64_t size = 1024;       // n of the n×n · n×n product
  double min_seconds = 1.0;  // time the measured loop runs for at least
  std::string device = "cpu";
  std::string dtype = "fp32";
};

struct MatmulBenchmarkResult {
  double gflops = 0;  // 2·n³·iterations / seconds / 1e9
  int64_t size = 0;
  int64_t iterations = 0;
  double seconds = 0;
  std::string device;
  std::string dtype;
};

MatmulBenchmarkResult run_matmul_benchmark(const MatmulBenchmarkOptions& options, const RunControl& control = {});

}  // namespace itl
