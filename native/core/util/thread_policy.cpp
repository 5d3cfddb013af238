#include "util/thread_policy.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

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

int count_itl_loop_threads(int tasks) {
  std::vector<std::atomic<int>> ran(static_cast<size_t>(std::max(tasks, 1)));
  at::parallel_for(0, std::max(tasks, 1), 1, [&](int64_t begin, int64_t end) {
    const int thread = at::get_thread_num();
    if (begin < end && thread >= 0 && thread < static_cast<int>(ran.size())) ran[static_cast<size_t>(thread)] = 1;
  });
  int count = 0;
  for (const auto& flag : ran) count += flag.load();
  return count;
}

ThreadCounts current_thread_counts() {
  ThreadCounts counts;
  counts.torch_intra_op = at::get_num_threads();
  counts.torch_inter_op = at::get_num_interop_threads();
  counts.blas = blas_threads();
  counts.blas_own_threads = blas_has_own_threads();
  counts.hardware = static_cast<int>(std::thread::hardware_concurrency());
  // at::parallel_for is a header template: it runs on libtorch's threads only where itl's core was
  // compiled with OpenMP (CMakeLists.txt); count_itl_loop_threads checks it in the tests.
#ifdef _OPENMP
  counts.itl_kernels = counts.torch_intra_op;
#else
  counts.itl_kernels = 1;
#endif
  return counts;
}

}  // namespace itl
