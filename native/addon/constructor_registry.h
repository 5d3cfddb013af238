// The JS class of a handle type, one per environment: Node's worker threads each load the module,
// and a handle must be made with its own environment's constructor.
#pragma once

#include <napi.h>

#include <map>
#include <memory>
#include <mutex>

namespace itl::addon {

class ConstructorRegistry {
 public:
  // Keeps `constructor` for `env` until the environment is torn down. The registry must outlive
  // every environment (a namespace-scope object does).
  void add(Napi::Env env, Napi::Function constructor) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      constructors_[env] = std::make_shared<Napi::FunctionReference>(Napi::Persistent(constructor));
    }
    env.AddCleanupHook([this, raw = static_cast<napi_env>(env)] {
      std::lock_guard<std::mutex> lock(mutex_);
      constructors_.erase(raw);
    });
  }

  std::shared_ptr<Napi::FunctionReference> get(Napi::Env env) {
    std::lock_guard<std::mutex> lock(mutex_);
    return constructors_.at(env);
  }

 private:
  std::mutex mutex_;
  std::map<napi_env, std::shared_ptr<Napi::FunctionReference>> constructors_;
};

}  // namespace itl::addon
