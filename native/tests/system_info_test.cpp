#include <gtest/gtest.h>

#include <torch/version.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "system/allocator_policy.h"
#include "system/system_info.h"
#include "util/error.h"
#include "util/thread_policy.h"

namespace itl {
namespace {

TEST(SystemInfo, ReportsTheCompiledLibtorch) {
  const SystemInfo info = system_info();
  EXPECT_EQ(info.torch_version_major, TORCH_VERSION_MAJOR);
  EXPECT_EQ(info.torch_version.rfind(std::to_string(TORCH_VERSION_MAJOR) + ".", 0), 0u) << info.torch_version;
  EXPECT_GE(info.cuda_device_count, 0);
  EXPECT_EQ(info.cuda_available, info.cuda_device_count > 0 || info.cuda_available);
  EXPECT_FALSE(info.blas.name.empty());
  EXPECT_GT(info.threads.hardware, 0);
}

#if defined(__GLIBC__)
struct HeapUse {
  size_t mapped_blocks;    // of the five, how many were mapped apart from the heap
  size_t heap_after_free;  // the heap's size once all five were freed
};

// A forward pass in miniature: five 20 MiB buffers, written, then freed.
HeapUse five_20_mib_buffers() {
  constexpr size_t kSize = 20 << 20;
  const size_t mapped_before = mallinfo2().hblks;
  std::vector<void*> blocks;
  for (int i = 0; i < 5; ++i) {
    blocks.push_back(std::malloc(kSize));
    std::memset(blocks.back(), 1, kSize);
  }
  const size_t mapped = mallinfo2().hblks - mapped_before;
  for (void* block : blocks) std::free(block);
  return {mapped, mallinfo2().arena};
}

// glibc's default maps such buffers, or (once one was freed) takes them from the heap and gives the
// heap back to the kernel as soon as they are freed: either way the next pass faults its pages in again.
TEST(AllocatorPolicy, FreedBuffersStayInTheHeapForTheNextPass) {
  ASSERT_TRUE(retain_freed_memory());
  for (int pass = 0; pass < 2; ++pass) {
    const HeapUse use = five_20_mib_buffers();
    EXPECT_EQ(use.mapped_blocks, 0u) << "pass " << pass;
    EXPECT_GE(use.heap_after_free, size_t{100} << 20) << "pass " << pass << ": the heap was trimmed";
  }
}
#else
TEST(AllocatorPolicy, IsANoOpWithoutGlibc) { EXPECT_FALSE(retain_freed_memory()); }
#endif

// The bound is an environment setting oneDNN reads at its first kernel; a user's own value wins.
TEST(AllocatorPolicy, OnednnKernelCacheIsBoundedUnlessTheUserChoseASize) {
  const char* kName = "ONEDNN_PRIMITIVE_CACHE_CAPACITY";
  const char* before = std::getenv(kName);
  const std::string saved = before ? before : "";
  unsetenv(kName);
  EXPECT_EQ(bound_onednn_kernel_cache(), kOnednnKernelCache);
  ASSERT_NE(std::getenv(kName), nullptr);
  EXPECT_EQ(std::string(std::getenv(kName)), std::to_string(kOnednnKernelCache));
  setenv(kName, "300", 1);
  EXPECT_EQ(bound_onednn_kernel_cache(), 300);
  EXPECT_EQ(std::string(std::getenv(kName)), "300");
  if (before) {
    setenv(kName, saved.c_str(), 1);
  } else {
    unsetenv(kName);
  }
}

TEST(SystemInfo, ThreadPolicyIsApplied) {
  apply_thread_policy({1, 0});
  EXPECT_EQ(current_thread_counts().torch_intra_op, 1);
  EXPECT_EQ(current_thread_counts().itl_kernels, 1);
  if (current_thread_counts().blas_own_threads) {
    apply_thread_policy({1, 1});
    EXPECT_EQ(current_thread_counts().blas, 1);
    apply_thread_policy({1, 0});
    EXPECT_EQ(current_thread_counts().blas, current_thread_counts().hardware);
  } else {
    // A BLAS on libtorch's threads (MKL) takes libtorch's count; another one is refused, not ignored.
    apply_thread_policy({2, 2});
    EXPECT_EQ(current_thread_counts().torch_intra_op, 2);
    EXPECT_EQ(current_thread_counts().itl_kernels, 2) << "itl's at::parallel_for loops run on libtorch's threads (built with OpenMP)";
    if (current_thread_counts().blas > 0) {
      EXPECT_EQ(current_thread_counts().blas, 2);
    }
    EXPECT_THROW(apply_thread_policy({2, 1}), Error);
  }
  EXPECT_THROW(apply_thread_policy({-1, 0}), std::exception);
}

// at::parallel_for is a header template: itl's own loops use libtorch's threads only where the core
// was compiled with OpenMP. Counted from the threads that ran a task, and reported as itl_kernels.
TEST(SystemInfo, ItlsOwnLoopsRunOnLibtorchsThreads) {
  apply_thread_policy({2, 0});
  EXPECT_EQ(count_itl_loop_threads(2), 2);
  EXPECT_EQ(current_thread_counts().itl_kernels, 2);
  apply_thread_policy({1, 0});
  EXPECT_EQ(count_itl_loop_threads(2), 1);
  EXPECT_EQ(current_thread_counts().itl_kernels, 1);
}

TEST(SystemInfo, AutomaticPolicyGivesLibtorchOneThreadOnlyBesideAThreadedBlas) {
  apply_thread_policy({0, 0});
  const ThreadCounts counts = current_thread_counts();
  EXPECT_EQ(counts.torch_intra_op, counts.blas_own_threads ? 1 : counts.hardware);
  if (counts.blas_own_threads) {
    EXPECT_EQ(counts.blas, counts.hardware);
  }
  // MKL follows libtorch's intra-op count (at::set_num_threads sets it).
  if (system_info().blas.name == "MKL") {
    EXPECT_FALSE(counts.blas_own_threads);
    EXPECT_EQ(counts.blas, counts.torch_intra_op);
  }
  if (system_info().blas.name == "OpenBLAS") {
    EXPECT_TRUE(counts.blas_own_threads);
  }
}

}  // namespace
}  // namespace itl
