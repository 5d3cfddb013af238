// The safetensors format's tensors: a memory-mapped zero-copy reader and a writer that lays files
// out as the reference writer does. Not here: validating headers (safetensors_header.cpp) and
// sharding (checkpoint.cpp).
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
#include <exception>
#include <optional>
#include <set>

#include "io/write_fault.h"
#include "util/error.h"

namespace itl {

// ---------------------------------------------------------------------------------------------
// Reader

namespace {

[[noreturn]] void malformed(const std::string& source, const std::string& message) {
  throw Error(ErrorCode::kCheckpointFormat, source + ": " + message);
}

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
    // Under strict overcommit a writable private mapping is charged in full up front; a read-only
    // one is not, so a model larger than the commit limit still loads (its views must then stay
    // unwritten, which the engine's copy-on-load respects).
    if (mapped == MAP_FAILED && errno == ENOMEM) mapped = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
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
  if (!type)
    malformed(path_, "tensor '" + name + "' has dtype " + info->dtype + ", which this libtorch (" + TORCH_VERSION + ") cannot hold");
  uint8_t* bytes = const_cast<uint8_t*>(data_) + header_.data_offset + info->data_begin;
  const auto options = at::TensorOptions().dtype(*type).device(at::kCPU);
  const size_t element = safetensors_dtype_size(info->dtype);
  if (reinterpret_cast<uintptr_t>(bytes) % element != 0) {
    // Files from other writers may leave data misaligned; vectorised kernels assume alignment,
    // so such a tensor is copied (the reference writer's layout never takes this path).
    at::Tensor copy = at::empty(info->shape, options);
    std::memcpy(copy.data_ptr(), bytes, info->data_end - info->data_begin);
    return copy;
  }
  std::shared_ptr<SafeTensorsFile> keep_mapped = self_.lock();
  return at::from_blob(
      bytes, info->shape, [keep_mapped](void*) {}, options);
}

// ---------------------------------------------------------------------------------------------
// Writer

namespace {

using OrderedJson = nlohmann::ordered_json;

const char* dtype_name_of(at::ScalarType type) {
  switch (type) {
    case at::kFloat:
      return "F32";
    case at::kHalf:
      return "F16";
    case at::kBFloat16:
      return "BF16";
    case at::kDouble:
      return "F64";
    case at::kLong:
      return "I64";
    case at::kInt:
      return "I32";
    case at::kShort:
      return "I16";
    case at::kChar:
      return "I8";
    case at::kByte:
      return "U8";
    case at::kBool:
      return "BOOL";
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
    case at::kFloat8_e4m3fn:
      return "F8_E4M3";
    case at::kFloat8_e5m2:
      return "F8_E5M2";
#endif
    default:
      return nullptr;
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
    const int ra = safetensors_dtype_rank(a.dtype), rb = safetensors_dtype_rank(b.dtype);
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
// committed. Failures name the file being written (its final path) and the cause.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path) : path_(std::move(path)), fault_(injected_write_fault(path_)) {
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
    if (fault_ != 0) {
      // ITL_FAULT_WRITE: half of this block reaches the file, then the disk is "full".
      [[maybe_unused]] const ssize_t partial = ::write(fd_, p, size / 2);
      errno = fault_;
      throw Error(ErrorCode::kIo, "cannot write " + path_ + ": " + errno_text() + " (injected by ITL_FAULT_WRITE)");
    }
    while (size > 0) {
      const ssize_t n = ::write(fd_, p, std::min<size_t>(size, 1u << 30));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw Error(ErrorCode::kIo, "cannot write " + path_ + ": " + errno_text());
      p += n;
      size -= static_cast<size_t>(n);
    }
  }
  void commit() {
    // fsync before rename: otherwise a power loss can leave the final name pointing at a file
    // whose data never reached the disk.
    if (::fsync(fd_) != 0) throw Error(ErrorCode::kIo, "cannot flush " + path_ + ": " + errno_text());
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) throw Error(ErrorCode::kIo, "cannot close " + path_ + ": " + errno_text());
    if (::rename(temp_.c_str(), path_.c_str()) != 0)
      throw Error(ErrorCode::kIo, "cannot rename " + temp_ + " to " + path_ + ": " + errno_text());
    committed_ = true;
  }

 private:
  std::string path_;
  int fault_ = 0;
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

void write_stream_atomically(const std::string& path, const std::function<void(const ByteSink&)>& produce) {
  AtomicFile file(path);
  std::exception_ptr failure;
  const ByteSink sink = [&](const void* data, size_t size) -> size_t {
    if (!failure) {
      try {
        file.write(data, size);
      } catch (...) {
        failure = std::current_exception();
      }
    }
    return size;  // never a short count: the producer must not see the failure (see the header)
  };
  produce(sink);
  if (failure) std::rethrow_exception(failure);
  file.commit();
}

}  // namespace itl
