#include "util/thread_policy.h"

#include <ATen/Parallel.h>

#include <thread>

#include "system/blas_info.h"
#include "util/error.h"

namespace itl {

void apply_thread_policy(const ThreadPolicy& policy) {
  require(policy.torch_threads >= 0, "torch_threads must be >= 0, got " + std::to_string(policy.torch_threads));
  require(policy.blas_threads >= 0, "blas_threads must be >= 0, got " + std::to_string(policy.blas_threads));
  const int hardware = static_cast<int>(std::thread::hardware_concurrency());
  // Only a BLAS with threads of its own (OpenBLAS) frees libtorch's pool for one thread; MKL inside
  // a prebuilt libtorch takes its thread count from at::set_num_threads, so there it gets them all.
  const bool blas_has_own_threads = set_blas_threads(policy.blas_threads > 0 ? policy.blas_threads : hardware);
  // With MKL a matmul's threads are libtorch's, so a BLAS count alone sets libtorch's (`itl launch`
  // gives each worker one BLAS thread, whichever BLAS it has).
  const int unset = blas_has_own_threads ? 1 : (policy.blas_threads > 0 ? policy.blas_threads : hardware);
  const int torch_threads = policy.torch_threads > 0 ? policy.torch_threads : unset;
  // A count the BLAS cannot take would be silently ignored: say so instead.
  require(blas_has_own_threads || policy.blas_threads == 0 || policy.blas_threads == torch_threads,
          "blas_threads " + std::to_string(policy.blas_threads) + " cannot be set: the BLAS here (" + detect_blas().name +
              ") has no threads of its own and runs on libtorch's " + std::to_string(torch_threads) +
              " intra-op threads; set torch_threads instead");
  at::set_num_threads(torch_threads);
}

void adopt_thread_policy() { at::init_num_threads(); }

ThreadCounts current_thread_counts() {
  ThreadCounts counts;
  counts.torch_intra_op = at::get_num_threads();
  counts.torch_inter_op = at::get_num_interop_threads();
  counts.blas = blas_threads();
  counts.blas_own_threads = blas_has_own_threads();
  counts.hardware = static_cast<int>(std::thread::hardware_concurrency());
  return counts;
}

}  // namespace itl
