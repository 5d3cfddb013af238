#include "system/parent_death.h"

#include <unistd.h>

#include <string>

#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "util/error.h"

namespace itl {

ParentWatch watch_parent(int signal, int expected_parent) {
  if (signal < 1 || signal > 64) throw Error(ErrorCode::kInvalidArgument, "no signal number " + std::to_string(signal));
#ifdef __linux__
  if (::prctl(PR_SET_PDEATHSIG, signal) != 0) return ParentWatch::kUnsupported;
  // After prctl: if the parent was already gone, getppid() names whoever adopted us.
  return ::getppid() == expected_parent ? ParentWatch::kArmed : ParentWatch::kParentGone;
#else
  (void)expected_parent;
  return ParentWatch::kUnsupported;
#endif
}

}  // namespace itl
