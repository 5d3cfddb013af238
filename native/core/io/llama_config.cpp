// Parsing and writing Hugging Face LlamaForCausalLM config.json. Defaults are transformers'
// LlamaConfig defaults, so a config that omits a field means what it means to transformers; the
// shape fields have no default worth trusting and are required. Not here: the rope frequencies
// themselves (model code) and generation_config.json.
#include "io/llama_config.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "util/error.h"

namespace itl {
namespace {

using Json = nlohmann::json;

[[noreturn]] void fail(const std::string& source, const std::string& message) { throw Error(ErrorCode::kConfig, source + ": " + message); }

// The value as it appears in the file, cut short, for "but received …" messages. Lists and
// objects are only named: dumping them recurses, and a hostile file can nest them deeply.
std::string shown(const Json& value) {
  if (value.is_structured()) return std::string("a JSON ") + (value.is_array() ? "list" : "object");
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

std::string type_error(const std::string& key, const char* expected, const Json& value) {
  return "field '" + key + "': expected " + expected + " but received " + shown(value);
}

// Reads typed fields of one JSON object, naming the field (with its parent path) in errors.
class Fields {
 public:
  Fields(const Json& object, std::string source, std::string prefix = "")
      : object_(object), source_(std::move(source)), prefix_(std::move(prefix)) {}

  // Present and not null.
  bool has(const char* key) const {
    auto it = object_.find(key);
    return it != object_.end() && !it->is_null();
  }

  int64_t integer(const char* key) const {
    const Json& value = need(key);
    if (value.is_number_unsigned()) {
      if (value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail(source_, type_error(path(key), "an integer within int64", value));
      return static_cast<int64_t>(value.get<uint64_t>());
    }
    if (!value.is_number_integer()) fail(source_, type_error(path(key), "an integer", value));
    return value.get<int64_t>();
  }
  int64_t integer(const char* key, int64_t fallback) const { return has(key) ? integer(key) : fallback; }

  int64_t positive(const char* key) const {
    const int64_t value = integer(key);
    if (value <= 0) fail(source_, "field '" + path(key) + "': expected a positive integer but received " + std::to_string(value));
    return value;
  }
  int64_t positive(const char* key, int64_t fallback) const { return has(key) ? positive(key) : fallback; }

  double number(const char* key) const {
    const Json& value = need(key);
    if (!value.is_number()) fail(source_, type_error(path(key), "a number", value));
    return value.get<double>();
  }
  double number(const char* key, double fallback) const { return has(key) ? number(key) : fallback; }

  bool boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    const Json& value = object_.at(key);
    if (!value.is_boolean()) fail(source_, type_error(path(key), "true or false", value));
    return value.get<bool>();
  }

  std::string string(const char* key) const {
    const Json& value = need(key);
    if (!value.is_string()) fail(source_, type_error(path(key), "a string", value));
    return value.get<std::string>();
  }
  std::string string(const char* key, const std::string& fallback) const { return has(key) ? string(key) : fallback; }

  const Json& need(const char* key) const {
    if (!has(key)) fail(source_, "missing required field '" + path(key) + "'");
    return object_.at(key);
  }
  std::string path(const char* key) const { return prefix_ + key; }
  const std::string& source() const { return source_; }

 private:
  const Json& object_;
  std::string source_;
  std::string prefix_;
};

const ModelTypeInfo& model_type_info(const Fields& f) {
  const std::string model_type = f.string("model_type");
  for (const ModelTypeInfo& info : implemented_model_types()) {
    if (model_type == info.model_type) return info;
  }
  std::string known;
  for (const ModelTypeInfo& info : implemented_model_types()) known += std::string(known.empty() ? "" : ", ") + info.model_type;
  const bool moe = model_type.find("moe") != std::string::npos || model_type == "mixtral";
  fail(f.source(), "model_type '" + model_type + "' is not implemented" + (moe ? " (Mixture-of-Experts models are not)" : "") +
                       "; implemented: " + known);
}

// What transformers assumes for a key a family's config.json leaves out (its config class's defaults).
struct FamilyDefaults {
  int64_t max_position_embeddings;
  double rope_theta;
  bool tie_word_embeddings;
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  std::optional<int64_t> pad_token_id;
  std::optional<int64_t> head_dim;  // nullopt: hidden_size / num_attention_heads
};

FamilyDefaults family_defaults(const std::string& model_type) {
  if (model_type == "qwen2") return {32768, 10000.0, false, std::nullopt, {}, std::nullopt, std::nullopt};
  if (model_type == "qwen3") return {32768, 10000.0, false, std::nullopt, {}, std::nullopt, 128};
  if (model_type == "smollm3") return {32768, 2000000.0, true, 128000, {128001}, 128004, std::nullopt};
  if (model_type == "mistral") return {131072, 10000.0, false, 1, {2}, std::nullopt, std::nullopt};
  return {2048, 10000.0, false, 1, {2}, std::nullopt, std::nullopt};  // llama
}

void reject_unimplemented(const Fields& f, const ModelTypeInfo& family) {
  if (f.has("architectures")) {
    const Json& archs = f.need("architectures");
    if (!archs.is_array()) fail(f.source(), type_error("architectures", "a list of strings", archs));
    for (const Json& arch : archs) {
      if (!arch.is_string() || arch.get<std::string>() != family.architecture)
        fail(f.source(), "architecture " + shown(arch) + " is not implemented for model_type '" + family.model_type + "' (only \"" +
                             family.architecture + "\")");
    }
  }
  const std::string act = f.string("hidden_act", "silu");
  if (act != "silu") fail(f.source(), "hidden_act '" + act + "' is not implemented (only 'silu')");
  if (f.boolean("mlp_bias", false)) fail(f.source(), "mlp_bias true is not implemented");
  // Dropout only matters in training, where ignoring it would silently change the recipe.
  const double dropout = f.number("attention_dropout", 0.0);
  if (dropout != 0.0) fail(f.source(), "attention_dropout " + shown(f.need("attention_dropout")) + " is not implemented (only 0)");
  // Mixture-of-Experts keys (Qwen2/3-MoE, Mixtral) on a dense model_type: refused rather than ignored.
  for (const char* key : {"num_experts", "num_local_experts", "num_experts_per_tok", "moe_intermediate_size"}) {
    if (!f.has(key)) continue;
    const Json& value = f.need(key);
    if (!value.is_number() || value.get<double>() != 0.0)
      fail(f.source(), "field '" + std::string(key) + "' (" + shown(value) + "): Mixture-of-Experts layers are not implemented");
  }
}

// layer_types (transformers 5): "full_attention" or "sliding_attention" per layer; empty when absent.
std::vector<bool> parse_sliding_layers(const Fields& f, const Json& root, int64_t layers) {
  if (!f.has("layer_types")) return {};
  const Json& types = root["layer_types"];
  if (!types.is_array() || static_cast<int64_t>(types.size()) != layers)
    fail(f.source(), "field 'layer_types': expected a list of " + std::to_string(layers) + " entries (num_hidden_layers) but received " +
                         shown(types) + (types.is_array() ? " of " + std::to_string(types.size()) : std::string()));
  std::vector<bool> sliding;
  for (const Json& type : types) {
    if (type == "full_attention") {
      sliding.push_back(false);
    } else if (type == "sliding_attention") {
      sliding.push_back(true);
    } else {
      fail(f.source(), "field 'layer_types': layer type " + shown(type) + " is not implemented ('full_attention', 'sliding_attention')");
    }
  }
  return sliding;
}

// The window when the config's family gives some layer sliding-window attention, as transformers'
// config classes decide it; nullopt otherwise.
std::optional<int64_t> parse_sliding_window(const Fields& f, const Json& root, const LlamaConfig& c) {
  const auto window = [&](std::optional<int64_t> fallback) -> std::optional<int64_t> {
    if (!root.contains("sliding_window")) return fallback;
    if (root["sliding_window"].is_null()) return std::nullopt;
    return f.positive("sliding_window");
  };
  if (c.model_type == "mistral") return window(4096);                              // every layer, whenever a window is set
  if (c.model_type == "llama") return std::nullopt;                                // LlamaConfig has no sliding window
  std::vector<bool> sliding = parse_sliding_layers(f, root, c.num_hidden_layers);  // checked even when unused
  if (!f.boolean("use_sliding_window", false)) return std::nullopt;
  const std::optional<int64_t> w = window(c.model_type == "smollm3" ? std::nullopt : std::optional<int64_t>(4096));
  if (!w) return std::nullopt;
  if (sliding.empty()) {
    // The config class's own rule: Qwen slides from max_window_layers on, SmolLM3 on its NoPE layers.
    const int64_t from = f.integer("max_window_layers", 28);
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) sliding.push_back(c.model_type == "smollm3" ? !c.uses_rope(i) : i >= from);
  }
  for (bool s : sliding) {
    if (s) return w;
  }
  return std::nullopt;
}

// SmolLM3's no_rope_layers (1 = RoPE, 0 = none), or its default of one NoPE layer every
// no_rope_layer_interval layers.
std::vector<bool> parse_rope_layers(const Fields& f, const Json& root, int64_t layers) {
  std::vector<bool> rope;
  if (f.has("no_rope_layers")) {
    const Json& list = root["no_rope_layers"];
    if (!list.is_array() || static_cast<int64_t>(list.size()) != layers)
      fail(f.source(), "field 'no_rope_layers': expected a list of " + std::to_string(layers) +
                           " entries (num_hidden_layers) but received " + shown(list) +
                           (list.is_array() ? " of " + std::to_string(list.size()) : std::string()));
    for (const Json& flag : list) {
      if (!flag.is_number_integer() || (flag.get<int64_t>() != 0 && flag.get<int64_t>() != 1))
        fail(f.source(), "field 'no_rope_layers': expected entries 0 or 1 but received " + shown(flag));
      rope.push_back(flag.get<int64_t>() == 1);
    }
    return rope;
  }
  const int64_t interval = f.positive("no_rope_layer_interval", 4);
  for (int64_t i = 0; i < layers; ++i) rope.push_back((i + 1) % interval != 0);
  return rope;
}

// rope_scaling (transformers 4.x) or rope_parameters (5.x): nullopt for the default rope.
std::optional<RopeScaling> parse_rope_scaling(const Json& rope, const std::string& source, const std::string& key) {
  if (rope.is_null()) return std::nullopt;
  if (!rope.is_object()) fail(source, type_error(key, "an object or null", rope));
  const Fields f(rope, source, key + ".");
  // transformers still reads the legacy key "type" when "rope_type" is absent.
  const std::string type = f.has("rope_type") ? f.string("rope_type") : f.string("type", "default");
  if (type == "default") return std::nullopt;
  if (type != "llama3") fail(source, "rope type '" + type + "' in '" + key + "' is not implemented (only 'llama3' and 'default')");
  RopeScaling scaling;
  scaling.rope_type = type;
  scaling.factor = f.number("factor");
  scaling.low_freq_factor = f.number("low_freq_factor");
  scaling.high_freq_factor = f.number("high_freq_factor");
  scaling.original_max_position_embeddings = f.positive("original_max_position_embeddings");
  if (!(scaling.factor >= 1.0)) fail(source, "'" + key + ".factor' must be at least 1, received " + shown(rope["factor"]));
  if (!(scaling.low_freq_factor > 0.0) || !(scaling.high_freq_factor > scaling.low_freq_factor))
    fail(source, "'" + key + "' needs 0 < low_freq_factor < high_freq_factor, received " + shown(rope["low_freq_factor"]) + " and " +
                     shown(rope["high_freq_factor"]));
  return scaling;
}

std::vector<int64_t> parse_eos(const Fields& f) {
  if (!f.has("eos_token_id")) return {};
  const Json& value = f.need("eos_token_id");
  if (value.is_number_integer()) return {f.integer("eos_token_id")};
  if (!value.is_array()) fail(f.source(), type_error("eos_token_id", "an integer or a list of integers", value));
  std::vector<int64_t> ids;
  for (const Json& id : value) {
    if (!id.is_number_integer()) fail(f.source(), type_error("eos_token_id", "an integer or a list of integers", value));
    ids.push_back(id.get<int64_t>());
  }
  return ids;
}

std::optional<int64_t> optional_id(const Fields& f, const char* key) {
  if (!f.has(key)) return std::nullopt;
  return f.integer(key);
}

std::string parse_dtype(const Fields& f) {
  // transformers 4.56 renamed torch_dtype to dtype; older files only have torch_dtype.
  const char* key = f.has("torch_dtype") ? "torch_dtype" : "dtype";
  const std::string dtype = f.string(key, "float32");
  if (dtype != "float32" && dtype != "bfloat16" && dtype != "float16")
    fail(f.source(), std::string(key) + " '" + dtype + "' is not implemented (float32, bfloat16, float16)");
  return dtype;
}

void check_shapes(const LlamaConfig& c, const std::string& source) {
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    fail(source, "num_attention_heads " + std::to_string(c.num_attention_heads) + " is not a multiple of num_key_value_heads " +
                     std::to_string(c.num_key_value_heads));
  if (c.head_dim % 2 != 0) fail(source, "head_dim " + std::to_string(c.head_dim) + " must be even for rotary embeddings");
  if (!(c.rms_norm_eps > 0.0)) fail(source, "rms_norm_eps must be positive");
  if (!(c.rope_theta > 0.0)) fail(source, "rope_theta must be positive");
}

}  // namespace

const std::vector<ModelTypeInfo>& implemented_model_types() {
  static const std::vector<ModelTypeInfo> types = {{"llama", "LlamaForCausalLM"},
                                                   {"qwen2", "Qwen2ForCausalLM"},
                                                   {"qwen3", "Qwen3ForCausalLM"},
                                                   {"smollm3", "SmolLM3ForCausalLM"},
                                                   {"mistral", "MistralForCausalLM"}};
  return types;
}

LlamaConfig parse_llama_config(const std::string& json_text, const std::string& source) {
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const Json::exception& e) {
    fail(source, std::string("not valid JSON: ") + e.what());
  }
  if (!root.is_object()) fail(source, "expected a JSON object at the top level but received " + shown(root));
  const Fields f(root, source);
  const ModelTypeInfo& family = model_type_info(f);
  reject_unimplemented(f, family);
  const FamilyDefaults defaults = family_defaults(family.model_type);

  LlamaConfig c;
  c.model_type = family.model_type;
  c.vocab_size = f.positive("vocab_size");
  c.hidden_size = f.positive("hidden_size");
  c.intermediate_size = f.positive("intermediate_size");
  c.num_hidden_layers = f.positive("num_hidden_layers");
  c.num_attention_heads = f.positive("num_attention_heads");
  c.num_key_value_heads = f.positive("num_key_value_heads", c.num_attention_heads);
  if (f.has("head_dim")) {
    c.head_dim = f.positive("head_dim");
  } else if (defaults.head_dim) {
    c.head_dim = *defaults.head_dim;
  } else {
    if (c.hidden_size % c.num_attention_heads != 0)
      fail(source, "hidden_size " + std::to_string(c.hidden_size) + " is not a multiple of num_attention_heads " +
                       std::to_string(c.num_attention_heads) + " and no head_dim is given");
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  c.max_position_embeddings = f.positive("max_position_embeddings", defaults.max_position_embeddings);
  c.rms_norm_eps = f.number("rms_norm_eps", 1e-6);
  if (root.contains("rope_parameters") && !root["rope_parameters"].is_null()) {
    const Fields rope(root["rope_parameters"], source, "rope_parameters.");
    c.rope_theta = rope.number("rope_theta", f.number("rope_theta", defaults.rope_theta));
    c.rope_scaling = parse_rope_scaling(root["rope_parameters"], source, "rope_parameters");
  } else {
    c.rope_theta = f.number("rope_theta", defaults.rope_theta);
    c.rope_scaling = root.contains("rope_scaling") ? parse_rope_scaling(root["rope_scaling"], source, "rope_scaling") : std::nullopt;
  }
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", defaults.tie_word_embeddings);
  // The family's defaults (LlamaConfig: bos 1, eos 2, no pad); an explicit null means none.
  c.bos_token_id = root.contains("bos_token_id") ? optional_id(f, "bos_token_id") : defaults.bos_token_id;
  c.eos_token_ids = root.contains("eos_token_id") ? parse_eos(f) : defaults.eos_token_ids;
  c.pad_token_id = root.contains("pad_token_id") ? optional_id(f, "pad_token_id") : defaults.pad_token_id;
  c.torch_dtype = parse_dtype(f);
  // The family features (llama_config.h). transformers ignores attention_bias where the family's
  // attention class does not read it (Qwen2 always has q/k/v biases, Mistral never any), so do we.
  if (c.model_type == "qwen2") {
    c.qkv_bias = true;
  } else if (c.model_type != "mistral") {
    c.qkv_bias = c.o_bias = f.boolean("attention_bias", false);
  }
  c.qk_norm = c.model_type == "qwen3";
  if (c.model_type == "smollm3") c.rope_layers = parse_rope_layers(f, root, c.num_hidden_layers);
  c.sliding_window = parse_sliding_window(f, root, c);
  c.json = json_text;
  check_shapes(c, source);
  return c;
}

LlamaConfig load_llama_config(const std::string& folder) {
  const std::string path = folder + "/config.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, "cannot open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(ErrorCode::kIo, "cannot read " + path);
  return parse_llama_config(text.str(), path);
}

std::string llama_config_to_json(const LlamaConfig& c) {
  // Keep what the engine does not model (initializer_range, _name_or_path, …) from the file the
  // config came from, so a fine-tuned checkpoint carries its base model's config forward.
  Json out = Json::object();
  if (!c.json.empty()) {
    Json original = Json::parse(c.json, nullptr, false);
    if (original.is_object()) out = std::move(original);
  }
  out.erase("rope_parameters");
  out.erase("dtype");
  const ModelTypeInfo* family = nullptr;
  for (const ModelTypeInfo& info : implemented_model_types()) {
    if (c.model_type == info.model_type) family = &info;
  }
  if (family == nullptr) throw Error(ErrorCode::kConfig, "model_type '" + c.model_type + "' is not implemented");
  const std::string& type = c.model_type;
  out["architectures"] = Json::array({family->architecture});
  out["model_type"] = type;
  out["attention_dropout"] = 0.0;
  out["hidden_act"] = "silu";
  // Each family's own keys for its features, and none of another family's.
  if (type == "llama" || type == "qwen3" || type == "smollm3") out["attention_bias"] = c.qkv_bias;
  if (type == "llama" || type == "smollm3") out["mlp_bias"] = false;
  if (type == "smollm3") {
    Json flags = Json::array();
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) flags.push_back(c.uses_rope(i) ? 1 : 0);
    out["no_rope_layers"] = flags;
  }
  if (type == "mistral") {
    out["sliding_window"] = c.sliding_window ? Json(*c.sliding_window) : Json(nullptr);
  } else if (type != "llama") {
    out["use_sliding_window"] = c.sliding_window.has_value();
    if (c.sliding_window) {
      out["sliding_window"] = *c.sliding_window;
    } else if (!out.contains("sliding_window")) {
      out["sliding_window"] = nullptr;
    }
  }
  out["vocab_size"] = c.vocab_size;
  out["hidden_size"] = c.hidden_size;
  out["intermediate_size"] = c.intermediate_size;
  out["num_hidden_layers"] = c.num_hidden_layers;
  out["num_attention_heads"] = c.num_attention_heads;
  out["num_key_value_heads"] = c.num_key_value_heads;
  // Qwen2's and SmolLM3's config classes declare no head_dim: written only where it is not implied.
  if ((type != "qwen2" && type != "smollm3") || out.contains("head_dim") || c.head_dim * c.num_attention_heads != c.hidden_size) {
    out["head_dim"] = c.head_dim;
  }
  out["max_position_embeddings"] = c.max_position_embeddings;
  out["rms_norm_eps"] = c.rms_norm_eps;
  out["rope_theta"] = c.rope_theta;
  if (c.rope_scaling) {
    const RopeScaling& r = *c.rope_scaling;
    out["rope_scaling"] = {{"rope_type", r.rope_type},
                           {"factor", r.factor},
                           {"low_freq_factor", r.low_freq_factor},
                           {"high_freq_factor", r.high_freq_factor},
                           {"original_max_position_embeddings", r.original_max_position_embeddings}};
  } else {
    out["rope_scaling"] = nullptr;
  }
  out["tie_word_embeddings"] = c.tie_word_embeddings;
  out["bos_token_id"] = c.bos_token_id ? Json(*c.bos_token_id) : Json(nullptr);
  if (c.eos_token_ids.size() == 1) {
    out["eos_token_id"] = c.eos_token_ids[0];
  } else if (c.eos_token_ids.empty()) {
    out["eos_token_id"] = nullptr;
  } else {
    out["eos_token_id"] = c.eos_token_ids;
  }
  if (c.pad_token_id) {
    out["pad_token_id"] = *c.pad_token_id;
  } else {
    out.erase("pad_token_id");
  }
  out["torch_dtype"] = c.torch_dtype;
  if (!out.contains("use_cache")) out["use_cache"] = true;
  // transformers writes configs with indent=2, sorted keys and a final newline; nlohmann's
  // objects are sorted maps, so dump(2) lays the file out the same way.
  return out.dump(2) + "\n";
}

}  // namespace itl
