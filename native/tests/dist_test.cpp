// The Communicator and GradientReducer between real processes: each test starts itl_dist_worker
// once per rank (fresh processes, so no fork of a process whose thread pools already run) on
// 127.0.0.1 over Gloo, and reads their exit status and output. The checks of the values live in
// the worker (it knows every rank's inputs); the checks of failures and of time bounds live here.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <ATen/Context.h>

#include "dist/communicator.h"
#include "io/safetensors.h"
#include "train/trainer.h"
#include "train_fixtures.h"
#include "dist/gradient_reducer.h"
#include "io_test_support.h"
#include "util/error.h"

extern char** environ;

namespace itl {
namespace {

// A port the kernel just handed out and took back: free unless another process grabs it in the
// moment before rank 0 binds it.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct RankResult {
  int status = -1;  // exit status, or -1 when killed
  std::string output;
};

// Starts one worker per rank and waits for all of them, killing every one still running at the
// deadline (the test then fails): a broken build must not hang ctest.
std::vector<RankResult> run_ranks(const std::string& scenario, int world_size, int timeout_ms, std::chrono::seconds deadline,
                                  const testing::TempDir& dir) {
  const std::string port = std::to_string(free_port());
  std::vector<pid_t> pids;
  std::vector<std::string> logs;
  for (int rank = 0; rank < world_size; ++rank) {
    logs.push_back(dir / ("rank" + std::to_string(rank) + ".log"));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, logs.back().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<std::string> args = {ITL_DIST_WORKER_PATH,       scenario, std::to_string(rank),
                                     std::to_string(world_size), port,     std::to_string(timeout_ms)};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int spawned = posix_spawn(&pid, ITL_DIST_WORKER_PATH, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) throw std::runtime_error(std::string("cannot start ") + ITL_DIST_WORKER_PATH);
    pids.push_back(pid);
  }
  std::vector<RankResult> results(world_size);
  std::vector<bool> done(world_size, false);
  const auto end = std::chrono::steady_clock::now() + deadline;
  int remaining = world_size;
  while (remaining > 0) {
    for (int rank = 0; rank < world_size; ++rank) {
      int status = 0;
      if (done[rank] || ::waitpid(pids[rank], &status, WNOHANG) != pids[rank]) continue;
      done[rank] = true;
      --remaining;
      results[rank].status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    if (remaining > 0 && std::chrono::steady_clock::now() > end) {
      for (int rank = 0; rank < world_size; ++rank) {
        if (done[rank]) continue;
        ::kill(pids[rank], SIGKILL);
        ::waitpid(pids[rank], nullptr, 0);
        ADD_FAILURE() << "rank " << rank << " of '" << scenario << "' still ran after " << deadline.count() << " s";
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (int rank = 0; rank < world_size; ++rank) results[rank].output = read_file(logs[rank]);
  return results;
}

TEST(Communicator, TwoRanksSumAndBroadcastOverGloo) {
  testing::TempDir dir;
  const auto ranks = run_ranks("collectives", 2, 20000, std::chrono::seconds(60), dir);
  for (int rank = 0; rank < 2; ++rank) EXPECT_EQ(ranks[rank].status, 0) << ranks[rank].output;
}

// 2 ranks with per-device batch b equal 1 rank with batch 2b on the same rows, full and LoRA (fp64,
// so the comparison sees the algorithm and not the order of float additions).
TEST(DataParallelTrainer, TwoRanksEqualOneRankWithTwiceTheBatch) {
  for (const int64_t lora : {0, 4}) {
    testing::TempDir dir;
    const auto ranks = run_ranks("train_ddp:" + std::to_string(lora) + ":" + dir.path().string(), 2, 30000, std::chrono::seconds(120), dir);
    for (int rank = 0; rank < 2; ++rank) ASSERT_EQ(ranks[rank].status, 0) << ranks[rank].output;
    TrainerOptions o = testing::small_trainer_options(dir / "single", 4, 2, 3);
    o.lora.r = lora;
    o.lora.alpha = 8;
    o.lora.dropout = 0;
    Trainer single(testing::small_model(true, at::kDouble), testing::make_rows(8, 2), TokenRows{}, o);
    for (int step = 0; step < 3; ++step) single.train_step();
    const auto file = SafeTensorsFile::open(dir / "ddp.safetensors");
    for (const auto& item : single.model()->named_parameters(true)) {
      const double diff = (file->tensor(item.key()) - item.value().detach()).abs().max().item<double>();
      EXPECT_LE(diff, 1e-12) << item.key() << " lora " << lora;
    }
  }
}

TEST(DataParallelTrainer, ResumedTwoRankRunEqualsTheUninterruptedOne) {
  testing::TempDir dir;
  const auto ranks = run_ranks("train_resume:" + dir.path().string(), 2, 30000, std::chrono::seconds(180), dir);
  for (int rank = 0; rank < 2; ++rank) EXPECT_EQ(ranks[rank].status, 0) << ranks[rank].output;
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "split/checkpoint-6/rng_state_1.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "split/metrics.jsonl"));
}

// Nodes that do not share the run folder (issue 24: rank 1 failed at the first checkpoint, rank 0 with
// an obscure Gloo error) are refused when the trainer starts, every rank naming the cause.
TEST(DataParallelTrainer, RanksThatDoNotShareTheRunFolderAreRefusedAtStart) {
  testing::TempDir dir;
  const auto ranks = run_ranks("unshared_dir:" + dir.path().string(), 2, 30000, std::chrono::seconds(60), dir);
  for (int rank = 0; rank < 2; ++rank) {
    EXPECT_EQ(ranks[rank].status, 1) << ranks[rank].output;
    // Each rank names the folder as it knows it (rank 1's "node1/run" stands for the same path on another node).
    EXPECT_NE(ranks[rank].output.find(
                  "ITL_DISTRIBUTED: rank(s) 1 of 2 do not see the files rank 0 writes in " +
                  (dir.path() / ("node" + std::to_string(rank)) / "run").string() +
                  ": the nodes do not share this folder. Multi-node training needs a --save-dir on a file system every node mounts"),
              std::string::npos)
        << ranks[rank].output;
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "node0/run"));  // the probe file is gone
}

// One rank's disk fills during a checkpoint: both ranks end with the error at once, none waits out
// the collective timeout, and no staging folder is left.
TEST(DataParallelTrainer, AFailedCheckpointWriteOnOneRankEndsEveryRankAtOnce) {
  testing::TempDir dir;
  ::setenv("ITL_FAULT_WRITE", "ENOSPC:optimizer.pt", 1);
  const auto started = std::chrono::steady_clock::now();
  const auto ranks = run_ranks("checkpoint_fault:" + dir.path().string(), 2, 60000, std::chrono::seconds(50), dir);
  ::unsetenv("ITL_FAULT_WRITE");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(50));
  EXPECT_NE(ranks[0].output.find("ITL_IO: cannot write checkpoint-1 (cannot write "), std::string::npos) << ranks[0].output;
  EXPECT_NE(ranks[0].output.find("optimizer.pt: No space left on device"), std::string::npos) << ranks[0].output;
  EXPECT_NE(ranks[1].output.find("ITL_IO: cannot write checkpoint-1 (another rank failed while writing its files); no earlier checkpoint"),
            std::string::npos)
      << ranks[1].output;
  for (int rank = 0; rank < 2; ++rank) EXPECT_EQ(ranks[rank].status, 1) << ranks[rank].output;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path() / "run")) {
    EXPECT_EQ(entry.path().filename().string().find(".checkpoint-"), std::string::npos) << entry.path();
  }
}

TEST(Communicator, ThreeRanksSumAndBroadcastOverGloo) {
  testing::TempDir dir;
  const auto ranks = run_ranks("collectives", 3, 20000, std::chrono::seconds(60), dir);
  for (int rank = 0; rank < 3; ++rank) EXPECT_EQ(ranks[rank].status, 0) << ranks[rank].output;
}

TEST(GradientReducer, TwoRanksSumAccumulatedGradientsInBuckets) {
  testing::TempDir dir;
  const auto ranks = run_ranks("gradients", 2, 20000, std::chrono::seconds(60), dir);
  for (int rank = 0; rank < 2; ++rank) EXPECT_EQ(ranks[rank].status, 0) << ranks[rank].output;
}

// A rank that dies (here after the rendezvous, without closing anything) must end the others with
// ITL_DISTRIBUTED; the 30 s collective timeout is an upper bound, Gloo notices the closed sockets sooner.
void expect_survivor_fails(int leaver) {
  testing::TempDir dir;
  const auto start = std::chrono::steady_clock::now();
  const auto ranks = run_ranks("peer_exits:" + std::to_string(leaver), 2, 30000, std::chrono::seconds(55), dir);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int survivor = 1 - leaver;
  EXPECT_EQ(ranks[leaver].status, 3) << ranks[leaver].output;
  EXPECT_EQ(ranks[survivor].status, 0) << ranks[survivor].output;
  EXPECT_NE(ranks[survivor].output.find("caught ITL_DISTRIBUTED"), std::string::npos) << ranks[survivor].output;
  EXPECT_NE(ranks[survivor].output.find("failed on rank " + std::to_string(survivor) + " of 2"), std::string::npos)
      << ranks[survivor].output;
  EXPECT_LT(seconds, 55.0);
}

TEST(Communicator, RankExitingEndsTheOtherWithAnError) { expect_survivor_fails(1); }

TEST(Communicator, RendezvousHostExitingEndsTheOtherWithAnError) { expect_survivor_fails(0); }

// A rank that stays alive but never joins: only the timeout can end the wait.
TEST(Communicator, HangingRankEndsTheOtherWithinTheTimeout) {
  testing::TempDir dir;
  const auto ranks = run_ranks("peer_hangs", 2, 2000, std::chrono::seconds(40), dir);
  EXPECT_EQ(ranks[0].status, 0) << ranks[0].output;
  EXPECT_NE(ranks[0].output.find("caught ITL_DISTRIBUTED"), std::string::npos) << ranks[0].output;
  EXPECT_NE(ranks[0].output.find("2000 ms collective timeout"), std::string::npos) << ranks[0].output;
}

TEST(Communicator, WorldOfOneIsLocalAndLeavesTensorsAsTheyAre) {
  auto comm = Communicator::create(DistEnv{}, at::kCPU, std::chrono::milliseconds(1000));
  EXPECT_EQ(comm->world_size(), 1);
  EXPECT_EQ(comm->backend_name(), "local");
  std::vector<at::Tensor> tensors = {at::arange(4, at::kFloat)};
  comm->all_reduce_sum(tensors);
  comm->broadcast(tensors, 0);
  comm->barrier();
  EXPECT_TRUE(at::equal(tensors[0], at::arange(4, at::kFloat)));
  EXPECT_THROW(comm->broadcast(tensors, 1), Error);

  // The reducer adds no hooks and leaves local gradients untouched.
  at::Tensor w = at::full({3}, 2.0, at::kFloat).requires_grad_(true);
  GradientReducer reducer({w}, *comm);
  reducer.prepare_backward(true);
  (w * w).sum().backward();
  reducer.finish_backward();
  EXPECT_TRUE(at::equal(w.grad(), at::full({3}, 4.0, at::kFloat)));
  EXPECT_EQ(reducer.bytes_reduced(), 0u);
}

ErrorCode code_of_create(const DistEnv& env, int timeout_ms = 1000) {
  try {
    Communicator::create(env, at::kCPU, std::chrono::milliseconds(timeout_ms));
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::kInternal;  // no error: the callers expect one
}

TEST(Communicator, InconsistentEnvironmentsAreRejected) {
  DistEnv env;
  env.world_size = 2;
  env.local_world_size = 2;
  env.rank = 2;
  EXPECT_EQ(code_of_create(env), ErrorCode::kInvalidArgument);  // rank outside the world
  env.rank = 1;
  env.local_rank = 2;
  EXPECT_EQ(code_of_create(env), ErrorCode::kInvalidArgument);  // local rank outside the node
  env.local_rank = 1;
  env.master_port = 70000;
  EXPECT_EQ(code_of_create(env), ErrorCode::kInvalidArgument);
  env.master_port = 29500;
  env.master_addr = "";
  EXPECT_EQ(code_of_create(env), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of_create(DistEnv{}, 0), ErrorCode::kInvalidArgument);  // no timeout
  try {
    validate_dist_env(DistEnv{3, 2, 0, 1, "127.0.0.1", 29500});
    FAIL() << "rank 3 of 2 was accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "rank 3 is outside a world of 2");
  }
}

// A rank whose peer never arrives fails within the timeout instead of waiting (in the TCPStore's
// wait for workers, or in Gloo's connection of the ranks, depending on the libtorch version).
TEST(Communicator, MissingPeerFailsTheRendezvousWithinTheTimeout) {
  DistEnv env;
  env.world_size = 2;
  env.master_port = free_port();
  try {
    Communicator::create(env, at::kCPU, std::chrono::milliseconds(1500));
    FAIL() << "the rendezvous succeeded without rank 1";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDistributed) << e.what();
    EXPECT_NE(std::string(e.what()).find("failed on rank 0 of 2"), std::string::npos) << e.what();
  }
}

// Rank 0 cannot host the rendezvous on a port another process listens on.
TEST(Communicator, TakenPortFailsTheRendezvousClearly) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  DistEnv env;
  env.world_size = 2;
  env.master_port = ntohs(address.sin_port);
  try {
    Communicator::create(env, at::kCPU, std::chrono::milliseconds(1500));
    ::close(fd);
    FAIL() << "rank 0 hosted a rendezvous on a taken port";
  } catch (const Error& e) {
    ::close(fd);
    EXPECT_EQ(e.code(), ErrorCode::kDistributed) << e.what();
    EXPECT_NE(std::string(e.what()).find("rendezvous at 127.0.0.1:" + std::to_string(env.master_port) + " failed on rank 0 of 2"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("its port is taken"), std::string::npos) << e.what();
  }
}

TEST(GradientReducer, RejectsTensorsThatAreNotTrainableLeaves) {
  auto comm = Communicator::create(DistEnv{}, at::kCPU, std::chrono::milliseconds(1000));
  const at::Tensor frozen = at::ones({2});
  EXPECT_THROW(GradientReducer({frozen}, *comm), Error);
  const at::Tensor leaf = at::ones({2}).requires_grad_(true);
  EXPECT_THROW(GradientReducer({leaf * 2}, *comm), Error);
}

}  // namespace
}  // namespace itl
