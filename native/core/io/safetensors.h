// SafeTensors: reading (memory-mapped, zero-copy) and writing the safetensors format
// (8-byte little-endian header length, JSON header, raw little-endian data). The reader trusts
// nothing: every offset, shape, dtype and byte count is checked against the file before a tensor
// is handed out, and any malformation is an Error(kCheckpointFormat) naming the file.
#pragma once

#include <ATen/core/Tensor.h>

#include "io/safetensors_header.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace itl {

class SafeTensorsFile {
 public:
  // Memory-maps `path` (private, copy-on-write: writing to a view never reaches the file) and
  // validates it. Error(kIo) if it cannot be opened, Error(kCheckpointFormat) if it is malformed.
  // Pages are read lazily from the page cache, so an 8B bf16 model costs no anonymous memory here.
  // Truncating the file while it is mapped is outside the contract (the kernel then raises SIGBUS);
  // the writers here replace files by rename, which leaves existing mappings intact.
  static std::shared_ptr<SafeTensorsFile> open(const std::string& path);
  ~SafeTensorsFile();
  SafeTensorsFile(const SafeTensorsFile&) = delete;
  SafeTensorsFile& operator=(const SafeTensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const SafeTensorsHeader& header() const { return header_; }
  const TensorInfo* find(const std::string& name) const;  // nullptr when absent
  // A CPU tensor viewing the mapped bytes, no copy; it keeps the mapping alive. Error naming the
  // tensor when absent.
  at::Tensor tensor(const std::string& name) const;

 private:
  SafeTensorsFile() = default;
  std::string path_;
  SafeTensorsHeader header_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::weak_ptr<SafeTensorsFile> self_;
};

// Writes `tensors` (any device; copied to contiguous CPU as needed) to `path`, through a temporary
// file renamed at the end so a crash never leaves a complete-looking partial file.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// Writes `text` to `path` the same way (temporary file, fsync, rename): config.json, indexes.
void write_file_atomically(const std::string& path, const std::string& text);

// Receives bytes; returns how many it took (always all of them here).
using ByteSink = std::function<size_t(const void*, size_t)>;

// Writes what `produce` passes to its sink into `path` the same way. A failed write (a full disk,
// ITL_FAULT_WRITE) is remembered and the rest of the bytes are dropped, not reported to the producer:
// libtorch's archive writer (OutputArchive::save_to) turns a short write into an exception that
// escapes its destructor and aborts the process. It is thrown as Error(kIo) once `produce` returns,
// and the temporary file is removed.
void write_stream_atomically(const std::string& path, const std::function<void(const ByteSink&)>& produce);

}  // namespace itl
