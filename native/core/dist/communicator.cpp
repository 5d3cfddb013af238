// Communicator over c10d. The only translation unit that includes c10d's headers (heavy, and their
// API moved between libtorch 1.13 and 2.x: ProcessGroup became Backend), so the version guards live here.
// Gloo is compiled in when gloo's headers are on the include path (Debian's libgloo-dev; PyTorch wheels
// do not ship them, see README "Building"); NCCL when CMake defines ITL_WITH_NCCL (a CUDA libtorch).
#include "dist/communicator.h"

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>
#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
#endif

#if !defined(ITL_WITH_GLOO) && __has_include(<gloo/config.h>)
#define ITL_WITH_GLOO 1
#endif
#if ITL_WITH_GLOO
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO  // ProcessGroupGloo.hpp declares nothing without it
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if ITL_WITH_NCCL
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL  // ProcessGroupNCCL.hpp declares nothing without it
#endif
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>
#include <exception>
#include <map>
#include <sstream>
#include <utility>

#include "util/error.h"

namespace itl {
namespace {

#if TORCH_VERSION_MAJOR >= 2
using CollectiveBackend = c10d::Backend;  // 2.x: Gloo and NCCL are Backends behind a ProcessGroup
#else
using CollectiveBackend = c10d::ProcessGroup;  // 1.13: they are ProcessGroups themselves
#endif

// c10d and gloo report failures as c10::Error (which carries a backtrace) or as gloo's own
// std::runtime_error subclasses; callers get one error code and a message that names the rank.
[[noreturn]] void rethrow_as_distributed(const std::string& what, int rank, int world_size, std::chrono::milliseconds timeout,
                                         bool rendezvous = false) {
  std::string detail;
  try {
    throw;
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    detail = e.what_without_backtrace();
  } catch (const std::exception& e) {
    detail = e.what();
  }
  std::ostringstream message;
  message << what << " failed on rank " << rank << " of " << world_size;
  if (rendezvous) {
    message << " (not every rank arrived within the " << timeout.count()
            << " ms timeout, the master address is unreachable, or its port is taken): ";
  } else {
    message << " (a peer rank exited, or did not answer within the " << timeout.count() << " ms collective timeout): ";
  }
  message << detail;
  throw Error(ErrorCode::kDistributed, message.str());
}

// Groups tensors by dtype so that a list costs one collective per dtype: each group is copied into
// one flat buffer, reduced or broadcast, and copied back.
template <typename Collective>
void flat_collective(std::vector<at::Tensor>& tensors, c10::Device device, Collective&& collective) {
  std::map<c10::ScalarType, std::vector<size_t>> groups;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const at::Tensor& t = tensors[i];
    require(t.defined(), "collective: tensor " + std::to_string(i) + " is undefined");
    require(t.device() == device, "collective: tensor " + std::to_string(i) + " is on " + t.device().str() +
                                      " but the communicator was made for " + device.str());
    groups[t.scalar_type()].push_back(i);
  }
  for (auto& [dtype, members] : groups) {
    std::vector<at::Tensor> pieces;
    pieces.reserve(members.size());
    for (size_t i : members) pieces.push_back(tensors[i].reshape({-1}));
    at::Tensor flat = at::cat(pieces);  // a fresh contiguous buffer, (sum of numel,)
    collective(flat);
    int64_t offset = 0;
    for (size_t i : members) {
      const int64_t n = tensors[i].numel();
      tensors[i].copy_(flat.narrow(0, offset, n).view(tensors[i].sizes()));
      offset += n;
    }
  }
}

// world_size 1: every collective over one rank is the identity.
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string backend_name() const override { return "local"; }
  void all_reduce_sum(std::vector<at::Tensor>&) override {}
  void broadcast(std::vector<at::Tensor>&, int root) override {
    require(root == 0, "broadcast: root " + std::to_string(root) + " is outside a world of 1 rank");
  }
  void barrier() override {}
  std::unique_ptr<PendingCollective> start_all_reduce_sum(at::Tensor&) override {
    struct Done final : PendingCollective {
      void wait() override {}
    };
    return std::make_unique<Done>();
  }
};

class C10dCommunicator final : public Communicator {
 public:
  C10dCommunicator(const DistEnv& env, c10::Device device, std::chrono::milliseconds timeout)
      : rank_(env.rank), world_size_(env.world_size), device_(device), timeout_(timeout) {
    try {
      c10d::TCPStoreOptions options;
      options.port = static_cast<std::uint16_t>(env.master_port);
      options.isServer = env.rank == 0;
      options.numWorkers = static_cast<std::size_t>(env.world_size);
      options.waitWorkers = true;
      options.timeout = timeout;
      store_ = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
    } catch (...) {
      rethrow_as_distributed("rendezvous at " + env.master_addr + ":" + std::to_string(env.master_port), rank_, world_size_, timeout_,
                             true);
    }
    try {
      backend_ = device.is_cuda() ? make_nccl(env) : make_gloo(env);
    } catch (...) {
      rethrow_as_distributed(std::string("creating the ") + (device.is_cuda() ? "NCCL" : "Gloo") + " process group", rank_, world_size_,
                             timeout_, true);
    }
  }

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  std::string backend_name() const override { return backend_name_; }

  void all_reduce_sum(std::vector<at::Tensor>& tensors) override {
    flat_collective(tensors, device_, [&](at::Tensor& flat) { start_all_reduce_sum(flat)->wait(); });
  }

  void broadcast(std::vector<at::Tensor>& tensors, int root) override {
    require(root >= 0 && root < world_size_,
            "broadcast: root " + std::to_string(root) + " is outside a world of " + std::to_string(world_size_) + " ranks");
    flat_collective(tensors, device_, [&](at::Tensor& flat) {
      std::vector<at::Tensor> one{flat};
      c10d::BroadcastOptions options;
      options.rootRank = root;
      wait_or_throw(call("broadcast", [&] { return backend_->broadcast(one, options); }), "broadcast");
    });
  }

  void barrier() override {
    wait_or_throw(call("barrier", [&] { return backend_->barrier(); }), "barrier");
  }

  std::unique_ptr<PendingCollective> start_all_reduce_sum(at::Tensor& flat) override {
    require(flat.device() == device_,
            "all_reduce: tensor is on " + flat.device().str() + " but the communicator was made for " + device_.str());
    require(flat.is_contiguous(), "all_reduce: the tensor must be contiguous (it is reduced in place)");
    std::vector<at::Tensor> one{flat};
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::SUM;
    auto work = call("all_reduce", [&] { return backend_->allreduce(one, options); });
    return std::make_unique<Pending>(this, std::move(work));
  }

 private:
  using WorkPtr = decltype(std::declval<CollectiveBackend&>().barrier());

  class Pending final : public PendingCollective {
   public:
    Pending(C10dCommunicator* owner, WorkPtr work) : owner_(owner), work_(std::move(work)) {}
    void wait() override { owner_->wait_or_throw(work_, "all_reduce"); }

   private:
    C10dCommunicator* owner_;
    WorkPtr work_;
  };

  template <typename Start>
  WorkPtr call(const char* what, Start&& start) {
    try {
      return start();
    } catch (...) {
      rethrow_as_distributed(what, rank_, world_size_, timeout_);
    }
  }

  void wait_or_throw(const WorkPtr& work, const char* what) {
    try {
      // No timeout of our own: Gloo fails the operation itself after the group's timeout, and
      // abandoning a still-queued work item would leave the group unusable anyway.
      work->wait();
    } catch (...) {
      rethrow_as_distributed(what, rank_, world_size_, timeout_);
    }
  }

  c10::intrusive_ptr<CollectiveBackend> make_gloo(const DistEnv& env) {
#if ITL_WITH_GLOO
    require(device_.is_cpu(), "Gloo is used for CPU tensors only; received device " + device_.str());
    auto options = c10d::ProcessGroupGloo::Options::create(timeout_);
    // torch.distributed's choice of interface: GLOO_SOCKET_IFNAME when set; a loopback master means
    // every rank is on this machine, so bind loopback (the hostname may not resolve here); else the
    // address this machine's hostname resolves to.
    const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
    const bool loopback = env.master_addr == "localhost" || env.master_addr.rfind("127.", 0) == 0 || env.master_addr == "::1";
    if (interface != nullptr && *interface != '\0') {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
    } else if (loopback) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(env.master_addr));
    } else {
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    backend_name_ = "gloo";
    return c10::make_intrusive<c10d::ProcessGroupGloo>(store_, env.rank, env.world_size, options);
#else
    throw Error(ErrorCode::kConfig,
                "this build of itl has no Gloo backend (gloo's headers were not found at build time), so CPU ranks "
                "cannot communicate; rebuild with gloo's headers (Debian: libgloo-dev)");
#endif
  }

  c10::intrusive_ptr<CollectiveBackend> make_nccl(const DistEnv& env) {
#if ITL_WITH_NCCL
    c10::cuda::set_device(static_cast<c10::DeviceIndex>(device_.has_index() ? device_.index() : env.local_rank));
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = timeout_;
    backend_name_ = "nccl";
    return c10::make_intrusive<c10d::ProcessGroupNCCL>(store_, env.rank, env.world_size, options);
#else
    throw Error(ErrorCode::kConfig,
                "CUDA ranks need NCCL, and this build of itl has none (it was built against a "
                "libtorch without CUDA); device " +
                    device_.str());
#endif
  }

  int rank_;
  int world_size_;
  c10::Device device_;
  std::chrono::milliseconds timeout_;
  std::string backend_name_;
  c10::intrusive_ptr<c10d::Store> store_;  // kept alive: rank 0's holds the rendezvous server
  c10::intrusive_ptr<CollectiveBackend> backend_;
};

}  // namespace

void validate_dist_env(const DistEnv& env) {
  require(env.world_size >= 1, "world_size must be at least 1; received " + std::to_string(env.world_size));
  require(env.rank >= 0 && env.rank < env.world_size,
          "rank " + std::to_string(env.rank) + " is outside a world of " + std::to_string(env.world_size));
  require(
      env.local_world_size >= 1 && env.local_world_size <= env.world_size,
      "local_world_size " + std::to_string(env.local_world_size) + " must be between 1 and world_size " + std::to_string(env.world_size));
  require(env.local_rank >= 0 && env.local_rank < env.local_world_size, "local_rank " + std::to_string(env.local_rank) +
                                                                            " is outside the " + std::to_string(env.local_world_size) +
                                                                            " processes of this node");
  if (env.world_size > 1) {
    require(!env.master_addr.empty(), "master_addr is empty");
    require(env.master_port >= 1 && env.master_port <= 65535,
            "master_port must be between 1 and 65535; received " + std::to_string(env.master_port));
  }
}

std::unique_ptr<Communicator> Communicator::create(const DistEnv& env, c10::Device device, std::chrono::milliseconds timeout) {
  validate_dist_env(env);
  require(timeout.count() > 0, "the collective timeout must be positive; received " + std::to_string(timeout.count()) + " ms");
  if (env.world_size == 1) return std::make_unique<LocalCommunicator>();
  return std::make_unique<C10dCommunicator>(env, device, timeout);
}

AllReduceBenchmarkResult benchmark_all_reduce(Communicator& communicator, std::size_t bytes, int iterations, int warmup,
                                              c10::Device device) {
  require(bytes >= sizeof(float), "benchmark_all_reduce: bytes must be at least 4");
  require(iterations >= 1 && warmup >= 0, "benchmark_all_reduce: iterations must be positive and warmup non-negative");
  at::Tensor buffer = at::zeros({static_cast<int64_t>(bytes / sizeof(float))}, at::TensorOptions(at::kFloat).device(device));
  for (int i = 0; i < warmup; ++i) communicator.start_all_reduce_sum(buffer)->wait();
  communicator.barrier();  // every rank starts the clock together
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) communicator.start_all_reduce_sum(buffer)->wait();
  if (device.is_cuda()) buffer.cpu();  // the last collective has finished on the device
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  AllReduceBenchmarkResult result;
  result.bytes = buffer.numel() * sizeof(float);
  result.iterations = iterations;
  result.seconds = seconds;
  result.bytes_per_second = static_cast<double>(result.bytes) * iterations / seconds;
  return result;
}

}  // namespace itl
