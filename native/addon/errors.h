// Mapping every C++ failure onto one JavaScript error shape: `new Error(message)` with a stable
// `.code` ("ITL_CONFIG", "ITL_TORCH", …). Captured on the worker thread, thrown or rejected on the JS one.
#pragma once

#include <napi.h>

#include <string>

namespace itl::addon {

struct NativeFailure {
  std::string code;
  std::string message;
};

// Call inside a catch block: classifies the exception in flight.
NativeFailure capture_current_exception();

Napi::Error to_js_error(Napi::Env env, const NativeFailure& failure);

// An argument of the wrong type or out of range, before any work is queued.
[[noreturn]] void throw_type_error(Napi::Env env, const std::string& message);

}  // namespace itl::addon
