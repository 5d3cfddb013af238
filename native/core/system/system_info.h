// What `itl doctor` reports about the native side: the libtorch it runs on, the devices it sees,
// the BLAS library behind CPU matmuls and the thread counts in force.
#pragma once

#include <string>

#include "system/blas_info.h"
#include "util/thread_policy.h"

namespace itl {

struct SystemInfo {
  std::string torch_version;  // version of the libtorch headers compiled against, e.g. "1.13.0"
  int torch_version_major = 0;
  bool cuda_available = false;
  int cuda_device_count = 0;
  bool mkl_available = false;
  bool openmp_available = false;
  BlasInfo blas;
  ThreadCounts threads;
  std::string parallel_info;  // at::get_parallel_info(): libtorch's own account of its threading
};

SystemInfo system_info();

}  // namespace itl
