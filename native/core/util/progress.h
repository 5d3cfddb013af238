// How long native work reports back and is told to stop: a callback the caller owns (the addon
// forwards it to JavaScript through a thread-safe function) and an atomic flag checked between
// units of work. Both are optional; an empty callback and a null flag cost nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

namespace itl {

struct Progress {
  std::string phase;     // what is being done, e.g. "matmul"
  int64_t done = 0;      // units finished so far
  int64_t total = 0;     // units planned; 0 when unknown
  double value = 0;      // the figure of the moment (GFLOP/s, loss, …)
  std::string record{};  // a JSON object with the details of the event (a training step's metrics), or ""
};

using ProgressFn = std::function<void(const Progress&)>;

struct RunControl {
  ProgressFn on_progress;                    // may be empty
  const std::atomic<bool>* abort = nullptr;  // may be null

  void report(const Progress& p) const {
    if (on_progress) on_progress(p);
  }
  // Throws Error(kAborted) when the caller asked to stop.
  void check_abort() const;
};

}  // namespace itl
