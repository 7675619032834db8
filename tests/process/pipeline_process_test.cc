// The real `tributary-sidecar --pipeline FILE` binary, killed or stopped
// mid-stream, against an embedded cluster the test owns (so it can read what
// the group committed and what reached the sink topic):
//  - SIGKILL (at-least-once): every input's output is in the sink topic after
//    a restart, and the duplicates are bounded by what was uncommitted at the kill;
//  - SIGTERM: exit 0 within the grace period, everything processed is
//    committed, and the restart writes no duplicate at all.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <stdlib.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/kafka/embedded_cluster.h"
#include "tests/support/group_probe.h"
#include "tests/support/record_reader.h"
#include "tests/support/record_writer.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_cluster.h"

using Json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kPartitions = 4;
constexpr int kRecords = 6000;
const std::string kGroup = "pipeline-crash";

// The binary run with the pipeline file `path`: its admin port, its metrics.
class PipelineBinary : public ::testing::Test {
 protected:
  std::unique_ptr<tributary::test::Subprocess> startPipeline() {
    auto p = std::make_unique<tributary::test::Subprocess>(tributary::test::binDir() + "/tributary-sidecar",
                                                           std::vector<std::string>{"--pipeline", path});
    auto running = p->waitForLine("\"msg\":\"pipeline running\"", 60s);
    EXPECT_TRUE(running) << p->output();
    if (running) adminPort = std::stoi(Json::parse(*running)["admin"].get<std::string>().substr(10));
    return p;
  }

  // A metric line `name{labels}` of the running binary; -1 when absent.
  double metric(const std::string& nameAndLabels) {
    httplib::Client c("127.0.0.1", adminPort);
    auto res = c.Get("/metrics");
    if (!res) return -1;
    std::istringstream lines(res->body);
    for (std::string line; std::getline(lines, line);)
      if (line.rfind(nameAndLabels + " ", 0) == 0) return std::stod(line.substr(nameAndLabels.size() + 1));
    return -1;
  }

  // Awaits `pred` while draining the child's stderr; false if it exits or the bound passes.
  bool awaitWhileRunning(tributary::test::Subprocess& child, const std::function<bool()>& pred) {
    for (auto until = Clock::now() + 120s; Clock::now() < until;) {
      if (pred()) return true;
      if (child.wait(0ms) != -1) {
        ADD_FAILURE() << "the pipeline exited:\n" << child.output();
        return false;
      }
    }
    return false;
  }

  tributary::test::TempDir dir;
  std::string path = dir.path() + "/pipeline.yaml";
  int adminPort = 0;
};

class PipelineProcess : public PipelineBinary {
 protected:
  void SetUp() override {
    kafka = std::make_unique<tributary::EmbeddedKafka>(3);
    kafka->createTopic("orders", kPartitions, 3);
    kafka->createTopic("doubled", 2, 3);
    std::vector<tributary::test::RecordToWrite> records;
    for (int i = 0; i < kRecords; ++i)
      records.push_back({"k" + std::to_string(i % 64), R"({"n":)" + std::to_string(i) + "}", {}});
    ASSERT_NO_FATAL_FAILURE(tributary::test::writeAll(kafka->bootstrapServers(), "orders", records));
    // maxInFlight 1 with partition ordering: one record per partition at a
    // time, so that the stream lasts long enough to be interrupted.
    std::ofstream(path) << "source: {topics: [orders], group: " << kGroup << ", startFrom: earliest}\n"
                        << "steps:\n  - transform: '{n: .n, doubled: (.n * 2)}'\n"
                        << "sinks: {out: {topic: doubled}}\n"
                        << "maxInFlight: 1\nordering: partition\n"
                        << "kafka:\n  bootstrapServers: '" << kafka->bootstrapServers() << "'\n"
                        << "  properties: {session.timeout.ms: '6000', heartbeat.interval.ms: '500'}\n"
                        << "admin: {listen: '127.0.0.1:0'}\nshutdown: {gracePeriod: 15s}\n";
  }

  double recordsOut() { return metric(R"(tributary_pipeline_records_out_total{pipeline=")" + kGroup + R"(",sink="out"})"); }

  // The `n` of every record in the sink topic (with repeats).
  std::multiset<int> outputs() {
    std::multiset<int> ns;
    for (const auto& r : tributary::test::readAll(kafka->bootstrapServers(), "doubled")) {
      auto v = Json::parse(*r.value);
      EXPECT_EQ(v["doubled"].get<int>(), 2 * v["n"].get<int>());
      ns.insert(v["n"].get<int>());
    }
    return ns;
  }

  int64_t committedTotal() {
    tributary::test::GroupProbe probe(kafka->bootstrapServers(), kGroup, "orders", kPartitions);
    int64_t sum = 0;
    for (const auto& [p, offset] : probe.committed()) sum += std::max<int64_t>(0, offset);
    return sum;
  }

  std::unique_ptr<tributary::EmbeddedKafka> kafka;
};

TEST_F(PipelineProcess, SigkillMidStreamLosesNothingAndDuplicatesOnlyWhatWasUncommitted) {
  auto first = startPipeline();
  ASSERT_TRUE(awaitWhileRunning(*first, [&] { return recordsOut() >= 500; }));
  first->signal(SIGKILL);
  ASSERT_EQ(first->wait(30s), 128 + SIGKILL);
  const int64_t committedAtKill = committedTotal();
  ASSERT_LT(committedAtKill, kRecords) << "the kill came after the stream ended: nothing was tested";

  auto second = startPipeline();
  std::multiset<int> got;
  ASSERT_TRUE(awaitWhileRunning(*second, [&] {
    got = outputs();
    return std::set<int>(got.begin(), got.end()).size() == static_cast<size_t>(kRecords);
  })) << "outputs present: " << std::set<int>(got.begin(), got.end()).size();
  const int64_t duplicates = static_cast<int64_t>(got.size()) - kRecords;
  EXPECT_GE(duplicates, 0);
  EXPECT_LE(duplicates, kRecords - committedAtKill)
      << "only records past the committed offsets may be processed twice";
  second->signal(SIGTERM);
  EXPECT_EQ(second->wait(30s), 0) << second->output();
}

TEST_F(PipelineProcess, SigtermCommitsWhatIsDoneExitsZeroAndTheRestartDuplicatesNothing) {
  auto first = startPipeline();
  ASSERT_TRUE(awaitWhileRunning(*first, [&] { return recordsOut() >= 500; }));
  first->signal(SIGTERM);
  ASSERT_EQ(first->wait(30s), 0) << first->output();
  EXPECT_NE(first->output().find("shutdown complete"), std::string::npos);
  const int64_t committed = committedTotal();
  const auto before = outputs();
  EXPECT_EQ(static_cast<int64_t>(before.size()), committed)
      << "every output written before the exit belongs to a committed record, and every committed record has one";

  auto second = startPipeline();
  std::multiset<int> got;
  ASSERT_TRUE(awaitWhileRunning(*second, [&] {
    got = outputs();
    return got.size() >= static_cast<size_t>(kRecords);
  }));
  EXPECT_EQ(got.size(), static_cast<size_t>(kRecords));
  EXPECT_EQ(std::set<int>(got.begin(), got.end()).size(), static_cast<size_t>(kRecords)) << "no duplicates";
  second->signal(SIGTERM);
  EXPECT_EQ(second->wait(30s), 0) << second->output();
}

TEST_F(PipelineProcess, AnInvalidPipelineFileExitsTwoNamingEveryMistake) {
  std::ofstream(path) << "source: {topics: [orders]}\nsteps: [{filter: '.a >'}]\nsinks: {out: {topic: doubled}}\n"
                      << "kafka: {bootstrapServers: '" << kafka->bootstrapServers() << "'}\n";
  // The parse error first (exit 2, before anything starts)...
  tributary::test::Subprocess bad(tributary::test::binDir() + "/tributary-sidecar", {"--pipeline", path});
  EXPECT_EQ(bad.wait(30s), 2);
  EXPECT_NE(bad.output().find("source.group: is required"), std::string::npos) << bad.output();
  // ...and an expression that does not compile (exit 1, nothing consumed).
  std::ofstream(path) << "source: {topics: [orders], group: g}\nsteps: [{filter: '.a >'}]\n"
                      << "sinks: {out: {topic: doubled}}\n"
                      << "kafka: {bootstrapServers: '" << kafka->bootstrapServers() << "'}\nadmin: {listen: '127.0.0.1:0'}\n";
  tributary::test::Subprocess uncompiled(tributary::test::binDir() + "/tributary-sidecar", {"--pipeline", path});
  EXPECT_EQ(uncompiled.wait(30s), 1);
  EXPECT_NE(uncompiled.output().find("steps[0].filter"), std::string::npos) << uncompiled.output();
  EXPECT_NE(uncompiled.output().find("does not compile"), std::string::npos) << uncompiled.output();
}

// --- processing: exactlyOnce, the binary --------------------------------------

constexpr int16_t kEndTxnApi = 26;
constexpr int kProducerFenced = 90;
constexpr const char* kNeedsRealBroker =
    "set TRIBUTARY_TEST_BOOTSTRAP=host:port (a real Kafka): librdkafka 2.0.2's mock cluster stores no "
    "transactional offsets, writes no abort markers and does not fence on a second InitProducerId "
    "(tests/integration/pipeline_exactly_once_test.cc)";

// The binary with `processing: exactlyOnce` against the embedded cluster, or
// the real broker TRIBUTARY_TEST_BOOTSTRAP names (fresh topic and group names).
class PipelineExactlyOnceProcess : public PipelineBinary {
 protected:
  static constexpr int kRecords = 3000;
  void SetUp() override {
    in = tributary::test::uniqueName("eos-in");
    out = tributary::test::uniqueName("eos-out");
    group = tributary::test::uniqueName("eos-group");
    txnId = tributary::test::uniqueName("eos-txn");
    cluster.createTopic(in, kPartitions);
    cluster.createTopic(out, 2);
    std::vector<std::string> values;
    for (int i = 0; i < kRecords; ++i) values.push_back(R"({"n":)" + std::to_string(i) + "}");
    ASSERT_NO_FATAL_FAILURE(cluster.produce(in, values, kPartitions));
    std::ofstream(path) << "source: {topics: [" << in << "], group: " << group << ", startFrom: earliest}\n"
                        << "steps:\n  - transform: '{n: .n, doubled: (.n * 2)}'\n"
                        << "sinks: {out: {topic: " << out << "}}\n"
                        << "processing: exactlyOnce\ntransactionalId: " << txnId << "\n"
                        << "kafka:\n  bootstrapServers: '" << cluster.bootstrap() << "'\n"
                        << "  properties: {session.timeout.ms: '6000', heartbeat.interval.ms: '500'}\n"
                        << "admin: {listen: '127.0.0.1:0'}\nshutdown: {gracePeriod: 15s}\n";
  }

  double committedOut() { return metric(R"(tributary_pipeline_records_out_total{pipeline=")" + group + R"(",sink="out"})"); }
  double commits() {
    return metric(R"(tributary_pipeline_transactions_total{outcome="commit",pipeline=")" + group + R"("})");
  }

  // How often each output (its `n`) is in the sink topic, as a read_committed reader sees it.
  std::map<int, int> outputs() {
    std::map<int, int> seen;
    for (const auto& r : tributary::test::readAll(cluster.bootstrap(), out)) ++seen[Json::parse(*r.value)["n"].get<int>()];
    return seen;
  }

  tributary::test::TestCluster cluster;
  std::string in, out, group, txnId;
};

TEST_F(PipelineExactlyOnceProcess, EveryOutputOnceInCommittedTransactionsAndSigtermExitsZero) {
  auto p = startPipeline();
  ASSERT_TRUE(awaitWhileRunning(*p, [&] { return committedOut() >= kRecords; }));
  EXPECT_GT(commits(), 0);
  const auto seen = outputs();
  EXPECT_EQ(seen.size(), static_cast<size_t>(kRecords));
  for (const auto& [n, times] : seen) EXPECT_EQ(times, 1) << "output " << n;
  p->signal(SIGTERM);
  EXPECT_EQ(p->wait(30s), 0) << p->output();
  EXPECT_NE(p->output().find("shutdown complete"), std::string::npos);
}

// The coordinator answers a commit with PRODUCER_FENCED (what a real broker
// says once another instance initialised the same transactional.id; injected
// here, the mock does not fence): the process exits non-zero so that its pod
// restarts, and never 0.
TEST_F(PipelineExactlyOnceProcess, FencedByAnotherInstanceExitsNonZero) {
  if (cluster.real()) GTEST_SKIP() << "needs the embedded cluster's request-error injection (the real-broker case is "
                                      "SecondInstanceFencesTheFirstWhichExitsNonZero)";
  auto p = startPipeline();
  ASSERT_TRUE(awaitWhileRunning(*p, [&] { return committedOut() >= kRecords; }));
  // The next commit is answered "fenced": records for a next transaction.
  cluster.mock().pushRequestErrors(kEndTxnApi, {kProducerFenced});
  ASSERT_NO_FATAL_FAILURE(cluster.produce(in, {R"({"n":-1})", R"({"n":-2})"}, kPartitions));
  const int code = p->wait(60s);
  EXPECT_EQ(code, 3) << p->output();
  EXPECT_NE(p->output().find("\"state\":\"fenced\""), std::string::npos) << p->output();
  EXPECT_NE(p->output().find("exiting so that the pod restarts"), std::string::npos) << p->output();
}

// SIGKILL mid-stream, then a restart with the same transactional.id and
// group: the broker aborts the killed instance's open transaction and the new
// one continues from the committed offsets — a read_committed reader of the
// sink sees every output exactly once.
TEST_F(PipelineExactlyOnceProcess, SigkillMidStreamThenRestartIsExactlyOnce) {
  if (!cluster.real()) GTEST_SKIP() << kNeedsRealBroker;
  auto first = startPipeline();
  ASSERT_TRUE(awaitWhileRunning(*first, [&] { return committedOut() >= 300; }));
  first->signal(SIGKILL);
  ASSERT_EQ(first->wait(30s), 128 + SIGKILL);
  auto second = startPipeline();
  std::map<int, int> seen;
  ASSERT_TRUE(awaitWhileRunning(*second, [&] {
    seen = outputs();
    return seen.size() >= static_cast<size_t>(kRecords);
  }));
  EXPECT_EQ(seen.size(), static_cast<size_t>(kRecords));
  for (const auto& [n, times] : seen) EXPECT_EQ(times, 1) << "output " << n;
  second->signal(SIGTERM);
  EXPECT_EQ(second->wait(30s), 0) << second->output();
}

// Two processes with the same transactional.id: the second fences the first,
// which exits non-zero; the second goes on and every output is there once.
TEST_F(PipelineExactlyOnceProcess, SecondInstanceFencesTheFirstWhichExitsNonZero) {
  if (!cluster.real()) GTEST_SKIP() << kNeedsRealBroker;
  auto first = startPipeline();
  ASSERT_TRUE(awaitWhileRunning(*first, [&] { return committedOut() >= 300; }));
  auto second = startPipeline();
  EXPECT_EQ(first->wait(120s), 3) << first->output();
  std::map<int, int> seen;
  ASSERT_TRUE(awaitWhileRunning(*second, [&] {
    seen = outputs();
    return seen.size() >= static_cast<size_t>(kRecords);
  }));
  for (const auto& [n, times] : seen) EXPECT_EQ(times, 1) << "output " << n;
  second->signal(SIGTERM);
  EXPECT_EQ(second->wait(30s), 0) << second->output();
}

}  // namespace
