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
#include "promise_settlement.h"
#include "options.h"
#include "util/progress.h"
#include "util/thread_policy.h"

namespace itl::addon {

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
    adopt_thread_policy();
    RunControl control;
    if (progress_) {
      Napi::ThreadSafeFunction tsfn = *progress_;
      control.on_progress = [tsfn](const Progress& p) mutable {
        auto* copy = new Progress(p);
        if (tsfn.NonBlockingCall(copy, deliver_progress) != napi_ok) delete copy;
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
  using State = PromiseSettlement<Result>;

  PromiseWorker(Napi::Env env, Work work, ToJs to_js)
      : Napi::AsyncWorker(env, "itl-native"),
        work_(std::move(work)),
        state_(std::make_shared<State>(State{Napi::Promise::Deferred::New(env), std::move(to_js), {}, {}})) {}

  void attach_progress(Napi::Env env, Napi::Function callback) {
    std::shared_ptr<State> state = state_;
    progress_ = Napi::ThreadSafeFunction::New(env, callback, "itl-progress", 0, 1,
                                              [state](Napi::Env finalize_env) { state->settle(finalize_env); });
  }

  Work work_;
  std::shared_ptr<State> state_;
  std::optional<Napi::ThreadSafeFunction> progress_;
};

}  // namespace itl::addon
