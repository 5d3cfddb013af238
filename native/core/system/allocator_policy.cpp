#include "system/allocator_policy.h"

// <cstdlib> first: it defines __GLIBC__, which the checks below test (without it a build that
// includes nothing else first compiled the policy out).
#include <cstdlib>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace itl {

bool retain_freed_memory() {
#if defined(__GLIBC__)
  // 32 MiB is the largest mmap threshold glibc accepts on 64-bit; larger blocks are still mapped.
  constexpr int kMmapThreshold = 32 << 20;
  constexpr int kNeverTrim = 0x7fffffff;
  // Each malloc arena keeps its own peak: with one per thread (glibc's default, up to 8 a core) the
  // OpenMP workers' arenas added 0–400 MB to a bench-20m bf16 run's peak RSS from one run to the next.
  // Two: the compute thread's and one shared by the workers (no slower here in training or eval).
  constexpr int kArenas = 2;
  return mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1 && mallopt(M_TRIM_THRESHOLD, kNeverTrim) == 1 && mallopt(M_ARENA_MAX, kArenas) == 1;
#else
  return false;
#endif
}

int bound_onednn_kernel_cache() {
  constexpr const char* kName = "ONEDNN_PRIMITIVE_CACHE_CAPACITY";
  if (const char* set = std::getenv(kName)) return std::atoi(set);
  setenv(kName, std::to_string(kOnednnKernelCache).c_str(), /*overwrite=*/0);
  return kOnednnKernelCache;
}

}  // namespace itl
