// Which BLAS library libtorch's CPU matmuls actually run on. On Debian that is decided by the
// libblas.so.3 alternative at load time, not at build time: the reference BLAS runs a 1024² fp32
// matmul at ~7 GFLOP/s here, OpenBLAS at ~200. So we look at what is loaded in this process.
#pragma once

#include <string>

namespace itl {

struct BlasInfo {
  std::string name;       // "OpenBLAS", "reference BLAS", "MKL" or "unknown"
  std::string path;       // resolved path of the loaded shared library ("" when linked in)
  std::string config;     // the library's own description (openblas_get_config), when it has one
  std::string threading;  // "pthread", "openmp", "serial" or ""
};

BlasInfo detect_blas();

// Threads one BLAS call uses (OpenBLAS's own pool, or MKL's count); -1 when it cannot be asked.
int blas_threads();
// Sets the count of a BLAS that runs a thread pool of its own (OpenBLAS); returns false when the
// BLAS has none (MKL runs on libtorch's OpenMP threads, the reference BLAS on the caller's).
bool set_blas_threads(int threads);
// Whether the loaded BLAS runs a thread pool of its own that set_blas_threads can size.
bool blas_has_own_threads();

}  // namespace itl
