#include "addon_system.h"

#include "bench/matmul_benchmark.h"
#include "errors.h"
#include "options.h"
#include "compute_promise.h"
#include "system/parent_death.h"
#include "system/system_info.h"
#include "util/thread_policy.h"

namespace itl::addon {
namespace {

Napi::Object thread_counts_to_js(Napi::Env env, const ThreadCounts& t) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("torchIntraOp", t.torch_intra_op);
  out.Set("torchInterOp", t.torch_inter_op);
  out.Set("blas", t.blas);
  out.Set("blasOwnThreads", t.blas_own_threads);
  out.Set("hardware", t.hardware);
  out.Set("itlKernels", t.itl_kernels);
  return out;
}

Napi::Value system_info_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    const SystemInfo s = system_info();
    Napi::Object blas = Napi::Object::New(env);
    blas.Set("name", s.blas.name);
    blas.Set("path", s.blas.path);
    blas.Set("config", s.blas.config);
    blas.Set("threading", s.blas.threading);
    Napi::Object out = Napi::Object::New(env);
    out.Set("torchVersion", s.torch_version);
    out.Set("torchVersionMajor", s.torch_version_major);
    out.Set("cudaAvailable", s.cuda_available);
    out.Set("cudaDeviceCount", s.cuda_device_count);
    out.Set("mklAvailable", s.mkl_available);
    out.Set("openmpAvailable", s.openmp_available);
    out.Set("blas", blas);
    out.Set("threads", thread_counts_to_js(env, s.threads));
    out.Set("parallelInfo", s.parallel_info);
    return out;
  } catch (...) {
    throw to_js_error(env, capture_current_exception());
  }
}

Napi::Value configure_threads_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Options options(env, info[0], "threads");
  ThreadPolicy policy;
  policy.torch_threads = static_cast<int>(options.integer("torchThreads", policy.torch_threads));
  policy.blas_threads = static_cast<int>(options.integer("blasThreads", policy.blas_threads));
  try {
    apply_thread_policy(policy);
    return thread_counts_to_js(env, current_thread_counts());
  } catch (...) {
    throw to_js_error(env, capture_current_exception());
  }
}

Napi::Value bench_matmul_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Options options(env, info[0], "options");
  MatmulBenchmarkOptions bench;
  bench.size = options.integer("size", bench.size);
  bench.min_seconds = options.number("minSeconds", bench.min_seconds);
  bench.device = options.string("device", bench.device);
  bench.dtype = options.string("dtype", bench.dtype);
  return ComputePromise<MatmulBenchmarkResult>::start(
      env, [bench](const RunControl& control) { return run_matmul_benchmark(bench, control); },
      [](Napi::Env env, const MatmulBenchmarkResult& r) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        out.Set("gflops", r.gflops);
        out.Set("size", static_cast<double>(r.size));
        out.Set("iterations", static_cast<double>(r.iterations));
        out.Set("seconds", r.seconds);
        out.Set("device", r.device);
        out.Set("dtype", r.dtype);
        return out;
      },
      info[1]);
}

// watchParent(signal, expectedParentPid) -> "armed" | "parent-gone" | "unsupported"
Napi::Value watch_parent_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsNumber()) throw_type_error(env, "expected (signal number, parent pid)");
  try {
    switch (watch_parent(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value())) {
      case ParentWatch::kArmed:
        return Napi::String::New(env, "armed");
      case ParentWatch::kParentGone:
        return Napi::String::New(env, "parent-gone");
      case ParentWatch::kUnsupported:
        return Napi::String::New(env, "unsupported");
    }
    return env.Undefined();
  } catch (...) {
    throw to_js_error(env, capture_current_exception());
  }
}

}  // namespace

Napi::Object progress_to_js(Napi::Env env, const Progress& p) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("phase", p.phase);
  out.Set("done", static_cast<double>(p.done));
  out.Set("total", static_cast<double>(p.total));
  out.Set("value", p.value);
  if (!p.record.empty()) out.Set("record", p.record);
  return out;
}

void register_system(Napi::Env env, Napi::Object exports) {
  exports.Set("systemInfo", Napi::Function::New(env, system_info_js, "systemInfo"));
  exports.Set("configureThreads", Napi::Function::New(env, configure_threads_js, "configureThreads"));
  exports.Set("benchMatmul", Napi::Function::New(env, bench_matmul_js, "benchMatmul"));
  exports.Set("watchParent", Napi::Function::New(env, watch_parent_js, "watchParent"));
}

}  // namespace itl::addon
