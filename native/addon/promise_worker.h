// The one pattern every long native call follows: the work runs on a libuv worker thread, progress
// reaches an optional JS callback through a thread-safe function, and the Promise settles on the JS
// thread with the result or with the C++ error (message + .code). When there is a progress callback
// the Promise settles only after every queued progress event has been delivered, so a caller never
// sees a progress event after its await returned.
#pragma once

#include <napi.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "errors.h"
#include "options.h"
#include "util/progress.h"

namespace itl::addon {

// Converts a core Progress into the JS object the callback receives.
Napi::Object progress_to_js(Napi::Env env, const Progress& progress);

template <typename Result>
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result(const RunControl&)>;
  using ToJs = std::function<Napi::Value(Napi::Env, const Result&)>;

  // Queues `work`; returns the Promise. `on_progress` may be undefined.
  static Napi::Promise start(Napi::Env env, Work work, ToJs to_js, Napi::Value on_progress = Napi::Value()) {
    auto* worker = new PromiseWorker(env, std::move(work), std::move(to_js));
    Napi::Promise promise = worker->state_->deferred.Promise();
    if (!on_progress.IsEmpty() && !on_progress.IsUndefined() && !on_progress.IsNull()) {
      if (!on_progress.IsFunction()) {
        delete worker;
        throw_type_error(env, std::string("expected a function for onProgress but received ") + js_type_name(on_progress));
      }
      worker->attach_progress(env, on_progress.As<Napi::Function>());
    }
    worker->Queue();
    return promise;
  }

 protected:
  void Execute() override {
    RunControl control;
    if (progress_) {
      Napi::ThreadSafeFunction tsfn = *progress_;
      control.on_progress = [tsfn](const Progress& p) mutable {
        auto* copy = new Progress(p);
        if (tsfn.NonBlockingCall(copy, deliver) != napi_ok) delete copy;
      };
    }
    try {
      state_->result = work_(control);
    } catch (...) {
      state_->failure = capture_current_exception();
    }
  }

  void OnOK() override {
    if (progress_) {
      progress_->Release();  // the finalizer settles, after the queue has drained
    } else {
      state_->settle(Env());
    }
  }

 private:
  struct State {
    Napi::Promise::Deferred deferred;
    ToJs to_js;
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

  PromiseWorker(Napi::Env env, Work work, ToJs to_js)
      : Napi::AsyncWorker(env, "itl-native"),
        work_(std::move(work)),
        state_(std::make_shared<State>(State{Napi::Promise::Deferred::New(env), std::move(to_js), {}, {}})) {}

  void attach_progress(Napi::Env env, Napi::Function callback) {
    std::shared_ptr<State> state = state_;
    progress_ = Napi::ThreadSafeFunction::New(env, callback, "itl-progress", 0, 1,
                                              [state](Napi::Env finalize_env) { state->settle(finalize_env); });
  }

  static void deliver(Napi::Env env, Napi::Function callback, Progress* progress) {
    std::unique_ptr<Progress> owned(progress);
    if (env == nullptr || callback.IsEmpty()) return;
    // An exception thrown by the JS callback must not take the process down: report and go on.
    try {
      callback.Call({progress_to_js(env, *owned)});
    } catch (const Napi::Error& e) {
      fprintf(stderr, "itl: progress callback threw: %s\n", e.Message().c_str());
    }
  }

  Work work_;
  std::shared_ptr<State> state_;
  std::optional<Napi::ThreadSafeFunction> progress_;
};

}  // namespace itl::addon
