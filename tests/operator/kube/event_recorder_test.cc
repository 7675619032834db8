// EventRecorder: Events as kubectl describe shows them, repeats aggregated
// into a count, failures swallowed and counted.
#include <gtest/gtest.h>

#include "operator/kube/event_recorder.h"
#include "tests/operator/kube/kube_fixture.h"

namespace tributary::op::kube::test {
namespace {

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
  Json topic;
};

TEST_F(EventRecorderTest, WritesAnEventAboutTheObject) {
  EventRecorder recorder(*client, "tributary-operator", registry);
  recorder.record(topic, EventType::Normal, "Created", "created topic orders-topic with 3 partitions");
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
  auto all = events();
  ASSERT_EQ(all.size(), 2u);
  std::map<std::string, int64_t> counts;
  for (const auto& e : all) counts[e["message"]] = e["count"].get<int64_t>();
  EXPECT_EQ(counts["partitions 6 -> 3 refused"], 3);
  EXPECT_EQ(counts["partitions 6 -> 2 refused"], 1);
  EXPECT_EQ(counted("created"), 2);
  EXPECT_EQ(counted("aggregated"), 2);
}

TEST_F(EventRecorderTest, AnExpiredEventIsWrittenAgain) {
  EventRecorder recorder(*client, "tributary-operator", registry);
  recorder.record(topic, EventType::Normal, "Ready", "ok");
  client->remove(resources::kEvents, ns, events().at(0)["metadata"]["name"]);
  recorder.record(topic, EventType::Normal, "Ready", "ok");
  auto all = events();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["count"], 1);
}

TEST_F(EventRecorderTest, FailuresNeverReachTheCaller) {
  SKIP_UNLESS_TEST_SERVER("failNextRequests(), stopping the API server");
  EventRecorder recorder(*client, "tributary-operator", registry);
  server->failNextRequests(1, 500);
  EXPECT_NO_THROW(recorder.record(topic, EventType::Warning, "KafkaUnavailable", "brokers down"));
  EXPECT_EQ(counted("failed"), 1);
  EXPECT_TRUE(events().empty());
  server->stop();
  EXPECT_NO_THROW(recorder.record(topic, EventType::Warning, "KafkaUnavailable", "brokers down"));
  EXPECT_EQ(counted("failed"), 2);
}

}  // namespace
}  // namespace tributary::op::kube::test
