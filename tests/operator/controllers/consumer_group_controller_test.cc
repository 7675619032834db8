// KafkaConsumerGroups in controller mode, in one process: the test API server
// (a real one when TRIBUTARY_TEST_KUBECONFIG is set),
// OperatorManager (informers, queue, ConsumerGroupController, lag thread) and
// the ClusterAdmin double with Kafka's group behaviour. Lag reaches status and
// metrics; a reset is applied once per requestId (also across a restart) and
// only while the group is empty; the finalizer exists only with Delete.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <sstream>

#include "operator/app/yaml_json.h"
#include "operator/controllers/operator_manager.h"
#include "operator/kube/curl_kube_client.h"
#include "tests/apiserver/api_client.h"
#include "tests/support/kube/api_server_under_test.h"
#include "tests/operator/topic/fake_cluster_admin.h"

using namespace std::chrono_literals;
using tributary::test::RestClient;
using tributary::apiserver::test::eventually;
using Json = nlohmann::json;
namespace op = tributary::op;

namespace {

class SharedAdmin final : public op::kafka::ClusterAdmin {
 public:
  explicit SharedAdmin(op::test::FakeClusterAdmin& fake) : f_(fake) {}
  std::vector<op::kafka::DescribeResult> describeTopics(const std::vector<std::string>& t) override { return f_.describeTopics(t); }
  std::vector<op::kafka::ItemResult> createTopics(const std::vector<op::kafka::NewTopic>& t, bool v) override {
    return f_.createTopics(t, v);
  }
  std::vector<op::kafka::ItemResult> createPartitions(const std::vector<op::kafka::PartitionIncrease>& p, bool v) override {
    return f_.createPartitions(p, v);
  }
  std::vector<op::kafka::ItemResult> alterConfigs(const std::vector<op::kafka::TopicConfigs>& c, bool v) override {
    return f_.alterConfigs(c, v);
  }
  std::vector<op::kafka::ItemResult> deleteTopics(const std::vector<std::string>& t) override { return f_.deleteTopics(t); }
  std::vector<op::kafka::GroupDescribeResult> describeGroups(const std::vector<std::string>& g) override {
    return f_.describeGroups(g);
  }
  std::vector<op::kafka::GroupOffsets> listGroupOffsets(const std::vector<std::string>& g,
      const op::kafka::GroupPartitions& only = {}) override {
    return f_.listGroupOffsets(g, only);
  }
  std::vector<op::kafka::GroupOffsets> alterGroupOffsets(const std::vector<op::kafka::GroupOffsets>& c) override {
    return f_.alterGroupOffsets(c);
  }
  std::vector<op::kafka::GroupResult> deleteGroups(const std::vector<std::string>& g) override { return f_.deleteGroups(g); }
  std::vector<op::kafka::PartitionOffset> listOffsets(const std::vector<op::kafka::OffsetQuery>& q) override {
    return f_.listOffsets(q);
  }
  std::vector<op::kafka::RecordAt> recordTimestamps(const std::vector<op::kafka::RecordAt>& at) override {
    return f_.recordTimestamps(at);
  }

 private:
  op::test::FakeClusterAdmin& f_;
};

Json groupResource(const std::string& name, Json spec) {
  return {{"apiVersion", "tributary.dev/v1alpha1"},
          {"kind", "KafkaConsumerGroup"},
          {"metadata", {{"name", name}}},  // the namespace is the URL's
          {"spec", spec}};
}

Json condition(const Json& object, const std::string& type) {
  for (const auto& c : object.value("status", Json::object()).value("conditions", Json::array()))
    if (c.value("type", "") == type) return c;
  return nullptr;
}

class ConsumerGroupControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    apiServer = std::make_unique<tributary::test::ApiServerUnderTest>();
    ns = apiServer->ns();
    kGroups = "/apis/tributary.dev/v1alpha1/namespaces/" + ns + "/kafkaconsumergroups";
    api = apiServer->newRestClient();
    apiServer->installCrds({"kafkatopic.yaml", "kafkaconsumergroup.yaml"});
    kafka.putTopic("orders", {2, 3, {}});
    kafka.produce("orders", 0, 100, 1'000);
    kafka.produce("orders", 1, 40, 1'000);
    kafka.commit("orders-service", "orders", 0, 70);
    kafka.commit("orders-service", "orders", 1, 40);
  }
  void TearDown() override {
    managers.clear();
    apiServer.reset();
  }
  op::controllers::OperatorManager& startManager() {
    op::controllers::ManagerOptions o;
    o.clusters["default"] = op::kafka::ClusterConnection{"fake:9092", {}, 5s};
    o.leaderElection = false;
    o.watchNamespaces = {ns};  // on a real cluster, other tests' resources are not ours
    o.metrics = {"127.0.0.1", 0};
    o.probes = {"127.0.0.1", 0};
    o.lagInterval = 50ms;  // tests await conditions; a short interval only makes them come sooner
    o.partitionLagMetrics = partitionLagMetrics;
    o.lease.identity = "operator-" + std::to_string(managers.size());
    auto registry = std::make_shared<prometheus::Registry>();
    auto client = apiServer->newSharedClient(*registry);
    registries.push_back(registry);
    auto m = std::make_unique<op::controllers::OperatorManager>(
        std::move(o), client, registry,
        [this](const std::string&, const op::kafka::ClusterConnection&, std::string&) {
          return std::make_unique<SharedAdmin>(kafka);
        });
    std::string error;
    EXPECT_TRUE(m->start(error)) << error;
    managers.push_back(std::move(m));
    return *managers.back();
  }
  Json get(const std::string& name) { return api->get(kGroups + "/" + name).body; }
  bool awaitCondition(const std::string& name, const std::string& type, const std::string& status,
                      const std::string& reason, std::chrono::milliseconds timeout = 30s) {
    return eventually(
        [&] {
          Json c = condition(get(name), type);
          return !c.is_null() && c["status"] == status && c["reason"] == reason;
        },
        timeout);
  }
  std::vector<Json> eventsFor(const std::string& name) {
    std::vector<Json> out;
    const Json list = api->get("/api/v1/namespaces/" + ns + "/events").body;
    for (const auto& e : list["items"])
      if (e["involvedObject"]["name"] == name) out.push_back(e);
    return out;
  }

  bool partitionLagMetrics = false;  // consumerGroups.partitionLagMetrics of the next manager
  op::test::FakeClusterAdmin kafka;
  std::unique_ptr<tributary::test::ApiServerUnderTest> apiServer;
  std::string ns, kGroups;  // the test's namespace, its KafkaConsumerGroups
  std::unique_ptr<RestClient> api;
  std::vector<std::shared_ptr<prometheus::Registry>> registries;
  std::vector<std::unique_ptr<op::controllers::OperatorManager>> managers;
};

TEST_F(ConsumerGroupControllerTest, LagStateAndMembersReachStatusAndMetrics) {
  kafka.join("orders-service", {"m-1", "orders-7f9c", "/10.1.2.3", {{"orders", 0}, {"orders", 1}}});
  auto& m = startManager();
  ASSERT_EQ(api->post(kGroups, groupResource("orders-consumers", {{"groupId", "orders-service"}})).status, 201);
  ASSERT_TRUE(awaitCondition("orders-consumers", "Ready", "True", "LagObserved")) << get("orders-consumers").dump();
  Json status = get("orders-consumers")["status"];
  EXPECT_EQ(status["groupId"], "orders-service");
  EXPECT_EQ(status["state"], "Stable");
  EXPECT_EQ(status["members"]["count"], 1);
  EXPECT_EQ(status["members"]["list"][0]["clientId"], "orders-7f9c");
  EXPECT_EQ(status["members"]["list"][0]["assignment"], Json({"orders-0", "orders-1"}));
  EXPECT_EQ(status["totalLag"], 30);
  EXPECT_EQ(status["topics"][0]["topic"], "orders");
  EXPECT_EQ(status["topics"][0]["partitions"][0]["committed"], 70);
  EXPECT_EQ(status["topics"][0]["partitions"][0]["logEnd"], 100);
  EXPECT_EQ(status["topics"][0]["partitions"][0]["lag"], 30);

  httplib::Client metrics("127.0.0.1", m.metricsPort());
  ASSERT_TRUE(eventually([&] {
    auto r = metrics.Get("/metrics");
    return r && r->body.find("tributary_consumer_group_lag{group=\"orders-service\",name=\"orders-consumers\","
                             "namespace=\"" + ns + "\",topic=\"orders\"} 30") != std::string::npos;
  }));
  auto body = metrics.Get("/metrics")->body;
  EXPECT_NE(body.find("tributary_consumer_group_members{group=\"orders-service\",name=\"orders-consumers\","
                      "namespace=\"" + ns + "\"} 1"),
            std::string::npos);
  EXPECT_NE(body.find("tributary_consumer_group_state{group=\"orders-service\",name=\"orders-consumers\","
                      "namespace=\"" + ns + "\",state=\"Stable\"} 1"),
            std::string::npos);

  // The consumer catches up: lag 0 reaches status.
  kafka.commit("orders-service", "orders", 0, 100);
  ASSERT_TRUE(eventually([&] { return get("orders-consumers")["status"].value("totalLag", -1) == 0; }));
}

TEST_F(ConsumerGroupControllerTest, SteadyLagCostsNoStatusWrites) {
  startManager();
  ASSERT_EQ(api->post(kGroups, groupResource("g", {{"groupId", "orders-service"}})).status, 201);
  ASSERT_TRUE(awaitCondition("g", "Ready", "True", "LagObserved"));
  ASSERT_TRUE(eventually([&] { return get("g")["status"].contains("lagSeconds"); }));
  const std::string rv = get("g")["metadata"]["resourceVersion"];
  const int passes = kafka.calls("describeGroups");
  ASSERT_TRUE(eventually([&] { return kafka.calls("describeGroups") >= passes + 5; }));
  // A small move (1 of 30) stays out of status until statusInterval (5m) passes.
  kafka.commit("orders-service", "orders", 0, 71);
  const int later = kafka.calls("describeGroups");
  ASSERT_TRUE(eventually([&] { return kafka.calls("describeGroups") >= later + 5; }));
  EXPECT_EQ(get("g")["metadata"]["resourceVersion"], rv);
  EXPECT_EQ(get("g")["status"]["totalLag"], 30);
  // A large one (30 → 10) is written at the next pass.
  kafka.commit("orders-service", "orders", 0, 90);
  ASSERT_TRUE(eventually([&] { return get("g")["status"].value("totalLag", -1) == 10; }));
}

TEST_F(ConsumerGroupControllerTest, ResetIsAppliedOncePerRequestIdAlsoAcrossARestart) {
  startManager();
  ASSERT_EQ(api->post(kGroups, groupResource("g", {{"groupId", "orders-service"},
                                                   {"offsetReset", {{"requestId", "r1"}, {"to", "earliest"}}}}))
                .status,
            201);
  ASSERT_TRUE(awaitCondition("g", "OffsetsReset", "True", "OffsetsReset")) << get("g").dump();
  Json lastReset = get("g")["status"]["lastReset"];
  EXPECT_EQ(lastReset["requestId"], "r1");
  EXPECT_EQ(lastReset["to"], "earliest");
  EXPECT_EQ(lastReset["partitions"][0], Json({{"topic", "orders"}, {"partition", 0}, {"before", 70}, {"after", 0}}));
  EXPECT_EQ(kafka.committed("orders-service").at({"orders", 0}), 0);
  ASSERT_TRUE(eventually([&] {
    for (const auto& e : eventsFor("g"))
      if (e["reason"] == "OffsetsReset" && e["type"] == "Normal") return true;
    return false;
  }));

  // The consumers move on; a restarted operator does not apply r1 again.
  kafka.commit("orders-service", "orders", 0, 55);
  managers.clear();
  startManager();
  ASSERT_EQ(api->patch(kGroups + "/g", R"({"metadata":{"labels":{"touched":"yes"}}})").status, 200);
  const int passes = kafka.calls("describeGroups");
  ASSERT_TRUE(eventually([&] { return kafka.calls("describeGroups") >= passes + 3; }));
  EXPECT_EQ(kafka.committed("orders-service").at({"orders", 0}), 55);
  EXPECT_EQ(kafka.calls("alterGroupOffsets"), 1);

  // A new requestId is a new reset.
  ASSERT_EQ(api->patch(kGroups + "/g", R"({"spec":{"offsetReset":{"requestId":"r2","to":"latest"}}})").status, 200);
  ASSERT_TRUE(eventually([&] { return get("g")["status"]["lastReset"].value("requestId", "") == "r2"; }));
  EXPECT_EQ(kafka.committed("orders-service").at({"orders", 0}), 100);
}

TEST_F(ConsumerGroupControllerTest, ResetWaitsForAnEmptyGroupWithAWarning) {
  kafka.join("orders-service", {"m-1", "c", "/h", {}});
  startManager();
  ASSERT_EQ(api->post(kGroups, groupResource("g", {{"groupId", "orders-service"},
                                                   {"offsetReset", {{"requestId", "r1"}, {"to", "earliest"}}}}))
                .status,
            201);
  ASSERT_TRUE(awaitCondition("g", "OffsetsReset", "False", "GroupNotEmpty")) << get("g").dump();
  ASSERT_TRUE(eventually([&] {
    for (const auto& e : eventsFor("g"))
      if (e["reason"] == "GroupNotEmpty" && e["type"] == "Warning") return true;
    return false;
  }));
  EXPECT_EQ(kafka.committed("orders-service").at({"orders", 0}), 70);
  kafka.leave("orders-service", "m-1");  // the consumers were stopped: the retry applies it
  ASSERT_TRUE(awaitCondition("g", "OffsetsReset", "True", "OffsetsReset", 60s)) << get("g").dump();
  EXPECT_EQ(kafka.committed("orders-service").at({"orders", 0}), 0);
}

TEST_F(ConsumerGroupControllerTest, FinalizerOnlyWithDeleteAndDeletionDeletesTheGroup) {
  startManager();
  ASSERT_EQ(api->post(kGroups, groupResource("keep", {{"groupId", "orders-service"}})).status, 201);
  ASSERT_EQ(api->post(kGroups, groupResource("del", {{"groupId", "orders-service"}, {"deletionPolicy", "Delete"}})).status,
            201);
  ASSERT_TRUE(eventually([&] {
    Json f = get("del")["metadata"].value("finalizers", Json::array());
    return f == Json({"tributary.dev/consumer-group"});
  }));
  ASSERT_TRUE(awaitCondition("keep", "Ready", "True", "LagObserved"));
  EXPECT_TRUE(get("keep")["metadata"].value("finalizers", Json::array()).empty());
  ASSERT_EQ(api->del(kGroups + "/keep").status, 200);
  EXPECT_TRUE(kafka.groupExists("orders-service"));
  auto r = api->del(kGroups + "/del");
  ASSERT_TRUE(r.status == 200 || r.status == 202) << r.raw;
  ASSERT_TRUE(eventually([&] { return api->get(kGroups + "/del").status == 404; }));
  EXPECT_FALSE(kafka.groupExists("orders-service"));
}

TEST_F(ConsumerGroupControllerTest, InvalidSpecIsReportedNamingTheField) {
  startManager();
  // The CRD lets this through (no CEL); the operator names the field.
  ASSERT_EQ(api->post(kGroups, groupResource("bad", {{"offsetReset", {{"requestId", "r"}, {"to", "timestamp"}}}})).status,
            201);
  ASSERT_TRUE(awaitCondition("bad", "Ready", "False", "InvalidSpec"));
  EXPECT_NE(condition(get("bad"), "Ready")["message"].get<std::string>().find("spec.offsetReset.timestamp: required"),
            std::string::npos);
}

TEST_F(ConsumerGroupControllerTest, PartitionLagSeriesOnlyWhenAskedAndSeriesOfATopicLeavingTheViewGo) {
  partitionLagMetrics = true;
  kafka.putTopic("payments", {1, 3, {}});
  kafka.produce("payments", 0, 10, 1'000);
  kafka.commit("orders-service", "payments", 0, 4);
  auto& m = startManager();
  ASSERT_EQ(api->post(kGroups, groupResource("g", {{"groupId", "orders-service"}, {"topics", {"orders", "payments"}}}))
                .status,
            201);
  httplib::Client metrics("127.0.0.1", m.metricsPort());
  const std::string p0 =
      "tributary_consumer_group_partition_lag{group=\"orders-service\",name=\"g\",namespace=\"" + ns + "\",partition=\"0\","
      "topic=\"orders\"} 30";
  const std::string payments =
      "tributary_consumer_group_lag{group=\"orders-service\",name=\"g\",namespace=\"" + ns + "\",topic=\"payments\"} 6";
  ASSERT_TRUE(eventually([&] {
    auto r = metrics.Get("/metrics");
    return r && r->body.find(p0) != std::string::npos && r->body.find(payments) != std::string::npos;
  })) << metrics.Get("/metrics")->body;

  // payments leaves spec.topics: its series (topic and partition) go.
  ASSERT_EQ(api->patch(kGroups + "/g", R"({"spec":{"topics":["orders"]}})").status, 200);
  ASSERT_TRUE(eventually([&] {
    auto r = metrics.Get("/metrics");
    return r && r->body.find("topic=\"payments\"") == std::string::npos;
  })) << metrics.Get("/metrics")->body;
  EXPECT_NE(metrics.Get("/metrics")->body.find(p0), std::string::npos);
}

TEST_F(ConsumerGroupControllerTest, NoPartitionLagSeriesByDefault) {
  auto& m = startManager();
  ASSERT_EQ(api->post(kGroups, groupResource("g", {{"groupId", "orders-service"}})).status, 201);
  httplib::Client metrics("127.0.0.1", m.metricsPort());
  ASSERT_TRUE(eventually([&] {
    auto r = metrics.Get("/metrics");
    return r && r->body.find("tributary_consumer_group_lag{") != std::string::npos;
  }));
  EXPECT_EQ(metrics.Get("/metrics")->body.find("tributary_consumer_group_partition_lag"), std::string::npos);
}

}  // namespace
