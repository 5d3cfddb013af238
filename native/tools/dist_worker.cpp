// itl_dist_worker SCENARIO RANK WORLD_SIZE PORT TIMEOUT_MS [BYTES ITERATIONS]: one rank of a small
// data-parallel job on 127.0.0.1 over the Communicator (Gloo), started once per rank by
// native/tests/dist_test.cpp (or by hand to measure the all-reduce). No Node.
//   collectives  all_reduce_sum / broadcast / barrier of known per-rank values; checks the results
//   gradients    GradientReducer on a small model with gradient accumulation; checks each rank's
//                .grad against the sum of every rank's gradients computed here without communication
//   peer_exits:R rank R exits (status 3) after the rendezvous; the others must get ITL_DISTRIBUTED
//   peer_hangs   rank 1 sleeps through the collective; rank 0 must get ITL_DISTRIBUTED (timeout)
//   bench        prints one JSON line: the all-reduce of a BYTES float32 bucket, ITERATIONS times
//   train_ddp:R:DIR  the trainer (fp64, LoRA rank R, dropout 0) for 3 steps at per-device batch 2 ×
//                accumulation 2; rank 0 writes the final parameters to DIR/ddp.safetensors
//   train_resume:DIR the trainer (fp32, LoRA with dropout) uninterrupted, and stopped at a checkpoint
//                then resumed; every rank checks the two end with identical parameters
//   bench_reducer  prints one JSON line: GradientReducer steps over 32 float32 parameters of BYTES in
//                all (25 MiB buckets), each step a cheap backward whose hooks launch the buckets
// Exit status: 0 when every check held, 1 with "FAIL: …" on stderr otherwise, 2 on bad usage.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../tests/train_fixtures.h"
#include "dist/communicator.h"
#include "dist/gradient_reducer.h"
#include "io/safetensors.h"
#include "train/trainer.h"
#include "util/error.h"

namespace {

struct CheckFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(bool condition, const std::string& what) {
  if (!condition) throw CheckFailed(what);
}

void check_equal(const at::Tensor& actual, const at::Tensor& expected, const std::string& what, double atol = 0) {
  const bool same = actual.sizes() == expected.sizes() && actual.scalar_type() == expected.scalar_type() &&
                    (atol == 0 ? at::equal(actual, expected) : at::allclose(actual, expected, 0, atol));
  if (!same) {
    std::ostringstream message;
    message << what << ": got " << actual << " expected " << expected;
    throw CheckFailed(message.str());
  }
}

void collectives(itl::Communicator& comm) {
  const int r = comm.rank(), w = comm.world_size();
  const int64_t rank_sum = static_cast<int64_t>(w) * (w - 1) / 2;
  // A list mixing dtypes and shapes, reduced in place.
  std::vector<at::Tensor> tensors = {at::full({2, 3}, r + 1.0, at::kFloat), at::tensor({static_cast<int64_t>(r), int64_t{10}}),
                                     at::full({}, 0.5 * r, at::kDouble)};
  comm.all_reduce_sum(tensors);
  check_equal(tensors[0], at::full({2, 3}, static_cast<double>(rank_sum + w), at::kFloat), "all_reduce_sum float");
  check_equal(tensors[1], at::tensor({rank_sum, int64_t{10} * w}), "all_reduce_sum int64");
  check_equal(tensors[2], at::full({}, 0.5 * rank_sum, at::kDouble), "all_reduce_sum double scalar");

  // Broadcast from the last rank: everyone ends with its values.
  const int root = w - 1;
  std::vector<at::Tensor> broadcast = {at::arange(6, at::kFloat).view({2, 3}) * (r + 1), at::full({4}, int64_t{r})};
  comm.broadcast(broadcast, root);
  check_equal(broadcast[0], at::arange(6, at::kFloat).view({2, 3}) * (root + 1), "broadcast float");
  check_equal(broadcast[1], at::full({4}, int64_t{root}), "broadcast int64");

  // The asynchronous form the gradient buckets use.
  at::Tensor flat = at::full({1000}, static_cast<float>(r), at::kFloat);
  comm.start_all_reduce_sum(flat)->wait();
  check_equal(flat, at::full({1000}, static_cast<float>(rank_sum), at::kFloat), "start_all_reduce_sum");

  try {
    comm.broadcast(broadcast, w);
    check(false, "broadcast from a root outside the world did not throw");
  } catch (const itl::Error& e) {
    check(e.code() == itl::ErrorCode::kInvalidArgument, "broadcast root error has the wrong code");
  }
  comm.barrier();
}

// A two-layer network in double precision (so sums over ranks compare to 1e-12 whatever the
// order of addition), plus a float32 parameter that only rank 0 uses: a bucket of another dtype,
// and a gradient that is missing on the other ranks and must count as zero.
struct TinyNet {
  std::vector<at::Tensor> params;  // unused_f32 (3,), w1 (8,16), b1 (16,), w2 (16,4), b2 (4,)

  static TinyNet make() {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(7);
    TinyNet net;
    net.params = {at::randn({3}, generator, at::kFloat), at::randn({8, 16}, generator, at::kDouble),
                  at::randn({16}, generator, at::kDouble), at::randn({16, 4}, generator, at::kDouble),
                  at::randn({4}, generator, at::kDouble)};
    for (auto& p : net.params) p.requires_grad_(true);
    return net;
  }

  at::Tensor loss(int rank, int step, int micro) const {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(1000 + 100 * step + 10 * rank + micro);
    const at::Tensor x = at::randn({5, 8}, generator, at::kDouble), y = at::randn({5, 4}, generator, at::kDouble);
    const at::Tensor out = at::tanh(x.matmul(params[1]) + params[2]).matmul(params[3]) + params[4];  // (5, 4)
    at::Tensor loss = (out - y).pow(2).sum();
    if (rank == 0) loss = loss + params[0].pow(2).sum().to(at::kDouble) * (micro + 1);
    return loss;
  }
};

std::vector<at::Tensor> grads_of(const TinyNet& net) {
  std::vector<at::Tensor> grads;
  for (const auto& p : net.params) grads.push_back(p.grad().defined() ? p.grad().clone() : at::zeros_like(p));
  return grads;
}

void gradients(itl::Communicator& comm) {
  const int r = comm.rank(), w = comm.world_size();
  TinyNet net = TinyNet::make();
  // 64-byte buckets: several per dtype, so in-order launching and partial buckets are exercised.
  itl::GradientReducer reducer(net.params, comm, 64);
  check(reducer.bucket_count() >= 3, "expected several buckets, got " + std::to_string(reducer.bucket_count()));

  for (int step = 0; step < 2; ++step) {
    for (auto& p : net.params) p.mutable_grad() = at::Tensor();
    // Micro-batch 0 without sync (DDP's no_sync): gradients stay this rank's own.
    reducer.prepare_backward(false);
    net.loss(r, step, 0).backward();
    reducer.finish_backward();
    TinyNet local = TinyNet::make();
    local.loss(r, step, 0).backward();
    const auto local_grads = grads_of(local);
    const auto after_no_sync = grads_of(net);
    for (size_t i = 0; i < local_grads.size(); ++i) {
      check_equal(after_no_sync[i], local_grads[i], "no-sync gradient " + std::to_string(i), 1e-12);
    }
    // Micro-batch 1 with sync: the accumulated gradients are summed over ranks.
    const uint64_t bytes_before = reducer.bytes_reduced();
    reducer.prepare_backward(true);
    net.loss(r, step, 1).backward();
    if (r == 0) {
      // Every parameter got its gradient on rank 0, so all its buckets started during backward.
      check(reducer.bytes_reduced() > bytes_before, "no bucket was launched during backward");
    }
    reducer.finish_backward();

    // The same sum without communication: every rank's micro-batches, accumulated here.
    TinyNet reference = TinyNet::make();
    for (int rank = 0; rank < w; ++rank) {
      for (int micro = 0; micro < 2; ++micro) reference.loss(rank, step, micro).backward();
    }
    const auto expected = grads_of(reference), actual = grads_of(net);
    for (size_t i = 0; i < expected.size(); ++i) {
      const double atol = expected[i].scalar_type() == at::kFloat ? 1e-6 : 1e-12;
      check_equal(actual[i], expected[i], "step " + std::to_string(step) + " summed gradient " + std::to_string(i), atol);
    }
  }
  check(reducer.communication_seconds() >= 0, "negative communication time");
  comm.barrier();
}

// Returns normally only when `action` throws ITL_DISTRIBUTED; prints what the test reads.
template <typename Action>
void expect_distributed_error(int rank, Action&& action) {
  const auto start = std::chrono::steady_clock::now();
  try {
    for (int i = 0; i < 100; ++i) action();
  } catch (const itl::Error& e) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    check(e.code() == itl::ErrorCode::kDistributed,
          std::string("expected ITL_DISTRIBUTED, got ") + itl::error_code_name(e.code()) + ": " + e.what());
    std::cout << "rank " << rank << " caught " << itl::error_code_name(e.code()) << " after " << seconds << " s: " << e.what() << std::endl;
    return;
  }
  check(false, "collectives kept succeeding although a peer was gone");
}

void peer_exits(itl::Communicator& comm, int leaver) {
  comm.barrier();
  if (comm.rank() == leaver) {
    std::cout << "rank " << leaver << " exits now" << std::endl;
    std::_Exit(3);  // no destructor, no goodbye: as a crashed process
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  expect_distributed_error(comm.rank(), [&] {
    at::Tensor t = at::ones({1 << 16}, at::kFloat);
    comm.start_all_reduce_sum(t)->wait();
  });
}

void peer_hangs(itl::Communicator& comm, std::chrono::milliseconds timeout) {
  comm.barrier();
  if (comm.rank() == 1) {
    std::this_thread::sleep_for(timeout * 2);  // alive, holding its sockets open, never joining
    return;
  }
  expect_distributed_error(comm.rank(), [&] {
    std::vector<at::Tensor> t = {at::ones({4}, at::kFloat)};
    comm.all_reduce_sum(t);
  });
}

// One step = prepare_backward(true) + a backward of Σ p (gradients of ones, almost free) +
// finish_backward: what the reducer adds to a training step when backward hides nothing.
void bench_reducer(itl::Communicator& comm, std::size_t bytes, int iterations) {
  const int64_t per_param = static_cast<int64_t>(bytes / sizeof(float) / 32);
  std::vector<at::Tensor> params;
  for (int i = 0; i < 32; ++i) params.push_back(at::zeros({per_param}, at::kFloat).requires_grad_(true));
  itl::GradientReducer reducer(params, comm);
  auto step = [&] {
    for (auto& p : params) p.mutable_grad() = at::Tensor();
    reducer.prepare_backward(true);
    at::Tensor loss = params[0].sum();
    for (int i = 1; i < 32; ++i) loss = loss + params[i].sum();
    loss.backward();
    reducer.finish_backward();
  };
  for (int i = 0; i < 2; ++i) step();
  comm.barrier();
  const double waited_before = reducer.communication_seconds();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) step();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  check(at::equal(params[31].grad(), at::full({per_param}, static_cast<float>(comm.world_size()))), "reduced gradient is not the sum");
  if (comm.rank() == 0) {
    const double step_bytes = static_cast<double>(per_param) * 32 * sizeof(float);
    std::cout << "{\"backend\":\"" << comm.backend_name() << "\",\"world_size\":" << comm.world_size()
              << ",\"gradient_bytes\":" << static_cast<std::uint64_t>(step_bytes) << ",\"buckets\":" << reducer.bucket_count()
              << ",\"iterations\":" << iterations << ",\"seconds_per_step\":" << seconds / iterations
              << ",\"blocked_seconds_per_step\":" << (reducer.communication_seconds() - waited_before) / iterations
              << ",\"bytes_per_second\":" << step_bytes * iterations / seconds << "}" << std::endl;
  }
}

itl::TrainerOptions data_parallel_options(const itl::DistEnv& env, const std::string& run_dir, int64_t batch, int64_t accumulation,
                                          int64_t epochs) {
  itl::TrainerOptions o = itl::testing::small_trainer_options(run_dir, batch, accumulation, epochs);
  o.dist = env;
  o.collective_timeout_seconds = 30;
  return o;
}

void train_ddp(const itl::DistEnv& env, int64_t lora_rank, const std::string& dir) {
  itl::TrainerOptions o = data_parallel_options(env, dir + "/ddp-run", 2, 2, 3);
  o.lora.r = lora_rank;
  o.lora.alpha = 8;
  o.lora.dropout = 0;
  itl::Trainer trainer(itl::testing::small_model(true, at::kDouble), itl::testing::make_rows(8, 2), itl::TokenRows{}, o);
  check(trainer.schedule().total_steps == 3, "3 steps");
  for (int step = 0; step < 3; ++step) trainer.train_step();
  if (env.rank != 0) return;
  std::vector<std::pair<std::string, at::Tensor>> named;
  for (const auto& item : trainer.model()->named_parameters(true)) named.emplace_back(item.key(), item.value().detach());
  itl::write_safetensors(dir + "/ddp.safetensors", named);
}

void train_resume(itl::DistEnv env, const std::string& dir) {
  auto options = [&](const std::string& run, int port_offset) {
    itl::DistEnv e = env;
    e.master_port += port_offset;  // a fresh store per trainer: the previous port may linger in TIME_WAIT
    itl::TrainerOptions o = data_parallel_options(e, dir + "/" + run, 2, 1, 2);  // 6 rows per rank: 3 steps an epoch
    o.schedule.save_steps = 2;
    o.lora.r = 4;
    o.lora.alpha = 8;
    o.lora.dropout = 0.1;  // each rank's dropout stream must resume where it stopped
    o.learning_rate = 1e-3;
    return o;
  };
  const itl::TokenRows rows = itl::testing::make_rows(12, 3);
  auto whole = itl::testing::small_model(false, at::kFloat);
  {
    itl::Trainer trainer(whole, rows, itl::TokenRows{}, options("whole", 0));
    while (!trainer.run_until_checkpoint(itl::RunControl{}).finished) {
    }
  }
  {
    itl::Trainer first(itl::testing::small_model(false, at::kFloat), rows, itl::TokenRows{}, options("split", 1));
    check(first.run_until_checkpoint(itl::RunControl{}).global_step == 2, "first checkpoint at step 2");
    first.run_until_checkpoint(itl::RunControl{});  // progress past it, dropped by resuming from checkpoint-2
  }
  auto resumed = itl::testing::small_model(false, at::kFloat);
  itl::Trainer trainer(resumed, rows, itl::TokenRows{}, options("split", 2));
  trainer.resume(dir + "/split/checkpoint-2");
  while (!trainer.run_until_checkpoint(itl::RunControl{}).finished) {
  }
  auto a = whole->named_parameters(true), b = resumed->named_parameters(true);
  for (const auto& item : a) check_equal(item.value().detach(), b[item.key()].detach(), "parameter " + item.key());
}

// Each rank trains in its own folder, as nodes with local disks would: the trainer must refuse.
void unshared_dir(const itl::DistEnv& env, const std::string& dir) {
  const itl::TrainerOptions o = data_parallel_options(env, dir + "/node" + std::to_string(env.rank) + "/run", 2, 1, 1);
  itl::Trainer trainer(itl::testing::small_model(true, at::kFloat), itl::testing::make_rows(4, 1), itl::TokenRows{}, o);
}

// A shared folder, and the test's ITL_FAULT_WRITE makes rank 0's optimizer.pt fail: every rank must
// end with an error at once (none left waiting in a barrier until the collective timeout).
void checkpoint_fault(const itl::DistEnv& env, const std::string& dir) {
  itl::TrainerOptions o = data_parallel_options(env, dir + "/run", 2, 1, 1);
  o.schedule.save_steps = 1;
  itl::Trainer trainer(itl::testing::small_model(true, at::kFloat), itl::testing::make_rows(4, 1), itl::TokenRows{}, o);
  trainer.run_until_checkpoint(itl::RunControl{});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::cerr << "usage: itl_dist_worker collectives|gradients|peer_exits:R|peer_hangs|bench|bench_reducer RANK WORLD_SIZE PORT TIMEOUT_MS"
                 " [BYTES ITERATIONS]\n";
    return 2;
  }
  const std::string scenario = argv[1];
  itl::DistEnv env;
  env.rank = std::atoi(argv[2]);
  env.world_size = std::atoi(argv[3]);
  env.local_rank = env.rank;
  env.local_world_size = env.world_size;
  env.master_addr = "127.0.0.1";
  env.master_port = std::atoi(argv[4]);
  const std::chrono::milliseconds timeout(std::atol(argv[5]));
  try {
    at::set_num_threads(1);
    if (scenario.rfind("train_ddp:", 0) == 0) {
      const size_t colon = scenario.find(':', 10);
      train_ddp(env, std::atoll(scenario.substr(10, colon - 10).c_str()), scenario.substr(colon + 1));
      return 0;
    }
    if (scenario.rfind("unshared_dir:", 0) == 0) {
      unshared_dir(env, scenario.substr(13));
      return 0;
    }
    if (scenario.rfind("checkpoint_fault:", 0) == 0) {
      checkpoint_fault(env, scenario.substr(17));
      return 0;
    }
    if (scenario.rfind("train_resume:", 0) == 0) {
      train_resume(env, scenario.substr(13));
      return 0;
    }
    auto comm = itl::Communicator::create(env, at::kCPU, timeout);
    if (scenario == "collectives") {
      collectives(*comm);
    } else if (scenario == "gradients") {
      gradients(*comm);
    } else if (scenario.rfind("peer_exits:", 0) == 0) {
      peer_exits(*comm, std::atoi(scenario.c_str() + 11));
    } else if (scenario == "peer_hangs") {
      peer_hangs(*comm, timeout);
    } else if (scenario == "bench" && argc == 8) {
      const auto result = itl::benchmark_all_reduce(*comm, std::strtoull(argv[6], nullptr, 10), std::atoi(argv[7]), 3, at::kCPU);
      if (comm->rank() == 0) {
        std::cout << "{\"backend\":\"" << comm->backend_name() << "\",\"world_size\":" << comm->world_size()
                  << ",\"bytes\":" << result.bytes << ",\"iterations\":" << result.iterations << ",\"seconds\":" << result.seconds
                  << ",\"bytes_per_second\":" << result.bytes_per_second << "}" << std::endl;
      }
    } else if (scenario == "bench_reducer" && argc == 8) {
      bench_reducer(*comm, std::strtoull(argv[6], nullptr, 10), std::atoi(argv[7]));
    } else {
      std::cerr << "unknown scenario '" << scenario << "'\n";
      return 2;
    }
  } catch (const CheckFailed& e) {
    std::cerr << "FAIL: rank " << env.rank << ": " << e.what() << "\n";
    return 1;
  } catch (const itl::Error& e) {
    std::cerr << "FAIL: rank " << env.rank << ": " << itl::error_code_name(e.code()) << ": " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "FAIL: rank " << env.rank << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
