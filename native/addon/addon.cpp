// The N-API module `itl_native`: registration only. Each concept of the core has its own
// register_* function in its own addon_*.cpp file.
#include <napi.h>

#include "addon_abort.h"
#include "addon_model.h"
#include "addon_system.h"
#include "addon_trainer.h"
#include "system/allocator_policy.h"

namespace itl::addon {

// Raised whenever a call's arguments or results change shape (2: options.abort, createAbortFlag).
constexpr int kAbiVersion = 2;

Napi::Object init(Napi::Env env, Napi::Object exports) {
  retain_freed_memory();        // before any model allocates: see allocator_policy.h
  bound_onednn_kernel_cache();  // before the first bf16 matmul: see allocator_policy.h
  // Checked by lib/native/addon.ts at load: a stale build fails with a clear error, not a missing function.
  exports.Set("abiVersion", Napi::Number::New(env, kAbiVersion));
  register_abort(env, exports);
  register_system(env, exports);
  register_model(env, exports);
  register_trainer(env, exports);
  return exports;
}

}  // namespace itl::addon

// The macro pastes its argument into a symbol name, so it needs an unqualified function.
static Napi::Object InitItlNative(Napi::Env env, Napi::Object exports) { return itl::addon::init(env, exports); }

NODE_API_MODULE(itl_native, InitItlNative)
