#pragma once
// A function run on a thread of its own, at once and then again after the
// delay it returns, on an injected Clock (tests move a FakeClock instead of
// sleeping). Used for the certificate checks.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "operator/runtime/clock.h"

namespace tributary::op::inject {

// Threads: start() and stop() from the owning thread; `pass` runs on the
// task's thread. stop() waits for a running pass to finish.
class PeriodicTask {
 public:
  using Pass = std::function<std::chrono::milliseconds()>;  // returns the delay before the next pass
  PeriodicTask(runtime::Clock& clock, Pass pass);
  ~PeriodicTask();
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  void start();
  void stop();
  // Passes completed so far (tests await a number instead of sleeping).
  uint64_t passes() const;
  // Blocks (real time, at most `timeout`) until passes() >= n.
  bool awaitPasses(uint64_t n, std::chrono::milliseconds timeout) const;

 private:
  void loop();
  runtime::Clock& clock_;
  Pass pass_;
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mutex_
  uint64_t passes_ = 0;    // guarded by mutex_
  std::thread thread_;
};

}  // namespace tributary::op::inject
