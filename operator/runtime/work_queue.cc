#include "operator/runtime/work_queue.h"

#include <algorithm>

#include "operator/runtime/errors.h"

namespace tributary::op::runtime {

WorkQueueMetrics::WorkQueueMetrics(prometheus::Registry& registry, const std::string& queueName) {
  const prometheus::Labels labels{{"name", queueName}};
  depth_ = &prometheus::BuildGauge()
                .Name("tributary_operator_workqueue_depth")
                .Help("Keys ready in the work queue, waiting for a worker.")
                .Register(registry)
                .Add(labels);
  adds_ = &prometheus::BuildCounter()
               .Name("tributary_operator_workqueue_adds_total")
               .Help("Keys added to the work queue (not counting adds of a key already queued).")
               .Register(registry)
               .Add(labels);
  retries_ = &prometheus::BuildCounter()
                  .Name("tributary_operator_workqueue_retries_total")
                  .Help("Keys re-queued with backoff after a failed reconcile.")
                  .Register(registry)
                  .Add(labels);
  queueDuration_ = &prometheus::BuildHistogram()
                        .Name("tributary_operator_workqueue_queue_duration_seconds")
                        .Help("Time a key waited in the work queue before a worker took it.")
                        .Register(registry)
                        .Add(labels, prometheus::Histogram::BucketBoundaries{0.001, 0.01, 0.1, 1, 10, 60, 300});
}

WorkQueue::WorkQueue(std::shared_ptr<Clock> clock, std::unique_ptr<RateLimiter> rateLimiter,
                     WorkQueueMetrics metrics)
    : clock_(std::move(clock)), rateLimiter_(std::move(rateLimiter)), metrics_(metrics) {
  if (!clock_) throw ControllerRuntimeError("WorkQueue: clock is required");
  if (!rateLimiter_) throw ControllerRuntimeError("WorkQueue: rate limiter is required");
}

WorkQueue::~WorkQueue() { shutDown(); }

void WorkQueue::add(const std::string& key) {
  std::lock_guard guard(mutex_);
  addLocked(key);
}

void WorkQueue::addLocked(const std::string& key) {
  if (shuttingDown_) return;
  if (!dirty_.insert(key).second) return;  // already queued, or already marked for re-processing
  if (metrics_.adds_) metrics_.adds_->Increment();
  if (processing_.count(key)) return;  // done() will queue it
  queue_.push_back(key);
  queuedAt_[key] = clock_->now();
  updateDepthLocked();
  readyOrShutdown_.notify_one();
}

void WorkQueue::addAfter(const std::string& key, Clock::Duration delay) {
  std::lock_guard guard(mutex_);
  if (shuttingDown_) return;
  if (delay <= Clock::Duration::zero()) {
    addLocked(key);
    return;
  }
  const auto deadline = clock_->now() + delay;
  auto it = delayedDeadline_.find(key);
  if (it != delayedDeadline_.end()) {
    if (it->second <= deadline) return;  // the earlier deadline wins
    delayedByDeadline_.erase({it->second, key});
    it->second = deadline;
  } else {
    delayedDeadline_.emplace(key, deadline);
  }
  delayedByDeadline_.emplace(deadline, key);
  // Waiting getters must recompute how long to sleep.
  readyOrShutdown_.notify_all();
}

void WorkQueue::addRateLimited(const std::string& key) {
  Clock::Duration delay;
  {
    std::lock_guard guard(mutex_);
    if (shuttingDown_) return;
    if (metrics_.retries_) metrics_.retries_->Increment();
    delay = rateLimiter_->when(key);
  }
  addAfter(key, delay);
}

void WorkQueue::forget(const std::string& key) {
  std::lock_guard guard(mutex_);
  rateLimiter_->forget(key);
}

std::int64_t WorkQueue::numRequeues(const std::string& key) {
  std::lock_guard guard(mutex_);
  return rateLimiter_->numRequeues(key);
}

void WorkQueue::promoteDueLocked() {
  if (delayedByDeadline_.empty()) return;
  const auto now = clock_->now();
  while (!delayedByDeadline_.empty() && delayedByDeadline_.begin()->first <= now) {
    const std::string key = delayedByDeadline_.begin()->second;
    delayedByDeadline_.erase(delayedByDeadline_.begin());
    delayedDeadline_.erase(key);
    addLocked(key);
  }
}

std::vector<std::string> WorkQueue::takeLocked(std::size_t max) {
  std::vector<std::string> keys;
  const auto now = clock_->now();
  while (!queue_.empty() && keys.size() < max) {
    std::string key = std::move(queue_.front());
    queue_.pop_front();
    processing_.insert(key);
    dirty_.erase(key);
    auto at = queuedAt_.find(key);
    if (at != queuedAt_.end()) {
      if (metrics_.queueDuration_) {
        metrics_.queueDuration_->Observe(std::chrono::duration<double>(now - at->second).count());
      }
      queuedAt_.erase(at);
    }
    keys.push_back(std::move(key));
  }
  updateDepthLocked();
  return keys;
}

std::vector<std::string> WorkQueue::getBatch(std::size_t max) {
  if (max == 0) throw ControllerRuntimeError("WorkQueue::getBatch: max must be at least 1");
  std::unique_lock lock(mutex_);
  while (true) {
    if (shuttingDown_) return {};
    promoteDueLocked();
    if (!queue_.empty()) return takeLocked(max);
    std::optional<Clock::TimePoint> deadline;
    if (!delayedByDeadline_.empty()) deadline = delayedByDeadline_.begin()->first;
    clock_->wait(readyOrShutdown_, lock, deadline);
  }
}

std::optional<std::string> WorkQueue::get() {
  auto keys = getBatch(1);
  if (keys.empty()) return std::nullopt;
  return std::move(keys.front());
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard guard(mutex_);
  processing_.erase(key);
  if (dirty_.count(key) && !shuttingDown_) {
    queue_.push_back(key);
    queuedAt_[key] = clock_->now();
    updateDepthLocked();
    readyOrShutdown_.notify_one();
  }
  if (processing_.empty()) drained_.notify_all();
}

std::size_t WorkQueue::len() {
  std::lock_guard guard(mutex_);
  promoteDueLocked();
  return queue_.size();
}

std::size_t WorkQueue::delayedLen() {
  std::lock_guard guard(mutex_);
  promoteDueLocked();
  return delayedByDeadline_.size();
}

void WorkQueue::shutDown() {
  std::lock_guard guard(mutex_);
  shuttingDown_ = true;
  readyOrShutdown_.notify_all();
}

void WorkQueue::shutDownWithDrain() {
  std::unique_lock lock(mutex_);
  shuttingDown_ = true;
  readyOrShutdown_.notify_all();
  // Real time on purpose: draining waits for reconcilers, not for a deadline.
  drained_.wait(lock, [&] { return processing_.empty(); });
}

bool WorkQueue::shuttingDown() {
  std::lock_guard guard(mutex_);
  return shuttingDown_;
}

void WorkQueue::updateDepthLocked() {
  if (metrics_.depth_) metrics_.depth_->Set(static_cast<double>(queue_.size()));
}

}  // namespace tributary::op::runtime
