// resolve_model_folder: from what a user types (a path, or a Hugging Face id like
// "HuggingFaceTB/SmolLM-135M-Instruct") to a folder holding config.json. Looks only at the local
// disk: nothing is ever downloaded. Not here: reading what is in the folder.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "util/error.h"

namespace itl {
namespace {

namespace fs = std::filesystem;

bool has_config(const fs::path& folder) {
  std::error_code ec;
  return fs::is_regular_file(folder / "config.json", ec);
}

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (!value || !*value) return std::nullopt;
  return std::string(value);
}

// huggingface_hub's constants: HF_HUB_CACHE (legacy HUGGINGFACE_HUB_CACHE), else $HF_HOME/hub,
// where HF_HOME defaults to $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
fs::path hub_cache() {
  if (auto dir = env("HF_HUB_CACHE")) return *dir;
  if (auto dir = env("HUGGINGFACE_HUB_CACHE")) return *dir;
  if (auto home = env("HF_HOME")) return fs::path(*home) / "hub";
  if (auto xdg = env("XDG_CACHE_HOME")) return fs::path(*xdg) / "huggingface" / "hub";
  return fs::path(env("HOME").value_or("")) / ".cache" / "huggingface" / "hub";
}

std::string trimmed(std::string text) {
  const auto last = text.find_last_not_of(" \t\r\n");
  text.erase(last == std::string::npos ? 0 : last + 1);
  return text;
}

// A cache repo folder (models--ORG--NAME): the snapshot refs/main points at when it is complete,
// else the most recently written snapshot holding config.json.
std::optional<fs::path> cached_snapshot(const fs::path& repo) {
  std::error_code ec;
  const fs::path snapshots = repo / "snapshots";
  if (!fs::is_directory(snapshots, ec)) return std::nullopt;
  std::ifstream ref(repo / "refs" / "main");
  std::string revision;
  if (ref && std::getline(ref, revision)) {
    revision = trimmed(revision);
    if (!revision.empty() && revision.find('/') == std::string::npos && revision != ".." && has_config(snapshots / revision))
      return snapshots / revision;
  }
  std::optional<fs::path> newest;
  fs::file_time_type newest_time{};
  for (const fs::directory_entry& entry : fs::directory_iterator(snapshots, ec)) {
    if (!entry.is_directory(ec) || !has_config(entry.path())) continue;
    const fs::file_time_type time = fs::last_write_time(entry.path(), ec);
    if (!newest || time > newest_time) {
      newest = entry.path();
      newest_time = time;
    }
  }
  return newest;
}

// "ORG/NAME" or "NAME", as a Hugging Face repo id can be; anything else is only a path.
bool looks_like_repo_id(const std::string& name) {
  const fs::path path(name);
  if (name.empty() || path.is_absolute()) return false;
  size_t parts = 0;
  for (const fs::path& part : path) {
    if (part == ".." || part == "." || part.empty()) return false;
    ++parts;
  }
  return parts <= 2;
}

std::string repo_folder_name(const std::string& repo_id) {
  std::string folder = "models--";
  for (char c : repo_id) {
    if (c == '/') {
      folder += "--";
    } else {
      folder += c;
    }
  }
  return folder;
}

}  // namespace

std::string resolve_model_folder(const std::string& name_or_path) {
  require(!name_or_path.empty(), "a model name or folder is required");
  std::error_code ec;
  const fs::path given(name_or_path);
  if (fs::is_directory(given, ec)) {
    if (has_config(given)) return name_or_path;
    if (auto snapshot = cached_snapshot(given)) return snapshot->string();
    throw Error(ErrorCode::kIo, name_or_path + " is a folder without config.json (nor a Hugging Face cache folder with a snapshot)");
  }
  std::vector<std::string> looked{name_or_path + " (as a folder)"};
  if (looks_like_repo_id(name_or_path)) {
    if (auto root = env("ITL_MODELS")) {
      const fs::path candidate = fs::path(*root) / name_or_path;
      if (has_config(candidate)) return candidate.string();
      looked.push_back(candidate.string() + " ($ITL_MODELS)");
    }
    const fs::path repo = hub_cache() / repo_folder_name(name_or_path);
    if (auto snapshot = cached_snapshot(repo)) return snapshot->string();
    looked.push_back((repo / "snapshots").string() + " (Hugging Face cache)");
  }
  std::string where;
  for (const std::string& place : looked) where += (where.empty() ? "" : ", ") + place;
  throw Error(ErrorCode::kIo, "cannot find model '" + name_or_path + "' with a config.json; looked in " + where);
}

}  // namespace itl
