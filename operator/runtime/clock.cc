#include "operator/runtime/clock.h"

#include <algorithm>

namespace tributary::op::runtime {

Clock::TimePoint SystemClock::now() const { return std::chrono::steady_clock::now(); }

void SystemClock::wait(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                       std::optional<TimePoint> deadline) {
  if (deadline) {
    cv.wait_until(lock, *deadline);
  } else {
    cv.wait(lock);
  }
}

FakeClock::FakeClock() : now_(TimePoint{} + std::chrono::hours(1000)) {}

Clock::TimePoint FakeClock::now() const {
  std::lock_guard guard(mutex_);
  return now_;
}

void FakeClock::wait(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                     std::optional<TimePoint> deadline) {
  Waiter self{&cv, lock.mutex(), deadline};
  {
    std::lock_guard guard(mutex_);
    if (deadline && now_ >= *deadline) return;
    waiters_.push_back(self);
  }
  waitersChanged_.notify_all();
  // The caller's mutex is held from registration until cv.wait() releases it,
  // and advance() takes that mutex before notifying: no wake-up can be lost.
  cv.wait(lock);
  {
    std::lock_guard guard(mutex_);
    auto it = std::find(waiters_.begin(), waiters_.end(), self);
    if (it != waiters_.end()) waiters_.erase(it);
  }
  waitersChanged_.notify_all();
}

void FakeClock::advance(Duration d) {
  std::vector<Waiter> due;
  {
    std::lock_guard guard(mutex_);
    now_ += d;
    for (const auto& w : waiters_) {
      if (w.deadline && now_ >= *w.deadline) due.push_back(w);
    }
  }
  // Not under mutex_: a waiter holds its own mutex while taking mutex_, so
  // taking them in the other order here would deadlock.
  for (const auto& w : due) {
    std::lock_guard guard(*w.mutex);
    w.cv->notify_all();
  }
}

std::size_t FakeClock::waiters() const {
  std::lock_guard guard(mutex_);
  return waiters_.size();
}

bool FakeClock::awaitWaiters(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return waitersChanged_.wait_for(lock, timeout, [&] { return waiters_.size() >= count; });
}

}  // namespace tributary::op::runtime
