#include "model/presets.h"

#include "util/error.h"

namespace itl {
namespace {

LlamaConfig shape(int64_t vocab, int64_t hidden, int64_t intermediate, int64_t layers, int64_t heads, int64_t kv_heads,
                  int64_t head_dim, int64_t max_positions, double rope_theta, bool tied) {
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

std::vector<ModelPreset> build_presets() {
  std::vector<ModelPreset> p;
  p.push_back({"tiny-smollm", "SmolLM-like, tied, GQA 4/2, rope_theta 1e4, vocab 49152 (~3.3M params)", true,
               smollm(shape(49152, 64, 192, 2, 4, 2, 16, 2048, 1e4, true))});
  p.push_back({"tiny-llama32", "Llama-3.2-like, tied, GQA 4/2, llama3 rope ×32, rope_theta 5e5, vocab 128256 (~4.1M params)", true,
               llama3(shape(128256, 32, 64, 2, 4, 2, 8, 131072, 5e5, true), 32.0)});
  p.push_back({"tiny-llama31", "Llama-3.1-like, untied, GQA 2/1, llama3 rope ×8, rope_theta 5e5, vocab 128256 (~4.1M params)", true,
               llama3(shape(128256, 16, 48, 2, 2, 1, 8, 131072, 5e5, false), 8.0)});
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
