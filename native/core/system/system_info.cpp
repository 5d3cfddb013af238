#include "system/system_info.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/version.h>

namespace itl {

SystemInfo system_info() {
  SystemInfo info;
  info.torch_version = TORCH_VERSION;
  info.torch_version_major = TORCH_VERSION_MAJOR;
  info.cuda_available = at::hasCUDA();
  info.cuda_device_count = info.cuda_available ? at::detail::getCUDAHooks().getNumGPUs() : 0;
  info.mkl_available = at::hasMKL();
  info.openmp_available = at::hasOpenMP();
  info.blas = detect_blas();
  info.threads = current_thread_counts();
  info.parallel_info = at::get_parallel_info();
  return info;
}

}  // namespace itl
