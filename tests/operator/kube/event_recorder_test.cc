// EventRecorder: Events as kubectl describe shows them, written by the
// recorder's own thread; repeats aggregated into a count, spam and overflow
// dropped and counted, failures swallowed and counted, the caller never held.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <set>

#include "operator/kube/event_recorder.h"
#include "tests/operator/kube/kube_fixture.h"

namespace tributary::op::kube::test {
namespace {

// A KubeClient whose create() waits until the test opens the gate: an API
// server that does not answer, without any timing.
class GatedClient final : public KubeClient {
 public:
  explicit GatedClient(KubeClient& inner) : inner_(inner) {}
  ~GatedClient() override { open(); }

  void open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  size_t waiting() {
    std::lock_guard lock(mu_);
    return waiting_;
  }

  Json get(const ResourceRef& r, const std::string& ns, const std::string& name) override {
    return inner_.get(r, ns, name);
  }
  ListResult list(const ResourceRef& r, const std::string& ns, const ListOptions& o) override {
    return inner_.list(r, ns, o);
  }
  Json create(const ResourceRef& r, const std::string& ns, const Json& object) override {
    {
      std::unique_lock lock(mu_);
      ++waiting_;
      cv_.wait(lock, [this] { return open_; });
      --waiting_;
    }
    return inner_.create(r, ns, object);
  }
  Json update(const ResourceRef& r, const std::string& ns, const Json& object) override {
    return inner_.update(r, ns, object);
  }
  Json updateStatus(const ResourceRef& r, const std::string& ns, const Json& object) override {
    return inner_.updateStatus(r, ns, object);
  }
  Json patch(const ResourceRef& r, const std::string& ns, const std::string& name, const Json& p,
             bool statusSubresource) override {
    return inner_.patch(r, ns, name, p, statusSubresource);
  }
  std::optional<Json> remove(const ResourceRef& r, const std::string& ns, const std::string& name,
                             const DeleteOptions& o) override {
    return inner_.remove(r, ns, name, o);
  }
  std::unique_ptr<WatchStream> watch(const ResourceRef& r, const std::string& ns, const WatchOptions& o) override {
    return inner_.watch(r, ns, o);
  }

 private:
  KubeClient& inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  size_t waiting_ = 0;
};

class EventRecorderTest : public KubeTest {
 protected:
  void SetUp() override {
    KubeTest::SetUp();
    installKafkaTopicCrd();
    topic = client->create(kTopicsRef, ns, apiserver::test::kafkaTopic("orders", 3, ns));
  }
  std::vector<Json> events() { return client->list(resources::kEvents, ns).items; }
  double counted(const char* result) {
    return metricValue(registry, "tributary_operator_events_total", {{"result", result}});
  }
  double dropped(const char* reason) {
    return metricValue(registry, "tributary_operator_events_dropped_total", {{"reason", reason}});
  }
  Json topic;
};

TEST_F(EventRecorderTest, WritesAnEventAboutTheObject) {
  EventRecorder recorder(*client, "tributary-operator", registry);
  recorder.record(topic, EventType::Normal, "Created", "created topic orders-topic with 3 partitions");
  ASSERT_TRUE(recorder.flush(30s));
  auto all = events();
  ASSERT_EQ(all.size(), 1u);
  const Json& e = all[0];
  EXPECT_EQ(e["involvedObject"]["kind"], "KafkaTopic");
  EXPECT_EQ(e["involvedObject"]["apiVersion"], "tributary.dev/v1alpha1");
  EXPECT_EQ(e["involvedObject"]["name"], "orders");
  EXPECT_EQ(e["involvedObject"]["namespace"], ns);
  EXPECT_EQ(e["involvedObject"]["uid"], topic["metadata"]["uid"]);
  EXPECT_EQ(e["reason"], "Created");
  EXPECT_EQ(e["message"], "created topic orders-topic with 3 partitions");
  EXPECT_EQ(e["type"], "Normal");
  EXPECT_EQ(e["source"]["component"], "tributary-operator");
  EXPECT_EQ(e["count"], 1);
  EXPECT_FALSE(e["firstTimestamp"].get<std::string>().empty());
  EXPECT_EQ(e["firstTimestamp"], e["lastTimestamp"]);

  // What `kubectl describe` finds: events by involvedObject.
  ListOptions byObject;
  byObject.fieldSelector = "involvedObject.name=orders,involvedObject.kind=KafkaTopic";
  EXPECT_EQ(client->list(resources::kEvents, ns, byObject).items.size(), 1u);
}

TEST_F(EventRecorderTest, RepeatsAreAggregatedIntoACount) {
  EventRecorder recorder(*client, "tributary-operator", registry);
  for (int i = 0; i < 3; ++i)
    recorder.record(topic, EventType::Warning, "PartitionDecreaseNotAllowed", "partitions 6 -> 3 refused");
  recorder.record(topic, EventType::Warning, "PartitionDecreaseNotAllowed", "partitions 6 -> 2 refused");
  ASSERT_TRUE(recorder.flush(30s));
  auto all = events();
  ASSERT_EQ(all.size(), 2u);
  std::map<std::string, int64_t> counts;
  for (const auto& e : all) counts[e["message"]] = e["count"].get<int64_t>();
  EXPECT_EQ(counts["partitions 6 -> 3 refused"], 3);
  EXPECT_EQ(counts["partitions 6 -> 2 refused"], 1);
  EXPECT_EQ(counted("created"), 2);
  EXPECT_EQ(counted("aggregated"), 2);
  EXPECT_EQ(countRequests("patch", "/events/"), 2u) << "a repeat is a PATCH of the Event, not a new one";
}

TEST_F(EventRecorderTest, ARepeatAfterTheWindowIsANewEvent) {
  auto now = std::chrono::steady_clock::time_point{};
  EventRecorderOptions o;
  o.aggregationWindow = 10min;
  o.now = [&now] { return now; };  // read on the caller's thread only (record())
  EventRecorder recorder(*client, "tributary-operator", registry, o);
  recorder.record(topic, EventType::Normal, "Ready", "ok");
  now += 5min;
  recorder.record(topic, EventType::Normal, "Ready", "ok");  // within the window: count 2
  now += 11min;
  recorder.record(topic, EventType::Normal, "Ready", "ok");  // 11 min after the last one: a new Event
  ASSERT_TRUE(recorder.flush(30s));
  std::multiset<int64_t> counts;
  for (const auto& e : events()) counts.insert(e["count"].get<int64_t>());
  EXPECT_EQ(counts, (std::multiset<int64_t>{1, 2}));
}

TEST_F(EventRecorderTest, AnExpiredEventIsWrittenAgain) {
  EventRecorder recorder(*client, "tributary-operator", registry);
  recorder.record(topic, EventType::Normal, "Ready", "ok");
  ASSERT_TRUE(recorder.flush(30s));
  client->remove(resources::kEvents, ns, events().at(0)["metadata"]["name"]);
  recorder.record(topic, EventType::Normal, "Ready", "ok");
  ASSERT_TRUE(recorder.flush(30s));
  auto all = events();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["count"], 1);
}

TEST_F(EventRecorderTest, AnObjectFloodingEventsIsCutOffBySpamFilter) {
  EventRecorderOptions o;
  o.spamBurst = 3;
  auto now = std::chrono::steady_clock::time_point{};
  o.now = [&now] { return now; };  // the clock stands still: no refill
  EventRecorder recorder(*client, "tributary-operator", registry, o);
  for (int i = 0; i < 5; ++i) recorder.record(topic, EventType::Warning, "Failed", "attempt " + std::to_string(i));
  Json other = client->create(kTopicsRef, ns, apiserver::test::kafkaTopic("payments", 1, ns));
  recorder.record(other, EventType::Normal, "Created", "created");  // another object has its own bucket
  now += o.spamRefillEvery;                                          // one Event's worth of refill
  recorder.record(topic, EventType::Warning, "Failed", "attempt 5");
  ASSERT_TRUE(recorder.flush(30s));
  EXPECT_EQ(events().size(), 5u);  // attempts 0-2 and 5, and payments' Event
  EXPECT_EQ(dropped("spam"), 2);
}

TEST_F(EventRecorderTest, ANonAnsweringApiServerNeverHoldsTheCaller) {
  GatedClient gated(*client);
  {
    EventRecorder recorder(gated, "tributary-operator", registry);
    // record() returns while the writer is stuck in the API call: a reconcile
    // calling it is never blocked by the API server.
    recorder.record(topic, EventType::Warning, "KafkaUnavailable", "brokers down");
    ASSERT_TRUE(eventually([&] { return gated.waiting() == 1; }));
    recorder.record(topic, EventType::Warning, "KafkaUnavailable", "still down");
    EXPECT_FALSE(recorder.flush(0ms));
    gated.open();
    ASSERT_TRUE(recorder.flush(30s));
  }
  EXPECT_EQ(events().size(), 2u);
}

TEST_F(EventRecorderTest, AFullQueueDropsAndCounts) {
  GatedClient gated(*client);
  {
    EventRecorderOptions o;
    o.queueCapacity = 2;
    EventRecorder recorder(gated, "tributary-operator", registry, o);
    recorder.record(topic, EventType::Normal, "E", "0");
    ASSERT_TRUE(eventually([&] { return gated.waiting() == 1; }));  // the writer holds "0"
    for (int i = 1; i <= 4; ++i) recorder.record(topic, EventType::Normal, "E", std::to_string(i));
    EXPECT_EQ(dropped("queue_full"), 2);  // "1" and "2" are queued, "3" and "4" are not
    gated.open();
    ASSERT_TRUE(recorder.flush(30s));
  }
  std::set<std::string> messages;
  for (const auto& e : events()) messages.insert(e["message"].get<std::string>());
  EXPECT_EQ(messages, (std::set<std::string>{"0", "1", "2"}));
}

TEST_F(EventRecorderTest, FailuresNeverReachTheCallerAndAreCounted) {
  SKIP_UNLESS_TEST_SERVER("failNextRequests(), stopping the API server");
  EventRecorder recorder(*client, "tributary-operator", registry);
  server->failNextRequests(1, 500);
  EXPECT_NO_THROW(recorder.record(topic, EventType::Warning, "KafkaUnavailable", "brokers down"));
  ASSERT_TRUE(recorder.flush(30s));
  EXPECT_EQ(counted("failed"), 1);
  EXPECT_TRUE(events().empty());
  server->stop();  // the API server is gone: the write fails, the caller never knows
  EXPECT_NO_THROW(recorder.record(topic, EventType::Warning, "KafkaUnavailable", "brokers down"));
  ASSERT_TRUE(eventually([&] { return counted("failed") == 2; }));
}

TEST_F(EventRecorderTest, QueuedEventsAreWrittenOnDestruction) {
  {
    EventRecorder recorder(*client, "tributary-operator", registry);
    for (int i = 0; i < 10; ++i) recorder.record(topic, EventType::Normal, "E", std::to_string(i));
  }  // no flush(): the destructor writes what is queued
  EXPECT_EQ(events().size(), 10u);
  EXPECT_EQ(dropped("shutdown"), 0);
}

}  // namespace
}  // namespace tributary::op::kube::test
