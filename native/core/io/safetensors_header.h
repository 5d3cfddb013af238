// The safetensors header: parsing and validating a whole safetensors image in memory, with no
// libtorch dependency, so the fuzzer can drive it alone. Reading and writing tensors: safetensors.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace itl {

struct TensorInfo {
  std::string name;
  std::string dtype;  // safetensors name: "F32", "F16", "BF16", "I64", "I32", …
  std::vector<int64_t> shape;
  uint64_t data_begin = 0;  // byte offsets relative to the start of the data section
  uint64_t data_end = 0;
};

struct SafeTensorsHeader {
  std::vector<TensorInfo> tensors;              // in offset order
  std::map<std::string, std::string> metadata;  // "__metadata__"
  uint64_t data_offset = 0;                     // 8 + header length: where the data section starts
};

// Validates a whole safetensors image in memory (what the fuzzer drives). `source` names it in errors.
SafeTensorsHeader parse_safetensors(const uint8_t* data, size_t size, const std::string& source);

// Bytes per element of a safetensors dtype name ("F32" -> 4); 0 when the name is unknown.
size_t safetensors_dtype_size(const std::string& dtype);
// The dtype's place in the reference crate's enum (increasing alignment); -1 when unknown.
int safetensors_dtype_rank(const std::string& dtype);

}  // namespace itl
