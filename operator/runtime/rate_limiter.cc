#include "operator/runtime/rate_limiter.h"

#include <algorithm>
#include <cmath>

#include "operator/runtime/errors.h"

namespace tributary::op::runtime {

ItemExponentialRateLimiter::ItemExponentialRateLimiter(Clock::Duration base, Clock::Duration max)
    : base_(base), max_(max) {
  if (base <= Clock::Duration::zero() || max < base) {
    throw ControllerRuntimeError("ItemExponentialRateLimiter: need 0 < base <= max");
  }
}

Clock::Duration ItemExponentialRateLimiter::when(const std::string& key) {
  std::lock_guard guard(mutex_);
  const std::int64_t exponent = failures_[key]++;
  // In floating point so that many failures saturate at max instead of
  // overflowing the integer tick count.
  const double delay = static_cast<double>(base_.count()) * std::pow(2.0, static_cast<double>(exponent));
  if (delay >= static_cast<double>(max_.count())) return max_;
  return Clock::Duration(static_cast<Clock::Duration::rep>(delay));
}

void ItemExponentialRateLimiter::forget(const std::string& key) {
  std::lock_guard guard(mutex_);
  failures_.erase(key);
}

std::int64_t ItemExponentialRateLimiter::numRequeues(const std::string& key) {
  std::lock_guard guard(mutex_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

BucketRateLimiter::BucketRateLimiter(std::shared_ptr<Clock> clock, double qps, int burst)
    : clock_(std::move(clock)), qps_(qps), burst_(burst), tokens_(burst), last_(clock_->now()) {
  if (!(qps > 0) || burst < 1) throw ControllerRuntimeError("BucketRateLimiter: need qps > 0 and burst >= 1");
}

Clock::Duration BucketRateLimiter::when(const std::string&) {
  std::lock_guard guard(mutex_);
  const auto now = clock_->now();
  if (now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
    last_ = now;
  }
  tokens_ -= 1.0;
  if (tokens_ >= 0) return Clock::Duration::zero();
  return std::chrono::duration_cast<Clock::Duration>(std::chrono::duration<double>(-tokens_ / qps_));
}

void BucketRateLimiter::forget(const std::string&) {}

std::int64_t BucketRateLimiter::numRequeues(const std::string&) { return 0; }

MaxOfRateLimiter::MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters)
    : limiters_(std::move(limiters)) {
  if (limiters_.empty()) throw ControllerRuntimeError("MaxOfRateLimiter: need at least one limiter");
  for (const auto& l : limiters_) {
    if (!l) throw ControllerRuntimeError("MaxOfRateLimiter: null limiter");
  }
}

Clock::Duration MaxOfRateLimiter::when(const std::string& key) {
  // Every limiter is asked (not just until the longest) so each records the attempt.
  Clock::Duration longest = Clock::Duration::zero();
  for (auto& l : limiters_) longest = std::max(longest, l->when(key));
  return longest;
}

void MaxOfRateLimiter::forget(const std::string& key) {
  for (auto& l : limiters_) l->forget(key);
}

std::int64_t MaxOfRateLimiter::numRequeues(const std::string& key) {
  std::int64_t most = 0;
  for (auto& l : limiters_) most = std::max(most, l->numRequeues(key));
  return most;
}

std::unique_ptr<RateLimiter> makeDefaultControllerRateLimiter(std::shared_ptr<Clock> clock) {
  std::vector<std::unique_ptr<RateLimiter>> limiters;
  limiters.push_back(std::make_unique<ItemExponentialRateLimiter>());
  limiters.push_back(std::make_unique<BucketRateLimiter>(std::move(clock), 10.0, 100));
  return std::make_unique<MaxOfRateLimiter>(std::move(limiters));
}

}  // namespace tributary::op::runtime
