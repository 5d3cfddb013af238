// Thread counts of the two pools that compete for the cores: libtorch's intra-op pool and the
// BLAS library's own threads. OpenBLAS (pthread build) already spreads one matmul over every core,
// so a second full-size torch pool on top oversubscribes them (measured here with HF Llama training:
// 997 tokens/s with 1 torch thread, 492 with 2). The policy is set once per process, deliberately.
#pragma once

namespace itl {

struct ThreadPolicy {
  int torch_threads = 0;  // libtorch intra-op threads; 0: 1 beside a BLAS with its own threads, else all
  int blas_threads = 0;   // BLAS threads per matmul; 0: one per hardware thread
};

struct ThreadCounts {
  int torch_intra_op = 0;    // at::get_num_threads()
  int torch_inter_op = 0;    // at::get_num_interop_threads()
  int blas = 0;              // the BLAS library's own count; -1 when it cannot be asked
  int hardware = 0;          // std::thread::hardware_concurrency()
};

void apply_thread_policy(const ThreadPolicy& policy);
ThreadCounts current_thread_counts();

}  // namespace itl
