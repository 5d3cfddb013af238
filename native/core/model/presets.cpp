#include "model/presets.h"

#include "util/error.h"

namespace itl {
namespace {

LlamaConfig shape(int64_t vocab, int64_t hidden, int64_t intermediate, int64_t layers, int64_t heads, int64_t kv_heads, int64_t head_dim,
                  int64_t max_positions, double rope_theta, bool tied) {
  LlamaConfig c;
  c.vocab_size = vocab;
  c.hidden_size = hidden;
  c.intermediate_size = intermediate;
  c.num_hidden_layers = layers;
  c.num_attention_heads = heads;
  c.num_key_value_heads = kv_heads;
  c.head_dim = head_dim;
  c.max_position_embeddings = max_positions;
  c.rope_theta = rope_theta;
  c.tie_word_embeddings = tied;
  c.rms_norm_eps = 1e-5;
  c.torch_dtype = "float32";
  return c;
}

// SmolLM v1 and v2 share one tokenizer: bos <|im_start|> 1, eos = pad <|im_end|> 2.
LlamaConfig smollm(LlamaConfig c) {
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  c.pad_token_id = 2;
  return c;
}

// Llama 3.x: bos 128000, eos <|end_of_text|> <|eom_id|> <|eot_id|>; llama3 rope scaling.
LlamaConfig llama3(LlamaConfig c, double factor) {
  c.bos_token_id = 128000;
  c.eos_token_ids = {128001, 128008, 128009};
  c.rope_scaling = RopeScaling{"llama3", factor, 1.0, 4.0, 8192};
  return c;
}

// Qwen2 / Qwen2.5 (q/k/v biases) and Qwen3 (q/k norms): bos = pad <|endoftext|> 151643, eos <|im_end|> 151645.
LlamaConfig qwen(LlamaConfig c, const char* model_type) {
  c.model_type = model_type;
  c.qkv_bias = c.model_type == "qwen2";
  c.qk_norm = c.model_type == "qwen3";
  c.rms_norm_eps = 1e-6;
  c.bos_token_id = 151643;
  c.eos_token_ids = {151645};
  return c;
}

// SmolLM3: Llama 3's vocabulary, eos <|im_end|> 128012, pad 128004, every 4th layer without RoPE.
LlamaConfig smollm3(LlamaConfig c) {
  c.model_type = "smollm3";
  c.rms_norm_eps = 1e-6;
  c.bos_token_id = 128000;
  c.eos_token_ids = {128012};
  c.pad_token_id = 128004;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) c.rope_layers.push_back((i + 1) % 4 != 0);
  return c;
}

// Mistral 7B v0.3 (vocabulary 32768, v3 tokenizer) and Nemo (131072, Tekken): bos 1, eos 2, no sliding window.
LlamaConfig mistral(LlamaConfig c) {
  c.model_type = "mistral";
  c.rms_norm_eps = 1e-5;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  return c;
}

std::vector<ModelPreset> build_presets() {
  std::vector<ModelPreset> p;
  p.push_back({"tiny-smollm", "SmolLM-like, tied, GQA 4/2, rope_theta 1e4, vocab 49152 (~3.3M params)", true,
               smollm(shape(49152, 64, 192, 2, 4, 2, 16, 2048, 1e4, true))});
  p.push_back({"tiny-llama32", "Llama-3.2-like, tied, GQA 4/2, llama3 rope ×32, rope_theta 5e5, vocab 128256 (~4.1M params)", true,
               llama3(shape(128256, 32, 64, 2, 4, 2, 8, 131072, 5e5, true), 32.0)});
  p.push_back({"tiny-llama31", "Llama-3.1-like, untied, GQA 2/1, llama3 rope ×8, rope_theta 5e5, vocab 128256 (~4.1M params)", true,
               llama3(shape(128256, 16, 48, 2, 2, 1, 8, 131072, 5e5, false), 8.0)});
  p.push_back({"tiny-qwen2", "Qwen2.5-like (q/k/v biases), tied, GQA 4/2, rope_theta 1e6, vocab 151936 (~4.9M params)", true,
               qwen(shape(151936, 32, 64, 2, 4, 2, 8, 32768, 1e6, true), "qwen2")});
  p.push_back({"tiny-qwen3", "Qwen3-like (q/k norms), tied, GQA 4/2, head_dim 16, rope_theta 1e6, vocab 151936 (~4.9M params)", true,
               qwen(shape(151936, 32, 64, 2, 4, 2, 16, 40960, 1e6, true), "qwen3")});
  p.push_back({"tiny-smollm3", "SmolLM3-like (no RoPE on every 4th layer), tied, GQA 4/2, 4 layers, vocab 128256 (~4.1M params)", true,
               smollm3(shape(128256, 32, 64, 4, 4, 2, 8, 65536, 5e6, true))});
  p.push_back({"tiny-mistral", "Mistral-7B-v0.3-like, untied, GQA 4/2, rope_theta 1e6, vocab 32768 (~2.1M params)", true,
               mistral(shape(32768, 32, 64, 2, 4, 2, 8, 32768, 1e6, false))});
  p.push_back({"bench-20m", "benchmark model: tied, GQA 8/4, 5 layers of 512, vocab 8192 (~19.9M params)", false,
               smollm(shape(8192, 512, 1536, 5, 8, 4, 64, 2048, 1e4, true))});
  p.push_back({"smollm-135m", "shape of HuggingFaceTB/SmolLM-135M-Instruct (random weights)", false,
               smollm(shape(49152, 576, 1536, 30, 9, 3, 64, 2048, 1e4, true))});
  p.push_back({"smollm-360m", "shape of HuggingFaceTB/SmolLM-360M-Instruct (random weights)", false,
               smollm(shape(49152, 960, 2560, 32, 15, 5, 64, 2048, 1e4, true))});
  p.push_back({"smollm-1.7b", "shape of HuggingFaceTB/SmolLM-1.7B-Instruct (random weights)", false,
               smollm(shape(49152, 2048, 8192, 24, 32, 32, 64, 2048, 1e4, true))});
  p.push_back({"smollm2-135m", "shape of HuggingFaceTB/SmolLM2-135M-Instruct (random weights)", false,
               smollm(shape(49152, 576, 1536, 30, 9, 3, 64, 8192, 1e5, true))});
  p.push_back({"smollm2-360m", "shape of HuggingFaceTB/SmolLM2-360M-Instruct (random weights)", false,
               smollm(shape(49152, 960, 2560, 32, 15, 5, 64, 8192, 1e5, true))});
  p.push_back({"llama-3.2-1b", "shape of meta-llama/Llama-3.2-1B-Instruct (random weights)", false,
               llama3(shape(128256, 2048, 8192, 16, 32, 8, 64, 131072, 5e5, true), 32.0)});
  p.push_back({"llama-3.2-3b", "shape of meta-llama/Llama-3.2-3B-Instruct (random weights)", false,
               llama3(shape(128256, 3072, 8192, 28, 24, 8, 128, 131072, 5e5, true), 32.0)});
  p.push_back({"llama-3.1-8b", "shape of meta-llama/Llama-3.1-8B-Instruct (random weights)", false,
               llama3(shape(128256, 4096, 14336, 32, 32, 8, 128, 131072, 5e5, false), 8.0)});
  p.push_back({"qwen2.5-0.5b", "shape of Qwen/Qwen2.5-0.5B-Instruct (random weights)", false,
               qwen(shape(151936, 896, 4864, 24, 14, 2, 64, 32768, 1e6, true), "qwen2")});
  p.push_back({"qwen2.5-1.5b", "shape of Qwen/Qwen2.5-1.5B-Instruct (random weights)", false,
               qwen(shape(151936, 1536, 8960, 28, 12, 2, 128, 32768, 1e6, true), "qwen2")});
  p.push_back({"qwen2.5-3b", "shape of Qwen/Qwen2.5-3B-Instruct (random weights)", false,
               qwen(shape(151936, 2048, 11008, 36, 16, 2, 128, 32768, 1e6, true), "qwen2")});
  p.push_back({"qwen2.5-7b", "shape of Qwen/Qwen2.5-7B-Instruct (random weights)", false,
               qwen(shape(152064, 3584, 18944, 28, 28, 4, 128, 32768, 1e6, false), "qwen2")});
  p.push_back({"qwen3-0.6b", "shape of Qwen/Qwen3-0.6B (random weights)", false,
               qwen(shape(151936, 1024, 3072, 28, 16, 8, 128, 40960, 1e6, true), "qwen3")});
  p.push_back({"qwen3-1.7b", "shape of Qwen/Qwen3-1.7B (random weights)", false,
               qwen(shape(151936, 2048, 6144, 28, 16, 8, 128, 40960, 1e6, true), "qwen3")});
  p.push_back({"qwen3-4b", "shape of Qwen/Qwen3-4B (random weights)", false,
               qwen(shape(151936, 2560, 9728, 36, 32, 8, 128, 40960, 1e6, true), "qwen3")});
  p.push_back({"qwen3-8b", "shape of Qwen/Qwen3-8B (random weights)", false,
               qwen(shape(151936, 4096, 12288, 36, 32, 8, 128, 40960, 1e6, false), "qwen3")});
  p.push_back({"smollm3-3b", "shape of HuggingFaceTB/SmolLM3-3B (random weights)", false,
               smollm3(shape(128256, 2048, 11008, 36, 16, 4, 128, 65536, 5e6, true))});
  p.push_back({"mistral-7b", "shape of mistralai/Mistral-7B-Instruct-v0.3 (random weights)", false,
               mistral(shape(32768, 4096, 14336, 32, 32, 8, 128, 32768, 1e6, false))});
  // Tekken's 131,072 ids, and an explicit head_dim (128) that is not hidden_size / heads (5120 / 32 = 160).
  p.push_back({"mistral-nemo-12b", "shape of mistralai/Mistral-Nemo-Instruct-2407 (random weights)", false,
               mistral(shape(131072, 5120, 14336, 40, 32, 8, 128, 1024000, 1e6, false))});
  return p;
}

}  // namespace

const std::vector<ModelPreset>& model_presets() {
  static const std::vector<ModelPreset> presets = build_presets();  // immutable table, built once
  return presets;
}

const ModelPreset& model_preset(const std::string& name) {
  std::string known;
  for (const ModelPreset& p : model_presets()) {
    if (p.name == name) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  throw Error(ErrorCode::kInvalidArgument, "unknown model preset '" + name + "': expected one of " + known);
}

}  // namespace itl
