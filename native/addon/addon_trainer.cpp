#include "addon_trainer.h"

#include <ATen/ATen.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "addon_model.h"
#include "constructor_registry.h"
#include "errors.h"
#include "io/checkpoint.h"
#include "model/model_io.h"
#include "options.h"
#include "compute_promise.h"
#include "train/trainer.h"
#include "util/device.h"

namespace itl::addon {
namespace {

using TrainerPtr = std::shared_ptr<Trainer>;

// {ids: Int32Array, labels: Int32Array, offsets: Int32Array} -> TokenRows (copied once).
TokenRows token_rows(Napi::Env env, const Napi::Value& value, const std::string& what) {
  if (!value.IsObject()) throw_type_error(env, "expected {ids, labels, offsets} for " + what + " but received " + js_type_name(value));
  const Napi::Object o = value.As<Napi::Object>();
  auto array = [&](const char* key) {
    const Napi::Value v = o.Get(key);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      throw_type_error(env, "expected an Int32Array for " + what + "." + key + " but received " + js_type_name(v));
    }
    return v.As<Napi::Int32Array>();
  };
  const Napi::Int32Array ids = array("ids"), labels = array("labels"), offsets = array("offsets");
  TokenRows rows;
  rows.ids.assign(ids.Data(), ids.Data() + ids.ElementLength());
  rows.labels.assign(labels.Data(), labels.Data() + labels.ElementLength());
  rows.offsets.assign(offsets.Data(), offsets.Data() + offsets.ElementLength());
  if (rows.offsets.empty()) throw_type_error(env, what + ".offsets must hold at least one entry (0)");
  return rows;
}

struct CreateRequest {
  std::string model;
  std::string device;
  std::string resume_from;
  TrainerOptions options;
};

// Parses `value` with a core parser (precision, scheduler names), turning its error into a TypeError.
template <typename T, typename Parse>
T parsed(Napi::Env env, const std::string& value, Parse parse) {
  try {
    return parse(value);
  } catch (...) {
    throw to_js_error(env, capture_current_exception());
  }
}

// The request NativeTrainerOptions describes (lib/native/Trainer.ts): every field is required and
// none has a default here (they live in lib/train/trainOptions.ts), and a field this side does not
// read is an error too, so the two sides cannot drift apart silently.
CreateRequest create_request(Napi::Env env, const Napi::Value& value) {
  Options o(env, value, "options");
  CreateRequest r{};  // value-initialised: rows and world size are the trainer's to fill in, the rest is read below
  r.model = o.string("model");
  r.device = o.string("device");
  r.resume_from = o.string_or_null("resumeFrom");
  TrainerOptions& t = r.options;
  t.run_dir = o.string("runDir");
  t.base_model = o.string("baseModel");
  t.schedule.epochs = o.integer("epochs");
  t.schedule.batch = o.integer("batch");
  t.schedule.grad_accumulation = o.integer("gradAccumulation");
  t.schedule.warmup_ratio = o.number("warmupRatio");
  t.schedule.lr_scheduler = parsed<LrScheduler>(env, o.string("lrScheduler"), parse_lr_scheduler);
  t.schedule.eval_steps = o.integer("evalSteps");
  t.schedule.save_steps = o.integer("saveSteps");
  t.schedule.logging_steps = o.integer("loggingSteps");
  t.learning_rate = o.number("learningRate");
  t.max_grad_norm = o.number("maxGradNorm");
  t.adam_beta1 = o.number("adamBeta1");
  t.adam_beta2 = o.number("adamBeta2");
  t.adam_epsilon = o.number("adamEpsilon");
  t.weight_decay = o.number("weightDecay");
  const int64_t seed = o.integer("seed");
  if (seed < 0) throw_type_error(env, "expected a non-negative integer for options.seed but received " + std::to_string(seed));
  t.seed = static_cast<uint64_t>(seed);
  t.eval_batch = o.integer("evalLossBatch");
  t.precision = parsed<Precision>(env, o.string("precision"), parse_precision);
  t.lora.r = o.integer("loraR");
  t.lora.alpha = o.number("loraAlpha");
  t.lora.dropout = o.number("loraDropout");
  t.init_adapter = o.string_or_null("initAdapter");
  t.save_merged = o.boolean("saveMerged");
  const std::string policy = o.string("saveCheckpoints");
  if (policy != "all" && policy != "last" && policy != "none")
    throw_type_error(env, "options.saveCheckpoints must be all, last or none, got '" + policy + "'");
  t.save_checkpoints = policy == "all"    ? TrainerOptions::SavePolicy::kAll
                       : policy == "last" ? TrainerOptions::SavePolicy::kLast
                                          : TrainerOptions::SavePolicy::kNone;
  t.pad_id = o.integer("padId");
  const std::string packing = o.string("packing");
  if (packing != "on" && packing != "off") throw_type_error(env, "options.packing must be on or off, got '" + packing + "'");
  t.packing = packing == "on";
  t.loss_chunk = o.integer("lossChunk");
  if (t.loss_chunk < 0) throw_type_error(env, "options.lossChunk must be ≥ 0 (0: automatic), got " + std::to_string(t.loss_chunk));
  t.checkpoint_files = o.strings("checkpointFiles");
  t.run_record = o.string("runRecord");
  t.dist.rank = static_cast<int>(o.integer("rank"));
  t.dist.world_size = static_cast<int>(o.integer("worldSize"));
  t.dist.local_rank = static_cast<int>(o.integer("localRank"));
  t.dist.local_world_size = static_cast<int>(o.integer("localWorldSize"));
  t.dist.master_addr = o.string("masterAddr");
  t.dist.master_port = static_cast<int>(o.integer("masterPort"));
  t.collective_timeout_seconds = o.number("collectiveTimeoutSeconds");
  o.reject_unread();
  try {
    validate_trainer_options(t);
    TrainingSchedule::compute({1, t.schedule.batch, t.schedule.grad_accumulation, 1, t.schedule.epochs, t.schedule.warmup_ratio,
                               t.schedule.lr_scheduler, t.schedule.eval_steps, t.schedule.save_steps, t.schedule.logging_steps});
  } catch (...) {
    throw to_js_error(env, capture_current_exception());
  }
  return r;
}

Napi::Object schedule_to_js(Napi::Env env, const Trainer& trainer) {
  const TrainingSchedule& s = trainer.schedule();
  Napi::Object out = Napi::Object::New(env);
  out.Set("trainRows", static_cast<double>(s.inputs.rows));
  out.Set("microBatchesPerEpoch", static_cast<double>(s.micro_batches_per_epoch));
  out.Set("updatesPerEpoch", static_cast<double>(s.updates_per_epoch));
  out.Set("totalSteps", static_cast<double>(s.total_steps));
  out.Set("warmupSteps", static_cast<double>(s.warmup_steps));
  out.Set("stepsPerEpoch", static_cast<double>(s.steps_per_epoch));
  out.Set("evalSteps", static_cast<double>(s.eval_steps));
  out.Set("saveSteps", static_cast<double>(s.save_steps));
  out.Set("loggingSteps", static_cast<double>(s.logging_steps));
  return out;
}

// An opaque handle on one training run. run() trains on a thread of its own until the next
// checkpoint; requestStop() is safe at any time; model() hands out the in-memory model between runs.
class AddonTrainer : public Napi::ObjectWrap<AddonTrainer> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Trainer",
                       {InstanceMethod("info", &AddonTrainer::info), InstanceMethod("run", &AddonTrainer::run),
                        InstanceMethod("requestStop", &AddonTrainer::request_stop), InstanceMethod("model", &AddonTrainer::model),
                        InstanceMethod("dispose", &AddonTrainer::dispose)});
  }

  explicit AddonTrainer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AddonTrainer>(info) {}

  void attach(TrainerPtr trainer, std::string folder) {
    trainer_ = std::move(trainer);
    folder_ = std::move(folder);
  }

 private:
  TrainerPtr live(Napi::Env env) const {
    if (!trainer_) throw to_js_error(env, NativeFailure{"ITL_INVALID_ARGUMENT", "this trainer was disposed"});
    return trainer_;
  }

  Napi::Value info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const TrainerPtr t = live(env);
    Napi::Object out = Napi::Object::New(env);
    out.Set("schedule", schedule_to_js(env, *t));
    out.Set("globalStep", static_cast<double>(t->global_step()));
    out.Set("precision", precision_name(t->options().precision));
    out.Set("device", t->model()->options().device.str());
    out.Set("parameterCount", static_cast<double>(t->model()->parameter_count()));
    out.Set("trainableParameters", static_cast<double>(t->trainable_parameter_count()));
    Napi::Object lora = Napi::Object::New(env);
    lora.Set("r", static_cast<double>(t->options().lora.r));
    lora.Set("alpha", t->options().lora.alpha);
    lora.Set("dropout", t->options().lora.dropout);
    out.Set("lora", lora);
    out.Set("running", running_->load());
    out.Set("rank", t->rank());
    out.Set("communicationSeconds", t->communication_seconds());
    return out;
  }

  // run(onProgress) -> {globalStep, finished, stopped, checkpoint}
  Napi::Value run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const TrainerPtr t = live(env);
    if (running_->exchange(true)) throw to_js_error(env, NativeFailure{"ITL_INVALID_ARGUMENT", "this trainer is already running"});
    auto running = running_;
    return ComputePromise<RunOutcome>::start(
        env,
        [t, running](const RunControl& control) {
          struct Done {
            std::shared_ptr<std::atomic<bool>> flag;
            ~Done() { *flag = false; }
          } done{running};
          return t->run_until_checkpoint(control);
        },
        [](Napi::Env env, const RunOutcome& r) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("globalStep", static_cast<double>(r.global_step));
          out.Set("finished", r.finished);
          out.Set("stopped", r.stopped);
          out.Set("checkpoint", r.checkpoint.empty() ? env.Null() : Napi::Value(Napi::String::New(env, r.checkpoint)));
          return out;
        },
        info[0]);
  }

  Napi::Value request_stop(const Napi::CallbackInfo& info) {
    live(info.Env())->request_stop();
    return info.Env().Undefined();
  }

  // The model being trained, as a Model handle (LoRA layers included). Use it between runs only.
  Napi::Value model(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const TrainerPtr t = live(env);
    if (running_->load())
      throw to_js_error(env, NativeFailure{"ITL_INVALID_ARGUMENT", "the trainer is running: use its model between runs"});
    return new_model_handle(env, t->model(), folder_, "");
  }

  Napi::Value dispose(const Napi::CallbackInfo& info) {
    if (trainer_) trainer_->request_stop();
    trainer_.reset();  // a running call keeps its own reference until it ends
    return info.Env().Undefined();
  }

  TrainerPtr trainer_;
  std::string folder_;
  std::shared_ptr<std::atomic<bool>> running_ = std::make_shared<std::atomic<bool>>(false);
};

ConstructorRegistry trainer_constructors;

struct Created {
  TrainerPtr trainer;
  std::string folder;
};

// createTrainer(options, train, eval) -> Promise<Trainer>: loads the model, applies LoRA, builds
// the optimiser and, with options.resumeFrom, restores a checkpoint.
Napi::Value create_trainer_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CreateRequest request = create_request(env, info[0]);
  TokenRows train = token_rows(env, info[1], "train");
  TokenRows eval = token_rows(env, info[2], "eval");
  std::shared_ptr<Napi::FunctionReference> constructor = trainer_constructors.get(env);
  return ComputePromise<Created>::start(
      env,
      [request, train = std::move(train), eval = std::move(eval)](const RunControl&) mutable {
        ModelOptions model_options{request.options.precision == Precision::kFp32 ? at::kFloat : at::kBFloat16,
                                   parse_device(request.device)};
        const std::string folder = resolve_model_folder(request.model);
        auto model = load_model(folder, model_options);
        auto trainer = std::make_shared<Trainer>(model, std::move(train), std::move(eval), request.options);
        if (!request.resume_from.empty()) trainer->resume(request.resume_from);
        return Created{trainer, folder};
      },
      [constructor](Napi::Env env, const Created& c) -> Napi::Value {
        Napi::Object handle = constructor->New({});
        AddonTrainer::Unwrap(handle)->attach(c.trainer, c.folder);
        return handle;
      });
}

}  // namespace

void register_trainer(Napi::Env env, Napi::Object exports) {
  trainer_constructors.add(env, AddonTrainer::define(env));
  exports.Set("createTrainer", Napi::Function::New(env, create_trainer_js, "createTrainer"));
}

}  // namespace itl::addon
