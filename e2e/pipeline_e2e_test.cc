// KafkaPipeline end to end with real processes: the test API server (in this
// process, real HTTP), the real kubectl and the real controller-mode command
// line of tributary-operator over the ClusterAdmin double
// (tributary-operator-fake-kafka; see consumer_group_e2e_test.cc for why not
// the mock cluster). A user's path: the CRDs and the example pipeline applied
// with kubectl → its ConfigMap and Deployment exist, owned by the pipeline;
// `kubectl get kp` shows the printer columns; an edit rolls the pod template's
// config hash; an edit whose jq does not compile is refused (Ready=False
// InvalidPipeline, checked by the sidecar's own parser inside the operator)
// and leaves the Deployment alone; `kubectl delete kp` — the test API server
// has no garbage collector (tests/support/apiserver/README.md), so what is
// asserted is what a real one acts on: the dependents' ownerReferences.
// Running the rendered pod (podman) is e2e/pod's business, not this file's.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/apiserver/api_client.h"
#include "tests/apiserver/command.h"
#include "tests/support/subprocess.h"

using namespace std::chrono_literals;
using tributary::apiserver::test::ApiClient;
using tributary::apiserver::test::eventually;
using tributary::apiserver::test::findOnPath;
using Json = nlohmann::json;

namespace {

const std::string kPipelines = "/apis/tributary.dev/v1alpha1/namespaces/default/kafkapipelines";
const std::string kDeployment = "/apis/apps/v1/namespaces/default/deployments/orders-enricher";
const std::string kConfigMap = "/api/v1/namespaces/default/configmaps/orders-enricher-pipeline";

std::vector<std::string> fields(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string f; in >> f;) out.push_back(f);
  return out;
}

Json condition(const Json& object, const std::string& type) {
  for (const auto& c : object.value("status", Json::object()).value("conditions", Json::array()))
    if (c.value("type", "") == type) return c;
  return Json::object();
}

class PipelineE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kubectl = findOnPath("kubectl");
    if (!kubectl) GTEST_SKIP() << "kubectl is not on PATH; this scenario drives the real kubectl binary";
    kubectl_ = *kubectl;
    char tmpl[] = "/tmp/tributary-kp-e2e-XXXXXX";
    dir_ = mkdtemp(tmpl);
    server = std::make_unique<tributary::apiserver::TestApiServer>();
    server->start();
    api = std::make_unique<ApiClient>(server->port());
    tributary::apiserver::test::writeKubeconfig(dir_ + "/kubeconfig", server->url());
  }
  void TearDown() override {
    if (op) {
      op->signal(SIGTERM);
      op->wait(60s);
    }
    if (server) server->stop();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  tributary::apiserver::test::CommandResult kubectl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--kubeconfig", dir_ + "/kubeconfig", "--cache-dir", dir_ + "/cache"});
    return tributary::apiserver::test::run(kubectl_, args, {{"HOME", dir_}}, 60s);
  }

  void startOperator() {
    setenv("TRIBUTARY_FAKE_KAFKA_STATE", (dir_ + "/kafka.json").c_str(), 1);
    op = std::make_unique<tributary::test::Subprocess>(
        tributary::test::binDir() + "/tributary-operator-fake-kafka",
        std::vector<std::string>{"--kubeconfig", dir_ + "/kubeconfig", "--bootstrap-servers", "kafka-0.kafka:9092",
                                 "--leader-elect=false", "--metrics-bind-address", "127.0.0.1:0",
                                 "--health-probe-bind-address", "127.0.0.1:0", "--webhook-bind-address=0",
                                 "--sidecar-image", "localhost/tributary/sidecar:e2e"});
    ASSERT_TRUE(op->waitForLine("reconciling KafkaPipelines", 30s)) << op->output();
  }

  Json pipeline() { return api->get(kPipelines + "/orders-enricher").body; }
  std::string configHash() {
    return kubectl({"get", "deployment", "orders-enricher", "-o",
                    "jsonpath={.spec.template.metadata.annotations.tributary\\.dev/config-hash}"})
        .out;
  }

  std::string kubectl_, dir_;
  std::unique_ptr<tributary::apiserver::TestApiServer> server;
  std::unique_ptr<ApiClient> api;
  std::unique_ptr<tributary::test::Subprocess> op;
};

TEST_F(PipelineE2E, KubectlApplyOfTheExampleDeploysItEditsRollItAndAnInvalidEditIsRefused) {
  ASSERT_EQ(kubectl({"apply", "--validate=false", "-f", std::string(TRIBUTARY_SOURCE_DIR) + "/crds/"}).exitCode, 0);
  ASSERT_EQ(kubectl({"wait", "--for=condition=Established", "crd/kafkapipelines.tributary.dev", "--timeout=30s"}).exitCode,
            0);
  startOperator();
  // The source topic first, as a KafkaTopic (the operator creates it in "Kafka").
  ASSERT_EQ(kubectl({"apply", "--validate=false", "-f",
                     std::string(TRIBUTARY_SOURCE_DIR) + "/manifests/examples/orders-topic.yaml"})
                .exitCode,
            0);
  ASSERT_EQ(kubectl({"wait", "--for=condition=Ready", "kt/orders", "--timeout=60s"}).exitCode, 0) << op->output();

  auto apply = kubectl({"apply", "--validate=false", "-f",
                        std::string(TRIBUTARY_SOURCE_DIR) + "/manifests/examples/orders-enricher-pipeline.yaml"});
  ASSERT_EQ(apply.exitCode, 0) << apply.err;
  ASSERT_TRUE(eventually([&] { return api->get(kDeployment).status == 200; }, 60s)) << op->output();

  // The ConfigMap and the Deployment, both controlled by the pipeline.
  const std::string uid = pipeline()["metadata"]["uid"];
  for (const std::string& what : {std::string("configmap/orders-enricher-pipeline"),
                                  std::string("deployment/orders-enricher")}) {
    auto get = kubectl({"get", what, "-o", "json"});
    ASSERT_EQ(get.exitCode, 0) << get.err;
    const Json refs = Json::parse(get.out)["metadata"]["ownerReferences"];
    ASSERT_EQ(refs.size(), 1u) << what << ": " << refs.dump();
    EXPECT_EQ(refs[0]["kind"], "KafkaPipeline") << what;
    EXPECT_EQ(refs[0]["name"], "orders-enricher") << what;
    EXPECT_EQ(refs[0]["uid"], uid) << what;
    EXPECT_EQ(refs[0]["controller"], true) << what;
  }
  const Json d = api->get(kDeployment).body;
  EXPECT_EQ(d["spec"]["replicas"], 2);
  const Json c = d["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(c["image"], "localhost/tributary/sidecar:e2e");
  EXPECT_EQ(c["args"], Json::array({"--pipeline", "/etc/tributary/pipeline.yaml"}));
  const std::string file = api->get(kConfigMap).body["data"]["pipeline.yaml"];
  EXPECT_NE(file.find("bootstrapServers: kafka-0.kafka:9092"), std::string::npos) << file;
  EXPECT_NE(file.find(".amount > 10"), std::string::npos) << file;

  // kubectl get kp: NAME SOURCE SINKS REPLICAS READY AGE, Ready once the pods are.
  auto header = kubectl({"get", "kp"});
  ASSERT_EQ(header.exitCode, 0) << header.err;
  EXPECT_EQ(fields(header.out.substr(0, header.out.find('\n'))),
            (std::vector<std::string>{"NAME", "SOURCE", "SINKS", "REPLICAS", "READY", "AGE"}))
      << header.out;
  ASSERT_TRUE(eventually([&] { return condition(pipeline(), "Ready").value("reason", "") == "Progressing"; }, 60s))
      << pipeline().dump();
  auto row = fields(kubectl({"get", "kp", "orders-enricher", "--no-headers"}).out);
  ASSERT_EQ(row.size(), 6u);
  EXPECT_EQ(std::vector<std::string>(row.begin(), row.begin() + 5),
            (std::vector<std::string>{"orders-enricher", "orders", "http://auditor:8080/events,big-orders", "2",
                                      "False"}));
  // The test API server runs no Deployment controller: report what it would once both pods are ready.
  Json dep = api->get(kDeployment).body;
  Json status = {{"observedGeneration", dep["metadata"]["generation"]}, {"replicas", 2}, {"readyReplicas", 2},
                 {"updatedReplicas", 2}, {"availableReplicas", 2}};
  ASSERT_EQ(api->patch(kDeployment + "/status", Json{{"status", status}}.dump()).status, 200);
  ASSERT_TRUE(eventually([&] { return condition(pipeline(), "Ready").value("status", "") == "True"; }, 60s))
      << pipeline().dump() << op->output();
  row = fields(kubectl({"get", "kp", "orders-enricher", "--no-headers"}).out);
  ASSERT_GE(row.size(), 5u);
  EXPECT_EQ(row[4], "True");

  // An edit: the pod template's config hash changes (the Deployment rolls).
  const std::string hash = configHash();
  ASSERT_FALSE(hash.empty());
  auto edit = kubectl({"patch", "kp", "orders-enricher", "--type=json", "-p",
                       R"([{"op":"replace","path":"/spec/steps/0/filter","value":".amount > 50"}])"});
  ASSERT_EQ(edit.exitCode, 0) << edit.err;
  ASSERT_TRUE(eventually([&] { return configHash() != hash; }, 60s)) << op->output();
  EXPECT_NE(api->get(kConfigMap).body["data"]["pipeline.yaml"].get<std::string>().find(".amount > 50"),
            std::string::npos);
  EXPECT_EQ(pipeline()["status"]["configHash"], configHash());

  // An edit whose jq does not compile: refused, the Deployment as it was.
  ASSERT_TRUE(eventually([&] { return pipeline()["status"].value("observedGeneration", 0) == 2; }, 60s));
  const std::string rv = api->get(kDeployment).body["metadata"]["resourceVersion"];
  const std::string liveHash = configHash();
  auto bad = kubectl({"patch", "kp", "orders-enricher", "--type=json", "-p",
                      R"([{"op":"replace","path":"/spec/steps/1/transform","value":"{id: .id, cents: (.amount * 100}"}])"});
  ASSERT_EQ(bad.exitCode, 0) << bad.err;
  ASSERT_TRUE(eventually([&] { return condition(pipeline(), "Ready").value("reason", "") == "InvalidPipeline"; }, 60s))
      << pipeline().dump() << op->output();
  const Json refused = condition(pipeline(), "Ready");
  EXPECT_EQ(refused["status"], "False");
  EXPECT_NE(refused["message"].get<std::string>().find("steps[1].transform"), std::string::npos) << refused.dump();
  EXPECT_EQ(api->get(kDeployment).body["metadata"]["resourceVersion"], rv);
  EXPECT_EQ(configHash(), liveHash);
  EXPECT_TRUE(eventually(
      [&] {
        return kubectl({"get", "events", "--field-selector", "involvedObject.name=orders-enricher", "-o", "json"})
                   .out.find("InvalidPipeline") != std::string::npos;
      },
      60s));

  // kubectl delete kp: the dependents name the pipeline as their controller,
  // which is what a real API server's garbage collector deletes them by.
  ASSERT_EQ(kubectl({"delete", "kp", "orders-enricher", "--wait=true", "--timeout=60s"}).exitCode, 0);
  EXPECT_EQ(api->get(kPipelines + "/orders-enricher").status, 404);
  for (const std::string& path : {kDeployment, kConfigMap}) {
    auto r = api->get(path);
    if (r.status == 404) continue;  // a server that collects garbage removed it
    ASSERT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.body["metadata"]["ownerReferences"][0]["uid"], uid) << path;
    EXPECT_EQ(r.body["metadata"]["ownerReferences"][0]["blockOwnerDeletion"], true) << path;
  }

  op->signal(SIGTERM);
  EXPECT_EQ(op->wait(60s), 0) << op->output();
  op.reset();
}

}  // namespace
