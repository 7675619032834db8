#include "operator/inject/periodic_task.h"

namespace tributary::op::inject {

PeriodicTask::PeriodicTask(runtime::Clock& clock, Pass pass) : clock_(clock), pass_(std::move(pass)) {}

PeriodicTask::~PeriodicTask() { stop(); }

void PeriodicTask::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { loop(); });
}

void PeriodicTask::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint64_t PeriodicTask::passes() const {
  std::lock_guard lock(mutex_);
  return passes_;
}

bool PeriodicTask::awaitPasses(uint64_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return passes_ >= n; });
}

void PeriodicTask::loop() {
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    const auto delay = pass_();
    std::unique_lock lock(mutex_);
    ++passes_;
    cv_.notify_all();
    const auto deadline = clock_.now() + delay;
    while (!stopping_ && clock_.now() < deadline) clock_.wait(cv_, lock, deadline);
    if (stopping_) return;
  }
}

}  // namespace tributary::op::inject
