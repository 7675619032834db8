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

using Json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kPartitions = 4;
constexpr int kRecords = 6000;
const std::string kGroup = "pipeline-crash";

class PipelineProcess : public ::testing::Test {
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
    path = dir.path() + "/pipeline.yaml";
    std::ofstream(path) << "source: {topics: [orders], group: " << kGroup << ", startFrom: earliest}\n"
                        << "steps:\n  - transform: '{n: .n, doubled: (.n * 2)}'\n"
                        << "sinks: {out: {topic: doubled}}\n"
                        << "maxInFlight: 1\nordering: partition\n"
                        << "kafka:\n  bootstrapServers: '" << kafka->bootstrapServers() << "'\n"
                        << "  properties: {session.timeout.ms: '6000', heartbeat.interval.ms: '500'}\n"
                        << "admin: {listen: '127.0.0.1:0'}\nshutdown: {gracePeriod: 15s}\n";
  }

  std::unique_ptr<tributary::test::Subprocess> startPipeline() {
    auto p = std::make_unique<tributary::test::Subprocess>(tributary::test::binDir() + "/tributary-sidecar",
                                                           std::vector<std::string>{"--pipeline", path});
    auto running = p->waitForLine("pipeline running", 60s);
    EXPECT_TRUE(running) << p->output();
    if (running) adminPort = std::stoi(Json::parse(*running)["admin"].get<std::string>().substr(10));
    return p;
  }

  double recordsOut() {
    httplib::Client c("127.0.0.1", adminPort);
    auto res = c.Get("/metrics");
    if (!res) return -1;
    std::istringstream in(res->body);
    const std::string name = R"(tributary_pipeline_records_out_total{pipeline=")" + kGroup + R"(",sink="out"} )";
    for (std::string line; std::getline(in, line);)
      if (line.rfind(name, 0) == 0) return std::stod(line.substr(name.size()));
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

  tributary::test::TempDir dir;
  std::string path;
  int adminPort = 0;
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

}  // namespace
