#include <gtest/gtest.h>

#include <torch/version.h>

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

TEST(SystemInfo, ThreadPolicyIsApplied) {
  apply_thread_policy({1, 0});
  EXPECT_EQ(current_thread_counts().torch_intra_op, 1);
  if (current_thread_counts().blas_own_threads) {
    apply_thread_policy({1, 1});
    EXPECT_EQ(current_thread_counts().blas, 1);
    apply_thread_policy({1, 0});
    EXPECT_EQ(current_thread_counts().blas, current_thread_counts().hardware);
  } else {
    // A BLAS on libtorch's threads (MKL) takes libtorch's count; another one is refused, not ignored.
    apply_thread_policy({2, 2});
    EXPECT_EQ(current_thread_counts().torch_intra_op, 2);
    if (current_thread_counts().blas > 0) {
      EXPECT_EQ(current_thread_counts().blas, 2);
    }
    EXPECT_THROW(apply_thread_policy({2, 1}), Error);
  }
  EXPECT_THROW(apply_thread_policy({-1, 0}), std::exception);
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
