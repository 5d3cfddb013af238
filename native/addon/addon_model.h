// Binding of the model engine: `loadModel(path, {device, dtype})` and `initModel(preset, seed, dir)`
// resolve to an opaque Model handle (AddonModel) whose forward/generate/score/divergence/save run on
// a worker thread; `inspectModel(path)` and `modelPresets()` describe models without loading weights.
// Token ids cross as Int32Array (flat, with an Int32Array of row lengths), results as typed arrays.
#pragma once

#include <napi.h>

#include <memory>
#include <string>

namespace itl {
class LlamaModel;
}

namespace itl::addon {

void register_model(Napi::Env env, Napi::Object exports);

// A Model handle on an existing model (the trainer's, between runs); adapter "" when none.
Napi::Object new_model_handle(Napi::Env env, std::shared_ptr<LlamaModel> model, std::string folder, std::string adapter);

}  // namespace itl::addon
