// Binding of the model engine: `loadModel(path, {device, dtype})` and `initModel(preset, seed, dir)`
// resolve to an opaque Model handle (AddonModel) whose forward/generate/score/divergence/save run on
// a worker thread; `inspectModel(path)` and `modelPresets()` describe models without loading weights.
// Token ids cross as Int32Array (flat, with an Int32Array of row lengths), results as typed arrays.
#pragma once

#include <napi.h>

namespace itl::addon {

void register_model(Napi::Env env, Napi::Object exports);

}  // namespace itl::addon
