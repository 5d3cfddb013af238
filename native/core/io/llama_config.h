// LlamaConfig: the fields of a Hugging Face LlamaForCausalLM config.json that the engine
// implements. Parsing rejects any field value the engine does not implement (an unknown
// rope_type, attention_bias true, a hidden_act other than silu, …) instead of ignoring it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace itl {

// rope_scaling with rope_type "llama3" (Llama 3.1 / 3.2); absent for SmolLM.
struct RopeScaling {
  std::string rope_type;                           // "llama3" (the only one implemented)
  double factor = 8.0;                             // how much longer than the original context
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct LlamaConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // GQA: query heads per kv head = heads / kv_heads
  int64_t head_dim = 0;             // config's head_dim when present, else hidden_size / heads
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  std::optional<RopeScaling> rope_scaling;
  bool tie_word_embeddings = false;
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;  // config's eos_token_id, an int or a list
  std::optional<int64_t> pad_token_id;
  std::string torch_dtype = "float32";  // "float32", "bfloat16", "float16"
  std::string json;  // the config.json text it was parsed from ("" when built in code)
};

// Parses config.json text; `source` names the file in error messages (Error kConfig).
LlamaConfig parse_llama_config(const std::string& json_text, const std::string& source);
// Reads and parses FOLDER/config.json.
LlamaConfig load_llama_config(const std::string& folder);
// A config.json that transformers' LlamaConfig loads unchanged (architectures, model_type, …).
std::string llama_config_to_json(const LlamaConfig& config);

}  // namespace itl
