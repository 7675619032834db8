#include "operator/runtime/controller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>

#include "common/metrics/exposition.h"
#include "operator/runtime/errors.h"
#include "tests/operator/runtime/runtime_test_support.h"

namespace tributary::op::runtime {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::metricValue;

// A reconciler whose answer per call is scripted by the test; counts calls per key.
class ScriptedReconciler : public Reconciler {
 public:
  explicit ScriptedReconciler(std::function<ReconcileResult(const std::string&, int)> script)
      : script_(std::move(script)) {}
  ReconcileResult reconcile(const std::string& key) override {
    int call;
    {
      std::lock_guard guard(mutex_);
      call = ++calls_[key];
    }
    return script_(key, call);
  }
  int calls(const std::string& key) {
    std::lock_guard guard(mutex_);
    return calls_[key];
  }

 private:
  std::function<ReconcileResult(const std::string&, int)> script_;
  std::mutex mutex_;
  std::map<std::string, int> calls_;
};

class ControllerTest : public ::testing::Test {
 protected:
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  prometheus::Registry registry_;

  ControllerOptions options(std::size_t workers = 1, std::size_t maxBatch = 1) {
    ControllerOptions o;
    o.name = "topics";
    o.workers = workers;
    o.maxBatch = maxBatch;
    o.clock = clock_;
    o.registry = &registry_;
    return o;
  }

  double reconciles(const std::string& result) {
    return metricValue(registry_, "tributary_operator_reconcile_total", {{"controller", "topics"}, {"result", result}})
        .value_or(-1);
  }
  bool awaitReconciles(const std::string& result, double count) {
    return eventually([&] { return reconciles(result) >= count; });
  }
};

TEST_F(ControllerTest, SuccessForgetsTheBackoff) {
  auto reconciler = std::make_shared<ScriptedReconciler>([](const std::string&, int call) {
    return call == 1 ? ReconcileResult::error("broker down") : ReconcileResult::done();
  });
  Controller controller(options(), reconciler);
  controller.start();
  controller.queue().add("ns/a");
  ASSERT_TRUE(awaitReconciles("error", 1));
  EXPECT_EQ(controller.queue().numRequeues("ns/a"), 1);
  clock_->advance(5ms);
  ASSERT_TRUE(awaitReconciles("success", 1));
  EXPECT_EQ(controller.queue().numRequeues("ns/a"), 0);
  EXPECT_EQ(controller.queue().delayedLen(), 0u);
  controller.stop();
  EXPECT_EQ(reconciler->calls("ns/a"), 2);
}

TEST_F(ControllerTest, ErrorsRetryWithExponentialBackoff) {
  auto reconciler = std::make_shared<ScriptedReconciler>([](const std::string&, int call) {
    return call <= 3 ? ReconcileResult::error("broker down") : ReconcileResult::done();
  });
  Controller controller(options(), reconciler);
  controller.start();
  controller.queue().add("ns/a");

  ASSERT_TRUE(awaitReconciles("error", 1));  // retry #1 after 5 ms
  clock_->advance(4ms);
  EXPECT_EQ(controller.queue().delayedLen(), 1u);  // still waiting
  clock_->advance(1ms);
  ASSERT_TRUE(awaitReconciles("error", 2));  // retry #2 after 10 ms
  clock_->advance(9ms);
  EXPECT_EQ(controller.queue().delayedLen(), 1u);
  EXPECT_EQ(reconciler->calls("ns/a"), 2);
  clock_->advance(1ms);
  ASSERT_TRUE(awaitReconciles("error", 3));  // retry #3 after 20 ms
  EXPECT_EQ(controller.queue().numRequeues("ns/a"), 3);
  clock_->advance(20ms);
  ASSERT_TRUE(awaitReconciles("success", 1));
  controller.stop();
  EXPECT_EQ(reconciler->calls("ns/a"), 4);
  EXPECT_EQ(metricValue(registry_, "tributary_operator_workqueue_retries_total", {{"name", "topics"}}), 3);
}

TEST_F(ControllerTest, TerminalErrorIsNotRetried) {
  auto reconciler = std::make_shared<ScriptedReconciler>(
      [](const std::string&, int) { return ReconcileResult::terminal("partition decrease not allowed"); });
  Controller controller(options(), reconciler);
  controller.start();
  controller.queue().add("ns/a");
  ASSERT_TRUE(awaitReconciles("terminal", 1));
  EXPECT_EQ(controller.queue().delayedLen(), 0u);
  EXPECT_EQ(controller.queue().numRequeues("ns/a"), 0);
  clock_->advance(2000s);  // longer than any backoff
  EXPECT_EQ(controller.queue().len(), 0u);
  controller.stop();
  EXPECT_EQ(reconciler->calls("ns/a"), 1);
  EXPECT_EQ(reconciles("error"), 0);
}

TEST_F(ControllerTest, RequeueAfterFiresWhenTheClockAdvances) {
  auto reconciler = std::make_shared<ScriptedReconciler>(
      [](const std::string&, int) { return ReconcileResult::requeueAfter(5min); });
  Controller controller(options(), reconciler);
  controller.start();
  controller.queue().add("ns/a");
  ASSERT_TRUE(awaitReconciles("requeue", 1));
  clock_->advance(5min - 1s);
  EXPECT_EQ(controller.queue().delayedLen(), 1u);
  EXPECT_EQ(reconciler->calls("ns/a"), 1);
  clock_->advance(1s);
  ASSERT_TRUE(awaitReconciles("requeue", 2));
  controller.stop();
  EXPECT_EQ(reconciler->calls("ns/a"), 2);
  EXPECT_EQ(controller.queue().numRequeues("ns/a"), 0);  // a requeue is not a failure
}

TEST_F(ControllerTest, ThrowingReconcilerCountsAsErrorAndIsRetried) {
  auto reconciler = std::make_shared<ScriptedReconciler>([](const std::string&, int call) -> ReconcileResult {
    if (call == 1) throw std::runtime_error("boom");
    return ReconcileResult::done();
  });
  Controller controller(options(), reconciler);
  controller.start();
  controller.queue().add("ns/a");
  ASSERT_TRUE(awaitReconciles("error", 1));
  EXPECT_EQ(controller.queue().numRequeues("ns/a"), 1);
  clock_->advance(5ms);
  ASSERT_TRUE(awaitReconciles("success", 1));
  controller.stop();
}

TEST_F(ControllerTest, DurationHistogramCountsEveryReconcile) {
  auto reconciler = std::make_shared<ScriptedReconciler>([](const std::string&, int) { return ReconcileResult::done(); });
  Controller controller(options(2), reconciler);
  controller.start();
  for (const char* k : {"ns/a", "ns/b", "ns/c"}) controller.queue().add(k);
  ASSERT_TRUE(awaitReconciles("success", 3));
  controller.stop();
  EXPECT_EQ(metricValue(registry_, "tributary_operator_reconcile_duration_seconds", {{"controller", "topics"}}), 3);
  const std::string text = renderMetrics({std::shared_ptr<prometheus::Collectable>(&registry_, [](auto*) {})});
  EXPECT_NE(text.find("tributary_operator_reconcile_total{controller=\"topics\",result=\"success\"} 3"),
            std::string::npos)
      << text;
}

TEST_F(ControllerTest, NeverReconcilesOneKeyOnTwoWorkersAtOnce) {
  constexpr int kRounds = 100;
  std::mutex mutex;
  std::map<std::string, int> inFlight;
  std::atomic<bool> overlap{false};
  std::atomic<int> total{0};
  Controller* self = nullptr;
  auto reconciler = std::make_shared<ScriptedReconciler>([&](const std::string& key, int call) {
    {
      std::lock_guard guard(mutex);
      if (inFlight[key]++ != 0) overlap = true;
    }
    if (call < kRounds) self->queue().add(key);  // an event arriving mid-reconcile
    std::this_thread::yield();
    {
      std::lock_guard guard(mutex);
      --inFlight[key];
    }
    ++total;
    return ReconcileResult::done();
  });
  Controller controller(options(4), reconciler);
  self = &controller;
  for (int i = 0; i < 6; ++i) controller.queue().add("ns/k" + std::to_string(i));
  controller.start();
  ASSERT_TRUE(eventually([&] { return total.load() >= 6 * kRounds; }));
  controller.stop();
  EXPECT_FALSE(overlap.load());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(reconciler->calls("ns/k" + std::to_string(i)), kRounds);
}

TEST_F(ControllerTest, StopLetsInFlightReconcilesFinishAndDropsQueuedKeys) {
  std::mutex mutex;
  std::condition_variable cv;
  bool entered = false, release = false, finished = false;
  auto reconciler = std::make_shared<ScriptedReconciler>([&](const std::string&, int) {
    std::unique_lock lock(mutex);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    finished = true;
    return ReconcileResult::done();
  });
  Controller controller(options(), reconciler);
  controller.start();
  controller.queue().add("ns/a");
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, 20s, [&] { return entered; }));
  }
  controller.queue().add("ns/b");  // queued behind the busy worker
  std::thread stopper([&] { controller.stop(); });
  ASSERT_TRUE(eventually([&] { return controller.queue().shuttingDown(); }));
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  cv.notify_all();
  stopper.join();
  {
    std::lock_guard lock(mutex);
    EXPECT_TRUE(finished);  // stop() returned only after the in-flight reconcile
  }
  EXPECT_EQ(reconciler->calls("ns/b"), 0);
  EXPECT_EQ(reconciles("success"), 1);
}

TEST_F(ControllerTest, KeysAddedBeforeStartAreReconciledAfterStart) {
  auto reconciler = std::make_shared<ScriptedReconciler>([](const std::string&, int) { return ReconcileResult::done(); });
  Controller controller(options(), reconciler);
  controller.queue().add("ns/a");
  controller.start();
  ASSERT_TRUE(awaitReconciles("success", 1));
  controller.stop();
  controller.stop();  // idempotent
}

TEST_F(ControllerTest, RejectsInvalidOptionsAndDoubleStart) {
  auto reconciler = std::make_shared<ScriptedReconciler>([](const std::string&, int) { return ReconcileResult::done(); });
  auto noWorkers = options(0);
  EXPECT_THROW(Controller(std::move(noWorkers), reconciler), ControllerRuntimeError);
  auto noName = options();
  noName.name.clear();
  EXPECT_THROW(Controller(std::move(noName), reconciler), ControllerRuntimeError);
  EXPECT_THROW(Controller(options(), std::shared_ptr<Reconciler>()), ControllerRuntimeError);
  Controller controller(options(), reconciler);
  controller.start();
  EXPECT_THROW(controller.start(), ControllerRuntimeError);
}

// A batch reconciler scripted per key; records the batches it was given.
class ScriptedBatchReconciler : public BatchReconciler {
 public:
  using Script = std::function<std::vector<ReconcileResult>(const std::vector<std::string>&, int)>;
  explicit ScriptedBatchReconciler(Script script) : script_(std::move(script)) {}
  std::vector<ReconcileResult> reconcile(const std::vector<std::string>& keys) override {
    int call;
    {
      std::lock_guard guard(mutex_);
      batches_.push_back(keys);
      call = static_cast<int>(batches_.size());
    }
    return script_(keys, call);
  }
  std::vector<std::vector<std::string>> batches() {
    std::lock_guard guard(mutex_);
    return batches_;
  }

 private:
  Script script_;
  std::mutex mutex_;
  std::vector<std::vector<std::string>> batches_;
};

TEST_F(ControllerTest, BatchReconcilerGetsReadyKeysTogetherWithPerItemOutcomes) {
  auto reconciler = std::make_shared<ScriptedBatchReconciler>([](const std::vector<std::string>& keys, int) {
    std::vector<ReconcileResult> results;
    for (const auto& key : keys) {
      if (key == "ns/bad") {
        results.push_back(ReconcileResult::error("invalid config"));
      } else if (key == "ns/refused") {
        results.push_back(ReconcileResult::terminal("replication factor change"));
      } else {
        results.push_back(ReconcileResult::done());
      }
    }
    return results;
  });
  Controller controller(options(1, 10), reconciler);
  for (const char* k : {"ns/a", "ns/bad", "ns/refused", "ns/b"}) controller.queue().add(k);
  controller.start();
  // The bad item did not sink the good ones.
  ASSERT_TRUE(awaitReconciles("success", 2));
  ASSERT_TRUE(awaitReconciles("terminal", 1));
  ASSERT_TRUE(awaitReconciles("error", 1));
  EXPECT_EQ(controller.queue().numRequeues("ns/bad"), 1);
  clock_->advance(5ms);  // only the failed key comes back
  ASSERT_TRUE(awaitReconciles("error", 2));
  controller.stop();
  const auto batches = reconciler->batches();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0], (std::vector<std::string>{"ns/a", "ns/bad", "ns/refused", "ns/b"}));
  EXPECT_EQ(batches[1], (std::vector<std::string>{"ns/bad"}));
}

TEST_F(ControllerTest, BatchReconcilerRespectsMaxBatch) {
  auto reconciler = std::make_shared<ScriptedBatchReconciler>(
      [](const std::vector<std::string>& keys, int) { return std::vector<ReconcileResult>(keys.size(), ReconcileResult::done()); });
  Controller controller(options(1, 2), reconciler);
  for (const char* k : {"ns/a", "ns/b", "ns/c", "ns/d", "ns/e"}) controller.queue().add(k);
  controller.start();
  ASSERT_TRUE(awaitReconciles("success", 5));
  controller.stop();
  for (const auto& batch : reconciler->batches()) EXPECT_LE(batch.size(), 2u);
  EXPECT_EQ(reconciler->batches().size(), 3u);
}

TEST_F(ControllerTest, BatchThatThrowsOrMiscountsFailsEveryKeyOfTheBatch) {
  auto reconciler = std::make_shared<ScriptedBatchReconciler>(
      [](const std::vector<std::string>& keys, int call) -> std::vector<ReconcileResult> {
        if (call == 1) throw std::runtime_error("kafka unavailable");
        if (call == 2) return {ReconcileResult::done()};  // one result for two keys: a bug
        return std::vector<ReconcileResult>(keys.size(), ReconcileResult::done());
      });
  Controller controller(options(1, 10), reconciler);
  controller.queue().add("ns/a");
  controller.queue().add("ns/b");
  controller.start();
  ASSERT_TRUE(awaitReconciles("error", 2));
  EXPECT_EQ(reconciles("success"), 0);
  clock_->advance(5ms);
  ASSERT_TRUE(awaitReconciles("error", 4));
  EXPECT_EQ(reconciles("success"), 0);  // the miscounted batch is not taken as success
  clock_->advance(10ms);
  ASSERT_TRUE(awaitReconciles("success", 2));
  controller.stop();
  EXPECT_EQ(controller.queue().numRequeues("ns/a"), 0);
}

}  // namespace
}  // namespace tributary::op::runtime
