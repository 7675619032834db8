// KafkaPipeline in controller mode: PipelineController's reconcile driven step
// by step against the test API server (a real one when
// TRIBUTARY_TEST_KUBECONFIG is set; each test in a namespace of its own), with
// the ClusterAdmin double holding the source topics and the group's lag and a
// fake clock. What a user sees: the ConfigMap and the Deployment (StatefulSet
// for exactlyOnce) with their owner references, a rollout (new config hash)
// when the spec changes and none when it does not, an invalid spec refused
// before anything is written, replicas bound by the partitions, the Ready
// condition and status, and autoscale over the group's lag.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "operator/app/yaml_json.h"
#include "operator/controllers/pipeline_controller.h"
#include "operator/kube/event_recorder.h"
#include "sidecar/pipeline/pipeline_config.h"
#include "tests/apiserver/api_client.h"
#include "tests/support/kube/api_server_under_test.h"
#include "tests/operator/topic/fake_cluster_admin.h"

namespace {

using namespace std::chrono_literals;
using tributary::test::RestClient;
using Json = nlohmann::json;
using Clock = std::chrono::system_clock;
namespace op = tributary::op;
namespace kube = tributary::op::kube;

Json condition(const Json& object, const std::string& type) {
  for (const auto& c : object.value("status", Json::object()).value("conditions", Json::array()))
    if (c.value("type", "") == type) return c;
  return nullptr;
}

// The issue's example, as the API server would hold it.
Json exampleSpec() {
  return Json::parse(R"({
    "source": {"topics": ["orders"], "group": "orders-enricher", "startFrom": "earliest"},
    "steps": [
      {"filter": ".amount > 10"},
      {"transform": "{id: .id, cents: (.amount * 100)}"},
      {"setKey": ".id | tostring"},
      {"setHeaders": {"origin": "\"pipeline\""}},
      {"route": [{"when": ".cents >= 100000", "sink": "audit"}]}
    ],
    "sinks": {"default": {"topic": "big-orders"},
              "audit": {"http": {"url": "http://auditor:8080/events", "timeout": "5s"}}},
    "deadLetterTopic": "orders.dlq",
    "processing": "atLeastOnce",
    "replicas": 2
  })");
}

class PipelineControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    apiServer = std::make_unique<tributary::test::ApiServerUnderTest>();
    ns = apiServer->ns();
    kPipelines = "/apis/tributary.dev/v1alpha1/namespaces/" + ns + "/kafkapipelines";
    kDeployments = "/apis/apps/v1/namespaces/" + ns + "/deployments";
    kStatefulSets = "/apis/apps/v1/namespaces/" + ns + "/statefulsets";
    kConfigMaps = "/api/v1/namespaces/" + ns + "/configmaps";
    api = apiServer->newRestClient();
    apiServer->installCrds({"kafkapipeline.yaml"});
    client = apiServer->newClient(registry);
    events = std::make_unique<kube::EventRecorder>(*client, "tributary-operator", registry);
    kafka.putTopic("orders", {12, 3, {}});
    controller = newController();
  }
  void TearDown() override {
    controller.reset();
    events.reset();
    client.reset();
    api.reset();
    apiServer.reset();
  }

  std::unique_ptr<op::controllers::PipelineController> newController(bool realValidator = false) {
    op::controllers::ObjectStoreView store{[this](const std::string& key) -> std::optional<Json> {
      const auto slash = key.find('/');
      auto r = api->get("/apis/tributary.dev/v1alpha1/namespaces/" + key.substr(0, slash) + "/kafkapipelines/" +
                        key.substr(slash + 1));
      if (r.status != 200) return std::nullopt;
      return r.body;
    }};
    op::controllers::PipelineControllerOptions o;
    o.render.image = "tributary/sidecar:test";
    o.connections["default"] = {"kafka-0.kafka:9092", {{"security.protocol", "SASL_SSL"},
                                                        {"sasl.password", "${file:/etc/kafka/user/password}"}}, {}};
    o.connections["analytics"] = {"analytics-kafka:9092", {}, {}};
    // The sidecar's parser stands in here: refuses what it is told to, and
    // records what it was asked (the ConfigMap must hold exactly that).
    o.validator = [this](const std::string& yaml) {
      validated.push_back(yaml);
      return refusal.empty() || yaml.find(refusal) == std::string::npos
                 ? std::vector<std::string>{}
                 : std::vector<std::string>{"steps[1].transform: '" + refusal + "' does not compile: syntax error"};
    };
    if (realValidator)
      o.validator = [](const std::string& yaml) { return tributary::sidecar::pipeline::checkPipelineFile(yaml); };
    o.now = [this] { return now; };
    return std::make_unique<op::controllers::PipelineController>(
        *client, store,
        std::map<std::string, op::controllers::ClusterTarget>{{"default", {&kafka}}, {"analytics", {&analytics}}},
        *events, o);
  }

  void create(const Json& spec, const std::string& name = "orders-enricher") {
    Json p = {{"apiVersion", "tributary.dev/v1alpha1"},
              {"kind", "KafkaPipeline"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"spec", spec}};
    auto r = api->post(kPipelines, p);
    ASSERT_EQ(r.status, 201) << r.raw;
  }
  void patchSpec(const Json& patch, const std::string& name = "orders-enricher") {
    auto r = api->patch(kPipelines + "/" + name, Json{{"spec", patch}}.dump());
    ASSERT_EQ(r.status, 200) << r.raw;
  }
  op::runtime::ReconcileResult reconcile(const std::string& name = "orders-enricher") {
    return controller->reconcile(ns + "/" + name);
  }
  Json pipeline(const std::string& name = "orders-enricher") { return api->get(kPipelines + "/" + name).body; }
  Json ready(const std::string& name = "orders-enricher") { return condition(pipeline(name), "Ready"); }
  tributary::apiserver::test::Reply deployment(const std::string& name = "orders-enricher") {
    return api->get(kDeployments + "/" + name);
  }
  tributary::apiserver::test::Reply configMap(const std::string& name = "orders-enricher") {
    return api->get(kConfigMaps + "/" + name + "-pipeline");
  }
  static std::string configHash(const Json& workload) {
    return workload["spec"]["template"]["metadata"]["annotations"]["tributary.dev/config-hash"];
  }
  size_t writes() {
    auto& c = apiServer->calls();
    return c.count("create") + c.count("update") + c.count("patch") + c.count("delete");
  }
  std::vector<Json> eventsWithReason(const std::string& reason) {
    EXPECT_TRUE(events->flush(30s)) << "Events not written within 30 s";
    std::vector<Json> out;
    const Json all = api->get("/api/v1/namespaces/" + ns + "/events").body;
    for (const auto& e : all["items"])
      if (e["reason"] == reason) out.push_back(e);
    return out;
  }
  // What the Deployment controller would write once the pods run.
  void deploymentReports(int ready, int updated) {
    Json d = deployment().body;
    Json status = {{"observedGeneration", d["metadata"]["generation"]},
                   {"replicas", d["spec"]["replicas"]},
                   {"readyReplicas", ready},
                   {"updatedReplicas", updated},
                   {"availableReplicas", ready}};
    auto r = api->patch(kDeployments + "/orders-enricher/status", Json{{"status", status}}.dump());
    ASSERT_EQ(r.status, 200) << r.raw;
  }

  Clock::time_point now = Clock::time_point(1'800'000'000s);
  op::test::FakeClusterAdmin kafka, analytics;
  std::vector<std::string> validated;
  std::string refusal;  // the validator refuses a file containing this
  std::unique_ptr<tributary::test::ApiServerUnderTest> apiServer;
  std::string ns, kPipelines, kDeployments, kStatefulSets, kConfigMaps;
  std::unique_ptr<RestClient> api;
  prometheus::Registry registry;
  std::unique_ptr<kube::KubeClient> client;
  std::unique_ptr<kube::EventRecorder> events;
  std::unique_ptr<op::controllers::PipelineController> controller;
};

TEST_F(PipelineControllerTest, RendersTheConfigMapAndADeploymentOfTheSidecarOwnedByThePipeline) {
  create(exampleSpec());
  EXPECT_EQ(reconcile().kind(), op::runtime::ReconcileResult::Kind::Done);
  const Json kp = pipeline();
  const Json owner = {{"apiVersion", "tributary.dev/v1alpha1"}, {"kind", "KafkaPipeline"},
                      {"name", "orders-enricher"},              {"uid", kp["metadata"]["uid"]},
                      {"controller", true},                     {"blockOwnerDeletion", true}};

  // The ConfigMap: the spec minus replicas and cluster, plus how to reach Kafka
  // (the cluster's settings as configured: the secret stays a reference).
  auto cm = configMap();
  ASSERT_EQ(cm.status, 200) << cm.raw;
  EXPECT_EQ(cm.body["metadata"]["ownerReferences"], Json::array({owner}));
  const std::string yaml = cm.body["data"]["pipeline.yaml"];
  Json file = op::app::yamlDocumentsToJson(yaml).at(0);
  Json expected = exampleSpec();
  expected.erase("replicas");
  expected["name"] = "orders-enricher";
  expected["kafka"] = {{"bootstrapServers", "kafka-0.kafka:9092"},
                       {"properties",
                        {{"security.protocol", "SASL_SSL"}, {"sasl.password", "${file:/etc/kafka/user/password}"}}}};
  EXPECT_EQ(file, expected) << yaml;
  ASSERT_EQ(validated.size(), 1u);
  EXPECT_EQ(validated[0], yaml) << "the validator checks exactly the file the pods get";

  // The Deployment: the sidecar image in pipeline mode on the mounted file.
  auto d = deployment();
  ASSERT_EQ(d.status, 200) << d.raw;
  EXPECT_EQ(d.body["metadata"]["ownerReferences"], Json::array({owner}));
  EXPECT_EQ(d.body["spec"]["replicas"], 2);
  EXPECT_EQ(d.body["spec"]["selector"]["matchLabels"], Json({{"tributary.dev/pipeline", "orders-enricher"}}));
  const Json pod = d.body["spec"]["template"];
  EXPECT_EQ(pod["metadata"]["labels"]["tributary.dev/pipeline"], "orders-enricher");
  EXPECT_EQ(configHash(d.body), kp["status"]["configHash"]);
  ASSERT_EQ(pod["spec"]["containers"].size(), 1u);
  const Json c = pod["spec"]["containers"][0];
  EXPECT_EQ(c["image"], "tributary/sidecar:test");
  EXPECT_EQ(c["args"], Json::array({"--pipeline", "/etc/tributary/pipeline.yaml"}));
  EXPECT_EQ(c["readinessProbe"]["httpGet"], Json({{"path", "/readyz"}, {"port", 9192}}));
  EXPECT_EQ(c["livenessProbe"]["httpGet"], Json({{"path", "/healthz"}, {"port", 9192}}));
  EXPECT_EQ(c["volumeMounts"][0]["mountPath"], "/etc/tributary");
  EXPECT_EQ(pod["spec"]["volumes"][0]["configMap"]["name"], "orders-enricher-pipeline");
  EXPECT_EQ(pod["spec"]["volumes"][0]["configMap"]["items"][0], Json({{"key", "pipeline.yaml"}, {"path", "pipeline.yaml"}}));
  EXPECT_EQ(c["securityContext"]["runAsUser"], 65532);
  EXPECT_TRUE(c["securityContext"]["readOnlyRootFilesystem"].get<bool>());
  bool txEnv = false;
  for (const auto& e : c["env"])
    if (e["name"] == "TRIBUTARY_PIPELINE_TRANSACTIONAL_ID") txEnv = true;
  EXPECT_FALSE(txEnv) << "at-least-once pipelines have no transactional id";
  EXPECT_EQ(api->get(kStatefulSets + "/orders-enricher").status, 404);

  // Status: what kubectl get kp shows; no pod runs yet.
  const Json st = kp["status"];
  EXPECT_EQ(st["observedGeneration"], kp["metadata"]["generation"]);
  EXPECT_EQ(st["replicas"], 2);
  EXPECT_EQ(st["readyReplicas"], 0);
  EXPECT_EQ(st["source"], "orders");
  EXPECT_EQ(st["sinks"], "http://auditor:8080/events,big-orders");
  EXPECT_EQ(st["workload"], "Deployment/orders-enricher");
  EXPECT_EQ(ready()["status"], "False");
  EXPECT_EQ(ready()["reason"], "Progressing");
  auto created = eventsWithReason("Created");
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0]["involvedObject"]["kind"], "KafkaPipeline");
}

TEST_F(PipelineControllerTest, StatusFollowsTheDeploymentReadyReplicasAndAnUnchangedSpecWritesNothing) {
  create(exampleSpec());
  reconcile();
  deploymentReports(1, 2);
  reconcile();
  EXPECT_EQ(pipeline()["status"]["readyReplicas"], 1);
  EXPECT_EQ(ready()["reason"], "Progressing");
  EXPECT_EQ(ready()["message"].get<std::string>().rfind("1/2 replica(s) ready", 0), 0u) << ready().dump();

  deploymentReports(2, 2);
  reconcile();
  EXPECT_EQ(pipeline()["status"]["readyReplicas"], 2);
  EXPECT_EQ(ready()["status"], "True");
  EXPECT_EQ(ready()["reason"], "Available");
  EXPECT_EQ(ready()["observedGeneration"], pipeline()["metadata"]["generation"]);

  // Nothing changed: a resync reads, and writes nothing at all.
  const size_t before = writes();
  const std::string rv = deployment().body["metadata"]["resourceVersion"];
  reconcile();
  reconcile();
  EXPECT_EQ(writes(), before);
  EXPECT_EQ(deployment().body["metadata"]["resourceVersion"], rv);
}

TEST_F(PipelineControllerTest, ASpecChangeRollsTheDeploymentWithANewConfigHash) {
  create(exampleSpec());
  reconcile();
  const std::string hash = configHash(deployment().body);
  Json steps = exampleSpec()["steps"];
  steps[0]["filter"] = ".amount > 50";
  patchSpec({{"steps", steps}});
  reconcile();
  const Json d = deployment().body;
  EXPECT_NE(configHash(d), hash);
  EXPECT_EQ(configHash(d), pipeline()["status"]["configHash"]);
  EXPECT_NE(configMap().body["data"]["pipeline.yaml"].get<std::string>().find(".amount > 50"), std::string::npos);
  EXPECT_EQ(pipeline()["status"]["observedGeneration"], 2);
  auto updated = eventsWithReason("Updated");
  ASSERT_EQ(updated.size(), 1u);
  EXPECT_NE(updated[0]["message"].get<std::string>().find("(was " + hash + ")"), std::string::npos)
      << updated[0]["message"];

  // replicas only: the same pods, one more of them (no new hash).
  patchSpec({{"replicas", 3}});
  reconcile();
  EXPECT_EQ(deployment().body["spec"]["replicas"], 3);
  EXPECT_EQ(configHash(deployment().body), configHash(d));
}

TEST_F(PipelineControllerTest, AnInvalidSpecIsRefusedBeforeAnythingIsCreated) {
  refusal = "(((";
  Json spec = exampleSpec();
  spec["steps"][1]["transform"] = "(((";
  create(spec);
  EXPECT_EQ(reconcile().kind(), op::runtime::ReconcileResult::Kind::Terminal);
  EXPECT_EQ(ready()["status"], "False");
  EXPECT_EQ(ready()["reason"], "InvalidPipeline");
  EXPECT_EQ(ready()["message"], "steps[1].transform: '(((' does not compile: syntax error");
  EXPECT_EQ(configMap().status, 404);
  EXPECT_EQ(deployment().status, 404);
  auto warnings = eventsWithReason("InvalidPipeline");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0]["type"], "Warning");
}

TEST_F(PipelineControllerTest, AnInvalidEditLeavesTheRunningDeploymentAndItsFileAsTheyWere) {
  create(exampleSpec());
  reconcile();
  deploymentReports(2, 2);
  const Json before = deployment().body;
  const Json cmBefore = configMap().body;
  refusal = "(((";
  Json steps = exampleSpec()["steps"];
  steps[1]["transform"] = "(((";
  patchSpec({{"steps", steps}, {"replicas", 4}});
  reconcile();
  EXPECT_EQ(ready()["reason"], "InvalidPipeline");
  EXPECT_EQ(ready()["observedGeneration"], 2);
  const Json after = deployment().body;
  EXPECT_EQ(after["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"]);
  EXPECT_EQ(after["spec"]["replicas"], 2);
  EXPECT_EQ(configMap().body["metadata"]["resourceVersion"], cmBefore["metadata"]["resourceVersion"]);

  // Fixed: rolled out.
  refusal.clear();
  steps[1]["transform"] = "{id: .id}";
  patchSpec({{"steps", steps}});
  reconcile();
  EXPECT_EQ(deployment().body["spec"]["replicas"], 4);
  EXPECT_NE(configHash(deployment().body), configHash(before));
  EXPECT_EQ(ready()["reason"], "Progressing");
}

TEST_F(PipelineControllerTest, ReplicasAreNeverMoreThanTheSourcePartitionsAndTheConditionSaysSo) {
  kafka.putTopic("orders", {3, 3, {}});
  Json spec = exampleSpec();
  spec["replicas"] = 8;
  create(spec);
  reconcile();
  EXPECT_EQ(deployment().body["spec"]["replicas"], 3);
  EXPECT_EQ(pipeline()["status"]["replicas"], 3);
  EXPECT_NE(ready()["message"].get<std::string>().find("spec.replicas 8 capped to 3: the source topics have 3 partition(s)"),
            std::string::npos)
      << ready().dump();

  // Two source topics: their partitions together.
  kafka.putTopic("returns", {2, 3, {}});
  patchSpec({{"source", {{"topics", {"orders", "returns"}}}}});
  reconcile();
  EXPECT_EQ(deployment().body["spec"]["replicas"], 5);
  EXPECT_EQ(pipeline()["status"]["source"], "orders,returns");
}

TEST_F(PipelineControllerTest, AMissingSourceTopicDeploysNothingUntilItExists) {
  Json spec = exampleSpec();
  spec["source"]["topics"] = {"payments"};
  create(spec);
  auto r = reconcile();
  EXPECT_EQ(r.kind(), op::runtime::ReconcileResult::Kind::RequeueAfter);
  EXPECT_EQ(ready()["status"], "False");
  EXPECT_EQ(ready()["reason"], "SourceTopicMissing");
  EXPECT_NE(ready()["message"].get<std::string>().find("payments"), std::string::npos);
  EXPECT_EQ(deployment().status, 404);
  EXPECT_EQ(configMap().status, 404);

  kafka.putTopic("payments", {6, 3, {}});
  reconcile();
  EXPECT_EQ(deployment().status, 200);
  EXPECT_EQ(ready()["reason"], "Progressing");
}

TEST_F(PipelineControllerTest, UnknownClustersAndForeignObjectsOfTheSameNameAreRefused) {
  Json spec = exampleSpec();
  spec["sinks"]["default"]["topic"] = {{"name", "big-orders"}, {"cluster", "nowhere"}};
  create(spec);
  reconcile();
  EXPECT_EQ(ready()["reason"], "UnknownCluster");
  EXPECT_NE(ready()["message"].get<std::string>().find("\"nowhere\""), std::string::npos) << ready().dump();
  EXPECT_EQ(deployment().status, 404);

  // A sink on another configured cluster: the file says how to reach it.
  spec["sinks"]["default"]["topic"]["cluster"] = "analytics";
  patchSpec({{"sinks", spec["sinks"]}});
  reconcile();
  Json file = op::app::yamlDocumentsToJson(configMap().body["data"]["pipeline.yaml"].get<std::string>()).at(0);
  EXPECT_EQ(file["clusters"], Json({{"analytics", {{"bootstrapServers", "analytics-kafka:9092"}}}}));
  EXPECT_EQ(pipeline()["status"]["sinks"], "http://auditor:8080/events,big-orders@analytics");

  // Someone else's Deployment with the pipeline's name is never taken over.
  Json other = Json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"payments"},
    "spec":{"replicas":1,"selector":{"matchLabels":{"app":"payments"}},
            "template":{"metadata":{"labels":{"app":"payments"}},"spec":{"containers":[{"name":"c","image":"payments:1"}]}}}})");
  ASSERT_EQ(api->post(kDeployments, other).status, 201);
  create(exampleSpec(), "payments");
  reconcile("payments");
  EXPECT_EQ(ready("payments")["reason"], "ResourceConflict");
  EXPECT_EQ(deployment("payments").body["spec"]["template"]["spec"]["containers"][0]["image"], "payments:1");
}

TEST_F(PipelineControllerTest, ExactlyOnceRunsAStatefulSetWithAStableTransactionalIdPerPod) {
  Json spec = exampleSpec();
  spec["processing"] = "exactlyOnce";
  spec["sinks"] = {{"default", {{"topic", "big-orders"}}}};
  spec["steps"].erase(4);  // no route: one sink
  create(spec);
  reconcile();
  EXPECT_EQ(deployment().status, 404);
  auto s = api->get(kStatefulSets + "/orders-enricher");
  ASSERT_EQ(s.status, 200) << s.raw;
  EXPECT_EQ(s.body["spec"]["replicas"], 2);
  std::map<std::string, Json> env;
  for (const auto& e : s.body["spec"]["template"]["spec"]["containers"][0]["env"]) env[e["name"]] = e;
  ASSERT_TRUE(env.count("TRIBUTARY_PIPELINE_TRANSACTIONAL_ID"));
  // <pipeline>-<ordinal> is the pod's name: the pod replacing ordinal 1 has ordinal 1's id.
  EXPECT_EQ(env["TRIBUTARY_PIPELINE_TRANSACTIONAL_ID"]["value"], "tributary-" + ns + "-$(TRIBUTARY_POD_NAME)");
  EXPECT_EQ(env["TRIBUTARY_POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name");
  EXPECT_EQ(pipeline()["status"]["workload"], "StatefulSet/orders-enricher");

  // Back to at-least-once: the StatefulSet goes first, and the Deployment
  // starts only once its pods stopped (a finalizer holds it here, as the
  // foreground deletion's does on a real server while pods terminate).
  ASSERT_EQ(api->patch(kStatefulSets + "/orders-enricher", R"({"metadata":{"finalizers":["example.com/hold"]}})").status,
            200);
  patchSpec({{"processing", "atLeastOnce"}});
  EXPECT_EQ(reconcile().kind(), op::runtime::ReconcileResult::Kind::RequeueAfter);
  EXPECT_EQ(deployment().status, 404);
  EXPECT_TRUE(api->get(kStatefulSets + "/orders-enricher").body["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(ready()["reason"], "Progressing");
  EXPECT_NE(ready()["message"].get<std::string>().find("waiting for the pods of StatefulSet orders-enricher to stop"),
            std::string::npos)
      << ready().dump();
  ASSERT_EQ(api->patch(kStatefulSets + "/orders-enricher", R"({"metadata":{"finalizers":null}})").status, 200);
  reconcile();
  EXPECT_EQ(deployment().status, 200);
  EXPECT_EQ(api->get(kStatefulSets + "/orders-enricher").status, 404);
}

TEST_F(PipelineControllerTest, AutoscaleFollowsTheGroupsLagWithTheConsumerGroupScalingRule) {
  // 4800 records behind over 12 partitions, 1000 per replica: 5 replicas.
  for (int p = 0; p < 12; ++p) {
    kafka.produce("orders", p, 400, 1'000);
    kafka.commit("orders-enricher", "orders", p, 0);
  }
  Json spec = exampleSpec();
  spec.erase("replicas");
  spec["autoscale"] = {{"min", 1}, {"max", 10}, {"lagPerReplica", 1000}};
  create(spec);
  auto r = reconcile();
  EXPECT_EQ(r.kind(), op::runtime::ReconcileResult::Kind::RequeueAfter);
  EXPECT_EQ(deployment().body["spec"]["replicas"], 5);
  EXPECT_EQ(pipeline()["status"]["autoscale"]["desired"], 5);

  // Caught up: down only after the stabilisation window (300 s).
  for (int p = 0; p < 12; ++p) kafka.commit("orders-enricher", "orders", p, 400);
  now += 30s;
  reconcile();
  EXPECT_EQ(deployment().body["spec"]["replicas"], 5);
  EXPECT_EQ(condition(pipeline(), "Scaling")["reason"], "ScaleDownStabilizing");
  now += 301s;
  reconcile();
  EXPECT_EQ(deployment().body["spec"]["replicas"], 1);
  EXPECT_EQ(condition(pipeline(), "Scaling")["reason"], "ScaledDown");
  auto scaled = eventsWithReason("Scaled");
  ASSERT_EQ(scaled.size(), 1u);
  EXPECT_EQ(scaled[0]["message"], "scaled Deployment/orders-enricher from 5 to 1 replicas: lag 0 over 1000 per replica");

  // More lag: up at once; within one lagInterval the decision is not taken again.
  for (int p = 0; p < 12; ++p) kafka.produce("orders", p, 1000, 2'000);
  now += 10s;
  reconcile();
  EXPECT_EQ(deployment().body["spec"]["replicas"], 1);
  now += 30s;
  reconcile();
  EXPECT_EQ(deployment().body["spec"]["replicas"], 10);  // 12000 / 1000 = 12, max 10
  EXPECT_EQ(condition(pipeline(), "Scaling")["reason"], "ScaledUp");

  // replicas and autoscale together: refused, the Deployment stays.
  patchSpec({{"replicas", 2}});
  reconcile();
  EXPECT_EQ(ready()["reason"], "InvalidPipeline");
  EXPECT_NE(ready()["message"].get<std::string>().find("spec.replicas and spec.autoscale"), std::string::npos);
  EXPECT_EQ(deployment().body["spec"]["replicas"], 10);
}

// The sidecar's own parser (sidecar::pipeline::checkPipelineFile, what the
// operator runs in controller mode): the example's file is what the sidecar
// accepts, and a jq expression that does not compile is refused naming the step.
TEST_F(PipelineControllerTest, TheSidecarsOwnParserAcceptsTheExampleAndRefusesAJqCompileErrorNamingTheStep) {
  controller = newController(true);
  create(exampleSpec());
  reconcile();
  EXPECT_EQ(ready()["reason"], "Progressing") << ready().dump();
  const Json before = deployment().body;
  ASSERT_FALSE(before.is_null());

  Json steps = exampleSpec()["steps"];
  steps[1]["transform"] = "{id: .id, cents: (.amount * 100}";
  patchSpec({{"steps", steps}});
  EXPECT_EQ(reconcile().kind(), op::runtime::ReconcileResult::Kind::Terminal);
  const Json c = ready();
  EXPECT_EQ(c["status"], "False");
  EXPECT_EQ(c["reason"], "InvalidPipeline");
  EXPECT_EQ(c["message"].get<std::string>().rfind("steps[1].transform", 0), 0u) << c.dump();
  EXPECT_NE(c["message"].get<std::string>().find("compile"), std::string::npos) << c.dump();
  EXPECT_EQ(deployment().body["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"]);

  // exactlyOnce with an HTTP sink: the sidecar's rule, before any StatefulSet exists.
  patchSpec({{"steps", exampleSpec()["steps"]}, {"processing", "exactlyOnce"}});
  reconcile();
  EXPECT_EQ(ready()["reason"], "InvalidPipeline");
  EXPECT_NE(ready()["message"].get<std::string>().find("sinks.audit is an http sink"), std::string::npos)
      << ready().dump();
  EXPECT_EQ(api->get(kStatefulSets + "/orders-enricher").status, 404);
}

// crds/kafkapipeline.yaml on the API server: the example file applies with its
// defaults, runs through the controller with the sidecar's own parser, and the
// shapes the schema can say are refused with a 422 naming the field.
TEST_F(PipelineControllerTest, TheCrdTakesTheExampleAndRefusesMalformedStepsAndSinksNamingTheField) {
  std::ifstream in(std::string(TRIBUTARY_SOURCE_DIR) + "/manifests/examples/orders-enricher-pipeline.yaml");
  std::stringstream text;
  text << in.rdbuf();
  Json doc = op::app::yamlDocumentsToJson(text.str()).at(0);
  doc["metadata"]["namespace"] = ns;
  auto r = api->post(kPipelines, doc);
  ASSERT_EQ(r.status, 201) << r.raw;
  EXPECT_EQ(r.body["spec"]["cluster"], "default");
  EXPECT_EQ(r.body["spec"]["processing"], "atLeastOnce");
  controller = newController(true);
  reconcile();
  EXPECT_EQ(ready()["reason"], "Progressing") << ready().dump();
  EXPECT_EQ(deployment().body["spec"]["replicas"], 2);

  auto refused = [&](Json spec) {
    Json body = {{"apiVersion", "tributary.dev/v1alpha1"}, {"kind", "KafkaPipeline"},
                 {"metadata", {{"name", "bad"}, {"namespace", ns}}}, {"spec", spec}};
    auto reply = api->post(kPipelines, body);
    EXPECT_EQ(reply.status, 422) << reply.raw;
    std::set<std::string> fields;
    for (const auto& c : reply.body["details"]["causes"]) fields.insert(c["field"].get<std::string>());
    return fields;
  };
  Json spec = exampleSpec();
  spec["steps"][0] = {{"filter", ".a"}, {"transform", ".b"}};  // two kinds in one step
  EXPECT_EQ(refused(spec), std::set<std::string>{"spec.steps[0]"});
  spec = exampleSpec();
  spec["sinks"]["audit"]["topic"] = "audit";  // topic and http
  EXPECT_EQ(refused(spec), std::set<std::string>{"spec.sinks.audit"});
  spec = exampleSpec();
  spec["processing"] = "twice";
  spec["replicas"] = -1;
  spec["source"].erase("topics");
  EXPECT_EQ(refused(spec), (std::set<std::string>{"spec.processing", "spec.replicas", "spec.source.topics"}));
}

}  // namespace
