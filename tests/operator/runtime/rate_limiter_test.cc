#include "operator/runtime/rate_limiter.h"

#include <gtest/gtest.h>

#include "operator/runtime/errors.h"

namespace tributary::op::runtime {
namespace {

using namespace std::chrono_literals;
using Duration = Clock::Duration;

TEST(ItemExponentialRateLimiterTest, DoublesFromFiveMillisecondsPerKey) {
  ItemExponentialRateLimiter limiter;
  EXPECT_EQ(limiter.when("ns/a"), Duration(5ms));
  EXPECT_EQ(limiter.when("ns/a"), Duration(10ms));
  EXPECT_EQ(limiter.when("ns/a"), Duration(20ms));
  EXPECT_EQ(limiter.when("ns/a"), Duration(40ms));
  EXPECT_EQ(limiter.numRequeues("ns/a"), 4);
  // Another key has its own backoff.
  EXPECT_EQ(limiter.when("ns/b"), Duration(5ms));
  EXPECT_EQ(limiter.numRequeues("ns/b"), 1);
}

TEST(ItemExponentialRateLimiterTest, IsCappedAtMax) {
  ItemExponentialRateLimiter limiter(1s, 10s);
  EXPECT_EQ(limiter.when("k"), Duration(1s));
  EXPECT_EQ(limiter.when("k"), Duration(2s));
  EXPECT_EQ(limiter.when("k"), Duration(4s));
  EXPECT_EQ(limiter.when("k"), Duration(8s));
  EXPECT_EQ(limiter.when("k"), Duration(10s));
  EXPECT_EQ(limiter.when("k"), Duration(10s));
}

TEST(ItemExponentialRateLimiterTest, DefaultCapIsThousandSecondsEvenAfterManyFailures) {
  ItemExponentialRateLimiter limiter;
  Duration last{};
  for (int i = 0; i < 500; ++i) last = limiter.when("k");  // 2^500 must not overflow
  EXPECT_EQ(last, Duration(1000s));
  EXPECT_EQ(limiter.numRequeues("k"), 500);
}

TEST(ItemExponentialRateLimiterTest, ForgetResetsTheBackoff) {
  ItemExponentialRateLimiter limiter;
  limiter.when("k");
  limiter.when("k");
  limiter.forget("k");
  EXPECT_EQ(limiter.numRequeues("k"), 0);
  EXPECT_EQ(limiter.when("k"), Duration(5ms));
}

TEST(ItemExponentialRateLimiterTest, RejectsInvalidBounds) {
  EXPECT_THROW(ItemExponentialRateLimiter(0ms, 1s), ControllerRuntimeError);
  EXPECT_THROW(ItemExponentialRateLimiter(2s, 1s), ControllerRuntimeError);
}

TEST(BucketRateLimiterTest, BurstThenQps) {
  auto clock = std::make_shared<FakeClock>();
  BucketRateLimiter limiter(clock, /*qps=*/2.0, /*burst=*/3);
  // The burst goes through at once, for any keys.
  EXPECT_EQ(limiter.when("a"), Duration::zero());
  EXPECT_EQ(limiter.when("b"), Duration::zero());
  EXPECT_EQ(limiter.when("c"), Duration::zero());
  // Then one every 500 ms, reservations queueing behind each other.
  EXPECT_EQ(limiter.when("d"), Duration(500ms));
  EXPECT_EQ(limiter.when("e"), Duration(1000ms));
  // After 1 s the two reservations are paid for; the next waits 500 ms again.
  clock->advance(1s);
  EXPECT_EQ(limiter.when("f"), Duration(500ms));
  // A long idle period refills only up to the burst.
  clock->advance(1h);
  EXPECT_EQ(limiter.when("g"), Duration::zero());
  EXPECT_EQ(limiter.when("h"), Duration::zero());
  EXPECT_EQ(limiter.when("i"), Duration::zero());
  EXPECT_EQ(limiter.when("j"), Duration(500ms));
  EXPECT_EQ(limiter.numRequeues("a"), 0);  // not tracked per key
}

TEST(BucketRateLimiterTest, RejectsInvalidSettings) {
  auto clock = std::make_shared<FakeClock>();
  EXPECT_THROW(BucketRateLimiter(clock, 0.0, 1), ControllerRuntimeError);
  EXPECT_THROW(BucketRateLimiter(clock, 1.0, 0), ControllerRuntimeError);
}

TEST(MaxOfRateLimiterTest, TakesTheLongestDelayAndForgetsInAll) {
  auto clock = std::make_shared<FakeClock>();
  std::vector<std::unique_ptr<RateLimiter>> limiters;
  limiters.push_back(std::make_unique<ItemExponentialRateLimiter>(5ms, 1000s));
  limiters.push_back(std::make_unique<BucketRateLimiter>(clock, 1.0, 1));
  MaxOfRateLimiter limiter(std::move(limiters));

  EXPECT_EQ(limiter.when("k"), Duration(5ms));  // bucket: free token; backoff: 5 ms
  EXPECT_EQ(limiter.when("k"), Duration(1s));   // bucket empty: 1 s beats 10 ms
  EXPECT_EQ(limiter.numRequeues("k"), 2);
  limiter.forget("k");
  EXPECT_EQ(limiter.numRequeues("k"), 0);
  clock->advance(1h);
  EXPECT_EQ(limiter.when("k"), Duration(5ms));
}

TEST(DefaultControllerRateLimiterTest, StartsAtFiveMillisecondsPerKey) {
  auto limiter = makeDefaultControllerRateLimiter(std::make_shared<FakeClock>());
  EXPECT_EQ(limiter->when("k"), Duration(5ms));
  EXPECT_EQ(limiter->when("k"), Duration(10ms));
  EXPECT_EQ(limiter->numRequeues("k"), 2);
}

}  // namespace
}  // namespace tributary::op::runtime
