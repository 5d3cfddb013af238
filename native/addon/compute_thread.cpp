#include "compute_thread.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include "util/thread_policy.h"

namespace itl::addon {
namespace {

class ComputeThread {
 public:
  ComputeThread() {
    std::thread([this] { loop(); }).detach();
  }

  void submit(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.push_back(std::move(job));
    }
    ready_.notify_one();
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [this] { return !jobs_.empty(); });
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      adopt_thread_policy();  // the count may have changed since the last job (Runtime.open)
      job();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
};

}  // namespace

void run_on_compute_thread(std::function<void()> job) {
  // Never destroyed: the detached thread may still wait on it while the process exits.
  static ComputeThread* thread = new ComputeThread();
  thread->submit(std::move(job));
}

}  // namespace itl::addon
