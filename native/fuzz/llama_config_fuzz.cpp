// libFuzzer target for parse_llama_config: any text must either be refused with an
// Error(kConfig) or give a config whose shapes the model code can rely on. Built and run by
// scripts/fuzz-safetensors.sh (target llama_config); links llama_config.cpp and error.cpp only.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "io/llama_config.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const itl::LlamaConfig c = itl::parse_llama_config(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.num_hidden_layers <= 0 || c.head_dim <= 0 || c.head_dim % 2 != 0) std::abort();
    if (c.num_key_value_heads <= 0 || c.num_attention_heads % c.num_key_value_heads != 0) std::abort();
    // What the engine writes back must parse again.
    itl::parse_llama_config(itl::llama_config_to_json(c), "fuzz (written)");
  } catch (const itl::Error& e) {
    if (e.code() != itl::ErrorCode::kConfig) std::abort();
  }
  return 0;
}
