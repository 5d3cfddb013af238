// Cancellation of native calls: `createAbortFlag()` returns an AbortFlag whose `abort()` (safe at any
// time, from JS) makes the calls that were given it (`options.abort`) stop at their next check —
// between batches of generation, scoring and divergence — and reject with ITL_ABORTED.
// One flag per JS owner (the Runtime of an `itl` command): no process-wide state.
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>

namespace itl::addon {

using AbortPtr = std::shared_ptr<std::atomic<bool>>;

// The flag passed as `options.abort` (an AbortFlag), or null when the caller gave none.
AbortPtr abort_flag_option(Napi::Env env, const Napi::Value& options, const char* what);

void register_abort(Napi::Env env, Napi::Object exports);

}  // namespace itl::addon
