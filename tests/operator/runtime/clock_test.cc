#include "operator/runtime/clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace tributary::op::runtime {
namespace {

using namespace std::chrono_literals;

TEST(FakeClockTest, TimeMovesOnlyWhenAdvanced) {
  FakeClock clock;
  const auto start = clock.now();
  EXPECT_EQ(clock.now(), start);
  clock.advance(250ms);
  EXPECT_EQ(clock.now() - start, 250ms);
}

TEST(FakeClockTest, AdvanceWakesAWaiterOnlyOnceItsDeadlineIsReached) {
  FakeClock clock;
  std::mutex mutex;
  std::condition_variable cv;
  const auto deadline = clock.now() + 10s;
  std::atomic<bool> woke{false};
  std::thread waiter([&] {
    std::unique_lock lock(mutex);
    while (clock.now() < deadline) clock.wait(cv, lock, deadline);
    woke = true;
  });
  ASSERT_TRUE(clock.awaitWaiters(1, 20s));
  clock.advance(9s);
  EXPECT_FALSE(woke.load());  // only advance() can satisfy the loop, and 9 s < 10 s
  clock.advance(1s);
  waiter.join();
  EXPECT_TRUE(woke.load());
  EXPECT_EQ(clock.waiters(), 0u);
}

TEST(FakeClockTest, WaitWithPastDeadlineReturnsAtOnce) {
  FakeClock clock;
  std::mutex mutex;
  std::condition_variable cv;
  std::unique_lock lock(mutex);
  clock.wait(cv, lock, clock.now());  // would hang forever if it blocked
  EXPECT_EQ(clock.waiters(), 0u);
}

TEST(FakeClockTest, WaiterWithoutDeadlineIsCountedAndWokenByNotify) {
  FakeClock clock;
  std::mutex mutex;
  std::condition_variable cv;
  bool ready = false;
  std::thread waiter([&] {
    std::unique_lock lock(mutex);
    while (!ready) clock.wait(cv, lock, std::nullopt);
  });
  ASSERT_TRUE(clock.awaitWaiters(1, 20s));
  EXPECT_EQ(clock.waiters(), 1u);
  {
    std::lock_guard guard(mutex);
    ready = true;
  }
  cv.notify_all();
  waiter.join();
  EXPECT_EQ(clock.waiters(), 0u);
}

TEST(SystemClockTest, WaitReturnsAtAPastDeadline) {
  SystemClock clock;
  std::mutex mutex;
  std::condition_variable cv;
  std::unique_lock lock(mutex);
  const auto before = clock.now();
  clock.wait(cv, lock, before - 1s);
  EXPECT_GE(clock.now(), before);
}

}  // namespace
}  // namespace tributary::op::runtime
