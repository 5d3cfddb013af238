// Binding of the trainer: `createTrainer(options, train, eval)` resolves to an opaque Trainer handle
// whose run() trains on a thread of its own until the next checkpoint (progress events carry each
// step's metrics-log line), requestStop() ends a run after the step in progress, and model() hands
// out the in-memory model as a Model handle between runs. Rows cross once, as Int32Arrays.
#pragma once

#include <napi.h>

namespace itl::addon {

void register_trainer(Napi::Env env, Napi::Object exports);

}  // namespace itl::addon
