// The one pattern every native call follows: the work runs on the process's compute thread
// (compute_thread.h), progress reaches an optional JS callback through a thread-safe function, and
// the Promise settles on the JS thread with the result or with the C++ error (message + .code).
// Settlement happens in the thread-safe function's finalizer, after every queued progress event
// was delivered, so a caller never sees a progress event after its await returned. Long calls (a
// training run between checkpoints) hold no libuv pool thread, so file system and DNS work go on.
#pragma once

#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "compute_thread.h"
#include "errors.h"
#include "options.h"
#include "promise_settlement.h"
#include "util/progress.h"

namespace itl::addon {

template <typename Result>
class ComputePromise {
 public:
  using Work = std::function<Result(const RunControl&)>;
  using ToJs = std::function<Napi::Value(Napi::Env, const Result&)>;

  // Queues `work`; returns the Promise. `on_progress` may be undefined; `abort` (addon_abort.h) may be
  // null, else the work's RunControl::check_abort() throws ITL_ABORTED once it is set.
  static Napi::Promise start(Napi::Env env, Work work, ToJs to_js, Napi::Value on_progress = Napi::Value(),
                             std::shared_ptr<std::atomic<bool>> abort = nullptr) {
    auto state = std::make_shared<State>(State{Napi::Promise::Deferred::New(env), std::move(to_js), {}, {}});
    Napi::Function callback;
    const bool wants_progress = !on_progress.IsEmpty() && !on_progress.IsUndefined() && !on_progress.IsNull();
    if (wants_progress) {
      if (!on_progress.IsFunction()) {
        throw_type_error(env, std::string("expected a function for onProgress but received ") + js_type_name(on_progress));
      }
      callback = on_progress.As<Napi::Function>();
    } else {
      callback = Napi::Function::New(env, [](const Napi::CallbackInfo&) {});
    }
    Napi::ThreadSafeFunction tsfn =
        Napi::ThreadSafeFunction::New(env, callback, "itl-native", 0, 1, [state](Napi::Env finalize_env) { state->settle(finalize_env); });
    run_on_compute_thread([state, tsfn, wants_progress, abort, work = std::move(work)]() mutable {
      RunControl control;
      control.abort = abort.get();
      // Without a callback no event is sent at all: each one wakes the JS thread, which on a 2-core
      // machine takes a core from the work (one per generated token, for instance).
      if (wants_progress) {
        control.on_progress = [tsfn](const Progress& p) mutable {
          auto* copy = new Progress(p);
          if (tsfn.BlockingCall(copy, deliver_progress) != napi_ok) delete copy;
        };
      }
      try {
        state->result = work(control);
      } catch (...) {
        state->failure = capture_current_exception();
      }
      tsfn.Release();
    });
    return state->deferred.Promise();
  }

 private:
  using State = PromiseSettlement<Result>;
};

}  // namespace itl::addon
