// Push subscriptions end to end: records produced through the sidecar's API are
// consumed from the embedded cluster and POSTed to a real app on loopback.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <sstream>

#include "tests/support/fake_app.h"
#include "tests/support/record_reader.h"
#include "tests/support/sidecar_fixture.h"
#include "tests/support/loopback_server.h"

using Json = nlohmann::json;
using tributary::test::FakeApp;
using namespace std::chrono_literals;

namespace {

using Received = FakeApp::Received;

class Push : public tributary::test::SidecarTest {
 protected:
  void SetUp() override {
    app = std::make_unique<FakeApp>();
    SidecarTest::SetUp();
  }
  void TearDown() override {
    SidecarTest::TearDown();
    app.reset();
  }
  void configure(tributary::sidecar::SidecarConfig& c) override {
    tributary::sidecar::SubscriptionConfig s;
    s.name = "orders";
    s.topics = {"orders"};
    s.group = "orders-service";
    s.endpoint = app->endpoint();
    s.startFrom = tributary::sidecar::SubscriptionConfig::StartFrom::Earliest;
    s.timeout = 5s;
    s.retry = {.maxAttempts = 3, .initialBackoff = 10ms, .maxBackoff = 50ms, .multiplier = 2, .jitter = 0};
    adjust(s);
    c.subscriptions = {s};
    // The topics exist before the subscription starts, as in production; a
    // subscription to a topic created later waits for a metadata refresh.
    kafka->createTopic("orders", 4, 3);
    kafka->createTopic("orders.dlq", 1, 3);
    // A member that left is replaced quickly in the restart test.
    c.kafka.properties["session.timeout.ms"] = "6000";
    c.kafka.properties["heartbeat.interval.ms"] = "500";
  }
  virtual void adjust(tributary::sidecar::SubscriptionConfig&) {}

  void produce(int n, const std::string& topic = "orders") {
    Json recs = Json::array();
    for (int i = 0; i < n; ++i)
      recs.push_back({{"key", "k" + std::to_string(i % 4)}, {"value", {{"n", i}}}, {"headers", {{"trace", "t" + std::to_string(i)}}}});
    auto res = postJson(topic, Json{{"records", recs}}.dump());
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
  }

  static std::set<std::string> delivered(const std::vector<Received>& rs) {
    std::set<std::string> ids;
    for (const auto& r : rs)
      if (r.answered >= 200 && r.answered < 300) ids.insert(r.header("ce-id"));
    return ids;
  }

  double deliveries(const std::string& outcome) {
    return metricValue(R"(tributary_deliveries_total{outcome=")" + outcome + R"(",subscription="orders",topic="orders"})");
  }

  // Settling is counted once the runner took the app's answer: await the count.
  void awaitDeliveries(const std::string& outcome, double n) {
    for (auto until = std::chrono::steady_clock::now() + 60s;
         deliveries(outcome) < n && std::chrono::steady_clock::now() < until;)
      std::this_thread::sleep_for(20ms);
  }

  // Restarts the sidecar with the subscription pointed at another app.
  void restartWithEndpoint(int port) {
    sidecar->shutdown();
    config.subscriptions[0].endpoint = "http://127.0.0.1:" + std::to_string(port) + "/events";
    std::string error;
    sidecar = tributary::sidecar::Sidecar::start(config, error);
    ASSERT_NE(sidecar, nullptr) << error;
    client = apiClient();
  }

  std::unique_ptr<FakeApp> app;
};

TEST_F(Push, EveryRecordArrivesAsACloudEventInPartitionOrder) {
  produce(40);
  ASSERT_TRUE(app->waitFor([](auto& rs) { return delivered(rs).size() == 40; }, 60s));
  std::map<std::string, int64_t> lastOffset;
  std::set<int> values;
  for (const auto& r : app->requests()) {
    EXPECT_EQ(r.header("ce-specversion"), "1.0");
    EXPECT_EQ(r.header("ce-type"), "dev.tributary.kafka.record");
    EXPECT_EQ(r.header("ce-source").rfind("kafka://127.0.0.1:", 0), 0u) << r.header("ce-source");
    EXPECT_EQ(r.header("ce-id"), "orders-" + r.header("ce-partition") + "-" + r.header("ce-offset"));
    EXPECT_FALSE(r.header("ce-time").empty());
    EXPECT_EQ(r.header("ce-key").rfind("k", 0), 0u);
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_EQ(r.header("tributary-attempt"), "1");
    auto body = Json::parse(r.body);
    values.insert(body["n"].get<int>());
    EXPECT_EQ(r.header("kafka-header-trace"), "t" + std::to_string(body["n"].get<int>()));
    // Within a partition, offsets arrive in order.
    const int64_t offset = std::stoll(r.header("ce-offset"));
    auto [it, first] = lastOffset.emplace(r.header("ce-partition"), offset);
    if (!first) {
      EXPECT_GT(offset, it->second) << "partition " << r.header("ce-partition");
      it->second = offset;
    }
  }
  EXPECT_EQ(values.size(), 40u);
  awaitDeliveries("success", 40);
  EXPECT_EQ(deliveries("success"), 40);
}

TEST_F(Push, RetryableAnswersAreRetriedWithBackoffThenDelivered) {
  app->setBehaviour([](const Received&, int earlier) { return earlier < 2 ? 503 : 200; });
  produce(5);
  ASSERT_TRUE(app->waitFor([](auto& rs) { return delivered(rs).size() == 5; }, 60s));
  for (const auto& r : app->requests())
    if (r.answered == 200) {
      EXPECT_EQ(r.header("tributary-attempt"), "3");
    }
  awaitDeliveries("success", 5);
  EXPECT_EQ(deliveries("retry"), 10);
  EXPECT_EQ(deliveries("success"), 5);
}

class PushWithDeadLetters : public Push {
  void adjust(tributary::sidecar::SubscriptionConfig& s) override {
    s.deadLetterTopic = "orders.dlq";
    s.onExhausted = tributary::sidecar::SubscriptionConfig::OnExhausted::DeadLetter;
  }
};

TEST_F(PushWithDeadLetters, ANotRetryableAnswerSendsTheRecordToTheDeadLetterTopicWithItsHistory) {
  app->setBehaviour([](const Received&, int) { return 400; });
  produce(1);
  ASSERT_TRUE(app->waitFor([](auto& rs) { return !rs.empty(); }, 60s));
  // The dead letter is settled once the broker acknowledged it: await the metric.
  awaitDeliveries("dead_letter", 1);
  ASSERT_EQ(deliveries("dead_letter"), 1);
  EXPECT_EQ(app->requests().size(), 1u) << "a 400 is not retried";

  auto original = tributary::test::readAll(sidecar->bootstrapServers(), "orders");
  auto dead = tributary::test::readAll(sidecar->bootstrapServers(), "orders.dlq");
  ASSERT_EQ(original.size(), 1u);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].key, original[0].key);
  EXPECT_EQ(dead[0].value, original[0].value);
  std::map<std::string, std::string> h(dead[0].headers.begin(), dead[0].headers.end());
  EXPECT_EQ(h["trace"], "t0") << "the original headers are kept";
  EXPECT_EQ(h["tributary.dlq.topic"], "orders");
  EXPECT_EQ(h["tributary.dlq.partition"], std::to_string(original[0].partition));
  EXPECT_EQ(h["tributary.dlq.offset"], std::to_string(original[0].offset));
  EXPECT_EQ(h["tributary.dlq.subscription"], "orders");
  EXPECT_EQ(h["tributary.dlq.attempts"], "1");
  EXPECT_EQ(h["tributary.dlq.error"], "HTTP 400: app says no (400)");
  EXPECT_FALSE(h["tributary.dlq.first-attempt-ms"].empty());
  EXPECT_LE(std::stoll(h["tributary.dlq.first-attempt-ms"]), std::stoll(h["tributary.dlq.last-attempt-ms"]));
  EXPECT_EQ(metricValue(R"(tributary_dead_letters_total{subscription="orders",topic="orders"})"), 1);
}

class PushDropping : public Push {
  void adjust(tributary::sidecar::SubscriptionConfig& s) override {
    s.onExhausted = tributary::sidecar::SubscriptionConfig::OnExhausted::Drop;
  }
};

TEST_F(PushDropping, ExhaustedRecordsAreDroppedOnlyWhenThePolicySaysSo) {
  app->setBehaviour([](const Received&, int) { return 500; });
  produce(2);
  awaitDeliveries("dropped", 2);
  EXPECT_EQ(deliveries("dropped"), 2);
  EXPECT_EQ(app->requests().size(), 6u) << "maxAttempts 3 for each of 2 records";
}

class PushBlocking : public Push {
  void adjust(tributary::sidecar::SubscriptionConfig& s) override {
    s.onExhausted = tributary::sidecar::SubscriptionConfig::OnExhausted::Block;
  }
};

TEST_F(PushBlocking, WithoutADeadLetterTopicARecordIsRetriedForeverAndBlocksItsPartition) {
  // Everything to partition 0: the first record fails for good, the second waits behind it.
  auto res = postJson("orders", R"({"records":[{"value":"poison","partition":0},{"value":"next","partition":0}]})");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  app->setBehaviour([](const Received& r, int) { return r.body == R"("poison")" ? 400 : 200; });
  ASSERT_TRUE(app->waitFor([](auto& rs) { return rs.size() >= 6; }, 60s)) << "kept retrying past maxAttempts";
  for (const auto& r : app->requests()) EXPECT_EQ(r.body, R"("poison")") << "the partition is blocked";
  EXPECT_LE(deliveries("dropped"), 0) << "nothing is dropped (the counter is absent or 0)";
}

TEST_F(Push, CommittedOffsetsAreNotRedeliveredAfterARestart) {
  produce(8);
  ASSERT_TRUE(app->waitFor([](auto& rs) { return delivered(rs).size() == 8; }, 60s));
  // A clean shutdown commits what is settled; a new sidecar in the same group
  // starts after it.
  sidecar->shutdown();
  sidecar.reset();
  const size_t before = app->requests().size();
  std::string error;
  sidecar = tributary::sidecar::Sidecar::start(config, error);
  ASSERT_NE(sidecar, nullptr) << error;
  client = apiClient();
  produce(1);
  ASSERT_TRUE(app->waitFor([&](auto& rs) { return rs.size() > before; }, 60s));
  auto rs = app->requests();
  ASSERT_EQ(rs.size(), before + 1) << "only the new record is delivered";
  EXPECT_EQ(Json::parse(rs.back().body)["n"], 0);
}

}  // namespace

namespace {

class PushByKey : public Push {
  void adjust(tributary::sidecar::SubscriptionConfig& s) override {
    s.ordering = tributary::sidecar::SubscriptionConfig::Ordering::Key;
    s.maxInFlight = 32;
  }
};

// A flaky app (every third attempt of a record fails, by a fixed rule) must not
// break per-key order: each key's records are delivered in produce order.
TEST_F(PushByKey, RecordsOfOneKeyArriveInOrderDespiteRetries) {
  app->setBehaviour([](const Received& r, int earlier) {
    return (std::hash<std::string>{}(r.header("ce-id")) + earlier) % 3 == 0 ? 503 : 200;
  });
  constexpr int kRecords = 600, kKeys = 12;
  Json recs = Json::array();
  for (int i = 0; i < kRecords; ++i) recs.push_back({{"key", "key-" + std::to_string(i % kKeys)}, {"value", i}});
  auto res = postJson("orders", Json{{"records", recs}}.dump());
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  ASSERT_TRUE(app->waitFor([&](auto& rs) { return delivered(rs).size() == kRecords; }, 120s));
  std::map<std::string, std::vector<int>> byKey;
  std::set<std::string> seen;
  for (const auto& r : app->requests())
    if (r.answered == 200 && seen.insert(r.header("ce-id")).second) byKey[r.header("ce-key")].push_back(std::stoi(r.body));
  ASSERT_EQ(byKey.size(), static_cast<size_t>(kKeys));
  for (const auto& [key, values] : byKey) {
    ASSERT_EQ(values.size(), static_cast<size_t>(kRecords / kKeys)) << key;
    EXPECT_TRUE(std::is_sorted(values.begin(), values.end())) << key << " arrived out of order";
  }
}

class PushSlowApp : public Push {
  void adjust(tributary::sidecar::SubscriptionConfig& s) override {
    s.maxInFlight = 4;
    s.onExhausted = tributary::sidecar::SubscriptionConfig::OnExhausted::Block;
  }
};

// An app that cannot take records pauses fetching: the sidecar holds a bounded
// number of records instead of the whole backlog, and drains it once the app
// recovers.
TEST_F(PushSlowApp, AStalledAppPausesThePartitionsAndTheBacklogDrainsAfterwards) {
  app->setBehaviour([](const Received&, int) { return 503; });
  constexpr int kRecords = 2000;
  for (int batch = 0; batch < kRecords / 500; ++batch) {
    Json recs = Json::array();
    for (int i = 0; i < 500; ++i) recs.push_back({{"value", batch * 500 + i}, {"partition", 0}});
    auto res = postJson("orders", Json{{"records", recs}}.dump());
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
  }
  const std::string paused = R"(tributary_paused_partitions{subscription="orders"})";
  for (auto until = std::chrono::steady_clock::now() + 60s;
       metricValue(paused) < 1 && std::chrono::steady_clock::now() < until;)
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ(metricValue(paused), 1);
  // Bounded: the buffer limit (64 here) plus what one fetch brought in.
  const double held = metricValue(R"(tributary_inflight{subscription="orders"})");
  EXPECT_LT(held, kRecords / 2) << "the sidecar buffered the backlog instead of pausing";
  // The backlog shows as lag (refreshed every second).
  const std::string lag = R"(tributary_consumer_lag{partition="0",subscription="orders",topic="orders"})";
  for (auto until = std::chrono::steady_clock::now() + 30s;
       metricValue(lag) < kRecords && std::chrono::steady_clock::now() < until;)
    std::this_thread::sleep_for(50ms);
  EXPECT_EQ(metricValue(lag), kRecords) << "nothing is settled while the app refuses everything";

  app->setBehaviour([](const Received&, int) { return 200; });
  ASSERT_TRUE(app->waitFor([&](auto& rs) { return delivered(rs).size() == kRecords; }, 120s));
  for (auto until = std::chrono::steady_clock::now() + 30s;
       metricValue(paused) != 0 && std::chrono::steady_clock::now() < until;)
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ(metricValue(paused), 0);
}

// Two sidecars in one group split the partitions; when one stops, the other
// takes its partitions over and every record is still delivered.
TEST_F(Push, TwoSidecarsShareTheGroupAndOneTakesOverWhenTheOtherStops) {
  std::string error;
  auto second = tributary::sidecar::Sidecar::start(config, error);
  ASSERT_NE(second, nullptr) << error;
  produce(40);
  ASSERT_TRUE(app->waitFor([](auto& rs) { return delivered(rs).size() == 40; }, 60s));
  second->shutdown();
  second.reset();
  produce(40);
  ASSERT_TRUE(app->waitFor([](auto& rs) { return delivered(rs).size() == 80; }, 60s))
      << "the remaining sidecar did not take over every partition";
}

}  // namespace

namespace {

TEST_F(Push, ARetryAfterAnswerIsHonouredBeforeTheNextAttempt) {
  // The backoff here is 10-50 ms; the app asks for 1 s. The second attempt must
  // not come before the app's Retry-After.
  std::mutex m;
  std::vector<std::chrono::steady_clock::time_point> at;
  app->setBehaviour([&](const Received&, int earlier) {
    std::lock_guard lock(m);
    at.push_back(std::chrono::steady_clock::now());
    return earlier == 0 ? 429 : 200;
  });
  // FakeApp answers 429 with no Retry-After header of its own, so use a second app.
  httplib::Server slowdown;
  slowdown.Post("/events", [&](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(m);
    at.push_back(std::chrono::steady_clock::now());
    if (at.size() == 1) {
      res.status = 429;
      res.set_header("Retry-After", "1");
    } else {
      res.status = 200;
    }
  });
  const int port = tributary::test::bindLoopback(slowdown);
  std::thread serving([&] { slowdown.listen_after_bind(); });
  ASSERT_NO_FATAL_FAILURE(restartWithEndpoint(port));
  produce(1);
  awaitDeliveries("success", 1);
  slowdown.stop();
  serving.join();
  ASSERT_EQ(deliveries("success"), 1);
  std::lock_guard lock(m);
  ASSERT_EQ(at.size(), 2u);
  // A lower bound the product must honour (not a speed threshold): it cannot
  // fail on a slow machine, only on a sidecar that ignores Retry-After.
  EXPECT_GE(at[1] - at[0], std::chrono::milliseconds(1000)) << "retried before the app's Retry-After";
}

class PushShortTimeout : public Push {
  void adjust(tributary::sidecar::SubscriptionConfig& s) override { s.timeout = 200ms; }
};

TEST_F(PushShortTimeout, AnAppSlowerThanTheTimeoutIsRetried) {
  std::atomic<int> calls{0};
  httplib::Server slow;
  slow.Post("/events", [&](const httplib::Request&, httplib::Response& res) {
    if (calls++ == 0) std::this_thread::sleep_for(1s);  // the app being slow, not test synchronisation
    res.status = 200;
  });
  const int port = tributary::test::bindLoopback(slow);
  std::thread serving([&] { slow.listen_after_bind(); });
  ASSERT_NO_FATAL_FAILURE(restartWithEndpoint(port));
  produce(1);
  awaitDeliveries("success", 1);
  slow.stop();
  serving.join();
  EXPECT_EQ(deliveries("success"), 1);
  EXPECT_GE(deliveries("retry"), 1) << "the timed-out attempt counts as a retry";
}

// The dead-letter write itself fails (the broker refuses produce requests): the
// record is not settled, the write is retried, and it lands once the broker
// accepts again — never counted as done before that.
TEST_F(PushWithDeadLetters, AFailedDeadLetterWriteIsRetriedAndTheRecordStaysUnsettled) {
  // Before the app answers 400, the broker is set to refuse the next produce
  // requests (the dead-letter writes) with a non-retriable error.
  static constexpr int kTopicAuthorizationFailed = 29;
  app->setBehaviour([this](const Received&, int earlier) {
    if (earlier == 0) kafka->pushRequestErrors(0, std::vector<int>(3, kTopicAuthorizationFailed));
    return 400;
  });
  produce(1);
  awaitDeliveries("dead_letter", 1);
  ASSERT_EQ(deliveries("dead_letter"), 1);
  auto dead = tributary::test::readAll(sidecar->bootstrapServers(), "orders.dlq");
  EXPECT_EQ(dead.size(), 1u) << "written once, after the refusals";
}

}  // namespace

namespace {

TEST_F(Push, SubscriptionsAreListedWithTheirAssignmentAndLag) {
  produce(8);
  ASSERT_TRUE(app->waitFor([](auto& rs) { return delivered(rs).size() == 8; }, 60s));
  std::set<int> withRecords;
  for (const auto& r : app->requests()) withRecords.insert(std::stoi(r.header("ce-partition")));
  // The status is refreshed every second: await a view with those partitions settled.
  Json sub;
  for (auto until = std::chrono::steady_clock::now() + 30s; std::chrono::steady_clock::now() < until;) {
    auto res = client->Get("/v1/subscriptions");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
    sub = Json::parse(res->body)["subscriptions"][0];
    int settled = 0;
    for (const auto& p : sub["assignment"]) settled += p["lag"] == 0 && p["unsettled"] == 0;
    if (settled == static_cast<int>(withRecords.size())) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(sub["name"], "orders");
  EXPECT_EQ(sub["group"], "orders-service");
  EXPECT_EQ(sub["state"], "running");
  EXPECT_EQ(sub["ordering"], "partition");
  ASSERT_EQ(sub["assignment"].size(), 4u);
  for (const auto& p : sub["assignment"]) {
    EXPECT_EQ(p["topic"], "orders");
    // A partition that never had a record has no known lag yet (null).
    if (withRecords.count(p["partition"].get<int>())) EXPECT_EQ(p["lag"], 0) << p.dump();
    else EXPECT_TRUE(p["lag"].is_null() || p["lag"] == 0) << p.dump();
  }
  const int some = *withRecords.begin();
  EXPECT_EQ(metricValue(R"(tributary_consumer_lag{partition=")" + std::to_string(some) +
                        R"(",subscription="orders",topic="orders"})"),
            0);
  auto ready = adminClient()->Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(Json::parse(ready->body)["checks"]["subscription:orders"], "ok");
}


// batchSize > 1: records travel as application/cloudevents-batch+json arrays of
// structured CloudEvents; one answer settles the attempt of every record in it.
class PushBatch : public Push {
 protected:
  void adjust(tributary::sidecar::SubscriptionConfig& s) override {
    s.ordering = tributary::sidecar::SubscriptionConfig::Ordering::None;
    s.maxInFlight = 256;
    s.batchSize = 100;
    s.deadLetterTopic = "orders.dlq";
    s.onExhausted = tributary::sidecar::SubscriptionConfig::OnExhausted::DeadLetter;
  }
  // Every event of every request, with the status its request got.
  struct Event {
    Json event;
    int answered;
  };
  static std::vector<Event> events(const std::vector<Received>& rs) {
    std::vector<Event> out;
    for (const auto& r : rs)
      for (const auto& e : Json::parse(r.body)) out.push_back({e, r.answered});
    return out;
  }
  static std::set<std::string> deliveredIds(const std::vector<Received>& rs) {
    std::set<std::string> ids;
    for (const auto& e : events(rs))
      if (e.answered == 200) ids.insert(e.event["id"].get<std::string>());
    return ids;
  }
};

TEST_F(PushBatch, RecordsArriveAsCloudEventBatchesWithEveryAttribute) {
  produce(200);
  ASSERT_TRUE(app->waitFor([](auto& rs) { return deliveredIds(rs).size() == 200; }, 60s));
  const auto requests = app->requests();
  // Batches formed (200 records were waiting at once), none above batchSize.
  EXPECT_LT(requests.size(), 200u);
  std::set<int> values;
  for (const auto& r : requests) {
    EXPECT_EQ(r.header("content-type"), "application/cloudevents-batch+json");
    const Json batch = Json::parse(r.body);
    ASSERT_TRUE(batch.is_array());
    EXPECT_GE(batch.size(), 1u);
    EXPECT_LE(batch.size(), 100u);
    for (const auto& e : batch) {
      EXPECT_EQ(e["specversion"], "1.0");
      EXPECT_EQ(e["type"], "dev.tributary.kafka.record");
      EXPECT_EQ(e["source"].get<std::string>().rfind("kafka://127.0.0.1:", 0), 0u) << e.dump();
      EXPECT_EQ(e["id"], "orders-" + e["partition"].get<std::string>() + "-" + e["offset"].get<std::string>());
      EXPECT_FALSE(e["time"].get<std::string>().empty());
      EXPECT_EQ(e["tributaryattempt"], "1");
      EXPECT_EQ(e["datacontenttype"], "application/json");
      // The value is JSON: it arrives parsed in "data", with its key and headers.
      const int n = e["data"]["n"].get<int>();
      values.insert(n);
      EXPECT_EQ(e["key"], "k" + std::to_string(n % 4));
      EXPECT_EQ(e["tributaryheaders"], Json::parse(R"([{"name":"trace","value":"t)" + std::to_string(n) + R"("}])"));
      EXPECT_FALSE(e.contains("data_base64"));
    }
  }
  EXPECT_EQ(values.size(), 200u);
  awaitDeliveries("success", 200);
  EXPECT_EQ(deliveries("success"), 200);
}

TEST_F(PushBatch, AFailedBatchIsRetriedAndA400DeadLettersEveryRecordInIt) {
  // The first request fails with 503: each of its records is retried (in
  // whatever batch it lands next) with attempt 2. A batch holding record 7 is
  // refused with 400: every record in it is dead-lettered, the others arrive.
  std::atomic<int> seen{0};
  app->setBehaviour([&](const Received& r, int) {
    if (seen++ == 0) return 503;
    for (const auto& e : Json::parse(r.body))
      if (e["data"]["n"] == 7) return 400;
    return 200;
  });
  produce(50);
  ASSERT_TRUE(app->waitFor(
      [](const std::vector<Received>& rs) {
        std::set<std::string> settled = deliveredIds(rs);
        for (const auto& e : events(rs))
          if (e.answered == 400) settled.insert(e.event["id"].get<std::string>());
        return settled.size() == 50;
      },
      60s));
  const auto requests = app->requests();
  ASSERT_EQ(requests.front().answered, 503);
  std::set<std::string> firstBatch, refused;
  for (const auto& e : Json::parse(requests.front().body)) firstBatch.insert(e["id"].get<std::string>());
  for (const auto& e : events(requests)) {
    const std::string id = e.event["id"];
    if (e.answered == 400) refused.insert(id);
    if (e.answered != 503 && firstBatch.count(id)) {
      EXPECT_EQ(e.event["tributaryattempt"], "2") << id;
    }
  }
  ASSERT_FALSE(refused.empty());
  awaitDeliveries("dead_letter", static_cast<double>(refused.size()));
  awaitDeliveries("success", static_cast<double>(50 - refused.size()));
  EXPECT_EQ(deliveries("dead_letter"), static_cast<double>(refused.size()));
  EXPECT_EQ(deliveries("success"), static_cast<double>(50 - refused.size()));
  const auto dead = tributary::test::readAll(sidecar->bootstrapServers(), "orders.dlq");
  ASSERT_EQ(dead.size(), refused.size());
  for (const auto& d : dead) {
    std::map<std::string, std::string> h(d.headers.begin(), d.headers.end());
    EXPECT_TRUE(refused.count("orders-" + h["tributary.dlq.partition"] + "-" + h["tributary.dlq.offset"]));
    EXPECT_EQ(h["tributary.dlq.error"].rfind("HTTP 400: ", 0), 0u) << h["tributary.dlq.error"];
  }
}

// `connections` bounds the keep-alive connections the app has to serve, for
// apps with a small fixed thread pool.
class PushTwoConnections : public Push {
  void adjust(tributary::sidecar::SubscriptionConfig& s) override {
    s.ordering = tributary::sidecar::SubscriptionConfig::Ordering::None;
    s.maxInFlight = 64;
    s.connections = 2;
  }
};

TEST_F(PushTwoConnections, EveryRecordArrivesOverAtMostTwoConnections) {
  produce(100);
  ASSERT_TRUE(app->waitFor([](auto& rs) { return delivered(rs).size() == 100; }, 60s));
  std::set<int> ports;
  for (const auto& r : app->requests()) ports.insert(r.remotePort);
  EXPECT_GE(ports.size(), 1u);
  EXPECT_LE(ports.size(), 2u) << "the app saw " << ports.size() << " connections";
}

// librdkafka's statistics of a subscription's consumer, as for the producer:
// fetch queue, broker round trips, and librdkafka's own view of the lag (end of
// the partition minus the committed offset). Partition 0 is held at offset 2 by
// an app that answers 503 from there on (ordering: partition; without a
// dead-letter topic the record is retried forever), so its committed offset
// stays 2 while 10 records are in it: librdkafka reports a lag of 8.
class PushStatistics : public Push {
 protected:
  void configure(tributary::sidecar::SidecarConfig& c) override {
    Push::configure(c);
    c.kafka.properties["statistics.interval.ms"] = "100";
  }
};

TEST_F(PushStatistics, ConsumerStatisticsBecomeMetricsPerSubscription) {
  app->setBehaviour([](const Received& r, int) { return std::stoll(r.header("ce-offset")) >= 2 ? 503 : 200; });
  Json recs = Json::array();
  for (int i = 0; i < 10; ++i) recs.push_back({{"value", {{"n", i}}}, {"partition", 0}});
  auto res = postJson("orders", Json{{"records", recs}}.dump());
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const std::string p0 = R"({partition="0",subscription="orders",topic="orders"})";
  double lag = -1;
  for (auto until = std::chrono::steady_clock::now() + 60s; std::chrono::steady_clock::now() < until;
       std::this_thread::sleep_for(20ms))
    if ((lag = metricValue("tributary_consumer_committed_lag" + p0)) == 8) break;
  EXPECT_EQ(lag, 8);
  EXPECT_GE(metricValue("tributary_consumer_fetch_queue_messages" + p0), 0);
  EXPECT_GE(metricValue("tributary_consumer_fetch_queue_bytes" + p0), 0);
  auto text = adminClient()->Get("/metrics");
  ASSERT_TRUE(text);
  std::istringstream in(text->body);
  int rtt = 0, up = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.find("subscription=\"orders\"") == std::string::npos) continue;
    if (line.rfind("tributary_consumer_broker_rtt_seconds{", 0) == 0) ++rtt;
    if (line.rfind("tributary_consumer_broker_up{", 0) == 0 && line.back() == '1') ++up;
  }
  EXPECT_GE(rtt, 1) << "one series per broker the consumer talks to";
  EXPECT_GE(up, 1);
}

}  // namespace
