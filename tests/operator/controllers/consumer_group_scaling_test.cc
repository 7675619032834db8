// spec.scaleTarget end to end, with a fake clock: ConsumerGroupController's
// lag pass and reconcile driven step by step against the test API server (a
// real one when TRIBUTARY_TEST_KUBECONFIG is set; each test in a namespace of
// its own): Deployments, their scale subresource, HPAs, a CRD with a scale
// subresource and the ClusterAdmin double holding the group's lag. What a user
// sees: the target's replicas, `Scaled` Events, status.scale and the Scaling
// condition — and what the operator does not do (no writes next to an HPA,
// no scale-down inside the stabilisation window, none from zero below
// activationLag).
#include <gtest/gtest.h>

#include <set>

#include "operator/app/yaml_json.h"
#include "operator/controllers/consumer_group_controller.h"
#include "operator/kube/curl_kube_client.h"
#include "operator/kube/event_recorder.h"
#include "tests/apiserver/api_client.h"
#include "tests/support/kube/api_server_under_test.h"
#include "tests/operator/topic/fake_cluster_admin.h"

namespace {

using namespace std::chrono_literals;
using tributary::apiserver::test::eventually;
using tributary::test::RestClient;
using Json = nlohmann::json;
using Clock = std::chrono::system_clock;
namespace op = tributary::op;
namespace kube = tributary::op::kube;

const kube::ResourceRef kCrds{"apiextensions.k8s.io", "v1", "customresourcedefinitions", false};
constexpr int kPartitions = 12;

Json deployment(const std::string& name, int replicas) {
  Json d = Json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},
    "spec":{"selector":{"matchLabels":{"app":"consumers"}},
            "template":{"metadata":{"labels":{"app":"consumers"}},
                        "spec":{"containers":[{"name":"c","image":"consumer:1"}]}}}})");
  d["metadata"]["name"] = name;
  d["spec"]["replicas"] = replicas;
  return d;
}

Json condition(const Json& object, const std::string& type) {
  for (const auto& c : object.value("status", Json::object()).value("conditions", Json::array()))
    if (c.value("type", "") == type) return c;
  return nullptr;
}

class ConsumerGroupScalingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    apiServer = std::make_unique<tributary::test::ApiServerUnderTest>();
    testServer = apiServer->testServer();
    ns = apiServer->ns();
    kGroups = "/apis/tributary.dev/v1alpha1/namespaces/" + ns + "/kafkaconsumergroups";
    kDeployments = "/apis/apps/v1/namespaces/" + ns + "/deployments";
    kHpas = "/apis/autoscaling/v2/namespaces/" + ns + "/horizontalpodautoscalers";
    api = apiServer->newRestClient();
    apiServer->installCrds({"kafkaconsumergroup.yaml"});
    client = apiServer->newClient(registry);
    events = std::make_unique<kube::EventRecorder>(*client, "tributary-operator", registry);
    kafka.putTopic("orders", {kPartitions, 3, {}});
    logEnd.assign(kPartitions, 0);
    setLag({});
    controller = newController();
  }
  void TearDown() override {
    controller.reset();
    events.reset();
    client.reset();
    api.reset();  // no idle connection left to hold the test server's stop()
    apiServer.reset();
  }

  std::unique_ptr<op::controllers::ConsumerGroupController> newController() {
    op::controllers::ObjectStoreView store{[this](const std::string& key) -> std::optional<Json> {
      const auto slash = key.find('/');
      auto r = api->get("/apis/tributary.dev/v1alpha1/namespaces/" + key.substr(0, slash) + "/kafkaconsumergroups/" +
                        key.substr(slash + 1));
      if (r.status != 200) return std::nullopt;
      return r.body;
    }};
    op::controllers::ConsumerGroupControllerOptions o;
    o.now = [this] { return now; };
    return std::make_unique<op::controllers::ConsumerGroupController>(
        *client, store, std::map<std::string, op::controllers::ClusterTarget>{{"default", {&kafka}}}, *events, o);
  }

  // The group's lag per partition (absent: 0): the log grows as needed, the
  // group commits at log end - lag.
  void setLag(const std::map<int, int64_t>& lag) {
    for (int p = 0; p < kPartitions; ++p) {
      const int64_t want = lag.count(p) ? lag.at(p) : 0;
      if (logEnd[p] < want) {
        kafka.produce("orders", p, static_cast<int>(want - logEnd[p]), 1'000);
        logEnd[p] = want;
      }
      kafka.commit("orders-service", "orders", p, logEnd[p] - want);
    }
  }
  // `total` spread evenly over `partitions` partitions.
  void setTotalLag(int64_t total, int partitions = kPartitions) {
    std::map<int, int64_t> lag;
    for (int p = 0; p < partitions; ++p) lag[p] = total / partitions + (p < total % partitions ? 1 : 0);
    setLag(lag);
  }

  void createGroup(Json scaleTarget, const std::string& name = "orders") {
    Json g = {{"apiVersion", "tributary.dev/v1alpha1"},
              {"kind", "KafkaConsumerGroup"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"spec", {{"groupId", "orders-service"}, {"topics", {"orders"}}, {"scaleTarget", scaleTarget}}}};
    auto r = api->post(kGroups, g);
    ASSERT_EQ(r.status, 201) << r.raw;
  }
  static Json target(int min, int max, int64_t perReplica) {
    return {{"kind", "Deployment"}, {"name", "consumers"}, {"minReplicas", min}, {"maxReplicas", max},
            {"lagPerReplica", perReplica}};
  }

  // One lag pass at the fake clock's time, then the reconcile of what it queued
  // (what the manager's lag thread and workers do, one step at a time).
  void pass() {
    std::vector<Json> objects = client->list(op::controllers::kKafkaConsumerGroups, ns).items;
    std::set<std::string> queued;
    controller->lagPass(objects, [&](const std::string& key) { queued.insert(key); });
    if (!queued.empty()) controller->reconcile({queued.begin(), queued.end()});
  }

  int replicas(const std::string& name = "consumers") {
    return api->get(kDeployments + "/" + name).body["spec"]["replicas"].get<int>();
  }
  Json group(const std::string& name = "orders") { return api->get(kGroups + "/" + name).body; }
  Json scaling(const std::string& name = "orders") { return condition(group(name), "Scaling"); }
  // What the operator's client asked for (verb as ClientCall has it: get,
  // list, update, patch, ...), counted on the client: the same on both servers.
  size_t callsTo(const std::string& verb, const std::string& contains) {
    return apiServer->calls().count(verb, contains);
  }
  std::vector<Json> scaledEvents() {
    // The recorder writes on its own thread: what the passes recorded, written first.
    EXPECT_TRUE(events->flush(30s)) << "Events not written within 30 s";
    std::vector<Json> out;
    const Json list = api->get("/api/v1/namespaces/" + ns + "/events").body;
    for (const auto& e : list["items"])
      if (e["reason"] == "Scaled") out.push_back(e);
    return out;
  }

  Clock::time_point now = Clock::time_point(1'800'000'000s);
  op::test::FakeClusterAdmin kafka;
  std::vector<int64_t> logEnd;
  std::unique_ptr<tributary::test::ApiServerUnderTest> apiServer;
  tributary::apiserver::TestApiServer* testServer = nullptr;  // nullptr on a real server
  std::string ns;                                             // the test's namespace
  std::string kGroups, kDeployments, kHpas;                   // collections in it
  std::unique_ptr<RestClient> api;
  prometheus::Registry registry;
  std::unique_ptr<kube::KubeClient> client;  // logged in apiServer->calls()
  std::unique_ptr<kube::EventRecorder> events;
  std::unique_ptr<op::controllers::ConsumerGroupController> controller;
};

TEST_F(ConsumerGroupScalingTest, ReplicasAreCeilOfLagOverLagPerReplicaWithAnEventAndStatus) {
  ASSERT_EQ(api->post(kDeployments, deployment("consumers", 2)).status, 201);
  createGroup(target(1, 10, 1000));
  setTotalLag(4800);
  pass();
  EXPECT_EQ(replicas(), 5);  // ceil(4800 / 1000)

  auto scaled = scaledEvents();
  ASSERT_EQ(scaled.size(), 1u);
  EXPECT_EQ(scaled[0]["type"], "Normal");
  EXPECT_EQ(scaled[0]["message"], "scaled Deployment/consumers from 2 to 5 replicas: lag 4800 over 1000 per replica");
  EXPECT_EQ(scaled[0]["involvedObject"]["kind"], "KafkaConsumerGroup");
  EXPECT_EQ(scaled[0]["involvedObject"]["name"], "orders");

  Json g = group();
  EXPECT_EQ(g["status"]["scale"]["desired"], 5);
  EXPECT_EQ(g["status"]["scale"]["current"], 5);
  EXPECT_EQ(g["status"]["scale"]["lastScaleTime"], "2027-01-15T08:00:00Z");
  Json c = condition(g, "Scaling");
  EXPECT_EQ(c["status"], "True");
  EXPECT_EQ(c["reason"], "ScaledUp");
  EXPECT_EQ(c["observedGeneration"], g["metadata"]["generation"]);

  // Steady state: the same lag costs no scale write and no status write (from
  // the second pass on: the first cannot tell lagSeconds yet, the second can).
  now += 30s;
  pass();
  const size_t scaleWrites = callsTo("update", "/scale"), statusWrites = callsTo("patch", "/status");
  now += 30s;
  pass();
  now += 30s;
  pass();
  EXPECT_EQ(replicas(), 5);
  EXPECT_EQ(callsTo("update", "/scale"), scaleWrites);
  EXPECT_EQ(callsTo("patch", "/status"), statusWrites);
  EXPECT_EQ(scaledEvents().size(), 1u);
  EXPECT_EQ(scaling()["reason"], "ScaledUp");

  // More lag: up at once, another Event.
  setTotalLag(7100);
  now += 30s;
  pass();
  EXPECT_EQ(replicas(), 8);
  ASSERT_EQ(scaledEvents().size(), 2u);
  EXPECT_EQ(group()["status"]["scale"]["desired"], 8);
}

TEST_F(ConsumerGroupScalingTest, BoundedByMaxReplicasAndByPartitions) {
  ASSERT_EQ(api->post(kDeployments, deployment("consumers", 1)).status, 201);
  createGroup(target(1, 8, 100));
  setTotalLag(50'000);
  pass();
  EXPECT_EQ(replicas(), 8);  // maxReplicas, not 500

  // maxReplicas above the partition count: one consumer per partition at most.
  ASSERT_EQ(api->patch(kGroups + "/orders", R"({"spec":{"scaleTarget":{"maxReplicas":50}}})").status, 200);
  now += 30s;
  pass();
  EXPECT_EQ(replicas(), kPartitions);
}

TEST_F(ConsumerGroupScalingTest, LimitToPartitionsWithLagCountsOnlyThose) {
  ASSERT_EQ(api->post(kDeployments, deployment("consumers", 1)).status, 201);
  Json t = target(0, 10, 100);
  t["limitToPartitionsWithLag"] = true;
  createGroup(t);
  setLag({{0, 5'000}, {3, 5'000}});  // 100 replicas' worth of lag on 2 partitions
  pass();
  EXPECT_EQ(replicas(), 2);
}

TEST_F(ConsumerGroupScalingTest, MinReplicasHoldsWithoutLag) {
  ASSERT_EQ(api->post(kDeployments, deployment("consumers", 1)).status, 201);
  createGroup(target(3, 10, 1000));
  pass();  // no lag at all
  EXPECT_EQ(replicas(), 3);
  EXPECT_EQ(scaling()["reason"], "ScaledUp");
}

TEST_F(ConsumerGroupScalingTest, FromZeroOnlyOnceLagReachesActivationLag) {
  ASSERT_EQ(api->post(kDeployments, deployment("consumers", 0)).status, 201);
  Json t = target(0, 10, 1000);
  t["activationLag"] = 500;
  createGroup(t);
  setTotalLag(300);
  pass();
  EXPECT_EQ(replicas(), 0);
  EXPECT_EQ(callsTo("update", "/scale"), 0u);
  Json c = scaling();
  EXPECT_EQ(c["status"], "True");
  EXPECT_EQ(c["reason"], "NotActivated");
  EXPECT_EQ(c["message"], "Deployment/consumers stays at 0 replicas until the lag reaches activationLag 500");
  EXPECT_EQ(group()["status"]["scale"]["desired"], 0);
  EXPECT_TRUE(scaledEvents().empty());

  setTotalLag(600);
  now += 30s;
  pass();
  EXPECT_EQ(replicas(), 1);  // ceil(600 / 1000)
  EXPECT_EQ(scaling()["reason"], "ScaledUp");
  ASSERT_EQ(scaledEvents().size(), 1u);
  EXPECT_EQ(scaledEvents()[0]["message"], "scaled Deployment/consumers from 0 to 1 replicas: lag 600 over 1000 per replica");
}

TEST_F(ConsumerGroupScalingTest, DownOnlyAfterTheStabilisationWindow) {
  ASSERT_EQ(api->post(kDeployments, deployment("consumers", 1)).status, 201);
  Json t = target(1, 10, 1000);
  t["scaleDownStabilizationSeconds"] = 300;
  createGroup(t);
  const auto t0 = now;
  setTotalLag(8000);
  pass();
  ASSERT_EQ(replicas(), 8);

  setTotalLag(1000);  // asks for 1
  for (auto at : {60s, 180s, 299s}) {
    now = t0 + at;
    pass();
    EXPECT_EQ(replicas(), 8) << "scaled down " << at.count() << " s after the 8 was recommended";
  }
  Json c = scaling();
  EXPECT_EQ(c["reason"], "ScaleDownStabilizing");
  EXPECT_EQ(c["message"], "Deployment/consumers stays at 8 replicas: a higher recommendation is within the "
                          "scale-down stabilisation window (300 s)");
  EXPECT_EQ(scaledEvents().size(), 1u);

  now = t0 + 301s;  // the 8 left the window
  pass();
  EXPECT_EQ(replicas(), 1);
  EXPECT_EQ(scaling()["reason"], "ScaledDown");
  ASSERT_EQ(scaledEvents().size(), 2u);
  EXPECT_EQ(group()["status"]["scale"]["lastScaleTime"], "2027-01-15T08:05:01Z");
}

TEST_F(ConsumerGroupScalingTest, ARestartedOperatorWaitsAWholeWindowBeforeScalingDown) {
  ASSERT_EQ(api->post(kDeployments, deployment("consumers", 6)).status, 201);
  createGroup(target(1, 10, 1000));  // default window: 300 s
  controller = newController();     // nothing remembered: as after a restart
  const auto t0 = now;
  pass();  // no lag: asks for 1
  EXPECT_EQ(replicas(), 6);
  EXPECT_EQ(scaling()["reason"], "ScaleDownStabilizing");
  now = t0 + 299s;
  pass();
  EXPECT_EQ(replicas(), 6);
  now = t0 + 301s;
  pass();
  EXPECT_EQ(replicas(), 1);
}

TEST_F(ConsumerGroupScalingTest, AnHpaOnTheSameTargetMeansNoWrites) {
  ASSERT_EQ(api->post(kDeployments, deployment("consumers", 2)).status, 201);
  Json hpa = Json::parse(R"({"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler",
    "metadata":{"name":"consumers-cpu"},
    "spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"consumers"},
            "minReplicas":1,"maxReplicas":4}})");
  ASSERT_EQ(api->post(kHpas, hpa).status, 201);
  createGroup(target(1, 10, 1000));
  setTotalLag(9000);
  apiServer->calls().clear();
  pass();
  now += 30s;
  pass();
  EXPECT_EQ(replicas(), 2);
  EXPECT_EQ(callsTo("", "/scale"), 0u);
  EXPECT_EQ(callsTo("patch", "/deployments"), 0u);
  EXPECT_EQ(callsTo("update", "/deployments"), 0u);
  EXPECT_EQ(callsTo("list", "/horizontalpodautoscalers"), 2u);  // one list per pass
  EXPECT_EQ(callsTo("get", "/horizontalpodautoscalers"), 0u);
  Json c = scaling();
  EXPECT_EQ(c["status"], "False");
  EXPECT_EQ(c["reason"], "ScaleTargetConflict");
  EXPECT_EQ(c["message"], "HorizontalPodAutoscaler consumers-cpu also scales Deployment/consumers: the operator does "
                          "not write its replicas while the HPA exists (remove the HPA or spec.scaleTarget)");
  EXPECT_TRUE(scaledEvents().empty());

  // An HPA on another object does not conflict; once this one goes, scaling starts.
  hpa["metadata"]["name"] = "other";
  hpa["spec"]["scaleTargetRef"]["name"] = "web";
  ASSERT_EQ(api->post(kHpas, hpa).status, 201);
  ASSERT_EQ(api->del(kHpas + "/consumers-cpu").status, 200);
  now += 30s;
  pass();
  EXPECT_EQ(replicas(), 9);
  EXPECT_EQ(scaling()["status"], "True");
}

TEST_F(ConsumerGroupScalingTest, OneHpaListPerNamespacePerPass) {
  ASSERT_EQ(api->post(kDeployments, deployment("a", 1)).status, 201);
  ASSERT_EQ(api->post(kDeployments, deployment("b", 1)).status, 201);
  Json ta = target(1, 10, 1000), tb = target(1, 10, 1000);
  ta["name"] = "a";
  tb["name"] = "b";
  createGroup(ta, "orders-a");
  createGroup(tb, "orders-b");
  setTotalLag(3000);
  apiServer->calls().clear();
  pass();
  EXPECT_EQ(replicas("a"), 3);
  EXPECT_EQ(replicas("b"), 3);
  EXPECT_EQ(callsTo("list", "/horizontalpodautoscalers"), 1u);
  EXPECT_EQ(callsTo("get", "/horizontalpodautoscalers"), 0u);
}

TEST_F(ConsumerGroupScalingTest, AMissingTargetIsReportedAndScaledOnceItExists) {
  createGroup(target(1, 10, 1000));
  setTotalLag(2500);
  pass();
  Json c = scaling();
  EXPECT_EQ(c["status"], "False");
  EXPECT_EQ(c["reason"], "ScaleTargetNotFound");
  EXPECT_EQ(c["message"], "Deployment/consumers not found in namespace " + ns + " (looked again every lag pass)");
  EXPECT_EQ(condition(group(), "Ready")["status"], "True");  // lag is still reported

  ASSERT_EQ(api->post(kDeployments, deployment("consumers", 1)).status, 201);
  now += 30s;
  pass();
  EXPECT_EQ(replicas(), 3);
  EXPECT_EQ(scaling()["reason"], "ScaledUp");
}

TEST_F(ConsumerGroupScalingTest, AKindWithoutScaleOrNotServedIsRefused) {
  Json t = target(1, 10, 1000);
  t["apiVersion"] = "v1";
  t["kind"] = "ConfigMap";
  createGroup(t);
  setTotalLag(2500);
  pass();
  EXPECT_EQ(scaling()["reason"], "ScaleTargetNotScalable");
  EXPECT_EQ(scaling()["status"], "False");

  // A group no CRD defines (unique: on a real cluster, not even by chance).
  const std::string apiVersion = apiServer->uniqueName("unserved") + ".example.com/v1";
  ASSERT_EQ(api->patch(kGroups + "/orders",
                       Json{{"spec", {{"scaleTarget", {{"apiVersion", apiVersion}, {"kind", "Worker"}}}}}}.dump())
                .status,
            200);
  now += 30s;
  pass();
  EXPECT_EQ(scaling()["reason"], "ScaleTargetNotFound");
  EXPECT_EQ(scaling()["message"],
            "the API server does not serve kind Worker in " + apiVersion + " (looked again every lag pass)");
}

TEST_F(ConsumerGroupScalingTest, ACustomKindWithAScaleSubresource) {
  // The test's own CRD: a group of its own (a cluster-scoped name no other test
  // or run shares), deleted afterwards.
  const std::string group = apiServer->uniqueName("workers") + ".example.com", apiVersion = group + "/v1";
  const std::string workers = "/apis/" + apiVersion + "/namespaces/" + ns + "/workers";
  Json crd = Json::parse(R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
    "spec":{"scope":"Namespaced","names":{"kind":"Worker","plural":"workers"},
      "versions":[{"name":"v1","served":true,"storage":true,
        "subresources":{"status":{},"scale":{"specReplicasPath":".spec.size","statusReplicasPath":".status.size"}},
        "schema":{"openAPIV3Schema":{"type":"object","properties":{
          "spec":{"type":"object","properties":{"size":{"type":"integer"}}},
          "status":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}}}]}})");
  crd["metadata"]["name"] = "workers." + group;
  crd["spec"]["group"] = group;
  ASSERT_EQ(api->post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd).status, 201);
  apiServer->deleteAfterwards(kCrds, "workers." + group);
  // Served once Established (at once on the test server, soon after on a real one).
  ASSERT_TRUE(eventually([&] { return api->get(workers).status == 200; }, 60s)) << group << " never served";
  ASSERT_EQ(api->post(workers, Json{{"apiVersion", apiVersion},
                                     {"kind", "Worker"},
                                     {"metadata", {{"name", "pool"}}},
                                     {"spec", {{"size", 1}}}})
                .status,
            201);
  Json t = target(1, 10, 1000);
  t["apiVersion"] = apiVersion;
  t["kind"] = "Worker";
  t["name"] = "pool";
  createGroup(t);
  setTotalLag(3500);
  pass();
  EXPECT_EQ(api->get(workers + "/pool").body["spec"]["size"], 4);
  ASSERT_EQ(scaledEvents().size(), 1u);
  EXPECT_EQ(scaledEvents()[0]["message"], "scaled Worker/pool from 1 to 4 replicas: lag 3500 over 1000 per replica");
}

TEST_F(ConsumerGroupScalingTest, RemovingScaleTargetClearsItsStatus) {
  ASSERT_EQ(api->post(kDeployments, deployment("consumers", 1)).status, 201);
  createGroup(target(1, 10, 1000));
  setTotalLag(2000);
  pass();
  ASSERT_EQ(replicas(), 2);
  ASSERT_EQ(api->patch(kGroups + "/orders", R"({"spec":{"scaleTarget":null}})").status, 200);
  controller->reconcile({ns + "/orders"});  // what the informer's update queues
  Json g = group();
  EXPECT_FALSE(g["status"].contains("scale")) << g.dump();
  EXPECT_TRUE(condition(g, "Scaling").is_null());
  setTotalLag(9000);
  now += 30s;
  pass();
  EXPECT_EQ(replicas(), 2);  // no longer the operator's business
}

TEST_F(ConsumerGroupScalingTest, TheExampleScalesItsDeployment) {
  Json example = op::app::yamlDocumentsToJson(tributary::test::readSourceFile("manifests/examples/orders-consumers-scaled-group.yaml")).at(0);
  example["metadata"]["namespace"] = ns;  // the example's is default; the test has its own
  ASSERT_EQ(api->post(kGroups, example).status, 201);
  ASSERT_EQ(api->post(kDeployments, deployment("orders-consumers", 0)).status, 201);
  setTotalLag(50);  // below activationLag 100
  pass();
  EXPECT_EQ(replicas("orders-consumers"), 0);
  EXPECT_EQ(scaling("orders-consumers-scaled")["reason"], "NotActivated");
  setTotalLag(4200);
  now += 30s;
  pass();
  EXPECT_EQ(replicas("orders-consumers"), 5);
}

}  // namespace
