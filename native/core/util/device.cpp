#include "util/device.h"

#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include "util/error.h"

namespace itl {

c10::Device parse_device(const std::string& name) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  const std::string prefix = "cuda";
  if (name.rfind(prefix, 0) != 0) throw Error(ErrorCode::kInvalidArgument, "unknown device '" + name + "': expected cpu, cuda or cuda:N");
  int index = 0;
  if (name.size() > prefix.size()) {
    const std::string rest = name.substr(prefix.size());
    if (rest.size() < 2 || rest[0] != ':' || rest.find_first_not_of("0123456789", 1) != std::string::npos) {
      throw Error(ErrorCode::kInvalidArgument, "unknown device '" + name + "': expected cpu, cuda or cuda:N");
    }
    index = std::stoi(rest.substr(1));
  }
  if (!at::hasCUDA()) throw Error(ErrorCode::kCuda, "device '" + name + "' requested, but this libtorch has no CUDA device");
  const int count = at::detail::getCUDAHooks().getNumGPUs();
  if (index >= count) {
    throw Error(ErrorCode::kCuda, "device '" + name + "' requested, but only " + std::to_string(count) + " CUDA device(s) are visible");
  }
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

c10::ScalarType parse_dtype(const std::string& name) {
  if (name == "fp32") return c10::kFloat;
  if (name == "bf16") return c10::kBFloat16;
  if (name == "fp16") return c10::kHalf;
  throw Error(ErrorCode::kInvalidArgument, "unknown dtype '" + name + "': expected fp32, bf16 or fp16");
}

std::string dtype_name(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::kFloat:
      return "fp32";
    case c10::kBFloat16:
      return "bf16";
    case c10::kHalf:
      return "fp16";
    default:
      return c10::toString(dtype);
  }
}

}  // namespace itl
