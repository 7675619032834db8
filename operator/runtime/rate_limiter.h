#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "operator/runtime/clock.h"

namespace tributary::op::runtime {

// Decides how long a key waits before it is retried (client-go's
// workqueue.RateLimiter). Threads: implementations are safe to call from any
// thread; the WorkQueue calls them under its own lock, so they must not call
// back into the queue.
class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // The delay before `key` may be processed again; records one more failure.
  virtual Clock::Duration when(const std::string& key) = 0;
  // The key succeeded: its backoff starts again from the base delay.
  virtual void forget(const std::string& key) = 0;
  // How many times `key` has been retried since it was last forgotten.
  virtual std::int64_t numRequeues(const std::string& key) = 0;
};

// Per-key exponential backoff: base * 2^failures, capped at `max`
// (client-go's ItemExponentialFailureRateLimiter: 5 ms, 10 ms, 20 ms, ... 1000 s).
class ItemExponentialRateLimiter final : public RateLimiter {
 public:
  explicit ItemExponentialRateLimiter(Clock::Duration base = std::chrono::milliseconds(5),
                                      Clock::Duration max = std::chrono::seconds(1000));
  Clock::Duration when(const std::string& key) override;
  void forget(const std::string& key) override;
  std::int64_t numRequeues(const std::string& key) override;

 private:
  const Clock::Duration base_;
  const Clock::Duration max_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::int64_t> failures_;
};

// One token bucket for all keys together (client-go's BucketRateLimiter over
// golang.org/x/time/rate): `burst` retries at once, then `qps` per second.
// Each when() reserves a token, possibly in the future, and returns how long
// until it is available; it never blocks. Keys are not tracked.
class BucketRateLimiter final : public RateLimiter {
 public:
  BucketRateLimiter(std::shared_ptr<Clock> clock, double qps, int burst);
  Clock::Duration when(const std::string& key) override;
  void forget(const std::string& key) override;
  std::int64_t numRequeues(const std::string& key) override;

 private:
  const std::shared_ptr<Clock> clock_;
  const double qps_;
  const double burst_;
  std::mutex mutex_;
  double tokens_;  // may go negative: reservations not yet covered
  Clock::TimePoint last_;
};

// The longest delay of several limiters (client-go's MaxOfRateLimiter):
// per-key backoff and an overall rate limit together.
class MaxOfRateLimiter final : public RateLimiter {
 public:
  explicit MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters);
  Clock::Duration when(const std::string& key) override;
  void forget(const std::string& key) override;
  std::int64_t numRequeues(const std::string& key) override;

 private:
  std::vector<std::unique_ptr<RateLimiter>> limiters_;
};

// controller-runtime's default: MaxOf(per-key 5 ms .. 1000 s, bucket 10 qps burst 100).
std::unique_ptr<RateLimiter> makeDefaultControllerRateLimiter(std::shared_ptr<Clock> clock);

}  // namespace tributary::op::runtime
