#include "operator/runtime/work_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <thread>

#include "operator/runtime/errors.h"
#include "tests/operator/runtime/runtime_test_support.h"

namespace tributary::op::runtime {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::metricValue;

class WorkQueueTest : public ::testing::Test {
 protected:
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  prometheus::Registry registry_;
  WorkQueue queue_{clock_, std::make_unique<ItemExponentialRateLimiter>(), WorkQueueMetrics(registry_, "test")};

  double metric(const std::string& name) { return metricValue(registry_, name, {{"name", "test"}}).value_or(-1); }
};

TEST_F(WorkQueueTest, KeyAddedSeveralTimesWhileQueuedIsHandedOutOnce) {
  queue_.add("ns/a");
  queue_.add("ns/a");
  queue_.add("ns/b");
  queue_.add("ns/a");
  EXPECT_EQ(queue_.len(), 2u);
  EXPECT_EQ(queue_.get(), "ns/a");
  EXPECT_EQ(queue_.get(), "ns/b");
  EXPECT_EQ(queue_.len(), 0u);
  EXPECT_EQ(metric("tributary_operator_workqueue_adds_total"), 2);
}

TEST_F(WorkQueueTest, KeyReAddedWhileProcessingIsQueuedAgainOnDone) {
  queue_.add("ns/a");
  ASSERT_EQ(queue_.get(), "ns/a");
  queue_.add("ns/a");
  queue_.add("ns/a");
  // Not handed out a second time while a worker has it...
  EXPECT_EQ(queue_.len(), 0u);
  queue_.done("ns/a");
  // ...but not lost either: once, after done().
  EXPECT_EQ(queue_.len(), 1u);
  EXPECT_EQ(queue_.get(), "ns/a");
  queue_.done("ns/a");
  EXPECT_EQ(queue_.len(), 0u);
}

TEST_F(WorkQueueTest, DoneWithoutReAddLeavesNothingQueued) {
  queue_.add("ns/a");
  ASSERT_EQ(queue_.get(), "ns/a");
  queue_.done("ns/a");
  EXPECT_EQ(queue_.len(), 0u);
  queue_.add("ns/a");  // and the key can come back later
  EXPECT_EQ(queue_.len(), 1u);
}

TEST_F(WorkQueueTest, KeysComeOutInTheOrderTheyWereAdded) {
  for (const char* k : {"ns/c", "ns/a", "ns/b"}) queue_.add(k);
  EXPECT_EQ(queue_.get(), "ns/c");
  EXPECT_EQ(queue_.get(), "ns/a");
  EXPECT_EQ(queue_.get(), "ns/b");
}

TEST_F(WorkQueueTest, AddAfterReleasesKeysInDeadlineOrder) {
  queue_.addAfter("ns/a", 30ms);
  queue_.addAfter("ns/b", 10ms);
  queue_.addAfter("ns/c", 20ms);
  EXPECT_EQ(queue_.len(), 0u);
  EXPECT_EQ(queue_.delayedLen(), 3u);
  clock_->advance(10ms);
  EXPECT_EQ(queue_.len(), 1u);
  clock_->advance(20ms);
  EXPECT_EQ(queue_.len(), 3u);
  EXPECT_EQ(queue_.get(), "ns/b");
  EXPECT_EQ(queue_.get(), "ns/c");
  EXPECT_EQ(queue_.get(), "ns/a");
}

TEST_F(WorkQueueTest, AddAfterEarlierDeadlineWins) {
  queue_.addAfter("ns/a", 50ms);
  queue_.addAfter("ns/a", 10ms);  // earlier: replaces
  queue_.addAfter("ns/a", 40ms);  // later: ignored
  EXPECT_EQ(queue_.delayedLen(), 1u);
  clock_->advance(10ms);
  EXPECT_EQ(queue_.len(), 1u);
  EXPECT_EQ(queue_.get(), "ns/a");
  queue_.done("ns/a");
  clock_->advance(1h);
  EXPECT_EQ(queue_.len(), 0u);  // the 40 ms and 50 ms requests were folded into the 10 ms one
  EXPECT_EQ(queue_.delayedLen(), 0u);
}

TEST_F(WorkQueueTest, AddAfterZeroIsAnImmediateAdd) {
  queue_.addAfter("ns/a", 0ms);
  EXPECT_EQ(queue_.len(), 1u);
}

TEST_F(WorkQueueTest, DelayedKeyAlreadyQueuedIsStillHandedOutOnce) {
  queue_.add("ns/a");
  queue_.addAfter("ns/a", 10ms);
  clock_->advance(10ms);
  EXPECT_EQ(queue_.len(), 1u);
}

TEST_F(WorkQueueTest, BlockedGetterWakesWhenTheClockReachesADeadline) {
  std::optional<std::string> got;
  std::thread getter([&] { got = queue_.get(); });
  ASSERT_TRUE(clock_->awaitWaiters(1, 20s));
  queue_.addAfter("ns/a", 1s);
  clock_->advance(999ms);
  EXPECT_EQ(queue_.delayedLen(), 1u);  // not due yet, so the getter still waits
  clock_->advance(1ms);
  getter.join();
  EXPECT_EQ(got, "ns/a");
}

TEST_F(WorkQueueTest, AddRateLimitedBacksOffPerKeyAndForgetResets) {
  queue_.addRateLimited("ns/a");  // 5 ms
  EXPECT_EQ(queue_.numRequeues("ns/a"), 1);
  clock_->advance(4ms);
  EXPECT_EQ(queue_.len(), 0u);
  clock_->advance(1ms);
  ASSERT_EQ(queue_.get(), "ns/a");
  queue_.addRateLimited("ns/a");  // 10 ms
  queue_.done("ns/a");
  clock_->advance(9ms);
  EXPECT_EQ(queue_.len(), 0u);
  clock_->advance(1ms);
  EXPECT_EQ(queue_.len(), 1u);
  EXPECT_EQ(queue_.numRequeues("ns/a"), 2);
  EXPECT_EQ(metric("tributary_operator_workqueue_retries_total"), 2);

  queue_.forget("ns/a");
  EXPECT_EQ(queue_.numRequeues("ns/a"), 0);
  ASSERT_EQ(queue_.get(), "ns/a");
  queue_.addRateLimited("ns/a");  // back to 5 ms
  queue_.done("ns/a");
  clock_->advance(5ms);
  EXPECT_EQ(queue_.len(), 1u);
}

TEST_F(WorkQueueTest, GetBatchHandsOutDistinctReadyKeysUpToMax) {
  for (const char* k : {"ns/a", "ns/b", "ns/a", "ns/c", "ns/d", "ns/b"}) queue_.add(k);
  auto first = queue_.getBatch(3);
  EXPECT_EQ(first, (std::vector<std::string>{"ns/a", "ns/b", "ns/c"}));
  auto second = queue_.getBatch(3);
  EXPECT_EQ(second, (std::vector<std::string>{"ns/d"}));
}

TEST_F(WorkQueueTest, GetBatchNeverIncludesAKeyThatIsProcessing) {
  queue_.add("ns/a");
  queue_.add("ns/b");
  auto batch = queue_.getBatch(10);
  ASSERT_EQ(batch.size(), 2u);
  queue_.add("ns/a");  // processing: becomes dirty, not ready
  queue_.add("ns/c");
  EXPECT_EQ(queue_.getBatch(10), (std::vector<std::string>{"ns/c"}));
  queue_.done("ns/a");
  queue_.done("ns/b");
  EXPECT_EQ(queue_.getBatch(10), (std::vector<std::string>{"ns/a"}));
}

TEST_F(WorkQueueTest, GetBatchRejectsZero) { EXPECT_THROW(queue_.getBatch(0), ControllerRuntimeError); }

TEST_F(WorkQueueTest, ShutDownReturnsNulloptToBlockedGetters) {
  std::optional<std::string> first = "unset", second = "unset";
  std::vector<std::string> batch = {"unset"};
  std::thread a([&] { first = queue_.get(); });
  std::thread b([&] { second = queue_.get(); });
  std::thread c([&] { batch = queue_.getBatch(5); });
  ASSERT_TRUE(clock_->awaitWaiters(3, 20s));
  queue_.shutDown();
  a.join();
  b.join();
  c.join();
  EXPECT_EQ(first, std::nullopt);
  EXPECT_EQ(second, std::nullopt);
  EXPECT_TRUE(batch.empty());
}

TEST_F(WorkQueueTest, AfterShutDownNothingIsAcceptedOrHandedOut) {
  queue_.add("ns/queued");
  queue_.shutDown();
  EXPECT_TRUE(queue_.shuttingDown());
  queue_.add("ns/a");
  queue_.addAfter("ns/b", 1ms);
  queue_.addRateLimited("ns/c");
  clock_->advance(1s);
  EXPECT_EQ(queue_.get(), std::nullopt);
  EXPECT_EQ(queue_.delayedLen(), 0u);
}

TEST_F(WorkQueueTest, ShutDownWithDrainWaitsForProcessingKeys) {
  queue_.add("ns/a");
  ASSERT_EQ(queue_.get(), "ns/a");
  std::atomic<bool> drained{false};
  std::thread stopper([&] {
    queue_.shutDownWithDrain();
    drained = true;
  });
  ASSERT_TRUE(eventually([&] { return queue_.shuttingDown(); }));
  // ns/a is still processing, so the drain cannot have finished.
  EXPECT_FALSE(drained.load());
  EXPECT_EQ(queue_.get(), std::nullopt);
  queue_.done("ns/a");
  stopper.join();
  EXPECT_TRUE(drained.load());
}

TEST_F(WorkQueueTest, ShutDownWithDrainReturnsAtOnceWhenIdle) {
  queue_.add("ns/a");
  queue_.shutDownWithDrain();  // would hang if it waited for queued (not processing) keys
  EXPECT_EQ(queue_.get(), std::nullopt);
}

TEST_F(WorkQueueTest, MetricsTrackDepthAddsAndTimeInQueue) {
  queue_.add("ns/a");
  queue_.add("ns/b");
  queue_.add("ns/b");
  EXPECT_EQ(metric("tributary_operator_workqueue_depth"), 2);
  EXPECT_EQ(metric("tributary_operator_workqueue_adds_total"), 2);
  clock_->advance(2s);
  ASSERT_EQ(queue_.get(), "ns/a");
  EXPECT_EQ(metric("tributary_operator_workqueue_depth"), 1);
  EXPECT_EQ(metric("tributary_operator_workqueue_queue_duration_seconds"), 1);  // one observation
  for (const auto& family : registry_.Collect()) {
    if (family.name != "tributary_operator_workqueue_queue_duration_seconds") continue;
    EXPECT_DOUBLE_EQ(family.metric.at(0).histogram.sample_sum, 2.0);  // waited 2 s on the fake clock
  }
}

TEST(WorkQueueMetricsTest, TwoQueuesShareARegistryUnderDifferentNames) {
  auto clock = std::make_shared<FakeClock>();
  prometheus::Registry registry;
  WorkQueue topics(clock, std::make_unique<ItemExponentialRateLimiter>(), WorkQueueMetrics(registry, "topics"));
  WorkQueue groups(clock, std::make_unique<ItemExponentialRateLimiter>(), WorkQueueMetrics(registry, "groups"));
  topics.add("ns/a");
  groups.add("ns/a");
  groups.add("ns/b");
  EXPECT_EQ(metricValue(registry, "tributary_operator_workqueue_depth", {{"name", "topics"}}), 1);
  EXPECT_EQ(metricValue(registry, "tributary_operator_workqueue_depth", {{"name", "groups"}}), 2);
}

TEST(WorkQueueWithoutMetricsTest, WorksWithoutARegistry) {
  WorkQueue queue(std::make_shared<FakeClock>(), std::make_unique<ItemExponentialRateLimiter>());
  queue.add("ns/a");
  EXPECT_EQ(queue.get(), "ns/a");
}

TEST(WorkQueueConcurrencyTest, ManyWorkersNeverHoldTheSameKeyAtOnce) {
  auto clock = std::make_shared<FakeClock>();
  WorkQueue queue(clock, std::make_unique<ItemExponentialRateLimiter>());
  constexpr int kKeys = 5;
  constexpr int kRounds = 300;
  std::array<std::atomic<int>, kKeys> inFlight{};
  std::array<std::atomic<int>, kKeys> processed{};
  std::atomic<bool> overlap{false};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      while (auto key = queue.get()) {
        const int i = key->back() - '0';
        if (inFlight[i].fetch_add(1) != 0) overlap = true;
        // Re-add while processing: the key must come back, but only after done().
        if (processed[i].fetch_add(1) + 1 < kRounds) queue.add(*key);
        std::this_thread::yield();  // widen the window in which a second worker could take it
        inFlight[i].fetch_sub(1);
        queue.done(*key);
      }
    });
  }
  for (int i = 0; i < kKeys; ++i) queue.add("ns/k" + std::to_string(i));
  ASSERT_TRUE(eventually([&] {
    return std::all_of(processed.begin(), processed.end(), [](const auto& p) { return p.load() >= kRounds; });
  }));
  queue.shutDown();
  for (auto& t : workers) t.join();
  EXPECT_FALSE(overlap.load());
  for (const auto& p : processed) EXPECT_EQ(p.load(), kRounds);  // every re-add processed exactly once
}

}  // namespace
}  // namespace tributary::op::runtime
