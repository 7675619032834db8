// Exactly-once pipelines (`processing: exactlyOnce`): the ExactlyOnceRunner over
// librdkafka's transactional producer and a read_committed consumer, against
// the embedded cluster over TCP, or a real broker when TRIBUTARY_TEST_BOOTSTRAP
// names one.
//
// What librdkafka 2.0.2's mock cluster (the embedded cluster) does with
// transactions, found by reading rdkafka_mock_handlers.c and checked with a
// probe against the installed library:
//   - it runs the whole transactional protocol (InitProducerId,
//     AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn) and checks
//     producer id and epoch on each call;
//   - it writes no transaction markers and returns no AbortedTransactions in
//     Fetch (last stable offset = high watermark): a read_committed reader
//     sees the records of ABORTED transactions too;
//   - TxnOffsetCommit is answered but its offsets are not stored: a new group
//     member starts from auto.offset.reset, not from the committed offsets;
//   - a second InitProducerId with the same transactional.id gets a new
//     producer id instead of bumping the epoch: the first instance is NOT fenced.
// So on the embedded cluster these tests prove the happy path exactly once
// (no aborts: every output once), dead letters in the transaction, the abort →
// rewind → redo path (outputs present, committed counts exact), the reaction
// to fencing (injected PRODUCER_FENCED) and stop(). Exactly-once across an
// abort, a crash, and a second instance need a real broker: those tests run
// only with TRIBUTARY_TEST_BOOTSTRAP and say so otherwise.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <random>
#include <thread>

#include "common/kafka/embedded_cluster.h"
#include "sidecar/pipeline/exactly_once_runner.h"
#include "sidecar/pipeline/jq_executor.h"
#include "sidecar/pipeline/steps.h"
#include "tests/support/record_reader.h"
#include "tests/support/test_cluster.h"

using namespace std::chrono_literals;
using namespace tributary::sidecar::pipeline;
using State = ExactlyOnceStatus::State;

namespace {

constexpr int16_t kProduceApi = 0;
constexpr int16_t kEndTxnApi = 26;
constexpr int kMsgSizeTooLarge = 10;
constexpr int kProducerFenced = 90;

// Awaits a condition (a hang guard, not a timing assertion).
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

std::string unique(const std::string& base) { return tributary::test::uniqueName(base); }

std::vector<std::string> numbered(const std::string& prefix, int n, int first = 0) {
  std::vector<std::string> v;
  for (int i = first; i < first + n; ++i) v.push_back(prefix + std::to_string(i));
  return v;
}

// value → how many times a read_committed reader sees it.
std::map<std::string, int> counts(const std::vector<tributary::test::ConsumedRecord>& records) {
  std::map<std::string, int> out;
  for (const auto& r : records) ++out[r.value.value_or("<null>")];
  return out;
}

std::optional<std::string> header(const tributary::test::ConsumedRecord& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return std::nullopt;
}

// "n<i>" → "out-n<i>" for the sink `default`, key and headers carried;
// values starting with "poison" fail at step 1.
std::variant<std::vector<StepOutput>, StepFailure> prefixOut(const PipelineRecord& r) {
  if (r.value && r.value->rfind("poison", 0) == 0) return StepFailure{1, "cannot handle " + *r.value};
  StepOutput o;
  o.key = r.key;
  o.value = "out-" + r.value.value_or("");
  o.headers = r.headers;
  o.sink = "default";
  return std::vector<StepOutput>{o};
}

class ExactlyOnce : public ::testing::Test {
 protected:
  void SetUp() override {
    in = unique("eos-in");
    out = unique("eos-out");
    dlq = unique("eos-dlq");
    cluster.createTopic(in, kPartitions);
    cluster.createTopic(out, kPartitions);
    cluster.createTopic(dlq, 1);
  }

  ExactlyOnceOptions options(const std::string& txnId = "", const std::string& group = "") {
    ExactlyOnceOptions o;
    o.pipeline = "orders-enricher";
    o.topics = {in};
    o.group = group.empty() ? unique("eos-group") : group;
    o.transactionalId = txnId.empty() ? unique("eos-txn") : txnId;
    o.bootstrapServers = cluster.bootstrap();
    // A member that vanished (the crash tests) is replaced within seconds.
    o.properties = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
    o.sinkTopics = {{"default", out}};
    o.deadLetterTopic = dlq;
    o.maxBatchRecords = 20;
    o.maxBatchTime = 100ms;
    o.abortBackoffMin = 10ms;
    return o;
  }

  static std::unique_ptr<ExactlyOnceRunner> started(ExactlyOnceOptions o, ProcessFn fn, ExactlyOnceMetrics m = {},
                                                    ExactlyOnceTestHooks hooks = {}) {
    auto r = std::make_unique<ExactlyOnceRunner>(std::move(o), std::move(fn), m, std::move(hooks));
    std::string error;
    EXPECT_TRUE(r->start(error)) << error;
    return r;
  }

  std::vector<tributary::test::ConsumedRecord> readCommitted(const std::string& topic) {
    return tributary::test::readAll(cluster.bootstrap(), topic);
  }

  static constexpr int kPartitions = 3;
  tributary::test::TestCluster cluster;
  std::string in, out, dlq;
};

// A filter + transform pipeline with the real jq steps: every kept input once
// in the sink, key and headers carried, counted once as committed.
TEST_F(ExactlyOnce, TransformsTopicToTopicAndAReadCommittedReaderSeesEveryOutputOnce) {
  JqExecutor jq;
  std::vector<StepConfig> steps(2);
  steps[0].kind = StepConfig::Kind::Filter;
  steps[0].expression = ".amount > 10";
  steps[1].kind = StepConfig::Kind::Transform;
  steps[1].expression = "{id: .id, cents: (.amount * 100)}";
  auto compiled = Steps::compile(jq, steps, "default");
  ASSERT_TRUE(std::holds_alternative<Steps>(compiled));
  const Steps& pipeline = std::get<Steps>(compiled);

  std::vector<std::string> inputs;
  for (int i = 0; i < 200; ++i) inputs.push_back(R"({"id":)" + std::to_string(i) + R"(,"amount":)" + std::to_string(i) + "}");
  cluster.produce(in, inputs, kPartitions);

  prometheus::Registry registry;
  auto& txns = prometheus::BuildCounter().Name("tributary_pipeline_transactions_total").Help("t").Register(registry);
  ExactlyOnceMetrics m;
  m.transactionsCommitted = &txns.Add({{"outcome", "commit"}});
  m.transactionsAborted = &txns.Add({{"outcome", "abort"}});
  auto runner = started(options(), [&](const PipelineRecord& r) { return pipeline.process(r); }, m);
  ASSERT_TRUE(eventually([&] { return runner->status().recordsIn == 200; })) << runner->status().error;
  runner->stop(10s);

  const auto s = runner->status();
  EXPECT_EQ(s.state, State::Stopped);
  EXPECT_EQ(s.recordsOut, 189u);  // amounts 11..199
  EXPECT_EQ(s.transactionsAborted, 0u);
  EXPECT_GE(s.transactionsCommitted, 1u);
  EXPECT_EQ(m.transactionsCommitted->Value(), static_cast<double>(s.transactionsCommitted));
  EXPECT_EQ(m.transactionsAborted->Value(), 0);

  const auto records = readCommitted(out);
  const auto seen = counts(records);
  ASSERT_EQ(seen.size(), 189u);
  for (int i = 11; i < 200; ++i)
    EXPECT_EQ(seen.count(R"({"id":)" + std::to_string(i) + R"(,"cents":)" + std::to_string(i * 100) + "}"), 1u) << i;
  for (const auto& [value, n] : seen) EXPECT_EQ(n, 1) << value << " seen " << n << " times";
  for (const auto& r : records) {
    ASSERT_TRUE(r.key.has_value());
    const std::string id = r.key->substr(1);
    EXPECT_EQ(header(r, "trace"), "t" + id) << "headers carried";
    EXPECT_NE(r.value->find(R"("id":)" + id + ","), std::string::npos) << "key carried with its record";
  }
}

// A record a step fails on goes to the dead-letter topic inside the batch's
// transaction, with the subscription headers and the failing step.
TEST_F(ExactlyOnce, StepFailureIsDeadLetteredInTheTransactionWithTheFailingStep) {
  auto inputs = numbered("n", 30);
  inputs[7] = "poison-7";
  inputs[21] = "poison-21";
  cluster.produce(in, inputs, kPartitions);

  auto runner = started(options(), prefixOut);
  ASSERT_TRUE(eventually([&] { return runner->status().recordsIn == 30; })) << runner->status().error;
  runner->stop(10s);
  EXPECT_EQ(runner->status().deadLettered, 2u);
  EXPECT_EQ(runner->status().recordsOut, 28u);

  const auto dead = readCommitted(dlq);
  ASSERT_EQ(dead.size(), 2u);
  std::map<std::string, tributary::test::ConsumedRecord> byValue;
  for (const auto& r : dead) byValue[*r.value] = r;
  ASSERT_EQ(byValue.count("poison-7"), 1u);
  ASSERT_EQ(byValue.count("poison-21"), 1u);
  const auto& r = byValue["poison-21"];
  EXPECT_EQ(r.key, "k21");
  EXPECT_EQ(header(r, "trace"), "t21") << "the input's headers are kept";
  EXPECT_EQ(header(r, "tributary.dlq.topic"), in);
  EXPECT_EQ(header(r, "tributary.dlq.partition"), std::to_string(21 % kPartitions));
  EXPECT_EQ(header(r, "tributary.dlq.subscription"), "orders-enricher");
  EXPECT_EQ(header(r, "tributary.dlq.step"), "1");
  EXPECT_EQ(header(r, "tributary.dlq.error"), "cannot handle poison-21");
  EXPECT_EQ(header(r, "tributary.dlq.attempts"), "1");
  EXPECT_TRUE(header(r, "tributary.dlq.offset").has_value());
  EXPECT_TRUE(header(r, "tributary.dlq.first-attempt-ms").has_value());

  const auto seen = counts(readCommitted(out));
  EXPECT_EQ(seen.size(), 28u);
  for (const auto& [value, n] : seen) EXPECT_EQ(n, 1) << value;
  EXPECT_EQ(seen.count("out-poison-7"), 0u);
}

// Without a dead-letter topic the pipeline cannot skip the record: it aborts
// the batch and stops, saying which record, which step and what to do.
TEST_F(ExactlyOnce, StepFailureWithoutDeadLetterTopicStopsWithAClearError) {
  auto inputs = numbered("n", 10);
  inputs[4] = "poison-4";
  cluster.produce(in, inputs, kPartitions);
  auto o = options();
  o.deadLetterTopic.clear();
  o.maxBatchRecords = 1000;
  auto runner = started(o, prefixOut);
  ASSERT_TRUE(runner->waitUntilEnded(60s));
  const auto s = runner->status();
  EXPECT_EQ(s.state, State::Failed);
  EXPECT_NE(s.error.find("failed at step 1"), std::string::npos) << s.error;
  EXPECT_NE(s.error.find("cannot handle poison-4"), std::string::npos) << s.error;
  EXPECT_NE(s.error.find("deadLetterTopic"), std::string::npos) << s.error;
  EXPECT_NE(s.error.find(in + "/" + std::to_string(4 % kPartitions) + "@"), std::string::npos) << s.error;
  EXPECT_LT(s.recordsIn, 10u) << "the failed record is never committed";
  EXPECT_GE(s.transactionsAborted, 1u);
  // Its partition does not move past it (n7 comes after poison-4 on partition 1).
  // Only a real broker hides the aborted batch's outputs from this reader.
  if (cluster.real()) {
    EXPECT_EQ(counts(readCommitted(out)).count("out-n7"), 0u);
  }
}

// An abortable error (a sink write refused) aborts the transaction, moves the
// source back to where the batch started and redoes it: every input ends up
// committed once (the committed counts are exact). Needs the embedded
// cluster's error injection; the mock does not hide the aborted copies from
// readers, so exactly-once in the sink is asserted against a real broker (the
// crash and fencing tests below cover aborted transactions there).
TEST_F(ExactlyOnce, AbortableErrorAbortsRewindsAndRedoesTheBatch) {
  if (cluster.real()) GTEST_SKIP() << "needs the embedded cluster's request-error injection";
  cluster.produce(in, numbered("n", 60), kPartitions);
  // The runner's first ProduceRequest is refused (nothing else produces now).
  cluster.mock().pushRequestErrors(kProduceApi, {kMsgSizeTooLarge});
  auto runner = started(options(), prefixOut);
  ASSERT_TRUE(eventually([&] { return runner->status().recordsIn == 60; })) << runner->status().error;
  runner->stop(10s);
  const auto s = runner->status();
  EXPECT_EQ(s.state, State::Stopped);
  // At least the injected one. librdkafka 2.0.2 may fail the next transaction
  // too ("skipped sequence numbers", while it bumps the epoch after the
  // failed ProduceRequest); it is redone the same way.
  EXPECT_GE(s.transactionsAborted, 1u);
  EXPECT_EQ(s.recordsIn, 60u) << "every input committed exactly once, the aborted batch redone";
  EXPECT_EQ(s.recordsOut, 60u);
  const auto seen = counts(readCommitted(out));
  for (const auto& v : numbered("out-n", 60)) EXPECT_GE(seen.count(v), 1u) << v << " missing";
}

// Fencing as the runner sees it: the coordinator answers the commit with
// PRODUCER_FENCED (injected: the mock does not fence on a second
// InitProducerId). The runner stops as Fenced — the binary exits non-zero —
// and the fenced transaction is not counted.
TEST_F(ExactlyOnce, FencedRunnerStopsAndReportsFenced) {
  if (cluster.real()) GTEST_SKIP() << "needs the embedded cluster's request-error injection (see SecondInstanceFencesTheFirst)";
  cluster.produce(in, numbered("n", 10), kPartitions);
  cluster.mock().pushRequestErrors(kEndTxnApi, {kProducerFenced});
  auto runner = started(options(), prefixOut);
  ASSERT_TRUE(runner->waitUntilEnded(60s));
  const auto s = runner->status();
  EXPECT_EQ(s.state, State::Fenced);
  EXPECT_NE(s.error.find("fenced"), std::string::npos) << s.error;
  EXPECT_EQ(s.transactionsCommitted, 0u);
  EXPECT_FALSE(runner->ready());
}

// stop() while a batch is being processed: the batch is finished and
// committed within the grace period, then the runner stops.
TEST_F(ExactlyOnce, StopFinishesAndCommitsTheBatchInProgress) {
  cluster.produce(in, numbered("n", 40), kPartitions);
  ExactlyOnceRunner* self = nullptr;
  std::thread stopper;
  std::atomic<int> processed{0};
  auto runner = std::make_unique<ExactlyOnceRunner>(options(), [&](const PipelineRecord& r) {
    if (processed++ == 0) {
      // The first record: stop now, and go on only once the runner knows.
      stopper = std::thread([&] { self->stop(30s); });
      EXPECT_TRUE(eventually([&] { return self->stopRequested(); }));
    }
    return prefixOut(r);
  });
  self = runner.get();
  std::string error;
  ASSERT_TRUE(runner->start(error)) << error;
  ASSERT_TRUE(eventually([&] { return stopper.joinable(); }));
  stopper.join();
  const auto s = runner->status();
  EXPECT_EQ(s.state, State::Stopped);
  EXPECT_EQ(s.transactionsCommitted, 1u) << "the batch in progress, and no new one";
  EXPECT_EQ(s.transactionsAborted, 0u);
  EXPECT_EQ(s.recordsIn, static_cast<uint64_t>(processed.load()));
  const auto seen = counts(readCommitted(out));
  EXPECT_EQ(seen.size(), s.recordsOut);
  for (const auto& [value, n] : seen) EXPECT_EQ(n, 1) << value;
}

// stop() with no grace left aborts the batch in progress instead: nothing of
// it is committed.
TEST_F(ExactlyOnce, StopWithoutGraceAbortsTheBatchInProgress) {
  cluster.produce(in, numbered("n", 40), kPartitions);
  ExactlyOnceRunner* self = nullptr;
  std::thread stopper;
  std::atomic<int> processed{0};
  auto runner = std::make_unique<ExactlyOnceRunner>(options(), [&](const PipelineRecord& r) {
    if (processed++ == 0) {
      stopper = std::thread([&] { self->stop(0ms); });
      EXPECT_TRUE(eventually([&] { return self->stopRequested(); }));
    }
    return prefixOut(r);
  });
  self = runner.get();
  std::string error;
  ASSERT_TRUE(runner->start(error)) << error;
  ASSERT_TRUE(eventually([&] { return stopper.joinable(); }));
  stopper.join();
  const auto s = runner->status();
  EXPECT_EQ(s.state, State::Stopped);
  EXPECT_EQ(s.transactionsCommitted, 0u);
  EXPECT_EQ(s.transactionsAborted, 1u);
  EXPECT_EQ(s.recordsIn, 0u);
}

// Options the runner cannot run with are refused at start, naming the field.
TEST_F(ExactlyOnce, RefusesOptionsItCannotRunWith) {
  std::string error;
  auto o = options();
  o.transactionalId.clear();
  EXPECT_FALSE(ExactlyOnceRunner(o, prefixOut).start(error));
  EXPECT_NE(error.find("transactional.id"), std::string::npos) << error;
  error.clear();
  o = options();
  o.properties["isolation.level"] = "sometimes";
  EXPECT_FALSE(ExactlyOnceRunner(o, prefixOut).start(error));
  EXPECT_NE(error.find("isolation.level"), std::string::npos) << error;
  error.clear();
  o = options();
  o.properties["no.such.property"] = "1";
  EXPECT_FALSE(ExactlyOnceRunner(o, prefixOut).start(error));
  EXPECT_NE(error.find("kafka.properties.no.such.property"), std::string::npos) << error;
}

// --- Real broker only -------------------------------------------------------

constexpr const char* kNeedsRealBroker =
    "set TRIBUTARY_TEST_BOOTSTRAP=host:port (a real Kafka): librdkafka 2.0.2's mock cluster stores no "
    "transactional offsets (TxnOffsetCommit is not persisted), writes no abort markers (read_committed "
    "readers see aborted records) and does not fence on a second InitProducerId";

// A crash after the batch's records and offsets went into the transaction and
// before the commit; a new instance with the same transactional.id and group
// fences the dead one (the broker aborts its open transaction) and continues
// from the committed offsets: a read_committed reader sees every output once.
// On the embedded cluster only the at-least-once half holds (it stores no
// transactional offsets and hides no aborted records): the new instance
// redoes everything and every output is there; exactly once needs a real broker.
TEST_F(ExactlyOnce, CrashBeforeCommitThenANewInstanceIsExactlyOnce) {
  cluster.produce(in, numbered("n", 100), kPartitions);
  const auto txnId = unique("eos-txn"), group = unique("eos-group");
  ExactlyOnceTestHooks hooks;
  std::atomic<int> commits{0};
  hooks.beforeCommit = [&] { return ++commits == 3; };  // two transactions commit, the third crashes
  auto first = started(options(txnId, group), prefixOut, {}, hooks);
  ASSERT_TRUE(first->waitUntilEnded(60s));
  ASSERT_EQ(first->status().state, State::Failed);
  EXPECT_EQ(first->status().error, "test hook: crashed before commit");
  const uint64_t before = first->status().recordsIn;
  EXPECT_GT(before, 0u);
  EXPECT_LT(before, 100u);

  auto second = started(options(txnId, group), prefixOut);
  const uint64_t expected = cluster.real() ? 100 - before : 100;
  ASSERT_TRUE(eventually([&] { return second->status().recordsIn == expected; }, 120s))
      << second->status().recordsIn << " " << second->status().error;
  second->stop(10s);
  const auto seen = counts(readCommitted(out));
  EXPECT_EQ(seen.size(), 100u);
  for (const auto& v : numbered("out-n", 100)) {
    if (cluster.real()) {
      EXPECT_EQ(seen.count(v) ? seen.at(v) : 0, 1) << v;
    } else {
      EXPECT_GE(seen.count(v), 1u) << v << " missing";
    }
  }
  if (!cluster.real()) GTEST_SKIP() << "every output present; exactly once not provable here: " << kNeedsRealBroker;
}

// A second instance with the same transactional.id fences the first: the
// first stops as Fenced, the second takes over, every output once.
TEST_F(ExactlyOnce, SecondInstanceFencesTheFirst) {
  if (!cluster.real()) GTEST_SKIP() << kNeedsRealBroker;
  const auto txnId = unique("eos-txn"), group = unique("eos-group");
  cluster.produce(in, numbered("n", 30), kPartitions);
  auto first = started(options(txnId, group), prefixOut);
  ASSERT_TRUE(eventually([&] { return first->status().recordsIn == 30; }));
  auto second = started(options(txnId, group), prefixOut);
  ASSERT_TRUE(eventually([&] { return second->ready(); }));
  // Records for both: the first finds out it was fenced at its next transaction.
  cluster.produce(in, numbered("n", 60, 30), kPartitions, 30);
  ASSERT_TRUE(first->waitUntilEnded(120s));
  EXPECT_EQ(first->status().state, State::Fenced) << first->status().error;
  ASSERT_TRUE(eventually([&] { return first->status().recordsIn + second->status().recordsIn == 90; }, 120s));
  EXPECT_EQ(second->status().state, State::Running);
  second->stop(10s);
  const auto seen = counts(readCommitted(out));
  EXPECT_EQ(seen.size(), 90u);
  for (const auto& v : numbered("out-n", 90)) EXPECT_EQ(seen.count(v) ? seen.at(v) : 0, 1) << v;
}

}  // namespace
