// A Promise whose work runs on a thread of its own rather than on libuv's pool: for calls that last
// minutes to hours (a training run between checkpoints), which would otherwise hold one of the
// pool's four threads that file system and DNS work share. Progress and settlement go through one
// thread-safe function; the Promise settles in its finalizer, after every queued progress event
// was delivered (as PromiseWorker does).
#pragma once

#include <napi.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "errors.h"
#include "options.h"
#include "promise_settlement.h"
#include "util/progress.h"
#include "util/thread_policy.h"

namespace itl::addon {

template <typename Result>
class ThreadPromise {
 public:
  using Work = std::function<Result(const RunControl&)>;
  using ToJs = std::function<Napi::Value(Napi::Env, const Result&)>;

  static Napi::Promise start(Napi::Env env, Work work, ToJs to_js, Napi::Value on_progress = Napi::Value()) {
    auto state = std::make_shared<State>(State{Napi::Promise::Deferred::New(env), std::move(to_js), {}, {}});
    Napi::Function callback;
    if (!on_progress.IsEmpty() && !on_progress.IsUndefined() && !on_progress.IsNull()) {
      if (!on_progress.IsFunction()) {
        throw_type_error(env, std::string("expected a function for onProgress but received ") + js_type_name(on_progress));
      }
      callback = on_progress.As<Napi::Function>();
    } else {
      callback = Napi::Function::New(env, [](const Napi::CallbackInfo&) {});
    }
    Napi::ThreadSafeFunction tsfn = Napi::ThreadSafeFunction::New(env, callback, "itl-thread", 0, 1,
                                                                  [state](Napi::Env finalize_env) { state->settle(finalize_env); });
    std::thread([state, tsfn, work = std::move(work)]() mutable {
      adopt_thread_policy();
      RunControl control;
      control.on_progress = [tsfn](const Progress& p) mutable {
        auto* copy = new Progress(p);
        if (tsfn.BlockingCall(copy, deliver_progress) != napi_ok) delete copy;
      };
      try {
        state->result = work(control);
      } catch (...) {
        state->failure = capture_current_exception();
      }
      tsfn.Release();
    }).detach();
    return state->deferred.Promise();
  }

 private:
  using State = PromiseSettlement<Result>;
};

}  // namespace itl::addon
