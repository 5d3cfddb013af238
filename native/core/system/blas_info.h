// Which BLAS library libtorch's CPU matmuls actually run on. On Debian that is decided by the
// libblas.so.3 alternative at load time, not at build time: the reference BLAS runs a 1024² fp32
// matmul at ~7 GFLOP/s here, OpenBLAS at ~200. So we look at what is loaded in this process.
#pragma once

#include <string>

namespace itl {

struct BlasInfo {
  std::string name;     // "OpenBLAS", "reference BLAS", "MKL" or "unknown"
  std::string path;     // resolved path of the loaded shared library ("" when linked in)
  std::string config;   // the library's own description (openblas_get_config), when it has one
  std::string threading;// "pthread", "openmp", "serial" or ""
};

BlasInfo detect_blas();

// The BLAS library's own thread count; -1 when the loaded library has no such call.
int blas_threads();
// Sets it when the library allows; returns false when it cannot.
bool set_blas_threads(int threads);

}  // namespace itl
