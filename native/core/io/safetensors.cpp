// The safetensors format: a validating parser (the rules of the reference Rust crate's
// `Metadata::validate`, plus duplicate names), a memory-mapped zero-copy reader and a writer that
// lays files out as the reference writer does. Not here: sharding and indexes (checkpoint.cpp).
#include "io/safetensors.h"

#include <ATen/ATen.h>
#include <torch/version.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <tuple>

#include "util/error.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian; big-endian hosts would need byte swaps");

namespace itl {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

// The reference implementation refuses larger headers; so do we, so a hostile length cannot make
// us parse gigabytes of JSON.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// A valid header nests three levels deep (object → tensor entry → shape list); refusing deeper
// input keeps a hostile header from building deep JSON trees.
constexpr int kMaxHeaderDepth = 4;

struct DtypeSpec {
  const char* name;
  size_t size;
};

// In the reference crate's enum order, which is increasing alignment: its writer sorts tensors by
// this rank, descending, so every tensor starts aligned to its element size.
constexpr DtypeSpec kDtypes[] = {{"BOOL", 1}, {"U8", 1},  {"I8", 1},   {"F8_E5M2", 1}, {"F8_E4M3", 1},
                                 {"I16", 2},  {"U16", 2}, {"F16", 2},  {"BF16", 2},    {"I32", 4},
                                 {"U32", 4},  {"F32", 4}, {"F64", 8},  {"I64", 8},     {"U64", 8}};

const DtypeSpec* find_dtype(const std::string& name) {
  for (const DtypeSpec& spec : kDtypes)
    if (name == spec.name) return &spec;
  return nullptr;
}

int dtype_rank(const std::string& name) {
  for (size_t i = 0; i < std::size(kDtypes); ++i)
    if (name == kDtypes[i].name) return static_cast<int>(i);
  return -1;
}

[[noreturn]] void malformed(const std::string& source, const std::string& message) {
  throw Error(ErrorCode::kCheckpointFormat, source + ": " + message);
}

// Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF), as Rust's from_utf8.
// Returns the offset of the first bad byte, or size when all is well.
size_t first_invalid_utf8(const uint8_t* s, size_t size) {
  size_t i = 0;
  while (i < size) {
    const uint8_t c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return i;
    }
    if (i + len > size) return i;
    if (s[i + 1] < lo || s[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k)
      if ((s[i + k] & 0xC0) != 0x80) return i;
    i += len;
  }
  return size;
}

// Parses the header JSON, refusing duplicate keys (nlohmann would silently keep the last) and
// deep nesting.
Json parse_header_json(const std::string& text, const std::string& source) {
  std::vector<std::set<std::string>> keys_per_object;
  auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (depth >= kMaxHeaderDepth) malformed(source, "header JSON nests deeper than a safetensors header can");
        if (event == Json::parse_event_t::object_start) keys_per_object.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!keys_per_object.empty()) keys_per_object.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!keys_per_object.back().insert(parsed.get<std::string>()).second)
          malformed(source, "header names '" + parsed.get<std::string>() + "' twice");
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return Json::parse(text, callback);
  } catch (const Json::exception& e) {
    malformed(source, std::string("header is not valid JSON: ") + e.what());
  }
}

uint64_t non_negative(const Json& value, const std::string& source, const std::string& what) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0) return static_cast<uint64_t>(value.get<int64_t>());
  malformed(source, what + " must be a non-negative integer, not a " + std::string(value.type_name()));
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? "," : "") + std::to_string(shape[i]);
  return text + "]";
}

TensorInfo parse_tensor_entry(const std::string& name, const Json& entry, const std::string& source) {
  const std::string where = "tensor '" + name + "'";
  if (!entry.is_object()) malformed(source, where + ": expected an object, not a " + std::string(entry.type_name()));
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!entry.contains(key)) malformed(source, where + ": missing '" + key + "'");
  TensorInfo info;
  info.name = name;
  const Json& dtype = entry["dtype"];
  if (!dtype.is_string()) malformed(source, where + ": dtype must be a string");
  info.dtype = dtype.get<std::string>();
  const DtypeSpec* spec = find_dtype(info.dtype);
  if (!spec) malformed(source, where + ": unknown dtype '" + info.dtype + "'");

  const Json& shape = entry["shape"];
  if (!shape.is_array()) malformed(source, where + ": shape must be a list");
  uint64_t elements = 1;
  bool overflow = false;
  for (const Json& dim : shape) {
    const uint64_t d = non_negative(dim, source, where + " shape entry");
    if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) malformed(source, where + ": shape entry too large");
    info.shape.push_back(static_cast<int64_t>(d));
    // Checked in order, as the reference does: an overflow is an error even if a later dim is 0.
    overflow = overflow || __builtin_mul_overflow(elements, d, &elements);
  }

  const Json& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2) malformed(source, where + ": data_offsets must be a list of two integers");
  info.data_begin = non_negative(offsets[0], source, where + " data_offsets");
  info.data_end = non_negative(offsets[1], source, where + " data_offsets");
  if (info.data_end < info.data_begin)
    malformed(source, where + ": data_offsets end " + std::to_string(info.data_end) + " is before begin " + std::to_string(info.data_begin));
  uint64_t bytes = 0;
  if (overflow || __builtin_mul_overflow(elements, static_cast<uint64_t>(spec->size), &bytes))
    malformed(source, where + ": shape " + shape_text(info.shape) + " overflows a 64-bit byte count");
  if (bytes != info.data_end - info.data_begin)
    malformed(source, where + ": shape " + shape_text(info.shape) + " of dtype " + info.dtype + " needs " + std::to_string(bytes) +
                          " bytes but data_offsets span " + std::to_string(info.data_end - info.data_begin));
  return info;
}

std::map<std::string, std::string> parse_metadata(const Json& value, const std::string& source) {
  std::map<std::string, std::string> metadata;
  if (value.is_null()) return metadata;
  if (!value.is_object()) malformed(source, "__metadata__ must be an object of strings");
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) malformed(source, "__metadata__ entry '" + key + "' must be a string, not a " + std::string(item.type_name()));
    metadata[key] = item.get<std::string>();
  }
  return metadata;
}

// The data section must be exactly the tensors laid end to end: no gaps, no overlaps, nothing after.
void check_layout(const std::vector<TensorInfo>& tensors, uint64_t data_size, const std::string& source) {
  uint64_t position = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo& t : tensors) {
    if (t.data_end > data_size)
      malformed(source, "tensor '" + t.name + "': data_offsets [" + std::to_string(t.data_begin) + "," + std::to_string(t.data_end) +
                            "] lie outside the data section of " + std::to_string(data_size) + " bytes");
    if (t.data_begin < position)
      malformed(source, "tensor '" + t.name + "' overlaps tensor '" + previous->name + "' (bytes " + std::to_string(t.data_begin) + " to " +
                            std::to_string(position) + ")");
    if (t.data_begin > position)
      malformed(source, "bytes " + std::to_string(position) + " to " + std::to_string(t.data_begin) + " of the data section belong to no tensor (before '" +
                            t.name + "')");
    position = t.data_end;
    previous = &t;
  }
  if (position != data_size)
    malformed(source, "the data section has " + std::to_string(data_size - position) + " bytes after the last tensor that belong to no tensor");
}

}  // namespace

SafeTensorsHeader parse_safetensors(const uint8_t* data, size_t size, const std::string& source) {
  if (size < 8) malformed(source, "file is " + std::to_string(size) + " bytes, too short for the 8-byte header length");
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, data, 8);
  if (header_bytes > kMaxHeaderBytes)
    malformed(source, "header length " + std::to_string(header_bytes) + " exceeds the format's limit of 100 MB");
  if (header_bytes > size - 8)
    malformed(source, "header length " + std::to_string(header_bytes) + " goes beyond the end of the file (" + std::to_string(size) + " bytes)");
  const uint8_t* text = data + 8;
  const size_t bad = first_invalid_utf8(text, header_bytes);
  if (bad != header_bytes) malformed(source, "header is not valid UTF-8 (byte " + std::to_string(8 + bad) + ")");

  const Json root = parse_header_json(std::string(reinterpret_cast<const char*>(text), header_bytes), source);
  if (!root.is_object()) malformed(source, "header must be a JSON object, not a " + std::string(root.type_name()));

  SafeTensorsHeader header;
  header.data_offset = 8 + header_bytes;
  for (const auto& [name, entry] : root.items()) {
    if (name == "__metadata__") {
      header.metadata = parse_metadata(entry, source);
    } else {
      header.tensors.push_back(parse_tensor_entry(name, entry, source));
    }
  }
  std::sort(header.tensors.begin(), header.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return std::tie(a.data_begin, a.data_end, a.name) < std::tie(b.data_begin, b.data_end, b.name);
  });
  check_layout(header.tensors, size - header.data_offset, source);
  return header;
}

// ---------------------------------------------------------------------------------------------
// Reader

namespace {

// Which libtorch scalar type holds a safetensors dtype; nullopt when this libtorch has none.
std::optional<at::ScalarType> scalar_type_of(const std::string& dtype) {
  if (dtype == "F32") return at::kFloat;
  if (dtype == "F16") return at::kHalf;
  if (dtype == "BF16") return at::kBFloat16;
  if (dtype == "F64") return at::kDouble;
  if (dtype == "I64") return at::kLong;
  if (dtype == "I32") return at::kInt;
  if (dtype == "I16") return at::kShort;
  if (dtype == "I8") return at::kChar;
  if (dtype == "U8") return at::kByte;
  if (dtype == "BOOL") return at::kBool;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  if (dtype == "F8_E4M3") return at::kFloat8_e4m3fn;
  if (dtype == "F8_E5M2") return at::kFloat8_e5m2;
#endif
  return std::nullopt;
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

std::shared_ptr<SafeTensorsFile> SafeTensorsFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kIo, "cannot open " + path + ": " + errno_text());
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorCode::kIo, "cannot read " + path + ": not a regular file");
  }
  std::shared_ptr<SafeTensorsFile> file(new SafeTensorsFile());
  file->path_ = path;
  file->size_ = static_cast<size_t>(st.st_size);
  if (file->size_ > 0) {
    // Private and writable: pages stay shared with the page cache until someone writes to a
    // tensor, and a write then copies one page instead of faulting on a read-only mapping.
    void* mapped = ::mmap(nullptr, file->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (mapped == MAP_FAILED) {
      const std::string why = errno_text();
      ::close(fd);
      throw Error(ErrorCode::kIo, "cannot map " + path + ": " + why);
    }
    file->data_ = static_cast<const uint8_t*>(mapped);
  }
  ::close(fd);
  file->header_ = parse_safetensors(file->data_, file->size_, path);
  file->self_ = file;
  return file;
}

SafeTensorsFile::~SafeTensorsFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

const TensorInfo* SafeTensorsFile::find(const std::string& name) const {
  for (const TensorInfo& info : header_.tensors)
    if (info.name == name) return &info;
  return nullptr;
}

at::Tensor SafeTensorsFile::tensor(const std::string& name) const {
  const TensorInfo* info = find(name);
  if (!info) malformed(path_, "no tensor named '" + name + "'");
  const auto type = scalar_type_of(info->dtype);
  if (!type) malformed(path_, "tensor '" + name + "' has dtype " + info->dtype + ", which this libtorch (" + TORCH_VERSION + ") cannot hold");
  uint8_t* bytes = const_cast<uint8_t*>(data_) + header_.data_offset + info->data_begin;
  const auto options = at::TensorOptions().dtype(*type).device(at::kCPU);
  const size_t element = find_dtype(info->dtype)->size;
  if (reinterpret_cast<uintptr_t>(bytes) % element != 0) {
    // Files from other writers may leave data misaligned; vectorised kernels assume alignment,
    // so such a tensor is copied (the reference writer's layout never takes this path).
    at::Tensor copy = at::empty(info->shape, options);
    std::memcpy(copy.data_ptr(), bytes, info->data_end - info->data_begin);
    return copy;
  }
  std::shared_ptr<SafeTensorsFile> keep_mapped = self_.lock();
  return at::from_blob(bytes, info->shape, [keep_mapped](void*) {}, options);
}

// ---------------------------------------------------------------------------------------------
// Writer

namespace {

const char* dtype_name_of(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return "F32";
    case at::kHalf: return "F16";
    case at::kBFloat16: return "BF16";
    case at::kDouble: return "F64";
    case at::kLong: return "I64";
    case at::kInt: return "I32";
    case at::kShort: return "I16";
    case at::kChar: return "I8";
    case at::kByte: return "U8";
    case at::kBool: return "BOOL";
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
    case at::kFloat8_e4m3fn: return "F8_E4M3";
    case at::kFloat8_e5m2: return "F8_E5M2";
#endif
    default: return nullptr;
  }
}

struct PlannedTensor {
  const std::string* name;
  const at::Tensor* tensor;
  std::string dtype;
  uint64_t bytes;
};

// The reference writer's order: larger alignment first, then by name.
std::vector<PlannedTensor> plan(const std::vector<std::pair<std::string, at::Tensor>>& tensors, const std::string& path) {
  std::vector<PlannedTensor> planned;
  std::set<std::string> seen;
  for (const auto& [name, tensor] : tensors) {
    require(!name.empty() && name != "__metadata__", path + ": '" + name + "' cannot name a tensor");
    require(seen.insert(name).second, path + ": tensor '" + name + "' given twice");
    require(tensor.defined(), path + ": tensor '" + name + "' is undefined");
    const char* dtype = dtype_name_of(tensor.scalar_type());
    require(dtype != nullptr, path + ": tensor '" + name + "' has dtype " + std::string(c10::toString(tensor.scalar_type())) +
                                  ", which safetensors cannot store");
    planned.push_back({&name, &tensor, dtype, static_cast<uint64_t>(tensor.numel()) * tensor.element_size()});
  }
  std::sort(planned.begin(), planned.end(), [](const PlannedTensor& a, const PlannedTensor& b) {
    const int ra = dtype_rank(a.dtype), rb = dtype_rank(b.dtype);
    return ra != rb ? ra > rb : *a.name < *b.name;
  });
  return planned;
}

std::string header_text(const std::vector<PlannedTensor>& planned, const std::map<std::string, std::string>& metadata) {
  OrderedJson header = OrderedJson::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const PlannedTensor& t : planned) {
    header[*t.name] = {{"dtype", t.dtype}, {"shape", t.tensor->sizes().vec()}, {"data_offsets", {offset, offset + t.bytes}}};
    offset += t.bytes;
  }
  std::string text = header.dump();
  // Padding to 8 bytes keeps every tensor's data aligned to its element size in the file, hence
  // in the mapping.
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

// A file written under a temporary name and renamed into place by commit(); removed if never
// committed.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path) : path_(std::move(path)) {
    static std::atomic<uint64_t> counter{0};
    temp_ = path_ + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ < 0) throw Error(ErrorCode::kIo, "cannot create " + temp_ + ": " + errno_text());
  }
  ~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd_, p, std::min<size_t>(size, 1u << 30));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw Error(ErrorCode::kIo, "cannot write " + temp_ + ": " + errno_text());
      p += n;
      size -= static_cast<size_t>(n);
    }
  }
  void commit() {
    // fsync before rename: otherwise a power loss can leave the final name pointing at a file
    // whose data never reached the disk.
    if (::fsync(fd_) != 0) throw Error(ErrorCode::kIo, "cannot flush " + temp_ + ": " + errno_text());
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) throw Error(ErrorCode::kIo, "cannot close " + temp_ + ": " + errno_text());
    if (::rename(temp_.c_str(), path_.c_str()) != 0) throw Error(ErrorCode::kIo, "cannot rename " + temp_ + " to " + path_ + ": " + errno_text());
    committed_ = true;
  }

 private:
  std::string path_;
  std::string temp_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::vector<PlannedTensor> planned = plan(tensors, path);
  const std::string header = header_text(planned, metadata);
  AtomicFile file(path);
  const uint64_t header_bytes = header.size();
  file.write(&header_bytes, 8);
  file.write(header.data(), header.size());
  for (const PlannedTensor& t : planned) {
    // One tensor at a time on the host, so saving from a GPU never holds a second full copy.
    const at::Tensor host = t.tensor->detach().to(at::kCPU).contiguous();
    file.write(host.data_ptr(), t.bytes);
  }
  file.commit();
}

void write_file_atomically(const std::string& path, const std::string& text) {
  AtomicFile file(path);
  file.write(text.data(), text.size());
  file.commit();
}

}  // namespace itl
