#include "addon_model.h"

#include <ATen/core/grad_mode.h>
#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <mutex>

#include "addon_abort.h"
#include "constructor_registry.h"
#include "errors.h"
#include "eval/divergence.h"
#include "eval/generator.h"
#include "eval/scorer.h"
#include "io/checkpoint.h"
#include "io/llama_config.h"
#include "model/forward_benchmark.h"
#include "model/llama_model.h"
#include "model/model_bounds.h"
#include "model/model_io.h"
#include "model/presets.h"
#include "options.h"
#include "compute_promise.h"
#include "train/lora.h"
#include "util/error.h"
#include "util/device.h"

#include <ATen/CPUGeneratorImpl.h>
#include <filesystem>

namespace itl::addon {
namespace {

using ModelPtr = std::shared_ptr<LlamaModel>;
using Rows = std::vector<std::vector<int64_t>>;

[[noreturn]] void throw_failure(Napi::Env env, const std::string& code, const std::string& message) {
  throw to_js_error(env, NativeFailure{code, message});
}

Napi::Int32Array int32_array(Napi::Env env, const Napi::Value& value, const std::string& what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw_type_error(env, "expected an Int32Array for " + what + " but received " + js_type_name(value));
  }
  return value.As<Napi::Int32Array>();
}

// Flat ids + row lengths -> rows; lengths must add up to the ids' length.
Rows split_rows(Napi::Env env, const Napi::Value& ids_value, const Napi::Value& lengths_value, const std::string& what) {
  const Napi::Int32Array ids = int32_array(env, ids_value, what + " ids");
  const Napi::Int32Array lengths = int32_array(env, lengths_value, what + " lengths");
  Rows rows;
  size_t offset = 0;
  for (size_t r = 0; r < lengths.ElementLength(); ++r) {
    const int32_t n = lengths[r];
    if (n < 0 || offset + static_cast<size_t>(n) > ids.ElementLength()) {
      throw_type_error(env, what + " lengths[" + std::to_string(r) + "] = " + std::to_string(n) + " runs past the " +
                                std::to_string(ids.ElementLength()) + " ids");
    }
    rows.emplace_back(ids.Data() + offset, ids.Data() + offset + n);
    offset += static_cast<size_t>(n);
  }
  if (offset != ids.ElementLength()) {
    throw_type_error(
        env, what + " lengths add up to " + std::to_string(offset) + " but there are " + std::to_string(ids.ElementLength()) + " ids");
  }
  return rows;
}

std::vector<int64_t> integer_list(Napi::Env env, const Napi::Object& object, const char* key, const std::string& what) {
  const Napi::Value value = object.Get(key);
  std::vector<int64_t> out;
  if (value.IsUndefined()) return out;
  if (!value.IsArray())
    throw_type_error(env, "expected an array of integers for " + what + "." + key + " but received " + js_type_name(value));
  const Napi::Array array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); ++i) {
    const Napi::Value v = array.Get(i);
    if (!v.IsNumber())
      throw_type_error(env, "expected integers in " + what + "." + key + " but item " + std::to_string(i) + " is " + js_type_name(v));
    out.push_back(v.As<Napi::Number>().Int64Value());
  }
  return out;
}

Napi::Object object_or_empty(Napi::Env env, const Napi::Value& value, const std::string& what) {
  Options check(env, value, what);  // type check only
  return value.IsUndefined() ? Napi::Object::New(env) : value.As<Napi::Object>();
}

ModelOptions model_options(Napi::Env env, const Napi::Value& value) {
  Options o(env, value, "options");
  const std::string device = o.string("device", "cpu"), dtype = o.string("dtype", "fp32");
  const bool prepack = o.boolean("prepack", true);
  try {
    return ModelOptions{parse_dtype(dtype), parse_device(device), prepack};
  } catch (...) {
    throw to_js_error(env, capture_current_exception());
  }
}

Napi::Value config_to_js(Napi::Env env, const LlamaConfig& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("modelType", c.model_type);
  o.Set("vocabSize", static_cast<double>(c.vocab_size));
  o.Set("hiddenSize", static_cast<double>(c.hidden_size));
  o.Set("intermediateSize", static_cast<double>(c.intermediate_size));
  o.Set("numHiddenLayers", static_cast<double>(c.num_hidden_layers));
  o.Set("numAttentionHeads", static_cast<double>(c.num_attention_heads));
  o.Set("numKeyValueHeads", static_cast<double>(c.num_key_value_heads));
  o.Set("headDim", static_cast<double>(c.head_dim));
  o.Set("maxPositionEmbeddings", static_cast<double>(c.max_position_embeddings));
  o.Set("rmsNormEps", c.rms_norm_eps);
  o.Set("ropeTheta", c.rope_theta);
  if (c.rope_scaling) {
    Napi::Object s = Napi::Object::New(env);
    s.Set("ropeType", c.rope_scaling->rope_type);
    s.Set("factor", c.rope_scaling->factor);
    s.Set("lowFreqFactor", c.rope_scaling->low_freq_factor);
    s.Set("highFreqFactor", c.rope_scaling->high_freq_factor);
    s.Set("originalMaxPositionEmbeddings", static_cast<double>(c.rope_scaling->original_max_position_embeddings));
    o.Set("ropeScaling", s);
  } else {
    o.Set("ropeScaling", env.Null());
  }
  o.Set("tieWordEmbeddings", c.tie_word_embeddings);
  o.Set("bosTokenId", c.bos_token_id ? Napi::Value(Napi::Number::New(env, static_cast<double>(*c.bos_token_id))) : env.Null());
  Napi::Array eos = Napi::Array::New(env, c.eos_token_ids.size());
  for (size_t i = 0; i < c.eos_token_ids.size(); ++i) eos.Set(static_cast<uint32_t>(i), static_cast<double>(c.eos_token_ids[i]));
  o.Set("eosTokenIds", eos);
  o.Set("padTokenId", c.pad_token_id ? Napi::Value(Napi::Number::New(env, static_cast<double>(*c.pad_token_id))) : env.Null());
  o.Set("torchDtype", c.torch_dtype);
  o.Set("slidingWindow", c.sliding_window ? Napi::Value(Napi::Number::New(env, static_cast<double>(*c.sliding_window))) : env.Null());
  return o;
}

template <typename T, typename Array>
Array typed(Napi::Env env, const std::vector<T>& values) {
  Array out = Array::New(env, values.size());
  std::copy(values.begin(), values.end(), out.Data());
  return out;
}

// An opaque handle on one loaded model. The model lives in a shared_ptr that every queued call
// holds, so dispose() never frees weights under a running call: they go when the last call ends.
class AddonModel : public Napi::ObjectWrap<AddonModel> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Model",
                       {InstanceMethod("info", &AddonModel::info), InstanceMethod("forward", &AddonModel::forward),
                        InstanceMethod("generate", &AddonModel::generate), InstanceMethod("score", &AddonModel::score),
                        InstanceMethod("divergence", &AddonModel::divergence), InstanceMethod("save", &AddonModel::save),
                        InstanceMethod("benchForward", &AddonModel::bench_forward), InstanceMethod("dispose", &AddonModel::dispose)});
  }

  explicit AddonModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AddonModel>(info) {}

  void attach(ModelPtr model, std::string folder, std::string adapter) {
    model_ = std::move(model);
    folder_ = std::move(folder);
    adapter_ = std::move(adapter);
  }

  ModelPtr model(Napi::Env env) const {
    if (!model_) throw_failure(env, "ITL_INVALID_ARGUMENT", "this model was disposed");
    return model_;
  }

 private:
  Napi::Value info(const Napi::CallbackInfo& info) {
    const ModelPtr m = model(info.Env());
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("folder", folder_);
    out.Set("adapter", adapter_.empty() ? info.Env().Null() : Napi::Value(Napi::String::New(info.Env(), adapter_)));
    out.Set("device", m->options().device.str());
    out.Set("dtype", dtype_name(m->options().dtype));
    out.Set("parameterCount", static_cast<double>(m->parameter_count()));
    out.Set("config", config_to_js(info.Env(), m->config()));
    return out;
  }

  // forward(ids: Int32Array) -> {top1: Int32Array (T), lastLogits: Float32Array (V)}
  Napi::Value forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const ModelPtr m = model(env);
    const Napi::Int32Array ids_js = int32_array(env, info[0], "ids");
    std::vector<int64_t> ids(ids_js.Data(), ids_js.Data() + ids_js.ElementLength());
    if (ids.empty()) throw_type_error(env, "ids must not be empty");
    struct Out {
      std::vector<int32_t> top1;
      std::vector<float> last;
    };
    return ComputePromise<Out>::start(
        env,
        [m, ids](const RunControl&) {
          check_token_ids(ids, m->config().vocab_size, "ids");
          at::NoGradGuard no_grad;
          const int64_t n = static_cast<int64_t>(ids.size());
          const at::Tensor t = at::tensor(ids, at::kLong).view({1, n}).to(m->options().device);
          const at::Tensor logits = m->forward(t, at::ones({1, n}, t.options()))[0].to(at::kFloat);  // (T, V)
          const at::Tensor top1 = logits.argmax(-1).to(at::kInt).cpu().contiguous();
          const at::Tensor last = logits[n - 1].cpu().contiguous();
          return Out{std::vector<int32_t>(top1.data_ptr<int32_t>(), top1.data_ptr<int32_t>() + n),
                     std::vector<float>(last.data_ptr<float>(), last.data_ptr<float>() + last.numel())};
        },
        [](Napi::Env env, const Out& r) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("top1", typed<int32_t, Napi::Int32Array>(env, r.top1));
          out.Set("lastLogits", typed<float, Napi::Float32Array>(env, r.last));
          return out;
        });
  }

  // generate(ids, lengths, {maxNewTokens, eosIds, batchSize, sample, temperature, topP, seed}, onProgress?)
  //   -> {ids: Int32Array, lengths: Int32Array}: the new tokens of each row, flat.
  Napi::Value generate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const ModelPtr m = model(env);
    const Rows prompts = split_rows(env, info[0], info[1], "prompt");
    Options o(env, info[2], "options");
    GenerateOptions g;
    g.max_new_tokens = o.integer("maxNewTokens", g.max_new_tokens);
    g.eos_ids = integer_list(env, object_or_empty(env, info[2], "options"), "eosIds", "options");
    g.batch_size = o.integer("batchSize", g.batch_size);
    g.sample = o.boolean("sample", g.sample);
    g.temperature = o.number("temperature", g.temperature);
    g.top_p = o.number("topP", g.top_p);
    g.seed = static_cast<uint64_t>(o.integer("seed", 0));
    return ComputePromise<Rows>::start(
        env, [m, prompts, g](const RunControl& control) { return itl::generate(*m, prompts, g, control); },
        [](Napi::Env env, const Rows& rows) -> Napi::Value {
          std::vector<int32_t> flat, lengths;
          for (const auto& r : rows) {
            lengths.push_back(static_cast<int32_t>(r.size()));
            flat.insert(flat.end(), r.begin(), r.end());
          }
          Napi::Object out = Napi::Object::New(env);
          out.Set("ids", typed<int32_t, Napi::Int32Array>(env, flat));
          out.Set("lengths", typed<int32_t, Napi::Int32Array>(env, lengths));
          return out;
        },
        info[3], abort_flag_option(env, info[2], "options"));
  }

  // score(contextIds, contextLengths, continuationIds, continuationLengths, {batchRows, chunkPositions}, onProgress?)
  //   -> {logprobs: Float64Array, isGreedy: Uint8Array}
  Napi::Value score(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const ModelPtr m = model(env);
    const Rows contexts = split_rows(env, info[0], info[1], "context");
    const Rows continuations = split_rows(env, info[2], info[3], "continuation");
    if (contexts.size() != continuations.size()) {
      throw_type_error(env, "expected as many continuations as contexts: " + std::to_string(contexts.size()) + " contexts, " +
                                std::to_string(continuations.size()) + " continuations");
    }
    Options o(env, info[4], "options");
    ScoreOptions s;
    s.batch_rows = o.integer("batchRows", s.batch_rows);
    s.chunk_positions = o.integer("chunkPositions", s.chunk_positions);
    std::vector<ScoreRequest> requests;
    for (size_t i = 0; i < contexts.size(); ++i) requests.push_back({contexts[i], continuations[i]});
    return ComputePromise<std::vector<ScoreResult>>::start(
        env, [m, requests, s](const RunControl& control) { return itl::score(*m, requests, s, control); },
        [](Napi::Env env, const std::vector<ScoreResult>& results) -> Napi::Value {
          Napi::Float64Array logprobs = Napi::Float64Array::New(env, results.size());
          Napi::Uint8Array greedy = Napi::Uint8Array::New(env, results.size());
          for (size_t i = 0; i < results.size(); ++i) {
            logprobs[i] = results[i].logprob;
            greedy[i] = results[i].is_greedy ? 1 : 0;
          }
          Napi::Object out = Napi::Object::New(env);
          out.Set("logprobs", logprobs);
          out.Set("isGreedy", greedy);
          return out;
        },
        info[5], abort_flag_option(env, info[4], "options"));
  }

  // divergence(reference: Model, ids, lengths, tokenMask: Uint8Array, {batchRows, chunkPositions}, onProgress?)
  //   -> {standard, logSquare, bregman, exact, tv}: Float32Array per selected token. `this` is q, the reference p.
  Napi::Value divergence(const Napi::CallbackInfo& info);

  Napi::Value save(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const ModelPtr m = model(env);
    if (!info[0].IsString()) throw_type_error(env, std::string("expected a string for dir but received ") + js_type_name(info[0]));
    const std::string dir = info[0].As<Napi::String>();
    return ComputePromise<bool>::start(
        env,
        [m, dir](const RunControl&) {
          save_model(*m, dir);
          return true;
        },
        [dir](Napi::Env env, const bool&) -> Napi::Value { return Napi::String::New(env, dir); });
  }

  // benchForward({batch, seqLen, minSeconds, seed}) -> {calls, tokens, seconds, tokensPerS, flopsPerToken, gflops}
  Napi::Value bench_forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const ModelPtr m = model(env);
    Options o(env, info[0], "options");
    ForwardBenchmarkOptions b;
    b.batch = o.integer("batch", b.batch);
    b.seq_len = o.integer("seqLen", b.seq_len);
    b.min_seconds = o.number("minSeconds", b.min_seconds);
    b.seed = static_cast<uint64_t>(o.integer("seed", 0));
    return ComputePromise<ForwardBenchmarkResult>::start(
        env, [m, b](const RunControl& control) { return run_forward_benchmark(*m, b, control); },
        [](Napi::Env env, const ForwardBenchmarkResult& r) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("calls", static_cast<double>(r.calls));
          out.Set("tokens", static_cast<double>(r.tokens));
          out.Set("seconds", r.seconds);
          out.Set("tokensPerS", r.tokens_per_s);
          out.Set("flopsPerToken", r.flops_per_token);
          out.Set("gflops", r.gflops);
          return out;
        },
        info[1]);
  }

  Napi::Value dispose(const Napi::CallbackInfo& info) {
    model_.reset();
    return info.Env().Undefined();
  }

  ModelPtr model_;
  std::string folder_;
  std::string adapter_;  // the PEFT adapter folder applied at load, or ""
};

// One constructor per environment (worker threads each load the module): the handle class that
// loadModel/initModel instantiate.
ConstructorRegistry model_constructors;

}  // namespace

Napi::Object new_model_handle(Napi::Env env, std::shared_ptr<LlamaModel> model, std::string folder, std::string adapter) {
  std::shared_ptr<Napi::FunctionReference> ctor = model_constructors.get(env);
  Napi::Object handle = ctor->New({});
  AddonModel::Unwrap(handle)->attach(std::move(model), std::move(folder), std::move(adapter));
  return handle;
}

namespace {

Napi::Value AddonModel::divergence(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ModelPtr q = model(env);
  bool is_model = false;
  if (info[0].IsObject()) {
    std::shared_ptr<Napi::FunctionReference> ctor = model_constructors.get(env);
    is_model = info[0].As<Napi::Object>().InstanceOf(ctor->Value());
  }
  if (!is_model) throw_type_error(env, std::string("expected a Model for reference but received ") + js_type_name(info[0]));
  const ModelPtr p = AddonModel::Unwrap(info[0].As<Napi::Object>())->model(env);
  const Rows sequences = split_rows(env, info[1], info[2], "sequence");
  if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw_type_error(env, std::string("expected a Uint8Array for tokenMask but received ") + js_type_name(info[3]));
  }
  const Napi::Uint8Array mask = info[3].As<Napi::Uint8Array>();
  size_t total = 0;
  for (const auto& s : sequences) total += s.size();
  if (mask.ElementLength() != total) {
    throw_type_error(env,
                     "tokenMask has " + std::to_string(mask.ElementLength()) + " entries but there are " + std::to_string(total) + " ids");
  }
  std::vector<std::vector<uint8_t>> masks;
  size_t offset = 0;
  for (const auto& s : sequences) {
    masks.emplace_back(mask.Data() + offset, mask.Data() + offset + s.size());
    offset += s.size();
  }
  Options o(env, info[4], "options");
  DivergenceOptions d;
  d.batch_rows = o.integer("batchRows", d.batch_rows);
  d.chunk_positions = o.integer("chunkPositions", d.chunk_positions);
  return ComputePromise<DivergenceResult>::start(
      env, [p, q, sequences, masks, d](const RunControl& control) { return itl::divergence(*p, *q, sequences, masks, d, control); },
      [](Napi::Env env, const DivergenceResult& r) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        out.Set("standard", typed<float, Napi::Float32Array>(env, r.standard));
        out.Set("logSquare", typed<float, Napi::Float32Array>(env, r.log_square));
        out.Set("bregman", typed<float, Napi::Float32Array>(env, r.bregman));
        out.Set("tv", typed<float, Napi::Float32Array>(env, r.tv));
        out.Set("observedStandard", typed<float, Napi::Float32Array>(env, r.observed_standard));
        out.Set("observedLogSquare", typed<float, Napi::Float32Array>(env, r.observed_log_square));
        out.Set("observedBregman", typed<float, Napi::Float32Array>(env, r.observed_bregman));
        return out;
      },
      info[5], abort_flag_option(env, info[4], "options"));
}

struct Loaded {
  ModelPtr model;
  std::string folder;
  std::string adapter;
};

// A folder with adapter_config.json and no config.json is a PEFT adapter (a LoRA checkpoint): its
// base model is the one the adapter names.
bool is_adapter_folder(const std::string& path) {
  const std::filesystem::path dir(path);
  return std::filesystem::exists(dir / "adapter_config.json") && !std::filesystem::exists(dir / "config.json");
}

Loaded load_with_adapter(const std::string& path, std::string adapter, const ModelOptions& options) {
  std::string base = path;
  if (adapter.empty() && is_adapter_folder(path)) {
    adapter = path;
    base = adapter_base_model(path);
    if (base.empty())
      throw Error(ErrorCode::kConfig,
                  path + "/adapter_config.json names no base_model_name_or_path: pass the base model and the adapter separately");
  }
  ModelPtr model = load_model(base, options);
  if (!adapter.empty()) load_adapter(*model, adapter, at::make_generator<at::CPUGeneratorImpl>(0));
  return Loaded{model, resolve_model_folder(base), adapter};
}

// loadModel(path, {device, dtype, adapter}) -> Model; path may also be a LoRA checkpoint folder.
Napi::Value load_model_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw_type_error(env, std::string("expected a string for path but received ") + js_type_name(info[0]));
  const std::string path = info[0].As<Napi::String>();
  const ModelOptions options = model_options(env, info[1]);
  const std::string adapter = Options(env, info[1], "options").string("adapter", "");
  return ComputePromise<Loaded>::start(
      env, [path, adapter, options](const RunControl&) { return load_with_adapter(path, adapter, options); },
      [](Napi::Env env, const Loaded& l) -> Napi::Value { return new_model_handle(env, l.model, l.folder, l.adapter); });
}

// (shape source, seed, dir, {dtype}): a model of the shape `shape_of(source)` gives, random-initialised
// with seed, saved to dir, then loaded. The shape is resolved on the worker (it may read a file).
Napi::Value start_init(const Napi::CallbackInfo& info, const char* source_name, LlamaConfig (*shape_of)(const std::string&)) {
  Napi::Env env = info.Env();
  if (!info[0].IsString())
    throw_type_error(env, std::string("expected a string for ") + source_name + " but received " + js_type_name(info[0]));
  if (!info[1].IsNumber()) throw_type_error(env, std::string("expected a number for seed but received ") + js_type_name(info[1]));
  if (!info[2].IsString()) throw_type_error(env, std::string("expected a string for dir but received ") + js_type_name(info[2]));
  const std::string source = info[0].As<Napi::String>(), dir = info[2].As<Napi::String>();
  const int64_t seed = info[1].As<Napi::Number>().Int64Value();
  if (seed < 0) throw_type_error(env, "seed must be a non-negative integer, got " + std::to_string(seed));
  const ModelOptions options = model_options(env, info[3]);
  return ComputePromise<Loaded>::start(
      env,
      [source, shape_of, seed, dir, options](const RunControl&) {
        LlamaConfig config = shape_of(source);
        check_model_fits_memory(config, options, "the model for " + dir);
        auto model = std::make_shared<LlamaModel>(std::move(config), options);
        model->initialize(static_cast<uint64_t>(seed));
        save_model(*model, dir);
        return Loaded{model, dir, ""};
      },
      [](Napi::Env env, const Loaded& l) -> Napi::Value { return new_model_handle(env, l.model, l.folder, l.adapter); });
}

// initModel(preset, seed, dir, {dtype}) -> Model: a preset's shape.
Napi::Value init_model_js(const Napi::CallbackInfo& info) {
  return start_init(info, "preset", [](const std::string& preset) { return model_preset(preset).config; });
}

// initModelFromConfig(configFolder, seed, dir, {dtype}) -> Model: the shape in configFolder/config.json
// (a model the project designs itself, e.g. the demo's, needs no preset).
Napi::Value init_model_from_config_js(const Napi::CallbackInfo& info) {
  return start_init(info, "configFolder", [](const std::string& folder) { return load_llama_config(folder); });
}

struct Inspected {
  std::string folder;
  LlamaConfig config;
  int64_t parameter_count = 0;
  std::map<std::string, int64_t> dtype_counts;  // checkpoint dtype -> parameters stored in it
  int64_t tensors = 0;
};

// inspectModel(path) -> {folder, config, configJson, parameterCount, checkpoint: {tensors, dtypes}}
Napi::Value inspect_model_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw_type_error(env, std::string("expected a string for path but received ") + js_type_name(info[0]));
  const std::string path = info[0].As<Napi::String>();
  return ComputePromise<Inspected>::start(
      env,
      [path](const RunControl&) {
        Inspected r;
        r.folder = resolve_model_folder(path);
        r.config = load_llama_config(r.folder);
        const CheckpointReader reader = CheckpointReader::open(r.folder);
        check_config_matches_checkpoint(r.config, reader, r.folder);  // a count from a config the weights contradict is nonsense
        const LlamaModel shape(r.config, ModelOptions{at::kFloat, at::Device(at::kMeta)});
        r.parameter_count = shape.parameter_count();
        for (const std::string& name : reader.names()) {
          const TensorInfo& t = reader.info(name);
          int64_t n = 1;
          for (int64_t d : t.shape) n *= d;
          r.dtype_counts[t.dtype] += n;
          ++r.tensors;
        }
        return r;
      },
      [](Napi::Env env, const Inspected& r) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        out.Set("folder", r.folder);
        out.Set("config", config_to_js(env, r.config));
        out.Set("configJson", r.config.json);
        out.Set("parameterCount", static_cast<double>(r.parameter_count));
        Napi::Object checkpoint = Napi::Object::New(env);
        checkpoint.Set("tensors", static_cast<double>(r.tensors));
        Napi::Object dtypes = Napi::Object::New(env);
        for (const auto& [dtype, n] : r.dtype_counts) dtypes.Set(dtype, static_cast<double>(n));
        checkpoint.Set("dtypes", dtypes);
        out.Set("checkpoint", checkpoint);
        return out;
      });
}

Napi::Value model_presets_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& presets = model_presets();
  Napi::Array out = Napi::Array::New(env, presets.size());
  for (size_t i = 0; i < presets.size(); ++i) {
    Napi::Object p = Napi::Object::New(env);
    p.Set("name", presets[i].name);
    p.Set("describe", presets[i].describe);
    p.Set("tiny", presets[i].tiny);
    try {
      const LlamaModel shape(presets[i].config, ModelOptions{at::kFloat, at::Device(at::kMeta)});
      p.Set("parameterCount", static_cast<double>(shape.parameter_count()));
    } catch (...) {
      throw to_js_error(env, capture_current_exception());
    }
    out.Set(static_cast<uint32_t>(i), p);
  }
  return out;
}

}  // namespace

void register_model(Napi::Env env, Napi::Object exports) {
  model_constructors.add(env, AddonModel::define(env));
  exports.Set("loadModel", Napi::Function::New(env, load_model_js, "loadModel"));
  exports.Set("initModel", Napi::Function::New(env, init_model_js, "initModel"));
  exports.Set("initModelFromConfig", Napi::Function::New(env, init_model_from_config_js, "initModelFromConfig"));
  exports.Set("inspectModel", Napi::Function::New(env, inspect_model_js, "inspectModel"));
  exports.Set("modelPresets", Napi::Function::New(env, model_presets_js, "modelPresets"));
}

}  // namespace itl::addon
