// A child process that must not outlive its parent (`itl demo`, `itl grid` and `itl launch` start
// `itl` children): on Linux the kernel sends it a signal when the parent dies, however it dies
// (SIGKILL included), through prctl(PR_SET_PDEATHSIG). Not here: forwarding signals to children
// and waiting for them (lib/util/itlChild.ts).
#pragma once

namespace itl {

enum class ParentWatch {
  kArmed,        // the kernel will send the signal when the parent dies
  kParentGone,   // the parent died before the request: the caller should exit now
  kUnsupported,  // not Linux: nothing was done
};

// Asks for `signal` on the parent's death, then checks that the parent is still `expected_parent`
// (a parent that died before prctl leaves the child adopted by another process, and no signal comes).
// Error(kInvalidArgument) for a signal number outside 1..64.
ParentWatch watch_parent(int signal, int expected_parent);

}  // namespace itl
