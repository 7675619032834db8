// Kafka misbehaves (the embedded cluster's fault injection): the sidecar never
// answers 200 for a record Kafka did not acknowledge, says 503/504 with a
// stable errorCode, and serves again when Kafka recovers.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "tests/support/record_reader.h"
#include "tests/support/sidecar_fixture.h"

using Json = nlohmann::json;

namespace {

constexpr int16_t kProduceApi = 0;
constexpr int kNotEnoughReplicas = 19;
constexpr int kLeaderNotAvailable = 5;

std::string one(const std::string& value) { return Json{{"records", {{{"value", value}}}}}.dump(); }

class Faults : public tributary::test::SidecarTest {
 protected:
  void configure(tributary::sidecar::SidecarConfig& c) override {
    c.kafka.deliveryTimeout = std::chrono::seconds(2);
    c.kafka.properties["reconnect.backoff.max.ms"] = "200";
  }
};

TEST_F(Faults, BrokersDownGiveErrorsNeverA200AndRecoveryServesAgain) {
  auto warm = postJson("faulty", one("before"));
  ASSERT_TRUE(warm);
  ASSERT_EQ(warm->status, 200) << warm->body;

  kafka->setAllBrokersDown();
  std::set<std::string> refused;  // answered 503: certainly not written
  for (int i = 0; i < 6; ++i) {
    const std::string v = "down-" + std::to_string(i);
    auto res = postJson("faulty", one(v));
    ASSERT_TRUE(res);
    ASSERT_TRUE(res->status == 503 || res->status == 504) << res->status << " " << res->body;
    auto body = Json::parse(res->body);
    if (res->status == 503) {
      EXPECT_EQ(body["errorCode"], "BROKERS_UNAVAILABLE") << res->body;
      EXPECT_FALSE(res->get_header_value("Retry-After").empty());
      refused.insert(v);
    } else {
      EXPECT_EQ(body["errorCode"], "DELIVERY_TIMEOUT") << res->body;
    }
  }
  // Once librdkafka has seen every broker down, requests are refused at once.
  EXPECT_FALSE(refused.empty()) << "expected at least one immediate 503 while all brokers are down";
  EXPECT_GE(metricValue(R"(tributary_produce_requests_total{code="503",topic="faulty"})"), 1);
  // Readiness follows: the next metadata request goes unanswered and /readyz says so.
  int ready = 200;
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
       ready == 200 && std::chrono::steady_clock::now() < until;) {
    ready = adminClient()->Get("/readyz")->status;
    if (ready == 200) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(ready, 503);

  kafka->setAllBrokersUp();
  // Recovery is awaited as a condition: the first 200, within a bound.
  int status = 0;
  std::string body;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (status != 200 && std::chrono::steady_clock::now() < deadline) {
    auto res = postJson("faulty", one("after"));
    ASSERT_TRUE(res);
    status = res->status;
    body = res->body;
    if (status != 200) {
      ASSERT_TRUE(status == 503 || status == 504) << status << " " << body;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // a client's back-off, not synchronisation
    }
  }
  ASSERT_EQ(status, 200) << body;

  auto records = tributary::test::readAll(sidecar->bootstrapServers(), "faulty");
  std::multiset<std::string> values;
  for (auto& r : records) values.insert(*r.value);
  EXPECT_EQ(values.count(R"("before")"), 1u);
  EXPECT_GE(values.count(R"("after")"), 1u);
  for (auto& v : refused) EXPECT_EQ(values.count("\"" + v + "\""), 0u) << v << " was answered 503 but written";
}

TEST_F(Faults, RetriableProduceErrorsAreRetriedWithoutDuplicates) {
  auto warm = postJson("retried", one("warm"));
  ASSERT_TRUE(warm);
  ASSERT_EQ(warm->status, 200);
  kafka->pushRequestErrors(kProduceApi, {kNotEnoughReplicas, kLeaderNotAvailable, kNotEnoughReplicas});
  auto res = postJson("retried", one("once"));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto records = tributary::test::readAll(sidecar->bootstrapServers(), "retried");
  int copies = 0;
  for (auto& r : records) copies += r.value == R"("once")";
  EXPECT_EQ(copies, 1);
}

class FullQueue : public tributary::test::SidecarTest {
 protected:
  void configure(tributary::sidecar::SidecarConfig& c) override {
    c.kafka.properties["queue.buffering.max.messages"] = "4";
    c.kafka.properties["linger.ms"] = "200";
  }
};

TEST_F(FullQueue, RecordsBeyondTheQueueGet503QueueFullAndTheRestAreWritten) {
  Json recs = Json::array();
  for (int i = 0; i < 10; ++i) recs.push_back({{"value", i}});
  auto res = postJson("full", Json{{"records", recs}}.dump());
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 503) << res->body;
  EXPECT_EQ(res->get_header_value("Retry-After"), "1");
  auto body = Json::parse(res->body);
  EXPECT_EQ(body["errorCode"], "QUEUE_FULL");
  std::set<std::string> written;
  int errors = 0;
  for (int i = 0; i < 10; ++i) {
    auto slot = body["offsets"][i];
    if (slot.contains("offset")) written.insert(std::to_string(i));
    else {
      EXPECT_EQ(slot["errorCode"], "QUEUE_FULL");
      ++errors;
    }
  }
  EXPECT_EQ(written.size(), 4u);
  EXPECT_EQ(errors, 6);
  // Exactly the records reported with an offset are in Kafka.
  std::set<std::string> inKafka;
  for (auto& r : tributary::test::readAll(sidecar->bootstrapServers(), "full")) inKafka.insert(*r.value);
  EXPECT_EQ(inKafka, written);
  EXPECT_EQ(metricValue(R"(tributary_produce_records_total{result="queue_full",topic="full"})"), 6);
}

// The embedded cluster auto-creates every topic it is asked about, so a cluster
// without auto-creation is played by answering UNKNOWN_TOPIC_OR_PARTITION for
// the topic, as such a broker does.
class NoAutoCreate : public tributary::test::SidecarTest {
 protected:
  void configure(tributary::sidecar::SidecarConfig& c) override {
    c.kafka.properties["topic.metadata.propagation.max.ms"] = "100";
  }
};

TEST_F(NoAutoCreate, UnknownTopicIs404AndAnExistingTopicWorks) {
  constexpr int kUnknownTopicOrPartition = 3;
  kafka->setTopicError("does-not-exist", kUnknownTopicOrPartition);
  kafka->createTopic("exists", 2, 1);
  auto res = postJson("does-not-exist", one("x"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404) << res->body;
  EXPECT_EQ(Json::parse(res->body)["errorCode"], "UNKNOWN_TOPIC");
  auto ok = postJson("exists", one("y"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
}

}  // namespace

namespace {

class ShortGrace : public tributary::test::SidecarTest {
 protected:
  void configure(tributary::sidecar::SidecarConfig& c) override {
    c.kafka.deliveryTimeout = std::chrono::seconds(120);
    c.shutdown.gracePeriod = std::chrono::milliseconds(500);
  }
};

// A broker that answers too slowly for the grace period: shutdown fails the
// outstanding records so that the waiting request answers now (an error,
// never 200) instead of holding the process until kafka.deliveryTimeout.
TEST_F(ShortGrace, ShutdownAnswersWaitingRequestsWhenTheGracePeriodRunsOut) {
  auto warm = postJson("slow", one("warm"));
  ASSERT_TRUE(warm);
  ASSERT_EQ(warm->status, 200);
  kafka->setAllBrokersRtt(60'000);

  std::mutex m;
  std::condition_variable cv;
  bool sent = false;
  std::optional<httplib::Result> answer;
  std::thread waiting([&] {
    auto c = apiClient();
    {
      std::lock_guard lock(m);
      sent = true;
    }
    cv.notify_all();
    answer = c->Post("/v1/topics/slow/records", one("late"), "application/json");
  });
  // Shut down once the request is waiting on the broker (queue depth 1).
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return sent; });
  }
  while (metricValue("tributary_producer_queue_messages") < 1) std::this_thread::yield();
  const int unflushed = sidecar->shutdown();
  waiting.join();
  kafka->setAllBrokersRtt(0);

  EXPECT_EQ(unflushed, 1);
  ASSERT_TRUE(answer && *answer) << "no answer";
  const auto& res = **answer;
  // Answered by the purge at the end of the grace period, not by the 120 s
  // timeout: a record still queued is 503 SHUTTING_DOWN (certainly not
  // written); one already on the wire is 504 "Purged in flight" (unknown).
  if (res.status == 503) {
    EXPECT_NE(res.body.find("SHUTTING_DOWN"), std::string::npos) << res.body;
  } else {
    EXPECT_EQ(res.status, 504) << res.body;
    EXPECT_NE(res.body.find("urged"), std::string::npos) << res.body;
  }
}

}  // namespace

// A broker that accepts connections and never answers (a listening socket no
// one reads: the kernel completes the TCP handshake and buffers the requests).
// Nothing is ever acknowledged, nothing is refused: a synchronous request is
// answered 504 DELIVERY_TIMEOUT once kafka.deliveryTimeout has passed — the one
// answer whose outcome is unknown.
TEST(DeliveryTimeout, ABrokerThatNeverAnswersGives504AfterTheDeliveryTimeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 64), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  auto config = tributary::test::testConfig("127.0.0.1:" + std::to_string(ntohs(addr.sin_port)));
  config.kafka.deliveryTimeout = std::chrono::milliseconds(300);
  std::string error;
  auto sidecar = tributary::sidecar::Sidecar::start(config, error);
  ASSERT_TRUE(sidecar) << error;
  httplib::Client client("127.0.0.1", sidecar->apiPort());
  client.set_read_timeout(30, 0);
  auto res = client.Post("/v1/topics/orders/records", one("lost in the void"), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 504) << res->body;
  auto body = Json::parse(res->body);
  EXPECT_EQ(body["errorCode"], "DELIVERY_TIMEOUT");
  EXPECT_EQ(body["offsets"][0]["errorCode"], "DELIVERY_TIMEOUT");
  EXPECT_FALSE(res->has_header("Retry-After"));
  sidecar->shutdown();
  ::close(fd);
}
