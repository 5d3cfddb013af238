// libFuzzer target for parse_safetensors: any byte string must either be rejected with an
// itl::Error or be accepted with a layout that really fits the buffer. Anything else (another
// exception type, a sanitizer report, a broken invariant) is a finding. Built and run by
// scripts/fuzz-safetensors.sh; links safetensors_header.cpp and error.cpp only, no libtorch.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "io/safetensors_header.h"
#include "util/error.h"

namespace {

// What an accepted header promises the reader: tensors laid end to end, in offset order, exactly
// covering the data section, each with the byte count its dtype and shape need.
void check_accepted(const itl::SafeTensorsHeader& header, size_t size) {
  if (header.data_offset < 8 || header.data_offset > size) std::abort();
  uint64_t position = 0;
  for (const itl::TensorInfo& t : header.tensors) {
    if (t.data_begin != position || t.data_end < t.data_begin) std::abort();
    uint64_t elements = 1;
    for (int64_t d : t.shape) {
      if (d < 0) std::abort();
      elements *= static_cast<uint64_t>(d);
    }
    if (elements * itl::safetensors_dtype_size(t.dtype) != t.data_end - t.data_begin) std::abort();
    position = t.data_end;
  }
  if (header.data_offset + position != size) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    check_accepted(itl::parse_safetensors(data, size, "fuzz"), size);
  } catch (const itl::Error& e) {
    if (e.code() != itl::ErrorCode::kCheckpointFormat) std::abort();
  }
  return 0;
}
