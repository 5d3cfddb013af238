// A model folder's weights as transformers reads and writes them: one model.safetensors, or shards
// named model-0000i-of-0000n.safetensors behind model.safetensors.index.json. Not here: the
// config (llama_config.cpp) and finding the folder (model_folder.cpp).
#include "io/checkpoint.h"

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "util/error.h"

namespace itl {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

[[noreturn]] void malformed(const std::string& source, const std::string& message) {
  throw Error(ErrorCode::kCheckpointFormat, source + ": " + message);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, "cannot open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(ErrorCode::kIo, "cannot read " + path);
  return text.str();
}

// weight_map of an index: tensor name -> shard file name (relative to the folder).
std::map<std::string, std::string> read_weight_map(const std::string& index_path) {
  Json index;
  try {
    index = Json::parse(read_text(index_path));
  } catch (const Json::exception& e) {
    malformed(index_path, std::string("not valid JSON: ") + e.what());
  }
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    malformed(index_path, "expected an object with a 'weight_map' object");
  std::map<std::string, std::string> weight_map;
  for (const auto& [name, file] : index["weight_map"].items()) {
    if (!file.is_string()) malformed(index_path, "weight_map entry '" + name + "' must name a file");
    const std::string shard = file.get<std::string>();
    const fs::path shard_path(shard);
    const bool escapes =
        shard_path.is_absolute() || std::any_of(shard_path.begin(), shard_path.end(), [](const fs::path& part) { return part == ".."; });
    if (shard.empty() || escapes) malformed(index_path, "weight_map entry '" + name + "' names '" + shard + "', outside the model folder");
    weight_map[name] = shard;
  }
  return weight_map;
}

}  // namespace

CheckpointReader CheckpointReader::open(const std::string& folder) {
  CheckpointReader reader;
  reader.folder_ = folder;
  const std::string single = folder + "/" + kSingleFile;
  const std::string index_path = folder + "/" + kIndexFile;
  // transformers prefers the single file when both exist; so do we.
  if (fs::is_regular_file(single)) {
    reader.shards_.push_back(SafeTensorsFile::open(single));
    for (const TensorInfo& info : reader.shards_[0]->header().tensors) reader.index_.emplace_back(info.name, 0);
  } else if (fs::is_regular_file(index_path)) {
    const std::map<std::string, std::string> weight_map = read_weight_map(index_path);
    std::map<std::string, size_t> shard_of_file;
    for (const auto& [name, file] : weight_map) {
      auto it = shard_of_file.find(file);
      if (it == shard_of_file.end()) {
        const std::string path = folder + "/" + file;
        if (!fs::is_regular_file(path)) malformed(index_path, "names shard '" + file + "' (for '" + name + "'), which does not exist");
        reader.shards_.push_back(SafeTensorsFile::open(path));
        it = shard_of_file.emplace(file, reader.shards_.size() - 1).first;
      }
      if (!reader.shards_[it->second]->find(name))
        malformed(index_path, "says '" + name + "' is in '" + file + "', which has no such tensor");
      reader.index_.emplace_back(name, it->second);
    }
    // A tensor in a shard that the index does not send there is either a second definition or
    // one the index forgot: both mean the folder is not what its index says.
    for (const auto& [file, shard] : shard_of_file) {
      for (const TensorInfo& info : reader.shards_[shard]->header().tensors) {
        auto it = weight_map.find(info.name);
        if (it == weight_map.end()) malformed(index_path, "shard '" + file + "' holds '" + info.name + "', which the index does not list");
        if (it->second != file) malformed(index_path, "'" + info.name + "' is defined in both '" + file + "' and '" + it->second + "'");
      }
    }
  } else {
    throw Error(ErrorCode::kIo, folder + ": no " + kSingleFile + " or " + kIndexFile);
  }
  std::sort(reader.index_.begin(), reader.index_.end());
  return reader;
}

std::vector<std::string> CheckpointReader::names() const {
  std::vector<std::string> names;
  names.reserve(index_.size());
  for (const auto& entry : index_) names.push_back(entry.first);
  return names;
}

bool CheckpointReader::contains(const std::string& name) const {
  auto it =
      std::lower_bound(index_.begin(), index_.end(), name, [](const auto& entry, const std::string& key) { return entry.first < key; });
  return it != index_.end() && it->first == name;
}

const TensorInfo& CheckpointReader::info(const std::string& name) const {
  auto it =
      std::lower_bound(index_.begin(), index_.end(), name, [](const auto& entry, const std::string& key) { return entry.first < key; });
  if (it == index_.end() || it->first != name) malformed(folder_, "the checkpoint has no tensor named '" + name + "'");
  return *shards_[it->second]->find(name);
}

at::Tensor CheckpointReader::tensor(const std::string& name) const {
  auto it =
      std::lower_bound(index_.begin(), index_.end(), name, [](const auto& entry, const std::string& key) { return entry.first < key; });
  if (it == index_.end() || it->first != name) malformed(folder_, "the checkpoint has no tensor named '" + name + "'");
  return shards_[it->second]->tensor(name);
}

namespace {

using Named = std::pair<std::string, at::Tensor>;

// huggingface_hub's split_state_dict_into_shards: walk in order, start a new shard when the next
// tensor would overflow the current one; a tensor larger than the limit gets a shard of its own
// (placed before the shard being filled, as the reference does).
std::vector<std::vector<const Named*>> split_into_shards(const std::vector<Named>& tensors, uint64_t max_shard_bytes) {
  std::vector<std::vector<const Named*>> shards;
  std::vector<const Named*> current;
  uint64_t current_bytes = 0;
  for (const Named& named : tensors) {
    const uint64_t bytes = static_cast<uint64_t>(named.second.numel()) * named.second.element_size();
    if (bytes > max_shard_bytes) {
      shards.push_back({&named});
      continue;
    }
    if (current_bytes + bytes > max_shard_bytes) {
      shards.push_back(std::move(current));
      current.clear();
      current_bytes = 0;
    }
    current.push_back(&named);
    current_bytes += bytes;
  }
  if (!current.empty()) shards.push_back(std::move(current));
  return shards;
}

std::string shard_name(size_t i, size_t n) {
  char name[64];
  std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return name;
}

// Shards of an earlier save with another shard count would sit beside the new ones; transformers
// deletes them the same way.
void remove_stale_shards(const std::string& folder, const std::set<std::string>& keep) {
  static const std::regex shard_pattern(R"(model-\d{5}-of-\d{5}\.safetensors)");
  for (const fs::directory_entry& entry : fs::directory_iterator(folder)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && std::regex_match(name, shard_pattern) && !keep.count(name)) fs::remove(entry.path());
  }
}

}  // namespace

void write_checkpoint(const std::string& folder, const std::vector<Named>& tensors, uint64_t max_shard_bytes) {
  require(max_shard_bytes > 0, "max_shard_bytes must be positive");
  std::set<std::string> names;
  for (const Named& named : tensors) require(names.insert(named.first).second, folder + ": tensor '" + named.first + "' given twice");
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot create " + folder + ": " + ec.message());

  const auto shards = split_into_shards(tensors, max_shard_bytes);
  if (shards.size() <= 1) {
    write_safetensors(folder + "/" + kSingleFile, tensors);
    fs::remove(folder + "/" + kIndexFile, ec);
    remove_stale_shards(folder, {});
    return;
  }
  Json weight_map = Json::object();
  uint64_t total_size = 0;
  std::set<std::string> written;
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string file = shard_name(i, shards.size());
    std::vector<Named> shard_tensors;
    for (const Named* named : shards[i]) {
      shard_tensors.push_back(*named);
      weight_map[named->first] = file;
      total_size += static_cast<uint64_t>(named->second.numel()) * named->second.element_size();
    }
    write_safetensors(folder + "/" + file, shard_tensors);
    written.insert(file);
  }
  // transformers: json.dumps(index, indent=2, sort_keys=True) + "\n" (ASCII-escaped).
  const Json index = {{"metadata", {{"total_size", total_size}}}, {"weight_map", weight_map}};
  write_file_atomically(folder + "/" + kIndexFile, index.dump(2, ' ', true) + "\n");
  // Readers prefer model.safetensors, so a stale one would shadow the shards just written.
  fs::remove(folder + "/" + kSingleFile, ec);
  remove_stale_shards(folder, written);
}

}  // namespace itl
