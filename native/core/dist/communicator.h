// Communicator: one process's handle on a data-parallel job, over PyTorch's c10d as shipped inside
// libtorch (TCPStore rendezvous; ProcessGroupGloo for CPU tensors, ProcessGroupNCCL for CUDA tensors
// when built against a CUDA libtorch). Not a transport of our own, and not a process launcher: the
// ranks are started by `itl launch`, torchrun or srun, which also fill DistEnv.
//
// Failure contract: every collective (and the rendezvous) fails with itl::Error(kDistributed) within
// the collective timeout when a peer exits or hangs; nothing here waits forever. With Gloo a peer
// that exits is usually noticed at once (its sockets close); a peer that hangs costs the timeout.
// With NCCL, libtorch's watchdog ends a process whose collective times out (TORCH_NCCL_ASYNC_ERROR_HANDLING).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace itl {

// Where this process sits in the job: torchrun's environment contract (RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT). lib/train/distEnv.ts reads it from the environment.
struct DistEnv {
  int rank = 0;                           // global rank, 0 … world_size − 1; rank 0 hosts the TCPStore
  int world_size = 1;                     // processes in the job; 1 = no communication at all
  int local_rank = 0;                     // rank among the processes of this node (picks cuda:local_rank)
  int local_world_size = 1;               // processes on this node
  std::string master_addr = "127.0.0.1";  // host of rank 0's TCPStore
  int master_port = 29500;                // its port (torchrun's default)
};

// Throws kInvalidArgument naming the field when `env` is inconsistent (rank outside the world, …).
void validate_dist_env(const DistEnv& env);

// A collective started without waiting (the gradient buckets overlap backward this way).
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  // Blocks until done; throws itl::Error(kDistributed) when the collective failed or timed out.
  virtual void wait() = 0;
};

class Communicator {
 public:
  // One per process, made by every rank with the same world_size, master_addr and master_port.
  // `device` decides the backend: CPU → Gloo, CUDA → NCCL (kConfig when this build has no NCCL).
  // `timeout` bounds the rendezvous and every collective. world_size 1 gives a communicator that
  // does nothing (sum and broadcast over one rank leave tensors as they are) and opens no socket.
  static std::unique_ptr<Communicator> create(const DistEnv& env, c10::Device device, std::chrono::milliseconds timeout);

  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // "gloo", "nccl" or "local" (world size 1).
  virtual std::string backend_name() const = 0;

  // In place, blocking: each tensor becomes the sum of that tensor over all ranks. Any shapes and
  // dtypes (flattened per dtype into one collective, so a list costs one round trip per dtype).
  virtual void all_reduce_sum(std::vector<at::Tensor>& tensors) = 0;
  // In place, blocking: each tensor becomes rank `root`'s value.
  virtual void broadcast(std::vector<at::Tensor>& tensors, int root) = 0;
  virtual void barrier() = 0;
  // Starts the in-place sum of one contiguous tensor; the caller keeps it alive until wait().
  virtual std::unique_ptr<PendingCollective> start_all_reduce_sum(at::Tensor& flat) = 0;
};

// Measures the all-reduce alone: `iterations` sums (after `warmup` ones) of a float32 tensor of
// `bytes` bytes, as the gradient buckets use it. Collective: every rank calls it with the same numbers.
struct AllReduceBenchmarkResult {
  std::size_t bytes = 0;  // payload of one all-reduce
  int iterations = 0;
  double seconds = 0;           // wall time of the timed iterations (slowest rank's view is the job's)
  double bytes_per_second = 0;  // payload bytes ÷ seconds per all-reduce ("algorithm bandwidth")
};
AllReduceBenchmarkResult benchmark_all_reduce(Communicator& communicator, std::size_t bytes, int iterations, int warmup,
                                              c10::Device device);

}  // namespace itl
