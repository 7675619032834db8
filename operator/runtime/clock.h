#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <vector>

namespace tributary::op::runtime {

// Time as the work queue and rate limiters see it. Injected so tests can move
// time by hand instead of sleeping (backoff of 1000 s must be testable in 0 s).
//
// Threads: every method may be called from any thread.
class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;

  virtual TimePoint now() const = 0;

  // Blocks on `cv` (whose mutex `lock` holds) until notified, or until this
  // clock reaches `deadline` (no deadline: only a notification wakes). Like
  // condition_variable::wait it may return spuriously: callers re-check their
  // state in a loop. The caller must notify `cv` while holding the same mutex
  // (or after changing state under it), as with any condition variable.
  virtual void wait(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                    std::optional<TimePoint> deadline) = 0;
};

// Real time: std::chrono::steady_clock, never jumps with wall-clock changes.
class SystemClock final : public Clock {
 public:
  TimePoint now() const override;
  void wait(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
            std::optional<TimePoint> deadline) override;
};

// Time that moves only when a test calls advance(). A waiter whose deadline is
// reached by advance() is woken before advance() returns, so after advance()
// the test knows every due waiter has been notified. waiters()/awaitWaiters()
// let a test wait until another thread is blocked (e.g. a worker in get())
// instead of sleeping and hoping.
//
// Threads: any. advance() must not race with the destruction of an object
// that is waiting on this clock (in tests both happen on the test thread).
class FakeClock final : public Clock {
 public:
  // Starts at an arbitrary non-zero point so "time 0" is never special.
  FakeClock();

  TimePoint now() const override;
  void wait(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
            std::optional<TimePoint> deadline) override;

  // Moves time forward by `d` and wakes every waiter whose deadline is due.
  void advance(Duration d);

  // Number of threads currently blocked in wait() (with or without deadline).
  std::size_t waiters() const;

  // Blocks (real time, bounded by `timeout`) until at least `count` threads
  // are blocked in wait(). Returns false on timeout.
  bool awaitWaiters(std::size_t count, std::chrono::milliseconds timeout) const;

 private:
  struct Waiter {
    std::condition_variable* cv;
    std::mutex* mutex;
    std::optional<TimePoint> deadline;
    bool operator==(const Waiter&) const = default;
  };

  mutable std::mutex mutex_;
  mutable std::condition_variable waitersChanged_;
  TimePoint now_;
  std::vector<Waiter> waiters_;
};

}  // namespace tributary::op::runtime
