#include "system/allocator_policy.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace itl {

bool retain_freed_memory() {
#if defined(__GLIBC__)
  // 32 MiB is the largest mmap threshold glibc accepts on 64-bit; larger blocks are still mapped.
  constexpr int kMmapThreshold = 32 << 20;
  constexpr int kNeverTrim = 0x7fffffff;
  return mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1 && mallopt(M_TRIM_THRESHOLD, kNeverTrim) == 1;
#else
  return false;
#endif
}

}  // namespace itl
