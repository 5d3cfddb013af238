// Checkpoints: single-file and sharded folders hold identical tensors, shards are cut and the index
// written as huggingface_hub/transformers do, inconsistent folders are refused, and model names
// resolve through $ITL_MODELS and the Hugging Face cache layout.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>

#include "io/checkpoint.h"
#include "io_test_support.h"

namespace itl {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using testing::expect_error;
using testing::read_bytes;
using testing::TempDir;
using testing::write_bytes;

using Named = std::vector<std::pair<std::string, at::Tensor>>;

Named some_weights() {
  return {{"model.embed_tokens.weight", at::randn({64, 16}).to(at::kBFloat16)},
          {"model.layers.0.self_attn.q_proj.weight", at::randn({16, 16})},
          {"model.layers.0.mlp.up_proj.weight", at::randn({32, 16}).to(at::kHalf)},
          {"model.layers.1.self_attn.q_proj.weight", at::randn({16, 16})},
          {"model.norm.weight", at::ones({16})},
          {"lm_head.weight", at::randn({64, 16}).to(at::kBFloat16)}};
}

bool same_bytes(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const at::Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.numel() * ca.element_size()) == 0;
}

std::vector<std::string> files_in(const fs::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(Checkpoint, ShardedAndSingleFileHoldIdenticalTensors) {
  TempDir dir;
  const Named weights = some_weights();
  const std::string single = dir / "single", sharded = dir / "sharded";
  write_checkpoint(single, weights);
  write_checkpoint(sharded, weights, 3000);
  EXPECT_EQ(files_in(single), std::vector<std::string>{"model.safetensors"});
  const std::vector<std::string> shard_files = files_in(sharded);
  ASSERT_GT(shard_files.size(), 2u);
  EXPECT_EQ(shard_files.back(), "model.safetensors.index.json");
  EXPECT_EQ(shard_files.front(), "model-00001-of-" + std::string(5 - std::to_string(shard_files.size() - 1).size(), '0') +
                                     std::to_string(shard_files.size() - 1) + ".safetensors");

  const CheckpointReader a = CheckpointReader::open(single);
  const CheckpointReader b = CheckpointReader::open(sharded);
  ASSERT_EQ(a.names(), b.names());
  EXPECT_EQ(a.names().size(), weights.size());
  const std::vector<std::string> names = a.names();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (const auto& [name, tensor] : weights) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(a.contains(name));
    EXPECT_TRUE(same_bytes(a.tensor(name), tensor));
    EXPECT_TRUE(same_bytes(b.tensor(name), tensor));
    EXPECT_EQ(a.info(name).dtype, b.info(name).dtype);
    EXPECT_EQ(a.info(name).shape, b.info(name).shape);
  }
  EXPECT_FALSE(a.contains("model.layers.9.mlp.up_proj.weight"));
  expect_error([&] { b.tensor("model.layers.9.mlp.up_proj.weight"); }, ErrorCode::kCheckpointFormat,
               "no tensor named 'model.layers.9.mlp.up_proj.weight'");
  expect_error([&] { b.info("nope"); }, ErrorCode::kCheckpointFormat, "sharded: the checkpoint has no tensor named 'nope'");
}

TEST(Checkpoint, IndexIsWrittenAsTransformersWritesIt) {
  TempDir dir;
  const Named weights = some_weights();
  write_checkpoint(dir / "m", weights, 3000);
  const std::string text = read_bytes(dir / "m/model.safetensors.index.json");
  uint64_t total = 0;
  for (const auto& [name, tensor] : weights) total += tensor.numel() * tensor.element_size();
  // json.dumps(index, indent=2, sort_keys=True) + "\n"
  EXPECT_EQ(text.rfind("{\n  \"metadata\": {\n    \"total_size\": " + std::to_string(total) +
                           "\n  },\n  \"weight_map\": {\n    \"lm_head.weight\": \"model-",
                       0),
            0u)
      << text;
  EXPECT_EQ(text.substr(text.size() - 4), "}\n}\n");
  const Json index = Json::parse(text);
  EXPECT_EQ(index["weight_map"].size(), weights.size());
  for (const auto& [name, file] : index["weight_map"].items()) {
    const auto shard = SafeTensorsFile::open(dir / ("m/" + file.get<std::string>()));
    EXPECT_NE(shard->find(name), nullptr) << name;
    EXPECT_EQ(shard->header().metadata.at("format"), "pt");
  }
}

// huggingface_hub's own example: sizes 6, 10, 30, 2, 2 with a limit of 10 give [6] [30] [10] [2,2]
// (an oversized tensor gets its own shard, placed before the one being filled).
TEST(Checkpoint, ShardsAreCutAsHuggingfaceHubCutsThem) {
  TempDir dir;
  const Named weights = {{"layer_1", at::zeros({6}, at::kByte)},
                         {"layer_2", at::zeros({10}, at::kByte)},
                         {"layer_3", at::zeros({30}, at::kByte)},
                         {"layer_4", at::zeros({2}, at::kByte)},
                         {"layer_5", at::zeros({2}, at::kByte)}};
  write_checkpoint(dir.path().string(), weights, 10);
  const Json index = Json::parse(read_bytes(dir / "model.safetensors.index.json"));
  const Json expected = {{"layer_1", "model-00001-of-00004.safetensors"},
                         {"layer_3", "model-00002-of-00004.safetensors"},
                         {"layer_2", "model-00003-of-00004.safetensors"},
                         {"layer_4", "model-00004-of-00004.safetensors"},
                         {"layer_5", "model-00004-of-00004.safetensors"}};
  EXPECT_EQ(index["weight_map"], expected);
  EXPECT_EQ(index["metadata"]["total_size"], 50);
}

TEST(Checkpoint, SavingAgainReplacesTheEarlierLayout) {
  TempDir dir;
  const std::string folder = dir / "m";
  write_checkpoint(folder, some_weights(), 3000);
  const Named smaller = {{"w", at::arange(4, at::kFloat)}};
  write_checkpoint(folder, smaller);
  EXPECT_EQ(files_in(folder), std::vector<std::string>{"model.safetensors"});
  EXPECT_EQ(CheckpointReader::open(folder).names(), std::vector<std::string>{"w"});

  write_checkpoint(folder, some_weights(), 3000);
  EXPECT_FALSE(fs::exists(folder + "/model.safetensors"));  // it would shadow the shards
  EXPECT_EQ(CheckpointReader::open(folder).names().size(), some_weights().size());
}

TEST(Checkpoint, TensorsOutliveTheReader) {
  TempDir dir;
  const at::Tensor w = at::randn({8, 8});
  write_checkpoint(dir.path().string(), {{"w", w}});
  at::Tensor view;
  { view = CheckpointReader::open(dir.path().string()).tensor("w"); }
  EXPECT_TRUE(at::equal(view, w));
}

TEST(Checkpoint, WriterRejectsDuplicateNames) {
  TempDir dir;
  expect_error(
      [&] {
        write_checkpoint(dir / "m", {{"w", at::zeros({1})}, {"w", at::zeros({1})}});
      },
      ErrorCode::kInvalidArgument, "tensor 'w' given twice");
}

class BrokenIndex : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = dir_ / "m";
    write_checkpoint(folder_, {{"a", at::zeros({4})}, {"b", at::ones({4})}, {"c", at::ones({8})}}, 40);
    index_ = Json::parse(read_bytes(folder_ + "/model.safetensors.index.json"));
  }
  void write_index(const std::string& text) { write_bytes(folder_ + "/model.safetensors.index.json", text); }
  void expect_rejected(const std::string& message) {
    expect_error([&] { CheckpointReader::open(folder_); }, ErrorCode::kCheckpointFormat, message);
  }
  TempDir dir_;
  std::string folder_;
  Json index_;
};

TEST_F(BrokenIndex, ShardIsMissing) {
  fs::remove(folder_ + "/model-00002-of-00002.safetensors");
  expect_rejected("names shard 'model-00002-of-00002.safetensors' (for 'c'), which does not exist");
}

TEST_F(BrokenIndex, TensorIsNotInItsShard) {
  index_["weight_map"]["d"] = "model-00001-of-00002.safetensors";
  write_index(index_.dump());
  expect_rejected("says 'd' is in 'model-00001-of-00002.safetensors', which has no such tensor");
}

TEST_F(BrokenIndex, TensorInTwoShards) {
  // Shard 2 gains a second "a" while the index still sends "a" to shard 1.
  write_safetensors(folder_ + "/model-00002-of-00002.safetensors", {{"a", at::zeros({4})}, {"c", at::ones({8})}});
  expect_rejected("'a' is defined in both 'model-00002-of-00002.safetensors' and 'model-00001-of-00002.safetensors'");
}

TEST_F(BrokenIndex, ShardHoldsAnUnlistedTensor) {
  index_["weight_map"].erase("b");
  write_index(index_.dump());
  expect_rejected("holds 'b', which the index does not list");
}

TEST_F(BrokenIndex, NotJsonOrNoWeightMap) {
  write_index("{\"weight_map\": ");
  expect_rejected("model.safetensors.index.json: not valid JSON");
  write_index("{\"metadata\": {}}");
  expect_rejected("expected an object with a 'weight_map' object");
  write_index(R"({"weight_map": {"a": 3}})");
  expect_rejected("weight_map entry 'a' must name a file");
  write_index(R"({"weight_map": {"a": "../x.safetensors"}})");
  expect_rejected("outside the model folder");
}

TEST_F(BrokenIndex, ShardIsMalformed) {
  const std::string shard = folder_ + "/model-00001-of-00002.safetensors";
  const std::string bytes = read_bytes(shard);
  write_bytes(shard, bytes.substr(0, bytes.size() - 1));
  expect_rejected("model-00001-of-00002.safetensors: ");
}

TEST(Checkpoint, FolderWithoutWeightsIsAnIoError) {
  TempDir dir;
  expect_error([&] { CheckpointReader::open(dir.path().string()); }, ErrorCode::kIo,
               "no model.safetensors or model.safetensors.index.json");
}

// ---------------------------------------------------------------------------------------------
// resolve_model_folder

// Sets environment variables for one test and restores them afterwards.
class ScopedEnv {
 public:
  void set(const char* name, const std::string& value) {
    remember(name);
    ::setenv(name, value.c_str(), 1);
  }
  void unset(const char* name) {
    remember(name);
    ::unsetenv(name);
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }

 private:
  void remember(const char* name) {
    if (saved_.count(name)) return;
    const char* value = std::getenv(name);
    saved_[name] = value ? std::optional<std::string>(value) : std::nullopt;
  }
  std::map<std::string, std::optional<std::string>> saved_;
};

class ResolveModelFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "ITL_MODELS"}) env_.unset(name);
    env_.set("HOME", dir_ / "home");
  }
  // A snapshot folder with config.json in the cache layout, written `age_s` seconds ago.
  fs::path snapshot(const fs::path& hub, const std::string& repo, const std::string& revision, int age_s) {
    const fs::path folder = hub / repo / "snapshots" / revision;
    write_bytes((folder / "config.json").string(), "{}");
    fs::last_write_time(folder, fs::file_time_type::clock::now() - std::chrono::seconds(age_s));
    return folder;
  }
  TempDir dir_;
  ScopedEnv env_;
};

TEST_F(ResolveModelFolder, PlainFolderIsItself) {
  write_bytes(dir_ / "plain/config.json", "{}");
  EXPECT_EQ(resolve_model_folder(dir_ / "plain"), dir_ / "plain");
  fs::create_directories(dir_ / "empty");
  expect_error([&] { resolve_model_folder(dir_ / "empty"); }, ErrorCode::kIo, "is a folder without config.json");
}

TEST_F(ResolveModelFolder, HubCacheUsesRefsMain) {
  const fs::path hub = dir_.path() / "hub";
  env_.set("HF_HUB_CACHE", hub.string());
  snapshot(hub, "models--Org--Name", "aaaa", 100);
  const fs::path pinned = snapshot(hub, "models--Org--Name", "bbbb", 200);  // older, but refs/main names it
  write_bytes((hub / "models--Org--Name/refs/main").string(), "bbbb");
  EXPECT_EQ(resolve_model_folder("Org/Name"), pinned.string());
}

TEST_F(ResolveModelFolder, HubCacheWithoutRefsTakesTheNewestSnapshot) {
  const fs::path hub = dir_.path() / "hf-home" / "hub";
  env_.set("HF_HOME", (dir_.path() / "hf-home").string());
  snapshot(hub, "models--Org--Name", "old", 500);
  const fs::path newest = snapshot(hub, "models--Org--Name", "new", 10);
  snapshot(hub, "models--Org--Name", "older", 900);
  EXPECT_EQ(resolve_model_folder("Org/Name"), newest.string());
  // A cache repo folder given as a path resolves the same way.
  EXPECT_EQ(resolve_model_folder((hub / "models--Org--Name").string()), newest.string());
}

TEST_F(ResolveModelFolder, HfHubCacheWinsOverHfHome) {
  env_.set("HF_HOME", (dir_.path() / "hf-home").string());
  env_.set("HF_HUB_CACHE", (dir_.path() / "cache").string());
  snapshot(dir_.path() / "hf-home" / "hub", "models--Org--Name", "home", 10);
  const fs::path chosen = snapshot(dir_.path() / "cache", "models--Org--Name", "cache", 10);
  EXPECT_EQ(resolve_model_folder("Org/Name"), chosen.string());
}

TEST_F(ResolveModelFolder, DefaultCacheUnderHome) {
  const fs::path chosen = snapshot(dir_.path() / "home/.cache/huggingface/hub", "models--Org--Name", "r", 10);
  EXPECT_EQ(resolve_model_folder("Org/Name"), chosen.string());
}

TEST_F(ResolveModelFolder, ItlModelsComesBeforeTheCache) {
  env_.set("ITL_MODELS", (dir_.path() / "models").string());
  env_.set("HF_HUB_CACHE", (dir_.path() / "hub").string());
  snapshot(dir_.path() / "hub", "models--Org--Name", "r", 10);
  write_bytes(dir_ / "models/Org/Name/config.json", "{}");
  EXPECT_EQ(resolve_model_folder("Org/Name"), (dir_.path() / "models/Org/Name").string());
}

TEST_F(ResolveModelFolder, MissingModelListsWhereItLooked) {
  env_.set("ITL_MODELS", (dir_.path() / "models").string());
  env_.set("HF_HUB_CACHE", (dir_.path() / "hub").string());
  try {
    resolve_model_folder("Org/Missing");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    const std::string message = e.what();
    EXPECT_NE(message.find("cannot find model 'Org/Missing'"), std::string::npos) << message;
    EXPECT_NE(message.find((dir_.path() / "models/Org/Missing").string()), std::string::npos) << message;
    EXPECT_NE(message.find((dir_.path() / "hub/models--Org--Missing/snapshots").string()), std::string::npos) << message;
  }
  // Something that cannot be a repo id is only looked for as a path.
  expect_error([] { resolve_model_folder("/no/such/folder"); }, ErrorCode::kIo, "looked in /no/such/folder (as a folder)");
  expect_error([] { resolve_model_folder(""); }, ErrorCode::kInvalidArgument, "model name");
}

}  // namespace
}  // namespace itl
