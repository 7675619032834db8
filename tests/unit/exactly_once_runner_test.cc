// The exactly-once loop's decisions over a scripted TransactionalClient: what
// goes into a transaction when partitions are revoked mid-poll, how retriable,
// abortable and fatal errors are handled, where an aborted batch restarts.
// (Against Kafka: tests/integration/pipeline_exactly_once_test.cc.)
#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>

#include "sidecar/pipeline/exactly_once_runner.h"

using namespace std::chrono_literals;
using namespace tributary::sidecar::pipeline;
using tributary::sidecar::TopicPartition;
using State = ExactlyOnceStatus::State;

namespace {

PipelineRecord rec(int32_t partition, int64_t offset) {
  PipelineRecord r;
  r.topic = "in";
  r.partition = partition;
  r.offset = offset;
  r.value = "v" + std::to_string(partition) + "-" + std::to_string(offset);
  return r;
}

// A source of records per partition (a log), read from a position the runner
// may move back; transactions recorded as committed or aborted.
class FakeClient final : public TransactionalClient {
 public:
  struct Txn {
    std::vector<std::string> values;
    std::map<TopicPartition, int64_t> offsets;
  };
  struct Shared {
    std::mutex mutex;
    std::condition_variable cv;
    std::map<TopicPartition, std::vector<PipelineRecord>> log;
    std::map<TopicPartition, int64_t> position;
    std::vector<Txn> committed;
    int aborted = 0;
    std::vector<std::map<TopicPartition, int64_t>> seeks;
    std::deque<TxnError> commitErrors, produceErrors;
    std::function<void(TxnRebalanceListener&)> duringNextPoll;  // e.g. a revocation
    bool woken = false;
  };

  FakeClient(Shared& s, TxnRebalanceListener& l) : s_(s), listener_(l) {}

  TxnError initTransactions(std::chrono::milliseconds) override { return {}; }

  std::vector<PipelineRecord> poll(size_t maxRecords, std::chrono::milliseconds maxWait) override {
    std::unique_lock lock(s_.mutex);
    std::vector<PipelineRecord> out;
    if (auto hook = std::exchange(s_.duringNextPoll, nullptr)) {
      lock.unlock();
      // Records fetched before the revocation come back from this poll too.
      out = take(maxRecords);
      hook(listener_);
      return out;
    }
    s_.cv.wait_for(lock, maxWait, [&] { return s_.woken || !take(maxRecords, true).empty(); });
    s_.woken = false;
    return take(maxRecords);
  }

  TxnError beginTransaction() override {
    open_ = Txn{};
    return {};
  }
  TxnError produce(const TxnRecord& r, std::chrono::milliseconds) override {
    std::lock_guard lock(s_.mutex);
    if (!s_.produceErrors.empty()) {
      auto e = s_.produceErrors.front();
      s_.produceErrors.pop_front();
      return e;
    }
    open_.values.push_back(*r.value);
    return {};
  }
  TxnError flush(std::chrono::milliseconds) override { return {}; }
  TxnError sendOffsets(const std::map<TopicPartition, int64_t>& next, std::chrono::milliseconds) override {
    open_.offsets = next;
    return {};
  }
  TxnError commitTransaction(std::chrono::milliseconds) override {
    std::lock_guard lock(s_.mutex);
    if (!s_.commitErrors.empty()) {
      auto e = s_.commitErrors.front();
      s_.commitErrors.pop_front();
      return e;
    }
    s_.committed.push_back(open_);
    s_.cv.notify_all();
    return {};
  }
  TxnError abortTransaction(std::chrono::milliseconds) override {
    std::lock_guard lock(s_.mutex);
    ++s_.aborted;
    return {};
  }
  void seek(const std::map<TopicPartition, int64_t>& offsets, std::chrono::milliseconds) override {
    std::lock_guard lock(s_.mutex);
    s_.seeks.push_back(offsets);
    for (const auto& [tp, off] : offsets) s_.position[tp] = off;
  }
  void wakeup() override {
    std::lock_guard lock(s_.mutex);
    s_.woken = true;
    s_.cv.notify_all();
  }
  void close() override {}
  void abandon() override {}

 private:
  // The next records from each partition's position (peek: positions unchanged).
  std::vector<PipelineRecord> take(size_t max, bool peek = false) {
    std::vector<PipelineRecord> out;
    for (auto& [tp, records] : s_.log)
      for (auto& r : records)
        if (r.offset >= s_.position[tp] && out.size() < max) {
          out.push_back(r);
          if (!peek) s_.position[tp] = r.offset + 1;
        }
    return out;
  }

  Shared& s_;
  TxnRebalanceListener& listener_;
  Txn open_;
};

std::variant<std::vector<StepOutput>, StepFailure> passThrough(const PipelineRecord& r) {
  StepOutput o;
  o.value = r.value;
  o.sink = "default";
  return std::vector<StepOutput>{o};
}

class Runner : public ::testing::Test {
 protected:
  std::unique_ptr<ExactlyOnceRunner> start(ProcessFn fn = passThrough) {
    ExactlyOnceOptions o;
    o.pipeline = "p";
    o.topics = {"in"};
    o.group = "g";
    o.transactionalId = "t";
    o.bootstrapServers = "unused:9092";
    o.sinkTopics = {{"default", "out"}};
    o.deadLetterTopic = "dlq";
    o.maxBatchRecords = 100;
    o.abortBackoffMin = 1ms;
    o.abortBackoffMax = 1ms;
    ExactlyOnceTestHooks hooks;
    hooks.makeClient = [this](TxnRebalanceListener& l, std::string&) { return std::make_unique<FakeClient>(s, l); };
    auto r = std::make_unique<ExactlyOnceRunner>(o, std::move(fn), ExactlyOnceMetrics{}, hooks);
    std::string error;
    EXPECT_TRUE(r->start(error)) << error;
    return r;
  }
  bool awaitCommits(size_t n) {
    std::unique_lock lock(s.mutex);
    return s.cv.wait_for(lock, 30s, [&] { return s.committed.size() >= n; });
  }
  FakeClient::Shared s;
};

TEST_F(Runner, RecordsOfAPartitionRevokedDuringThePollAreNotProcessed) {
  s.log[{"in", 0}] = {rec(0, 0), rec(0, 1)};
  s.log[{"in", 1}] = {rec(1, 0), rec(1, 1)};
  s.duringNextPoll = [](TxnRebalanceListener& l) { l.onRevoked({{"in", 1}}); };
  auto runner = start();
  ASSERT_TRUE(awaitCommits(1));
  runner->stop(1s);
  std::lock_guard lock(s.mutex);
  ASSERT_EQ(s.committed.size(), 1u);
  EXPECT_EQ(s.committed[0].values, (std::vector<std::string>{"v0-0", "v0-1"}));
  EXPECT_EQ(s.committed[0].offsets, (std::map<TopicPartition, int64_t>{{{"in", 0}, 2}}))
      << "no offset of the revoked partition is committed";
}

TEST_F(Runner, ACommitThatTimedOutIsCalledAgainAndCommitsOnce) {
  s.log[{"in", 0}] = {rec(0, 0), rec(0, 1), rec(0, 2)};
  s.commitErrors = {{TxnError::Kind::Retriable, "timed out"}};
  auto runner = start();
  ASSERT_TRUE(awaitCommits(1));
  runner->stop(1s);
  EXPECT_EQ(runner->status().transactionsCommitted, 1u);
  EXPECT_EQ(runner->status().transactionsAborted, 0u);
  EXPECT_EQ(s.committed[0].offsets, (std::map<TopicPartition, int64_t>{{{"in", 0}, 3}}));
}

TEST_F(Runner, AnAbortedBatchIsRedoneFromWhereItStarted) {
  s.log[{"in", 0}] = {rec(0, 5), rec(0, 6), rec(0, 7)};
  s.log[{"in", 1}] = {rec(1, 3)};
  s.position[{"in", 0}] = 5;
  s.position[{"in", 1}] = 3;
  s.produceErrors = {{}, {TxnError::Kind::Abortable, "write refused"}};  // the second record's write
  auto runner = start();
  ASSERT_TRUE(awaitCommits(1));
  runner->stop(1s);
  std::lock_guard lock(s.mutex);
  EXPECT_EQ(s.aborted, 1);
  ASSERT_EQ(s.seeks.size(), 1u);
  EXPECT_EQ(s.seeks[0], (std::map<TopicPartition, int64_t>{{{"in", 0}, 5}, {{"in", 1}, 3}}));
  ASSERT_EQ(s.committed.size(), 1u);
  EXPECT_EQ(s.committed[0].values, (std::vector<std::string>{"v0-5", "v0-6", "v0-7", "v1-3"}));
  EXPECT_EQ(s.committed[0].offsets, (std::map<TopicPartition, int64_t>{{{"in", 0}, 8}, {{"in", 1}, 4}}));
  EXPECT_EQ(runner->status().recordsIn, 4u);
}

TEST_F(Runner, AFatalCommitEndsTheRunnerAsFailed) {
  s.log[{"in", 0}] = {rec(0, 0)};
  s.commitErrors = {{TxnError::Kind::Fatal, "commit transaction: broker says no"}};
  auto runner = start();
  ASSERT_TRUE(runner->waitUntilEnded(30s));
  EXPECT_EQ(runner->status().state, State::Failed);
  EXPECT_EQ(runner->status().error, "commit transaction: broker says no");
  EXPECT_EQ(runner->status().transactionsCommitted, 0u);
}

TEST_F(Runner, ARecordRoutedToAnUnknownSinkEndsTheRunnerNamingIt) {
  s.log[{"in", 0}] = {rec(0, 0)};
  auto runner = start([](const PipelineRecord& r) -> std::variant<std::vector<StepOutput>, StepFailure> {
    StepOutput o;
    o.value = r.value;
    o.sink = "audit";
    return std::vector<StepOutput>{o};
  });
  ASSERT_TRUE(runner->waitUntilEnded(30s));
  EXPECT_EQ(runner->status().state, State::Failed);
  EXPECT_NE(runner->status().error.find("sink 'audit'"), std::string::npos) << runner->status().error;
  EXPECT_EQ(s.aborted, 1);
}

}  // namespace
