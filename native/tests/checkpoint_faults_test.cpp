// Checkpoints on a failing disk and damaged checkpoints on resume (issue 24): a disk filling during a
// checkpoint is an Error(kIo) naming the file, not an abort; the previous checkpoint stays the latest
// complete one and no staging folder is left; a truncated file on resume is Error(kCheckpointDamaged)
// naming it. Failures are injected with ITL_FAULT_WRITE (io/write_fault.h) or are real (/dev/full).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "io/safetensors.h"
#include "io/write_fault.h"
#include "io_test_support.h"
#include "train/trainer.h"
#include "train_fixtures.h"
#include "util/error.h"

namespace itl {
namespace {

namespace fs = std::filesystem;

class ScopedFault {
 public:
  explicit ScopedFault(const char* spec) { ::setenv("ITL_FAULT_WRITE", spec, 1); }
  ~ScopedFault() { ::unsetenv("ITL_FAULT_WRITE"); }
};

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(WriteFault, TheSettingIsParsedAndMatchedBySubstring) {
  EXPECT_EQ(injected_write_fault("/a/checkpoint-4/optimizer.pt"), 0);
  ScopedFault fault("EIO:nothing,ENOSPC:checkpoint-4/");
  EXPECT_EQ(injected_write_fault("/a/checkpoint-4/optimizer.pt"), ENOSPC);
  EXPECT_EQ(injected_write_fault("/a/checkpoint-6/optimizer.pt"), 0);
  ::setenv("ITL_FAULT_WRITE", "ENOPE:x", 1);
  testing::expect_error([] { injected_write_fault("x"); }, ErrorCode::kInvalidArgument, "but received 'ENOPE:x'");
}

TEST(WriteStreamAtomically, AFailedWriteIsHiddenFromTheProducerThenThrownAndNothingIsLeft) {
  testing::TempDir dir;
  const std::string path = dir / "optimizer.pt";
  std::vector<size_t> taken;
  const auto produce = [&](const ByteSink& sink) {
    for (int i = 0; i < 3; ++i) taken.push_back(sink("0123456789", 10));
  };
  write_stream_atomically(path, produce);
  EXPECT_EQ(testing::read_bytes(path), "012345678901234567890123456789");
  taken.clear();
  ScopedFault fault("ENOSPC:optimizer.pt");
  testing::expect_error([&] { write_stream_atomically(path, produce); }, ErrorCode::kIo,
                        "cannot write " + path + ": No space left on device (injected by ITL_FAULT_WRITE)");
  EXPECT_EQ(taken, (std::vector<size_t>{10, 10, 10}));                     // the producer never saw a short write
  EXPECT_EQ(testing::read_bytes(path), "012345678901234567890123456789");  // the old file stays
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"optimizer.pt"});
}

// The disk fills while checkpoint-4 is written: before the fix libtorch's archive writer aborted the
// process ("terminate called after throwing an instance of 'c10::Error'").
TEST(CheckpointFaults, ADiskFillingDuringACheckpointIsAnErrorAndThePreviousOneStaysTheLatest) {
  for (const char* file : {"optimizer.pt", "model.safetensors", "trainer_state.json", "rng_state.safetensors"}) {
    testing::TempDir dir;
    TrainerOptions o = testing::small_trainer_options(dir / "run", 2, 1, 3);  // 2 steps an epoch, 6 steps
    o.schedule.save_steps = 2;
    Trainer trainer(testing::small_model(true, at::kFloat), testing::make_rows(4, 1), TokenRows{}, o);
    ASSERT_EQ(trainer.run_until_checkpoint(RunControl{}).global_step, 2);
    const std::string before = testing::read_bytes(dir / "run/checkpoint-2/optimizer.pt");
    const std::string spec = std::string("ENOSPC:/") + file;  // "/": trainer_state.json, not itl_trainer_state.json
    ScopedFault fault(spec.c_str());
    testing::expect_error([&] { trainer.run_until_checkpoint(RunControl{}); }, ErrorCode::kIo,
                          "cannot write checkpoint-4 (cannot write " + (dir.path() / "run").string() + "/.checkpoint-4.tmp-" +
                              std::to_string(::getpid()) + "/" + file + ": No space left on device (injected by ITL_FAULT_WRITE)); " +
                              (dir.path() / "run/checkpoint-2").string() + " is still the latest complete checkpoint");
    EXPECT_EQ(entries(dir.path() / "run"), (std::vector<std::string>{"checkpoint-2", "metrics.jsonl"})) << file;
    EXPECT_EQ(testing::read_bytes(dir / "run/checkpoint-2/optimizer.pt"), before);
  }
}

TEST(CheckpointFaults, AFullDiskUnderTheMetricsLogIsAnError) {
  testing::TempDir dir;
  fs::create_directories(dir.path() / "run");
  fs::create_symlink("/dev/full", dir.path() / "run/metrics.jsonl");  // writes fail with ENOSPC
  Trainer trainer(testing::small_model(true, at::kFloat), testing::make_rows(4, 1), TokenRows{},
                  testing::small_trainer_options(dir / "run", 2, 1, 1));
  testing::expect_error([&] { trainer.run_until_checkpoint(RunControl{}); }, ErrorCode::kIo,
                        "cannot append to " + (dir.path() / "run/metrics.jsonl").string() + ": No space left on device");
}

TEST(CheckpointFaults, ATruncatedFileOnResumeIsADamagedCheckpointNamingIt) {
  for (const char* file : {"optimizer.pt", "model.safetensors", "rng_state.safetensors", "trainer_state.json", "itl_trainer_state.json"}) {
    testing::TempDir dir;
    const TokenRows rows = testing::make_rows(4, 1);
    TrainerOptions o = testing::small_trainer_options(dir / "run", 2, 1, 2);
    o.schedule.save_steps = 2;
    Trainer first(testing::small_model(true, at::kFloat), rows, TokenRows{}, o);
    const std::string checkpoint = first.run_until_checkpoint(RunControl{}).checkpoint;
    const fs::path damaged = fs::path(checkpoint) / file;
    fs::resize_file(damaged, fs::file_size(damaged) / 2);
    Trainer second(testing::small_model(true, at::kFloat), rows, TokenRows{}, o);
    testing::expect_error([&] { second.resume(checkpoint); }, ErrorCode::kCheckpointDamaged,
                          "the checkpoint " + checkpoint + " is damaged: cannot read " + damaged.string() + ": ");
  }
}

// Two runs that reach the same state write the same checkpoint bytes, optimizer.pt included (libtorch's
// own save keys the state by TensorImpl addresses: the fault suite found every resumed run's
// optimizer.pt differing from the uninterrupted run's in data.pkl and tensor order).
TEST(CheckpointBytes, TwoRunsToTheSameStateWriteIdenticalFiles) {
  testing::TempDir dir;
  std::vector<std::string> checkpoints;
  for (const char* run : {"a", "b"}) {
    TrainerOptions o = testing::small_trainer_options(dir / run, 2, 1, 1);
    o.lora.r = 4;  // LoRA and full fine-tuning differ in how many parameters hold state
    o.lora.alpha = 8;
    Trainer trainer(testing::small_model(false, at::kFloat), testing::make_rows(4, 1), TokenRows{}, o);
    checkpoints.push_back(trainer.run_until_checkpoint(RunControl{}).checkpoint);
  }
  for (const char* file : {"optimizer.pt", "adapter_model.safetensors", "rng_state.safetensors"}) {
    EXPECT_EQ(testing::read_bytes(checkpoints[0] + "/" + file), testing::read_bytes(checkpoints[1] + "/" + file)) << file;
  }
}

}  // namespace
}  // namespace itl
