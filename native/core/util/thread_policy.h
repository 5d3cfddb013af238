// Thread counts of the pools that compete for the cores: libtorch's intra-op pool and, with
// OpenBLAS (pthread build), the BLAS library's own threads. OpenBLAS already spreads one matmul over
// every core, so a second full-size torch pool on top oversubscribes them (measured here with HF
// Llama training: 997 tokens/s with 1 torch thread, 492 with 2): beside it libtorch gets 1 thread.
// MKL inside a prebuilt libtorch has no pool of its own: it runs on libtorch's OpenMP threads, so
// there libtorch gets every core (README "Threads" has the measurements). Set once per process.
#pragma once

namespace itl {

struct ThreadPolicy {
  int torch_threads = 0;  // libtorch intra-op threads; 0: 1 beside a BLAS with its own threads, else all
  int blas_threads = 0;   // BLAS threads per matmul; 0: one per hardware thread. Only a BLAS with its
                          // own pool can differ from torch_threads; asking that of MKL is an error
};

struct ThreadCounts {
  int torch_intra_op = 0;         // at::get_num_threads()
  int torch_inter_op = 0;         // at::get_num_interop_threads()
  int blas = 0;                   // threads one BLAS call uses; -1 when the BLAS cannot be asked
  bool blas_own_threads = false;  // the BLAS runs a pool of its own beside libtorch's (OpenBLAS)
  int hardware = 0;               // std::thread::hardware_concurrency()
  int itl_kernels = 0;            // threads itl's own CPU loops (at::parallel_for: fused RMSNorm, RoPE) run
                                  // on: torch_intra_op, or 1 in a core built without OpenMP
};

void apply_thread_policy(const ThreadPolicy& policy);
// Call first on a thread libtorch did not start (the addon's compute thread): a BLAS call made
// before any at::parallel_for would otherwise run on OpenMP's default team for a new thread, every
// core, whatever at::set_num_threads said (measured: `itl bench matmul` with
// --torch-threads 1 ran its sgemm on both cores and reported twice the one-thread peak).
void adopt_thread_policy();
ThreadCounts current_thread_counts();

// Runs one at::parallel_for of `tasks` tasks and counts the threads that ran one (the check that
// itl_kernels is what happens). Never on Node's main thread: an OpenMP team of its own there beside
// the compute thread's makes libgomp take the cores for oversubscribed and stop spin-waiting, which
// cost bf16 training 5–9 % (measured, bench-20m).
int count_itl_loop_threads(int tasks);

}  // namespace itl
