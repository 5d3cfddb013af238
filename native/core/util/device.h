// Parsing the device and dtype names that cross the boundary ("cpu", "cuda:1", "fp32", "bf16")
// into libtorch's types, with errors that name the bad value.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>

namespace itl {

// "cpu", "cuda" or "cuda:N"; throws kCuda when CUDA is asked for and absent.
c10::Device parse_device(const std::string& name);
// "fp32", "bf16" or "fp16".
c10::ScalarType parse_dtype(const std::string& name);
std::string dtype_name(c10::ScalarType dtype);

}  // namespace itl
