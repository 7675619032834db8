// Controller mode end to end inside one process: the test API server (real
// HTTP on loopback; a real one when TRIBUTARY_TEST_KUBECONFIG is set), the
// operator's OperatorManager (libcurl client, informer, work queue,
// TopicController) and the ClusterAdmin test double standing in for Kafka's
// admin API (the embedded mock cluster has none).
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/log/log.h"
#include "operator/app/yaml_json.h"
#include "operator/controllers/operator_manager.h"
#include "operator/kube/curl_kube_client.h"
#include "tests/apiserver/api_client.h"
#include "tests/support/kube/api_server_under_test.h"
#include "tests/operator/topic/fake_cluster_admin.h"
#include "tests/support/tls_listener.h"
#include "tests/support/slow_clients.h"

using namespace std::chrono_literals;
using tributary::test::RestClient;
using tributary::apiserver::test::eventually;
using Json = nlohmann::json;
namespace op = tributary::op;

namespace {

// Hands the shared test double to the manager (which owns what the factory makes).
class SharedAdmin final : public op::kafka::ClusterAdmin {
 public:
  explicit SharedAdmin(op::test::FakeClusterAdmin& fake) : fake_(fake) {}
  std::vector<op::kafka::DescribeResult> describeTopics(const std::vector<std::string>& t) override {
    return fake_.describeTopics(t);
  }
  std::vector<op::kafka::ItemResult> createTopics(const std::vector<op::kafka::NewTopic>& t, bool v) override {
    return fake_.createTopics(t, v);
  }
  std::vector<op::kafka::ItemResult> createPartitions(const std::vector<op::kafka::PartitionIncrease>& p,
                                                      bool v) override {
    return fake_.createPartitions(p, v);
  }
  std::vector<op::kafka::ItemResult> alterConfigs(const std::vector<op::kafka::TopicConfigs>& c, bool v) override {
    return fake_.alterConfigs(c, v);
  }
  std::vector<op::kafka::ItemResult> deleteTopics(const std::vector<std::string>& t) override {
    return fake_.deleteTopics(t);
  }

 private:
  op::test::FakeClusterAdmin& fake_;
};

Json topicResource(const std::string& name, int partitions, Json extraSpec = Json::object()) {
  Json spec{{"partitions", partitions}, {"replicationFactor", 3}};
  spec.update(extraSpec);
  return {{"apiVersion", "tributary.dev/v1alpha1"},
          {"kind", "KafkaTopic"},
          {"metadata", {{"name", name}}},  // the namespace is the URL's
          {"spec", spec}};
}

class TopicControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    apiServer = std::make_unique<tributary::test::ApiServerUnderTest>();
    server = apiServer->testServer();
    ns = apiServer->ns();
    kTopics = "/apis/tributary.dev/v1alpha1/namespaces/" + ns + "/kafkatopics";
    api = apiServer->newRestClient();
    apiServer->installCrds({"kafkatopic.yaml"});
  }
  void TearDown() override {
    managers.clear();
    apiServer.reset();
  }

  virtual op::controllers::ManagerOptions options() {
    op::controllers::ManagerOptions o;
    o.clusters["default"] = op::kafka::ClusterConnection{"fake:9092", {}, 5s};
    o.leaderElection = false;
    o.watchNamespaces = {ns};  // on a real cluster, other tests' resources are not ours
    o.metrics = {"127.0.0.1", 0};
    o.probes = {"127.0.0.1", 0};
    o.resyncPeriod = resync;
    o.lease.identity = "operator-" + std::to_string(managers.size());
    return o;
  }

  op::controllers::OperatorManager& startManager(op::controllers::ManagerOptions o) {
    auto registry = std::make_shared<prometheus::Registry>();
    auto client = apiServer->newSharedClient(*registry);  // its calls are counted in apiServer->calls()
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
  op::controllers::OperatorManager& startManager() { return startManager(options()); }

  Json get(const std::string& name) { return api->get(kTopics + "/" + name).body; }

  static Json readyCondition(const Json& object) {
    for (const auto& c : object.value("status", Json::object()).value("conditions", Json::array()))
      if (c.value("type", "") == "Ready") return c;
    return nullptr;
  }

  // Waits until the resource's Ready condition has `status` and `reason` for its current generation.
  bool awaitReady(const std::string& name, const std::string& status, const std::string& reason = "",
                  std::chrono::milliseconds timeout = 30s) {
    return eventually(
        [&] {
          Json o = get(name);
          Json c = readyCondition(o);
          return !c.is_null() && c["status"] == status && (reason.empty() || c["reason"] == reason) &&
                 o["status"].value("observedGeneration", 0) == o["metadata"].value("generation", -1);
        },
        timeout);
  }

  std::vector<Json> eventsFor(const std::string& name) {
    std::vector<Json> out;
    const Json list = api->get("/api/v1/namespaces/" + ns + "/events").body;  // kept alive for the loop
    for (const auto& e : list["items"])
      if (e["involvedObject"]["name"] == name) out.push_back(e);
    return out;
  }

  std::chrono::milliseconds resync{300'000};
  op::test::FakeClusterAdmin kafka;
  std::unique_ptr<tributary::test::ApiServerUnderTest> apiServer;
  tributary::apiserver::TestApiServer* server = nullptr;  // nullptr against a real API server
  std::string ns, kTopics;                                 // the test's namespace, its KafkaTopics
  std::unique_ptr<RestClient> api;
  std::vector<std::shared_ptr<prometheus::Registry>> registries;
  std::vector<std::unique_ptr<op::controllers::OperatorManager>> managers;
};

TEST_F(TopicControllerTest, AnAppliedTopicIsCreatedAndReportedReadyWithAnEvent) {
  startManager();
  ASSERT_EQ(api->post(kTopics, topicResource("orders", 6, {{"config", {{"retention.ms", "3600000"}}}})).status, 201);
  ASSERT_TRUE(awaitReady("orders", "True", "Created")) << get("orders").dump();
  auto t = kafka.topic("orders");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->partitions, 6);
  EXPECT_EQ(t->replicationFactor, 3);
  EXPECT_EQ(t->dynamicConfigs, (std::map<std::string, std::string>{{"retention.ms", "3600000"}}));
  Json status = get("orders")["status"];
  EXPECT_EQ(status["topicName"], "orders");
  EXPECT_EQ(status["partitions"], 6);
  EXPECT_EQ(status["observedGeneration"], 1);
  EXPECT_FALSE(readyCondition(get("orders"))["lastTransitionTime"].get<std::string>().empty());
  ASSERT_TRUE(eventually([&] { return !eventsFor("orders").empty(); }));
  EXPECT_EQ(eventsFor("orders")[0]["reason"], "Created");
  EXPECT_EQ(eventsFor("orders")[0]["type"], "Normal");
  // Retain (the default) never holds the resource with a finalizer.
  EXPECT_FALSE(get("orders")["metadata"].contains("finalizers") &&
               !get("orders")["metadata"]["finalizers"].empty());
}

TEST_F(TopicControllerTest, EditsReachKafkaAndRefusalsLeaveItUntouched) {
  startManager();
  ASSERT_EQ(api->post(kTopics, topicResource("orders", 6, {{"config", {{"retention.ms", "3600000"},
                                                                      {"cleanup.policy", "compact"}}}}))
                .status,
            201);
  ASSERT_TRUE(awaitReady("orders", "True"));
  // Raise partitions and drop a config key: both reach Kafka; the key goes back to the default.
  auto r = api->patch(kTopics + "/orders", R"({"spec":{"partitions":8,"config":{"cleanup.policy":null}}})");
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_TRUE(awaitReady("orders", "True", "Updated")) << get("orders").dump();
  EXPECT_EQ(kafka.topic("orders")->partitions, 8);
  EXPECT_EQ(kafka.topic("orders")->dynamicConfigs, (std::map<std::string, std::string>{{"retention.ms", "3600000"}}));
  EXPECT_EQ(get("orders")["status"]["observedGeneration"], 2);

  // A decrease is refused: condition says why, Kafka keeps 8.
  const int mutations = kafka.mutations();
  ASSERT_EQ(api->patch(kTopics + "/orders", R"({"spec":{"partitions":4}})").status, 200);
  ASSERT_TRUE(awaitReady("orders", "False", "PartitionDecreaseNotAllowed")) << get("orders").dump();
  EXPECT_EQ(kafka.topic("orders")->partitions, 8);
  EXPECT_EQ(kafka.mutations(), mutations);
  EXPECT_NE(readyCondition(get("orders"))["message"].get<std::string>().find("8"), std::string::npos);

  // A replication-factor change is refused the same way.
  ASSERT_EQ(api->patch(kTopics + "/orders", R"({"spec":{"partitions":8,"replicationFactor":1}})").status, 200);
  ASSERT_TRUE(awaitReady("orders", "False", "ReplicationFactorChangeNotSupported"));
  EXPECT_EQ(kafka.topic("orders")->replicationFactor, 3);
  EXPECT_EQ(kafka.mutations(), mutations);
}

TEST_F(TopicControllerTest, AConfigTheBrokerRejectsIsRefusedWithItsMessage) {
  startManager();
  ASSERT_EQ(api->post(kTopics, topicResource("bad", 3, {{"config", {{"retention.ms", "soon"}}}})).status, 201);
  ASSERT_TRUE(awaitReady("bad", "False", "InvalidConfig")) << get("bad").dump();
  EXPECT_FALSE(kafka.topic("bad")) << "nothing is created with a config Kafka refuses";
  EXPECT_FALSE(readyCondition(get("bad"))["message"].get<std::string>().empty());
}

class TopicControllerResync : public TopicControllerTest {
 protected:
  void SetUp() override {
    resync = 500ms;
    TopicControllerTest::SetUp();
  }
};

TEST_F(TopicControllerResync, DriftMadeInKafkaIsCorrectedAndSteadyStateWritesNothing) {
  startManager();
  ASSERT_EQ(api->post(kTopics, topicResource("orders", 6, {{"config", {{"retention.ms", "3600000"}}}})).status, 201);
  ASSERT_TRUE(awaitReady("orders", "True"));
  // Someone changes the topic outside the operator.
  kafka.putTopic("orders", {6, 3, {{"retention.ms", "1"}, {"cleanup.policy", "compact"}}});
  ASSERT_TRUE(eventually([&] {
    auto t = kafka.topic("orders");
    return t && t->dynamicConfigs == std::map<std::string, std::string>{{"retention.ms", "3600000"}};
  }));
  // Converged: further resyncs describe Kafka but write nothing to the API server.
  const int describes = kafka.calls("describeTopics");
  ASSERT_TRUE(eventually([&] { return kafka.calls("describeTopics") >= describes + 1; }));  // one resync settles
  apiServer->calls().clear();
  const int after = kafka.calls("describeTopics");
  ASSERT_TRUE(eventually([&] { return kafka.calls("describeTopics") >= after + 3; }));  // three more resyncs
  int writes = 0;
  for (const auto& r : apiServer->calls().calls())  // what the operator's client sent
    if (r.verb != "get" && r.verb != "list" && r.verb != "watch") ++writes;
  EXPECT_EQ(writes, 0) << "steady state costs no API writes";
}

TEST_F(TopicControllerTest, DeletionPolicyDeleteRemovesTheTopicAndRetainKeepsIt) {
  startManager();
  ASSERT_EQ(api->post(kTopics, topicResource("gone", 3, {{"deletionPolicy", "Delete"}})).status, 201);
  ASSERT_EQ(api->post(kTopics, topicResource("kept", 3)).status, 201);
  ASSERT_TRUE(awaitReady("gone", "True"));
  ASSERT_TRUE(awaitReady("kept", "True"));
  EXPECT_EQ(get("gone")["metadata"]["finalizers"], Json::array({"tributary.dev/topic"}));
  ASSERT_EQ(api->del(kTopics + "/gone").status, 200);
  ASSERT_EQ(api->del(kTopics + "/kept").status, 200);
  ASSERT_TRUE(eventually([&] { return api->get(kTopics + "/gone").status == 404; }));
  ASSERT_TRUE(eventually([&] { return api->get(kTopics + "/kept").status == 404; }));
  EXPECT_FALSE(kafka.topic("gone")) << "deletionPolicy Delete deleted the Kafka topic";
  EXPECT_TRUE(kafka.topic("kept")) << "deletionPolicy Retain kept it";
}

// The informer stores objects without managedFields and the last-applied
// annotation; writing the finalizer must not take them off the server, or the
// next `kubectl apply` would no longer know what it applied.
TEST_F(TopicControllerTest, AddingTheFinalizerKeepsWhatKubectlApplyWrote) {
  startManager();
  Json applied = topicResource("orders", 3, {{"deletionPolicy", "Delete"}});
  const std::string lastApplied = applied.dump() + "\n";
  applied["metadata"]["annotations"] = {{"kubectl.kubernetes.io/last-applied-configuration", lastApplied},
                                        {"team", "payments"}};
  ASSERT_EQ(api->post(kTopics + "?fieldManager=kubectl-client-side-apply", applied).status, 201);
  ASSERT_TRUE(awaitReady("orders", "True"));
  const Json o = get("orders");
  EXPECT_EQ(o["metadata"]["finalizers"], Json::array({"tributary.dev/topic"}));
  EXPECT_EQ(o["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"], lastApplied);
  EXPECT_EQ(o["metadata"]["annotations"]["team"], "payments");
  // The creator's managedFields entry is still there, next to the operator's.
  std::set<std::string> managers;
  for (const auto& e : o["metadata"]["managedFields"]) managers.insert(e.value("manager", ""));
  EXPECT_GE(managers.size(), 2u) << o["metadata"].dump();
}

TEST_F(TopicControllerTest, ASecondResourceClaimingATopicIsRefusedAndInheritsItWhenTheFirstGoes) {
  startManager();
  ASSERT_EQ(api->post(kTopics, topicResource("first", 3, {{"topicName", "shared"}})).status, 201);
  ASSERT_TRUE(awaitReady("first", "True"));
  ASSERT_EQ(api->post(kTopics, topicResource("second", 5, {{"topicName", "shared"}, {"deletionPolicy", "Delete"}}))
                .status,
            201);
  ASSERT_TRUE(awaitReady("second", "False", "TopicNameConflict")) << get("second").dump();
  EXPECT_EQ(kafka.topic("shared")->partitions, 3) << "the second resource changes nothing";
  EXPECT_NE(readyCondition(get("second"))["message"].get<std::string>().find(ns + "/first"), std::string::npos);
  // The first goes (Retain): the second inherits the topic and applies its spec.
  ASSERT_EQ(api->del(kTopics + "/first").status, 200);
  ASSERT_TRUE(awaitReady("second", "True")) << get("second").dump();
  EXPECT_EQ(kafka.topic("shared")->partitions, 5);
}

TEST_F(TopicControllerTest, DeletingTheLosingClaimantNeverDeletesTheTopic) {
  startManager();
  ASSERT_EQ(api->post(kTopics, topicResource("owner", 3, {{"topicName", "shared"}})).status, 201);
  ASSERT_TRUE(awaitReady("owner", "True"));
  ASSERT_EQ(api->post(kTopics, topicResource("intruder", 3, {{"topicName", "shared"}, {"deletionPolicy", "Delete"}}))
                .status,
            201);
  ASSERT_TRUE(awaitReady("intruder", "False", "TopicNameConflict"));
  ASSERT_EQ(api->del(kTopics + "/intruder").status, 200);
  ASSERT_TRUE(eventually([&] { return api->get(kTopics + "/intruder").status == 404; }));
  EXPECT_TRUE(kafka.topic("shared"));
}

TEST_F(TopicControllerTest, ThePausedAnnotationStopsReconcilingUntilItIsRemoved) {
  startManager();
  ASSERT_EQ(api->post(kTopics, topicResource("orders", 3)).status, 201);
  ASSERT_TRUE(awaitReady("orders", "True"));
  ASSERT_EQ(api->patch(kTopics + "/orders",
                       R"({"metadata":{"annotations":{"tributary.dev/paused":"true"}},"spec":{"partitions":6}})")
                .status,
            200);
  auto pausedCondition = [&] {
    const Json conditions = get("orders")["status"].value("conditions", Json::array());
    for (const auto& c : conditions)
      if (c["type"] == "ReconciliationPaused") return c;
    return Json::object();
  };
  ASSERT_TRUE(eventually([&] { return pausedCondition().value("status", "") == "True"; })) << get("orders").dump();
  EXPECT_EQ(kafka.topic("orders")->partitions, 3);
  ASSERT_EQ(api->patch(kTopics + "/orders", R"({"metadata":{"annotations":{"tributary.dev/paused":null}}})").status,
            200);
  ASSERT_TRUE(eventually([&] { return kafka.topic("orders")->partitions == 6; }));
  ASSERT_TRUE(eventually([&] { return pausedCondition().value("status", "") == "False"; }));
}

TEST_F(TopicControllerTest, KafkaDownIsReportedAndRetriedUntilItAnswers) {
  kafka.setUnavailable(true);
  startManager();
  ASSERT_EQ(api->post(kTopics, topicResource("orders", 3)).status, 201);
  ASSERT_TRUE(awaitReady("orders", "False", "KafkaUnavailable")) << get("orders").dump();
  kafka.setUnavailable(false);
  ASSERT_TRUE(awaitReady("orders", "True", "Created", 60s)) << get("orders").dump();
  EXPECT_EQ(kafka.topic("orders")->partitions, 3);
}

TEST_F(TopicControllerTest, AnUnknownClusterIsRefusedByName) {
  startManager();
  ASSERT_EQ(api->post(kTopics, topicResource("elsewhere", 3, {{"cluster", "eu-west"}})).status, 201);
  ASSERT_TRUE(awaitReady("elsewhere", "False", "UnknownCluster")) << get("elsewhere").dump();
  EXPECT_NE(readyCondition(get("elsewhere"))["message"].get<std::string>().find("eu-west"), std::string::npos);
  EXPECT_TRUE(kafka.topicNames().empty());
}

TEST_F(TopicControllerTest, AnApiServerFailingForAWhileIsRetried) {
  SKIP_UNLESS_TEST_API_SERVER(*apiServer, "failNextRequests(), dropWatches()");
  startManager();
  ASSERT_TRUE(eventually([&] { return server->openWatches() > 0; }));
  server->failNextRequests(6, 503);
  server->dropWatches();
  ASSERT_TRUE(eventually([&] { return api->post(kTopics, topicResource("orders", 3)).status == 201; }));
  ASSERT_TRUE(awaitReady("orders", "True", "", 60s)) << get("orders").dump();
}

TEST_F(TopicControllerTest, ConflictsWritingFinalizersAndStatusAreRetried) {
  SKIP_UNLESS_TEST_API_SERVER(*apiServer, "failNextRequests() with 409");
  startManager();
  // The finalizer patch (carrying the resourceVersion read) and the status write
  // both meet a 409 first, as when another writer got there in between.
  // Only the operator addresses the object's own path until the test reads it below.
  server->failNextRequests(2, 409, "/kafkatopics/gone");
  ASSERT_EQ(api->post(kTopics, topicResource("gone", 3, {{"deletionPolicy", "Delete"}})).status, 201);
  auto operatorConflicts = [&] {
    int n = 0;
    for (const auto& r : server->requests())
      if (r.status == 409 && (r.method == "PUT" || r.method == "PATCH")) ++n;
    return n;
  };
  ASSERT_TRUE(eventually([&] { return operatorConflicts() == 2; }));
  ASSERT_TRUE(awaitReady("gone", "True", "Created")) << get("gone").dump();
  EXPECT_EQ(get("gone")["metadata"]["finalizers"], Json::array({"tributary.dev/topic"}));
  EXPECT_EQ(kafka.topic("gone")->partitions, 3);
}

TEST_F(TopicControllerTest, MetricsAndProbesAreServed) {
  auto& m = startManager();
  ASSERT_EQ(api->post(kTopics, topicResource("orders", 3)).status, 201);
  ASSERT_TRUE(awaitReady("orders", "True"));
  httplib::Client metrics("127.0.0.1", m.metricsPort());
  auto text = metrics.Get("/metrics");
  ASSERT_TRUE(text);
  for (const char* name : {"tributary_operator_reconcile_total", "tributary_operator_reconcile_duration_seconds",
                           "tributary_operator_workqueue_depth", "tributary_operator_kafka_admin_calls_total",
                           "tributary_operator_api_requests_total"})
    EXPECT_NE(text->body.find(name), std::string::npos) << name;
  httplib::Client probes("127.0.0.1", m.probesPort());
  EXPECT_EQ(probes.Get("/healthz")->status, 200);
  EXPECT_EQ(probes.Get("/readyz")->status, 200);
}

// The operator's :8080 (metrics) and :8081 (probes) against 1000 idle and 100
// header-dripping clients each: the probes keep answering, scrapes keep working.
TEST_F(TopicControllerTest, MetricsAndProbesServeThroughIdleAndDrippingClients) {
  auto& m = startManager();
  auto probe = [&] {
    httplib::Client c("127.0.0.1", m.probesPort());
    c.set_read_timeout(60);  // a hang guard
    auto res = c.Get("/readyz");
    return res && res->status == 200;
  };
  auto scrape = [&] {
    httplib::Client c("127.0.0.1", m.metricsPort());
    c.set_read_timeout(60);
    auto res = c.Get("/metrics");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
  };
  ASSERT_TRUE(eventually(probe));
  tributary::test::expectListenerServesThroughSlowClients(m.probesPort(), probe, scrape);
  tributary::test::expectListenerServesThroughSlowClients(
      m.metricsPort(),
      [&] {
        httplib::Client c("127.0.0.1", m.metricsPort());
        c.set_read_timeout(60);
        auto res = c.Get("/metrics");
        return res && res->status == 200 && probe();
      },
      scrape);
}

class LeaderElection : public TopicControllerTest {
 protected:
  op::controllers::ManagerOptions options() override {
    auto o = TopicControllerTest::options();
    o.leaderElection = true;
    o.lease.leaseNamespace = ns;
    o.lease.leaseName = "tributary-operator";
    o.lease.leaseDuration = 2s;
    o.lease.renewDeadline = 1500ms;
    o.lease.retryPeriod = 200ms;
    return o;
  }
};

TEST_F(LeaderElection, OnlyTheLeaderReconcilesAndAStoppedLeaderHandsOver) {
  auto& a = startManager();
  auto& b = startManager();
  ASSERT_TRUE(eventually([&] { return a.reconciling() != b.reconciling(); }));
  auto& leader = a.reconciling() ? a : b;
  auto& standby = a.reconciling() ? b : a;
  EXPECT_TRUE(leader.isLeader());
  EXPECT_FALSE(standby.isLeader());
  httplib::Client standbyProbe("127.0.0.1", standby.probesPort());
  auto standbyReady = standbyProbe.Get("/readyz");
  ASSERT_TRUE(standbyReady);
  EXPECT_EQ(standbyReady->status, 200) << "a standby is ready to take over (rolling updates need it)";
  EXPECT_EQ(Json::parse(standbyReady->body)["leader"], false);
  httplib::Client leaderProbe("127.0.0.1", leader.probesPort());
  EXPECT_EQ(Json::parse(leaderProbe.Get("/readyz")->body)["leader"], true);
  ASSERT_EQ(api->post(kTopics, topicResource("orders", 3)).status, 201);
  ASSERT_TRUE(awaitReady("orders", "True"));

  leader.stop();
  ASSERT_TRUE(eventually([&] { return standby.reconciling(); }));
  ASSERT_EQ(api->post(kTopics, topicResource("payments", 4)).status, 201);
  ASSERT_TRUE(awaitReady("payments", "True"));
  EXPECT_EQ(kafka.topic("payments")->partitions, 4);
}

}  // namespace

// Secrets in clusters.*.properties — a canary in every secret-bearing
// property, from files and the environment, the client key's passphrase
// included — never reach a resource's conditions, its Events, the operator's
// metrics or its logs (debug level, librdkafka's debug logging on). The
// "broker" is a TLS listener requiring the client certificate that takes the
// session and hangs up, so the real admin client fails and the failure is
// reported everywhere it can be.
TEST_F(TopicControllerTest, SecretsInClusterPropertiesNeverReachConditionsEventsMetricsOrLogs) {
  const std::string canary = "CANARY-operator-4e1d-do-not-leak";
  char tmpl[] = "/tmp/tributary-operator-secrets-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  std::string error;
  auto certs = tributary::test::makeTestCertificates(dir, canary, error);
  ASSERT_TRUE(certs) << error;
  tributary::test::TlsListener listener(*certs);
  std::ofstream(dir + "/password") << canary << "\n";
  std::ofstream(dir + "/oauth.properties") << "config=principal=" << canary << "\n";
  ::setenv("TRIBUTARY_TEST_OPERATOR_CANARY", canary.c_str(), 1);

  auto o = options();
  o.clusters["default"] = op::kafka::ClusterConnection{
      listener.bootstrap(),
      {{"security.protocol", "SASL_SSL"},
       {"sasl.mechanisms", "SCRAM-SHA-512"},
       {"sasl.username", "operator"},
       {"sasl.password", "${file:" + dir + "/password}"},
       {"ssl.ca.location", certs->caCrt},
       {"ssl.certificate.location", certs->userCrt},
       {"ssl.key.location", certs->userKeyEncrypted},
       {"ssl.key.password", "${file:" + dir + "/password}"},
       {"ssl.keystore.password", "${env:TRIBUTARY_TEST_OPERATOR_CANARY}"},
       {"sasl.oauthbearer.config", "${file:" + dir + "/oauth.properties:config}"},
       {"debug", "all"}},
      5s};
  testing::internal::CaptureStderr();
  tributary::log::setLevel(tributary::log::Level::Debug);
  auto registry = std::make_shared<prometheus::Registry>();
  auto manager = std::make_unique<op::controllers::OperatorManager>(o, apiServer->newSharedClient(*registry), registry,
                                                                     op::controllers::rdkafkaAdminFactory());
  const bool started = manager->start(error);
  ::unsetenv("TRIBUTARY_TEST_OPERATOR_CANARY");
  std::string metrics;
  if (started) {
    EXPECT_EQ(api->post(kTopics, topicResource("orders", 3)).status, 201);
    EXPECT_TRUE(awaitReady("orders", "False", "KafkaUnavailable", 90s)) << get("orders").dump();
    EXPECT_TRUE(eventually([&] { return !eventsFor("orders").empty(); }, 30s));
    // The admin client retries its connection: on a loaded machine the first
    // TLS session may come after the first KafkaUnavailable (its 5 s timeout).
    // 60 s is a hang guard, not a timing expectation.
    EXPECT_TRUE(listener.awaitHandshake(60s)) << "the admin client never opened its TLS session";
    httplib::Client m("127.0.0.1", manager->metricsPort());
    if (auto r = m.Get("/metrics")) metrics = r->body;
    manager->stop();
  }
  manager.reset();
  tributary::log::setLevel(tributary::log::Level::Info);
  const std::string logs = testing::internal::GetCapturedStderr();
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(started) << error;

  std::string reported = get("orders").dump();
  for (const auto& e : eventsFor("orders")) reported += e.dump();
  EXPECT_NE(reported.find("KafkaUnavailable"), std::string::npos);
  EXPECT_NE(logs.find("librdkafka"), std::string::npos) << "librdkafka's debug lines were there to leak";
  EXPECT_FALSE(metrics.empty());
  EXPECT_EQ(reported.find(canary), std::string::npos) << reported;
  EXPECT_EQ(metrics.find(canary), std::string::npos);
  EXPECT_EQ(logs.find(canary), std::string::npos);
}
