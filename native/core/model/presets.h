// Named model shapes: tiny random-initialised models for tests (real vocabularies and special-token
// ids, so the real tokenizers work with them), a ~20M-parameter model for the benchmark, and
// shape-only mirrors of the study's real checkpoints (for benchmarks and memory estimates; their
// weights are random). Not the checkpoints themselves.
#pragma once

#include <string>
#include <vector>

#include "io/llama_config.h"

namespace itl {

struct ModelPreset {
  std::string name;      // e.g. "tiny-smollm"
  std::string describe;  // one line for `itl model init --help`
  bool tiny = false;     // a few million parameters: cheap enough for tests
  LlamaConfig config;
};

const std::vector<ModelPreset>& model_presets();
// Error(kInvalidArgument) listing the known names when `name` is not one.
const ModelPreset& model_preset(const std::string& name);

}  // namespace itl
