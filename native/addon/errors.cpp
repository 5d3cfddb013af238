#include "errors.h"

#include <c10/util/Exception.h>

#include <new>

#include "util/error.h"

namespace itl::addon {

NativeFailure capture_current_exception() {
  try {
    throw;
  } catch (const itl::Error& e) {
    return {error_code_name(e.code()), e.what()};
  } catch (const c10::Error& e) {
    // c10's what() carries a C++ backtrace; users need the message.
    std::string message = e.what_without_backtrace();
    const bool oom = message.find("out of memory") != std::string::npos;
    return {oom ? "ITL_OUT_OF_MEMORY" : "ITL_TORCH", message};
  } catch (const std::bad_alloc&) {
    return {"ITL_OUT_OF_MEMORY", "out of host memory"};
  } catch (const std::exception& e) {
    return {"ITL_INTERNAL", e.what()};
  } catch (...) {
    return {"ITL_INTERNAL", "unknown native exception"};
  }
}

Napi::Error to_js_error(Napi::Env env, const NativeFailure& failure) {
  Napi::Error error = Napi::Error::New(env, failure.message);
  error.Set("code", Napi::String::New(env, failure.code));
  return error;
}

void throw_type_error(Napi::Env env, const std::string& message) {
  Napi::TypeError error = Napi::TypeError::New(env, message);
  error.Set("code", Napi::String::New(env, "ITL_INVALID_ARGUMENT"));
  throw error;
}

}  // namespace itl::addon
