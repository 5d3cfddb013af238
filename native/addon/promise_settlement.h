// What ComputePromise needs beside the compute thread: the Promise and
// how it settles with a result or a native failure, and how a progress event reaches its callback.
#pragma once

#include <napi.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <optional>

#include "errors.h"
#include "util/progress.h"

namespace itl::addon {

// Converts a core Progress into the JS object the callback receives.
Napi::Object progress_to_js(Napi::Env env, const Progress& progress);

template <typename Result>
struct PromiseSettlement {
  Napi::Promise::Deferred deferred;
  std::function<Napi::Value(Napi::Env, const Result&)> to_js;
  std::optional<Result> result;
  std::optional<NativeFailure> failure;

  void settle(Napi::Env env) {
    Napi::HandleScope scope(env);
    if (failure) {
      deferred.Reject(to_js_error(env, *failure).Value());
      return;
    }
    try {
      deferred.Resolve(to_js(env, *result));
    } catch (const Napi::Error& e) {
      deferred.Reject(e.Value());
    }
  }
};

// A thread-safe function's call target: hands one progress event (owned) to the JS callback. An
// exception thrown by the callback must not take the process down: report it and go on.
inline void deliver_progress(Napi::Env env, Napi::Function callback, Progress* progress) {
  std::unique_ptr<Progress> owned(progress);
  if (env == nullptr || callback.IsEmpty()) return;
  try {
    callback.Call({progress_to_js(env, *owned)});
  } catch (const Napi::Error& e) {
    fprintf(stderr, "itl: progress callback threw: %s\n", e.Message().c_str());
  }
}

}  // namespace itl::addon
