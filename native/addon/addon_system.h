// Binding of the core's system facts and the matmul benchmark: `systemInfo()`,
// `configureThreads({torchThreads, blasThreads})`, `benchMatmul(options, onProgress?)`,
// `watchParent(signal, parentPid)` (system/parent_death.h).
#pragma once

#include <napi.h>

namespace itl::addon {

void register_system(Napi::Env env, Napi::Object exports);

}  // namespace itl::addon
