#include "model/model_bounds.h"

#include <ATen/core/grad_mode.h>
#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "util/error.h"

namespace itl {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

std::string gigabytes(double bytes) {
  char text[32];
  std::snprintf(text, sizeof text, bytes >= 1e9 ? "%.1f GB" : "%.1f MB", bytes >= 1e9 ? bytes / 1e9 : bytes / 1e6);
  return text;
}

// "model.layers.12.mlp.up_proj.weight" -> 12; -1 for a tensor outside the layers.
int64_t layer_index(const std::string& name) {
  const std::string prefix = "model.layers.";
  if (name.rfind(prefix, 0) != 0) return -1;
  const size_t end = name.find('.', prefix.size());
  try {
    return std::stoll(name.substr(prefix.size(), end - prefix.size()));
  } catch (const std::exception&) {
    return -1;
  }
}

// /proc/meminfo's MemAvailable, in bytes; -1 when unreadable.
double host_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kib = -1;
  while (in >> key) {
    if (key == "MemAvailable:") {
      in >> kib;
      break;
    }
    in.ignore(1 << 10, '\n');
  }
  return kib < 0 ? -1 : kib * 1024.0;
}

// The cgroup (v2, else v1) memory limit less what the group uses: a job's share of a node.
double cgroup_available() {
  auto read_number = [](const char* path) -> double {
    std::ifstream in(path);
    std::string text;
    if (!(in >> text) || text == "max") return -1;
    try {
      return std::stod(text);
    } catch (const std::exception&) {
      return -1;
    }
  };
  double limit = read_number("/sys/fs/cgroup/memory.max");
  double used = read_number("/sys/fs/cgroup/memory.current");
  if (limit < 0) {
    limit = read_number("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    used = read_number("/sys/fs/cgroup/memory/memory.usage_in_bytes");
    if (limit >= 1e18) return -1;  // v1's "unlimited"
  }
  return limit < 0 || used < 0 ? -1 : std::max(0.0, limit - used);
}

// cudaMemGetInfo from the CUDA runtime libtorch already loaded (a CPU build has none): free bytes or -1.
double cuda_free(int device_index) {
  for (const char* library : {"libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so"}) {
    void* handle = dlopen(library, RTLD_LAZY | RTLD_NOLOAD);
    if (!handle) continue;
    using GetDevice = int (*)(int*);
    using SetDevice = int (*)(int);
    using MemGetInfo = int (*)(size_t*, size_t*);
    auto get_device = reinterpret_cast<GetDevice>(dlsym(handle, "cudaGetDevice"));
    auto set_device = reinterpret_cast<SetDevice>(dlsym(handle, "cudaSetDevice"));
    auto mem_get_info = reinterpret_cast<MemGetInfo>(dlsym(handle, "cudaMemGetInfo"));
    double result = -1;
    int previous = 0;
    if (get_device && set_device && mem_get_info && get_device(&previous) == 0 && set_device(device_index) == 0) {
      size_t free_bytes = 0, total_bytes = 0;
      if (mem_get_info(&free_bytes, &total_bytes) == 0) result = static_cast<double>(free_bytes);
      set_device(previous);
    }
    dlclose(handle);
    return result;
  }
  return -1;
}

}  // namespace

double estimated_parameter_count(const LlamaConfig& c) {
  const double hidden = static_cast<double>(c.hidden_size);
  const double q = static_cast<double>(c.num_attention_heads) * static_cast<double>(c.head_dim);
  const double kv = static_cast<double>(c.num_key_value_heads) * static_cast<double>(c.head_dim);
  const double biases = (c.qkv_bias ? q + 2 * kv : 0) + (c.o_bias ? hidden : 0);
  const double head_norms = c.qk_norm ? 2 * static_cast<double>(c.head_dim) : 0;
  const double per_layer =
      hidden * q * 2 + hidden * kv * 2 + 3 * hidden * static_cast<double>(c.intermediate_size) + 2 * hidden + biases + head_norms;
  const double embeddings = static_cast<double>(c.vocab_size) * hidden * (c.tie_word_embeddings ? 1 : 2);
  return embeddings + hidden + static_cast<double>(c.num_hidden_layers) * per_layer;
}

double estimated_model_bytes(const LlamaConfig& config, const ModelOptions& options) {
  const double element = static_cast<double>(c10::elementSize(options.dtype));
  const bool packed_copy = options.dtype == at::kBFloat16 && options.device.is_cpu() && options.prepack_bf16;
  return estimated_parameter_count(config) * element * (packed_copy ? 2 : 1);
}

void check_config_matches_checkpoint(const LlamaConfig& config, const CheckpointReader& reader, const std::string& folder) {
  const std::string source = folder + "/config.json";
  std::set<int64_t> layers;
  for (const std::string& name : reader.names()) {
    const int64_t layer = layer_index(name);
    if (layer >= 0) layers.insert(layer);
  }
  if (static_cast<int64_t>(layers.size()) != config.num_hidden_layers) {
    throw Error(ErrorCode::kConfig, source + ": num_hidden_layers is " + std::to_string(config.num_hidden_layers) +
                                        " but the checkpoint in " + folder + " holds " + std::to_string(layers.size()) + " layers");
  }
  const std::string embed = "model.embed_tokens.weight";
  if (reader.contains(embed)) {
    const std::vector<int64_t> implied = {config.vocab_size, config.hidden_size};
    if (reader.info(embed).shape != implied) {
      throw Error(ErrorCode::kConfig, source + ": vocab_size " + std::to_string(config.vocab_size) + " and hidden_size " +
                                          std::to_string(config.hidden_size) + " imply " + embed + " of shape " + shape_text(implied) +
                                          " but the checkpoint has " + shape_text(reader.info(embed).shape));
    }
  }
  // Every tensor, by the model's own structure: built on the meta device, which allocates nothing.
  at::NoGradGuard no_grad;
  const LlamaModel shape(config, ModelOptions{at::kFloat, at::Device(at::kMeta)});
  for (const auto& [name, param] : shape.checkpoint_tensors()) {
    if (!reader.contains(name)) throw Error(ErrorCode::kCheckpointFormat, "the checkpoint in " + folder + " has no tensor '" + name + "'");
    const std::vector<int64_t> implied(param.sizes().begin(), param.sizes().end());
    if (reader.info(name).shape != implied) {
      throw Error(ErrorCode::kCheckpointFormat, "tensor '" + name + "' in " + folder + " has shape " + shape_text(reader.info(name).shape) +
                                                    " but config.json implies " + shape_text(implied));
    }
  }
}

double available_memory_bytes(const c10::Device& device) {
  if (const char* limit = std::getenv("ITL_MEMORY_LIMIT_BYTES")) {
    char* end = nullptr;
    const double value = std::strtod(limit, &end);
    if (end != limit && *end == '\0' && value >= 0) return value;
    throw Error(ErrorCode::kInvalidArgument,
                std::string("expected a number of bytes for ITL_MEMORY_LIMIT_BYTES but received '") + limit + "'");
  }
  if (device.is_cuda()) return cuda_free(device.has_index() ? device.index() : 0);
  const double host = host_available();
  const double group = cgroup_available();
  if (host < 0) return group;
  return group < 0 ? host : std::min(host, group);
}

void check_model_fits_memory(const LlamaConfig& config, const ModelOptions& options, const std::string& what) {
  const double needed = estimated_model_bytes(config, options);
  const double available = available_memory_bytes(options.device);
  if (available >= 0 && needed > available) {
    std::ostringstream parameters;
    parameters.precision(3);
    parameters << estimated_parameter_count(config) / 1e9;
    throw Error(ErrorCode::kOutOfMemory,
                what + " needs about " + gigabytes(needed) + " for its weights (" + parameters.str() + "B parameters in " +
                    c10::toString(options.dtype) + ") but " + gigabytes(available) + " is available on " + options.device.str() +
                    ": not loaded (check num_hidden_layers, hidden_size, intermediate_size and vocab_size in its config.json)");
  }
}

}  // namespace itl
