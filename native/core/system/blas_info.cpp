#include "system/blas_info.h"

#include <ATen/Context.h>
#include <dlfcn.h>
#include <link.h>

#include <climits>
#include <cstdlib>
#include <vector>

namespace itl {
namespace {

std::vector<std::string> loaded_objects() {
  std::vector<std::string> paths;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        if (info->dlpi_name && info->dlpi_name[0]) static_cast<std::vector<std::string>*>(out)->push_back(info->dlpi_name);
        return 0;
      },
      &paths);
  return paths;
}

std::string resolved(const std::string& path) {
  char buffer[PATH_MAX];
  return realpath(path.c_str(), buffer) ? std::string(buffer) : path;
}

bool contains(const std::string& text, const char* part) { return text.find(part) != std::string::npos; }

// A symbol from an already-loaded library; never loads anything new.
void* loaded_symbol(const std::string& path, const char* symbol) {
  if (path.empty()) return nullptr;
  void* handle = dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD);
  if (!handle) return nullptr;
  void* address = dlsym(handle, symbol);
  dlclose(handle);
  return address;
}

// dlsym on a handle also searches that library's dependencies, so ask dladdr which object
// really defines the symbol.
std::string defining_object(const char* symbol) {
  for (const auto& path : loaded_objects()) {
    void* address = loaded_symbol(path, symbol);
    Dl_info where;
    if (address && dladdr(address, &where) && where.dli_fname) return where.dli_fname;
  }
  return "";
}

std::string openblas_path() { return defining_object("openblas_get_config"); }

}  // namespace

BlasInfo detect_blas() {
  BlasInfo info;
  const std::string openblas = openblas_path();
  if (!openblas.empty()) {
    info.name = "OpenBLAS";
    info.path = resolved(openblas);
    using ConfigFn = char* (*)();
    if (auto fn = reinterpret_cast<ConfigFn>(loaded_symbol(openblas, "openblas_get_config"))) info.config = fn();
    using ParallelFn = int (*)();
    if (auto fn = reinterpret_cast<ParallelFn>(loaded_symbol(openblas, "openblas_get_parallel"))) {
      const int mode = fn();  // 0: sequential, 1: pthreads, 2: OpenMP
      info.threading = mode == 0 ? "serial" : mode == 1 ? "pthread" : "openmp";
    }
    return info;
  }
  for (const auto& path : loaded_objects()) {
    const std::string real = resolved(path);
    if (contains(real, "libblas.so") || contains(real, "libcblas.so")) {
      info.name = contains(real, "/blas/") ? "reference BLAS" : "unknown";
      info.path = real;
      return info;
    }
    if (contains(real, "libmkl")) {
      info.name = "MKL";
      info.path = real;
      return info;
    }
  }
  // Official prebuilt libtorch links MKL statically: no separate library to find.
  info.name = at::hasMKL() ? "MKL" : "unknown";
  return info;
}

int blas_threads() {
  using GetFn = int (*)();
  if (auto fn = reinterpret_cast<GetFn>(loaded_symbol(openblas_path(), "openblas_get_num_threads"))) return fn();
  // MKL linked into a prebuilt libtorch (the wheel exports its mkl_* symbols): at::set_num_threads
  // sets it, so this is normally libtorch's intra-op count, unless MKL_NUM_THREADS says otherwise.
  if (auto fn = reinterpret_cast<GetFn>(loaded_symbol(defining_object("mkl_get_max_threads"), "mkl_get_max_threads"))) return fn();
  return -1;
}

bool set_blas_threads(int threads) {
  const std::string openblas = openblas_path();
  using SetFn = void (*)(int);
  if (auto fn = reinterpret_cast<SetFn>(loaded_symbol(openblas, "openblas_set_num_threads"))) {
    fn(threads);
    return true;
  }
  return false;
}

bool blas_has_own_threads() { return loaded_symbol(openblas_path(), "openblas_set_num_threads") != nullptr; }

}  // namespace itl
