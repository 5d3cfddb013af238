// The one thread of the process that runs native work (model calls, benchmarks, training). OpenMP
// gives every thread that opens a parallel region a team of its own, and libgomp stops spinning
// between regions once its threads outnumber the cores: with work spread over libuv's four pool
// threads a 2-core machine held 8 OpenMP threads, every small operator paid a futex wake-up, and
// 2-thread greedy generation on bench-20m ran at 950–1,800 tokens/s from one call to the next
// (transformers, one thread with one team: ~1,650). One thread, one team. Calls queue in order;
// on a CPU they would only contend for the same cores side by side.
#pragma once

#include <functional>

namespace itl::addon {

// Runs `job` on the compute thread after the jobs queued before it. Never blocks the caller. The
// thread starts with the first job and lives as long as the process.
void run_on_compute_thread(std::function<void()> job);

}  // namespace itl::addon
