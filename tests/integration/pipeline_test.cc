// Pipeline mode in-process (PipelineApp, as `tributary-sidecar --pipeline`
// runs it) against the embedded cluster over TCP and a real HTTP endpoint on
// loopback: what reaches the sink topics and the endpoint, what is
// dead-lettered and why, and what the metrics say.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "common/kafka/embedded_cluster.h"
#include "sidecar/pipeline/pipeline_app.h"
#include "sidecar/pipeline/pipeline_config.h"
#include "tests/support/fake_app.h"
#include "tests/support/record_reader.h"
#include "tests/support/record_writer.h"

using Json = nlohmann::json;
using namespace std::chrono_literals;
using tributary::test::FakeApp;
using tributary::test::RecordToWrite;
namespace pl = tributary::sidecar::pipeline;

namespace {

class Pipeline : public ::testing::Test {
 protected:
  void SetUp() override {
    kafka = std::make_unique<tributary::EmbeddedKafka>(3);
    kafka->createTopic("orders", 4, 3);
    kafka->createTopic("big-orders", 2, 3);
    kafka->createTopic("small-orders", 2, 3);
    kafka->createTopic("orders.dlq", 1, 3);
    app = std::make_unique<FakeApp>();
  }
  void TearDown() override {
    if (pipeline) pipeline->shutdown();
    pipeline.reset();
    app.reset();
    kafka.reset();
  }

  // Starts the pipeline in `yaml` (the file as a user writes it), pointed at
  // the test's cluster; `{endpoint}` is the fake app's URL.
  void start(std::string yaml) {
    for (size_t at; (at = yaml.find("{endpoint}")) != std::string::npos;) yaml.replace(at, 10, app->endpoint());
    yaml += "\nkafka: {bootstrapServers: '" + kafka->bootstrapServers() +
            "', properties: {session.timeout.ms: '6000', heartbeat.interval.ms: '500'}}\n"
            "admin: {listen: '127.0.0.1:0'}\nshutdown: {gracePeriod: 10s}\n";
    auto parsed = pl::parsePipelineConfig(yaml, {});
    ASSERT_TRUE(parsed.config) << parsed.errors.front();
    std::string error;
    pipeline = pl::PipelineApp::start(*parsed.config, [] { FAIL() << "no fatal error expected"; }, error);
    ASSERT_NE(pipeline, nullptr) << error;
  }

  void writeOrders(const std::vector<std::string>& values) {
    std::vector<RecordToWrite> records;
    for (size_t i = 0; i < values.size(); ++i)
      records.push_back({"k" + std::to_string(i), values[i], {{"origin", "web"}}});
    tributary::test::writeAll(kafka->bootstrapServers(), "orders", records);
  }

  // Reads `topic` until it holds at least `n` records (or a minute passed).
  std::vector<tributary::test::ConsumedRecord> awaitRecords(const std::string& topic, size_t n) {
    std::vector<tributary::test::ConsumedRecord> got;
    for (auto until = std::chrono::steady_clock::now() + 60s; std::chrono::steady_clock::now() < until;) {
      got = tributary::test::readAll(kafka->bootstrapServers(), topic);
      if (got.size() >= n) break;
    }
    return got;
  }

  double metric(const std::string& nameAndLabels) {
    httplib::Client c("127.0.0.1", pipeline->adminPort());
    auto res = c.Get("/metrics");
    if (!res || res->status != 200) return -1;
    std::istringstream in(res->body);
    for (std::string line; std::getline(in, line);)
      if (line.rfind(nameAndLabels + " ", 0) == 0) return std::stod(line.substr(nameAndLabels.size() + 1));
    return -1;
  }
  bool awaitMetric(const std::string& nameAndLabels, double atLeast) {
    for (auto until = std::chrono::steady_clock::now() + 60s; std::chrono::steady_clock::now() < until;) {
      if (metric(nameAndLabels) >= atLeast) return true;
      std::this_thread::sleep_for(20ms);  // polling a counter: the condition is awaited, not assumed
    }
    return false;
  }

  static std::string header(const tributary::test::ConsumedRecord& r, const std::string& name) {
    for (const auto& [n, v] : r.headers)
      if (n == name) return v;
    return "<absent>";
  }

  std::unique_ptr<tributary::EmbeddedKafka> kafka;
  std::unique_ptr<FakeApp> app;
  std::unique_ptr<pl::PipelineApp> pipeline;
};

TEST_F(Pipeline, FilterTransformSetKeyHeadersAndRouteBetweenTwoTopics) {
  start(R"(
source: {topics: [orders], group: orders-enricher}
steps:
  - filter: '.amount > 10'
  - transform: '{id: .id, cents: (.amount * 100)}'
  - setKey: '.id | tostring'
  - setHeaders: {stage: '"enriched"', from: '$topic'}
  - route: [{when: '.cents >= 5000', sink: big}]
sinks:
  default: {topic: small-orders}
  big: {topic: big-orders}
)");
  std::vector<std::string> values;
  for (int i = 0; i < 100; ++i) values.push_back(R"({"id":)" + std::to_string(i) + R"(,"amount":)" + std::to_string(i) + "}");
  writeOrders(values);

  // amount 11..49 → small (39 records), 50..99 → big (50 records); 0..10 filtered.
  auto big = awaitRecords("big-orders", 50);
  auto small = awaitRecords("small-orders", 39);
  ASSERT_EQ(big.size(), 50u);
  ASSERT_EQ(small.size(), 39u);
  std::set<int> bigIds;
  for (const auto& r : big) {
    auto v = Json::parse(*r.value);
    EXPECT_EQ(v["cents"].get<int>(), v["id"].get<int>() * 100);
    EXPECT_EQ(*r.key, std::to_string(v["id"].get<int>()));  // setKey: a string as its text
    EXPECT_EQ(header(r, "stage"), "enriched");
    EXPECT_EQ(header(r, "from"), "orders");
    EXPECT_EQ(header(r, "origin"), "web");  // the source's headers are carried over
    bigIds.insert(v["id"].get<int>());
  }
  EXPECT_EQ(*bigIds.begin(), 50);
  EXPECT_EQ(*bigIds.rbegin(), 99);
  for (const auto& r : small) EXPECT_LT(Json::parse(*r.value)["cents"].get<int>(), 5000);

  EXPECT_TRUE(awaitMetric(R"(tributary_pipeline_records_in_total{pipeline="orders-enricher"})", 100));
  EXPECT_EQ(metric(R"(tributary_pipeline_records_filtered_total{pipeline="orders-enricher"})"), 11);
  EXPECT_EQ(metric(R"(tributary_pipeline_records_out_total{pipeline="orders-enricher",sink="big"})"), 50);
  EXPECT_EQ(metric(R"(tributary_pipeline_records_out_total{pipeline="orders-enricher",sink="default"})"), 39);
  EXPECT_TRUE(awaitMetric(
      R"(tributary_deliveries_total{outcome="success",subscription="orders-enricher",topic="orders"})", 100));
  // Ready: the brokers answer and the group was joined.
  httplib::Client c("127.0.0.1", pipeline->adminPort());
  auto ready = c.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
}

TEST_F(Pipeline, AnHttpSinkGetsEachOutputAsACloudEventWithItsHeaders) {
  start(R"(
source: {topics: [orders], group: fan-out}
steps:
  - transform: '.items[] | {sku: ., order: $key}'
sinks:
  hook: {http: {url: '{endpoint}', headers: {x-api-key: s3cret}, timeout: 5s}}
)");
  writeOrders({R"({"items":["a","b","c"]})", R"({"items":[]})", R"({"items":["d"]})"});
  ASSERT_TRUE(app->waitFor([](const auto& rs) { return rs.size() >= 4; }, 60s));
  auto got = app->requests();
  ASSERT_EQ(got.size(), 4u);
  std::set<std::string> ids, skus;
  for (const auto& r : got) {
    EXPECT_EQ(r.header("x-api-key"), "s3cret");
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_EQ(r.header("kafka-header-origin"), "web");
    ids.insert(r.header("ce-id"));
    skus.insert(Json::parse(r.body)["sku"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), 4u) << "every output is its own event: CloudEvent ids must not repeat";
  EXPECT_EQ(skus, (std::set<std::string>{"a", "b", "c", "d"}));
  EXPECT_TRUE(awaitMetric(R"(tributary_pipeline_records_filtered_total{pipeline="fan-out"})", 1));
  EXPECT_TRUE(awaitMetric(R"(tributary_pipeline_records_out_total{pipeline="fan-out",sink="hook"})", 4));
}

TEST_F(Pipeline, APoisonRecordIsDeadLetteredWithTheFailingStepAndTheOthersFlow) {
  start(R"(
source: {topics: [orders], group: careful}
steps:
  - filter: 'true'
  - transform: '{cents: ((.amount + 0) * 100)}'
sinks:
  default: {topic: small-orders}
deadLetterTopic: orders.dlq
retry: {maxAttempts: 3, initialBackoff: 10ms, maxBackoff: 20ms}
)");
  writeOrders({R"({"amount":1})", "not json at all", R"({"amount":"ten"})", R"({"amount":3})"});
  auto out = awaitRecords("small-orders", 2);
  auto dlq = awaitRecords("orders.dlq", 2);
  ASSERT_EQ(out.size(), 2u);
  ASSERT_EQ(dlq.size(), 2u);
  std::set<std::string> deadValues;
  for (const auto& r : dlq) {
    deadValues.insert(*r.value);  // the source record's own bytes
    EXPECT_EQ(header(r, "tributary.dlq.step"), "1");
    EXPECT_EQ(header(r, "tributary.dlq.topic"), "orders");
    EXPECT_EQ(header(r, "tributary.dlq.subscription"), "careful");
    EXPECT_EQ(header(r, "tributary.dlq.attempts"), "1") << "an expression's error is not retried";
    EXPECT_NE(header(r, "tributary.dlq.error").find("steps[1]: transform:"), std::string::npos)
        << header(r, "tributary.dlq.error");
    EXPECT_EQ(header(r, "origin"), "web");
  }
  EXPECT_EQ(deadValues, (std::set<std::string>{"not json at all", R"({"amount":"ten"})"}));
  EXPECT_TRUE(awaitMetric(R"(tributary_pipeline_step_errors_total{pipeline="careful",step="1"})", 2));
  EXPECT_TRUE(awaitMetric(R"(tributary_dead_letters_total{subscription="careful",topic="orders"})", 2));
}

TEST_F(Pipeline, AnHttpSinkThatRefusesDeadLettersAndOneThatIsBusyIsRetried) {
  // 400 for "bad" (never retried), 503 twice then 200 for the others.
  app->setBehaviour([](const FakeApp::Received& r, int earlier) {
    if (r.body.find("bad") != std::string::npos) return 400;
    return earlier < 2 ? 503 : 200;
  });
  start(R"(
source: {topics: [orders], group: picky}
sinks:
  audit: {http: {url: '{endpoint}'}}
deadLetterTopic: orders.dlq
retry: {maxAttempts: 5, initialBackoff: 10ms, maxBackoff: 20ms}
)");
  writeOrders({R"({"ok":1})", R"({"bad":1})", R"({"ok":2})"});
  auto dlq = awaitRecords("orders.dlq", 1);
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(*dlq[0].value, R"({"bad":1})");
  EXPECT_EQ(header(dlq[0], "tributary.dlq.sink"), "audit");
  EXPECT_NE(header(dlq[0], "tributary.dlq.error").find("sink audit: HTTP 400"), std::string::npos)
      << header(dlq[0], "tributary.dlq.error");
  ASSERT_TRUE(app->waitFor(
      [](const auto& rs) { return std::count_if(rs.begin(), rs.end(), [](const auto& r) { return r.answered == 200; }) >= 2; },
      60s));
  EXPECT_TRUE(awaitMetric(R"(tributary_pipeline_records_out_total{pipeline="picky",sink="audit"})", 2));
  EXPECT_TRUE(awaitMetric(R"(tributary_deliveries_total{outcome="retry",subscription="picky",topic="orders"})", 4));
}

// ordering: partition (the default) with topic sinks keeps a run of a
// partition's records in flight (the producer keeps their order): the output
// partition holds them in the input's order.
TEST_F(Pipeline, PartitionOrderingKeepsEachPartitionsOrderInTheSinkTopic) {
  kafka->createTopic("seq-in", 3, 3);
  kafka->createTopic("seq-out", 3, 3);
  start(R"(
source: {topics: [seq-in], group: in-order}
steps:
  - transform: '{n: .n, p: $partition}'
  - setKey: '.p | tostring'
sinks: {out: {topic: seq-out}}
)");
  std::vector<RecordToWrite> records;
  for (int i = 0; i < 3000; ++i) records.push_back({std::nullopt, R"({"n":)" + std::to_string(i) + "}", {}, i % 3});
  tributary::test::writeAll(kafka->bootstrapServers(), "seq-in", records);
  auto out = awaitRecords("seq-out", 3000);
  ASSERT_EQ(out.size(), 3000u);
  // Per source partition (the key), the n's come out increasing.
  std::map<std::string, int> last;
  for (const auto& r : out) {
    const int n = Json::parse(*r.value)["n"].get<int>();
    auto it = last.find(*r.key);
    if (it != last.end()) {
      EXPECT_GT(n, it->second) << "source partition " << *r.key;
    }
    last[*r.key] = n;
  }
  EXPECT_EQ(last.size(), 3u);
}

TEST_F(Pipeline, ATopicSinkOnAnotherClusterGetsItsRecordsThere) {
  tributary::EmbeddedKafka other(1);
  other.createTopic("mirrored", 1, 1);
  start(R"(
source: {topics: [orders], group: mirror}
steps:
  - route: [{when: '.region == "eu"', sink: dr}]
sinks:
  default: {topic: small-orders}
  dr: {topic: {name: mirrored, cluster: backup}}
clusters:
  backup: {bootstrapServers: ')" + other.bootstrapServers() + R"('}
)");
  writeOrders({R"({"region":"eu","n":1})", R"({"region":"us","n":2})", R"({"region":"eu","n":3})"});
  std::vector<tributary::test::ConsumedRecord> mirrored;
  for (auto until = std::chrono::steady_clock::now() + 60s; std::chrono::steady_clock::now() < until;) {
    mirrored = tributary::test::readAll(other.bootstrapServers(), "mirrored");
    if (mirrored.size() >= 2) break;
  }
  ASSERT_EQ(mirrored.size(), 2u);
  std::set<std::string> values;
  for (const auto& r : mirrored) values.insert(*r.value);  // untouched values keep their bytes
  EXPECT_EQ(values, (std::set<std::string>{R"({"region":"eu","n":1})", R"({"region":"eu","n":3})"}));
  auto local = awaitRecords("small-orders", 1);
  ASSERT_EQ(local.size(), 1u);
  EXPECT_EQ(*local[0].value, R"({"region":"us","n":2})");
  EXPECT_TRUE(awaitMetric(R"(tributary_pipeline_records_out_total{pipeline="mirror",sink="dr"})", 2));
  pipeline->shutdown();  // before `other` goes: its producer flushes to it
}

}  // namespace
