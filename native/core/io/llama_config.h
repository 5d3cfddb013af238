// LlamaConfig: the fields of a Hugging Face config.json that the engine implements, for Llama and
// the families that differ from it in a few named places (model_type qwen2, qwen3, smollm3,
// mistral): each difference is a feature field below, read from the family's own keys. Parsing
// rejects any field value the engine does not implement (an unknown rope_type, mlp_bias true, a
// hidden_act other than silu, a Mixture-of-Experts config, …) instead of ignoring it, naming the key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace itl {

// rope_scaling with rope_type "llama3" (Llama 3.1 / 3.2); absent for SmolLM.
struct RopeScaling {
  std::string rope_type;  // "llama3" (the only one implemented)
  double factor = 8.0;    // how much longer than the original context
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

// The model_type values the engine implements, each with its HF class (architectures[0]).
struct ModelTypeInfo {
  const char* model_type;    // "llama"
  const char* architecture;  // "LlamaForCausalLM"
};
const std::vector<ModelTypeInfo>& implemented_model_types();

struct LlamaConfig {
  std::string model_type = "llama";  // one of implemented_model_types(); saved folders carry it back
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

  // Family features (all off: Llama as the study ran it).
  bool qkv_bias = false;  // q_proj, k_proj, v_proj have biases (Qwen2 always; attention_bias true elsewhere)
  bool o_bias = false;    // o_proj has a bias (attention_bias true in Llama, Qwen3, SmolLM3)
  bool qk_norm = false;   // Qwen3: RMSNorm over each head's queries and keys (q_norm, k_norm) before RoPE
  // Per layer, whether RoPE rotates its queries and keys (SmolLM3's no_rope_layers, where 1 means
  // rotate); empty: every layer does.
  std::vector<bool> rope_layers;
  // The attention window of the layers that use sliding-window attention (Mistral's sliding_window;
  // Qwen's and SmolLM3's when use_sliding_window is true), nullopt when none does. Sliding-window
  // attention is not implemented: a sequence longer than the window is refused (LlamaModel), shorter
  // ones attend exactly as full attention does.
  std::optional<int64_t> sliding_window;

  bool uses_rope(int64_t layer) const { return rope_layers.empty() || rope_layers[static_cast<size_t>(layer)]; }
  std::string json;  // the config.json text it was parsed from ("" when built in code)
};

// Parses config.json text; `source` names the file in error messages (Error kConfig).
LlamaConfig parse_llama_config(const std::string& json_text, const std::string& source);
// Reads and parses FOLDER/config.json.
LlamaConfig load_llama_config(const std::string& folder);
// A config.json that transformers loads unchanged as the config's own family (architectures,
// model_type and the family's feature keys).
std::string llama_config_to_json(const LlamaConfig& config);

}  // namespace itl
