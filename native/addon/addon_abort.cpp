#include "addon_abort.h"

#include <string>

#include "constructor_registry.h"
#include "errors.h"
#include "options.h"

namespace itl::addon {
namespace {

class AddonAbortFlag : public Napi::ObjectWrap<AddonAbortFlag> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "AbortFlag",
                       {InstanceMethod("abort", &AddonAbortFlag::abort), InstanceMethod("reset", &AddonAbortFlag::reset),
                        InstanceAccessor("aborted", &AddonAbortFlag::aborted, nullptr)});
  }

  explicit AddonAbortFlag(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AddonAbortFlag>(info) {}

  const AbortPtr& flag() const { return flag_; }

 private:
  Napi::Value abort(const Napi::CallbackInfo& info) {
    flag_->store(true);
    return info.Env().Undefined();
  }
  Napi::Value reset(const Napi::CallbackInfo& info) {
    flag_->store(false);
    return info.Env().Undefined();
  }
  Napi::Value aborted(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), flag_->load()); }

  AbortPtr flag_ = std::make_shared<std::atomic<bool>>(false);
};

ConstructorRegistry abort_constructors;

Napi::Value create_abort_flag_js(const Napi::CallbackInfo& info) { return abort_constructors.get(info.Env())->New({}); }

}  // namespace

AbortPtr abort_flag_option(Napi::Env env, const Napi::Value& options, const char* what) {
  if (!options.IsObject()) return nullptr;
  const Napi::Value value = options.As<Napi::Object>().Get("abort");
  if (value.IsUndefined() || value.IsNull()) return nullptr;
  const Napi::Function ctor = abort_constructors.get(env)->Value();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(ctor)) {
    throw_type_error(env,
                     std::string("expected an AbortFlag (createAbortFlag()) for ") + what + ".abort but received " + js_type_name(value));
  }
  return AddonAbortFlag::Unwrap(value.As<Napi::Object>())->flag();
}

void register_abort(Napi::Env env, Napi::Object exports) {
  abort_constructors.add(env, AddonAbortFlag::define(env));
  exports.Set("createAbortFlag", Napi::Function::New(env, create_abort_flag_js, "createAbortFlag"));
}

}  // namespace itl::addon
