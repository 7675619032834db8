#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "operator/runtime/clock.h"
#include "operator/runtime/rate_limiter.h"

namespace tributary::op::runtime {

// The queue's Prometheus series, registered once at construction:
//   tributary_operator_workqueue_depth{name}
//   tributary_operator_workqueue_adds_total{name}
//   tributary_operator_workqueue_retries_total{name}
//   tributary_operator_workqueue_queue_duration_seconds{name}  (time from queued to handed out)
// Several queues may share one registry (distinct `name`s). Default-constructed:
// no metrics.
class WorkQueueMetrics {
 public:
  WorkQueueMetrics() = default;
  WorkQueueMetrics(prometheus::Registry& registry, const std::string& queueName);

 private:
  friend class WorkQueue;
  prometheus::Gauge* depth_ = nullptr;
  prometheus::Counter* adds_ = nullptr;
  prometheus::Counter* retries_ = nullptr;
  prometheus::Histogram* queueDuration_ = nullptr;
};

// A rate-limited, delaying, de-duplicating queue of keys ("namespace/name"),
// with client-go's workqueue semantics:
//  - a key added N times while it waits is queued once;
//  - a key handed out by get() is "processing" until done(key); if it is added
//    meanwhile it is marked dirty and queued again by done(), so it is never
//    handed to two workers at once and no change is lost;
//  - addAfter(key, d): the key becomes ready after d; if it is already waiting
//    the earlier deadline wins;
//  - addRateLimited(key) waits as long as the RateLimiter says (backoff);
//    forget(key) resets the backoff.
//
// Shutdown differs on purpose from client-go: after shutDown() get() returns
// nullopt at once even if keys are queued, because a stopping operator (lost
// leadership, SIGTERM) should stop starting new work; the next leader relists.
// Keys already being processed finish; shutDownWithDrain() waits for them.
//
// Delayed keys are promoted by whoever calls get()/getBatch()/len(): there is
// no background thread, so with a FakeClock every step is deterministic.
//
// Threads: every method may be called from any thread. done(key) must be called
// exactly once for each key handed out by get()/getBatch().
class WorkQueue {
 public:
  WorkQueue(std::shared_ptr<Clock> clock, std::unique_ptr<RateLimiter> rateLimiter,
            WorkQueueMetrics metrics = {});
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void add(const std::string& key);
  void addAfter(const std::string& key, Clock::Duration delay);
  void addRateLimited(const std::string& key);
  void forget(const std::string& key);
  std::int64_t numRequeues(const std::string& key);

  // Blocks until a key is ready (returns it, now processing) or the queue is
  // shut down (returns nullopt).
  std::optional<std::string> get();
  // Like get() but hands out up to `max` distinct ready keys at once, for batch
  // reconcilers. Empty only after shutdown.
  std::vector<std::string> getBatch(std::size_t max);
  void done(const std::string& key);

  // Keys ready to be handed out (not counting delayed or processing ones).
  std::size_t len();
  // Keys waiting for a deadline (addAfter / addRateLimited).
  std::size_t delayedLen();

  void shutDown();
  // shutDown(), then blocks until every processing key is done().
  void shutDownWithDrain();
  bool shuttingDown();

 private:
  void addLocked(const std::string& key);
  void promoteDueLocked();
  std::vector<std::string> takeLocked(std::size_t max);
  void updateDepthLocked();

  const std::shared_ptr<Clock> clock_;
  const std::unique_ptr<RateLimiter> rateLimiter_;
  const WorkQueueMetrics metrics_;

  std::mutex mutex_;
  std::condition_variable readyOrShutdown_;
  std::condition_variable drained_;
  std::deque<std::string> queue_;  // ready, in order; each key at most once
  std::unordered_map<std::string, Clock::TimePoint> queuedAt_;
  std::unordered_set<std::string> dirty_;       // needs processing (queued or re-added while processing)
  std::unordered_set<std::string> processing_;  // handed out, done() not yet called
  std::unordered_map<std::string, Clock::TimePoint> delayedDeadline_;
  std::set<std::pair<Clock::TimePoint, std::string>> delayedByDeadline_;
  bool shuttingDown_ = false;
};

}  // namespace tributary::op::runtime
