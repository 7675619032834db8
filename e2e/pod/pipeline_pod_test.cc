// A KafkaPipeline from `kubectl apply` to records flowing, with real processes:
// the test API server, the real kubectl, the operator's controller-mode command
// line (over the ClusterAdmin double, as e2e/pipeline_e2e_test.cc) renders the
// example's ConfigMap and Deployment; podman then runs the Deployment's pod
// template from the built sidecar image — the part a kubelet would do — against
// the embedded Kafka cluster in this process. Records written to `orders` come
// out of `big-orders` filtered, reshaped, keyed and tagged as the example says;
// SIGTERM (`podman pod stop`) ends the pipeline with exit 0.
//
// Adapted for podman 4.3 as e2e/pod/pod_test.cc explains (no probes, no
// ports); and the pod shares the host's network, because the embedded
// brokers advertise 127.0.0.1 addresses. Its admin listener moves to a
// kernel-chosen port (TRIBUTARY_ADMIN_LISTEN) so that :9192 on the host is
// not needed. Skipped, saying why, where kubectl or podman cannot run.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "common/kafka/embedded_cluster.h"
#include "tests/apiserver/api_client.h"
#include "tests/apiserver/command.h"
#include "tests/support/record_reader.h"
#include "tests/support/record_writer.h"
#include "tests/support/subprocess.h"

using namespace std::chrono_literals;
using tributary::apiserver::test::ApiClient;
using tributary::apiserver::test::CommandResult;
using tributary::apiserver::test::eventually;
using tributary::apiserver::test::findOnPath;
using Json = nlohmann::json;

namespace {

const std::string kVersion = TRIBUTARY_VERSION;
const std::string kSource = TRIBUTARY_SOURCE_DIR;
const std::string kSidecarImage = "tributary/sidecar:" + kVersion;
const std::string kDeployment = "/apis/apps/v1/namespaces/default/deployments/orders-enricher";
const std::string kConfigMap = "/api/v1/namespaces/default/configmaps/orders-enricher-pipeline";

std::string lastLine(const std::string& text) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  auto nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

class PipelinePodE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kubectl = findOnPath("kubectl");
    if (!kubectl) GTEST_SKIP() << "skipped: kubectl is not on PATH; this scenario drives the real kubectl binary";
    kubectl_ = *kubectl;
    auto found = findOnPath("podman");
    if (!found) GTEST_SKIP() << "skipped: podman cannot run containers here (podman is not installed)";
    podman_ = *found;
    if (podman({"image", "exists", kSidecarImage}).exitCode != 0)
      GTEST_SKIP() << "skipped: podman cannot run containers here (image " << kSidecarImage
                   << " is not built: scripts/images.sh sidecar, or ctest's fixture e2e_pod_images)";
    auto probe = podman({"run", "--rm", "--pull=never", "--network", "host", "--read-only", kSidecarImage, "--version"});
    if (probe.exitCode != 0)
      GTEST_SKIP() << "skipped: podman cannot run containers here (" << lastLine(probe.err + probe.out) << ")";

    name_ = "tributary-kp-e2e-" + std::to_string(getpid());
    configMap_ = name_ + "-pipeline";
    char tmpl[] = "/tmp/tributary-kp-pod-XXXXXX";
    dir_ = mkdtemp(tmpl);
    kafka = std::make_unique<tributary::EmbeddedKafka>(3);
    kafka->createTopic("orders", 12, 3);
    kafka->createTopic("big-orders", 4, 3);
    kafka->createTopic("orders.dlq", 1, 3);
    server = std::make_unique<tributary::apiserver::TestApiServer>();
    server->start();
    api = std::make_unique<ApiClient>(server->port());
    tributary::apiserver::test::writeKubeconfig(dir_ + "/kubeconfig", server->url());
  }

  void TearDown() override {
    if (!name_.empty()) {
      podman({"pod", "rm", "--force", "--time", "0", name_});
      podman({"volume", "rm", "--force", configMap_});
    }
    if (op) {
      op->signal(SIGTERM);
      op->wait(60s);
    }
    if (server) server->stop();
    kafka.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  CommandResult podman(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 120s) {
    return tributary::apiserver::test::run(podman_, args, {{"CONTAINERS_CONF", kSource + "/images/containers.conf"}},
                                           timeout);
  }
  CommandResult kubectl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--kubeconfig", dir_ + "/kubeconfig", "--cache-dir", dir_ + "/cache"});
    return tributary::apiserver::test::run(kubectl_, args, {{"HOME", dir_}}, 60s);
  }

  // The pod a kubelet would start for the Deployment, as podman 4.3 can run it.
  Json podFor(const Json& deployment) {
    Json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", name_}}}};
    pod["spec"] = deployment["spec"]["template"]["spec"];
    pod["spec"]["hostNetwork"] = true;
    for (auto& c : pod["spec"]["containers"]) {
      for (const char* field : {"ports", "livenessProbe", "readinessProbe", "startupProbe"}) c.erase(field);
      c["image"] = kSidecarImage;
      Json env = Json::array();
      for (const auto& e : c.value("env", Json::array()))
        if (!e.contains("valueFrom")) env.push_back(e);  // the downward API: what a kubelet fills in
      env.push_back({{"name", "TRIBUTARY_POD_NAME"}, {"value", name_}});
      env.push_back({{"name", "TRIBUTARY_ADMIN_LISTEN"}, {"value", "127.0.0.1:0"}});
      c["env"] = env;
    }
    for (auto& v : pod["spec"]["volumes"])
      if (v.contains("configMap")) v["configMap"]["name"] = configMap_;
    return pod;
  }

  std::string kubectl_, podman_, name_, configMap_, dir_;
  std::unique_ptr<tributary::EmbeddedKafka> kafka;
  std::unique_ptr<tributary::apiserver::TestApiServer> server;
  std::unique_ptr<ApiClient> api;
  std::unique_ptr<tributary::test::Subprocess> op;
};

TEST_F(PipelinePodE2E, KubectlApplyOfTheExampleRunsAPipelineThatMovesRecords) {
  ASSERT_EQ(kubectl({"apply", "--validate=false", "-f", kSource + "/crds/"}).exitCode, 0);
  ASSERT_EQ(kubectl({"wait", "--for=condition=Established", "crd/kafkapipelines.tributary.dev", "--timeout=30s"}).exitCode,
            0);
  setenv("TRIBUTARY_FAKE_KAFKA_STATE", (dir_ + "/kafka.json").c_str(), 1);
  op = std::make_unique<tributary::test::Subprocess>(
      tributary::test::binDir() + "/tributary-operator-fake-kafka",
      std::vector<std::string>{"--kubeconfig", dir_ + "/kubeconfig", "--bootstrap-servers", kafka->bootstrapServers(),
                               "--leader-elect=false", "--metrics-bind-address", "127.0.0.1:0",
                               "--health-probe-bind-address", "127.0.0.1:0", "--webhook-bind-address=0",
                               "--sidecar-image", kSidecarImage});
  ASSERT_TRUE(op->waitForLine("reconciling KafkaPipelines", 30s)) << op->output();
  ASSERT_EQ(kubectl({"apply", "--validate=false", "-f", kSource + "/manifests/examples/orders-topic.yaml"}).exitCode, 0);
  ASSERT_EQ(kubectl({"wait", "--for=condition=Ready", "kt/orders", "--timeout=60s"}).exitCode, 0) << op->output();
  auto apply = kubectl({"apply", "--validate=false", "-f", kSource + "/manifests/examples/orders-enricher-pipeline.yaml"});
  ASSERT_EQ(apply.exitCode, 0) << apply.err;
  ASSERT_TRUE(eventually([&] { return api->get(kDeployment).status == 200; }, 60s)) << op->output();

  // What the operator rendered, run as a kubelet would (one replica of two).
  const Json configMap = api->get(kConfigMap).body;
  ASSERT_TRUE(configMap["data"].contains("pipeline.yaml")) << configMap.dump();
  const std::string file = configMap["data"]["pipeline.yaml"];
  EXPECT_NE(file.find(kafka->bootstrapServers()), std::string::npos) << file;
  Json cm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", configMap_}}}, {"data", configMap["data"]}};
  std::ofstream(dir_ + "/configmap.yaml") << cm.dump(2) << "\n";
  const std::string podFile = dir_ + "/pod.yaml";
  std::ofstream(podFile) << podFor(api->get(kDeployment).body).dump(2) << "\n";

  // Orders before the pipeline starts (startFrom: earliest): amounts 1..300,
  // none large enough for the audit route (cents >= 100000).
  std::vector<tributary::test::RecordToWrite> orders;
  for (int i = 1; i <= 300; ++i)
    orders.push_back({"o" + std::to_string(i), R"({"id":)" + std::to_string(i) + R"(,"amount":)" + std::to_string(i) + "}", {}});
  ASSERT_NO_FATAL_FAILURE(tributary::test::writeAll(kafka->bootstrapServers(), "orders", orders));

  auto played = podman({"kube", "play", "--configmap", dir_ + "/configmap.yaml", podFile}, 180s);
  ASSERT_EQ(played.exitCode, 0) << played.err << played.out;

  // 290 orders have amount > 10: each comes out once, reshaped and keyed by id.
  std::vector<tributary::test::ConsumedRecord> out;
  for (auto until = std::chrono::steady_clock::now() + 180s; std::chrono::steady_clock::now() < until;) {
    out = tributary::test::readAll(kafka->bootstrapServers(), "big-orders");
    if (out.size() >= 290) break;
  }
  auto logs = podman({"pod", "logs", name_});
  ASSERT_EQ(out.size(), 290u) << logs.out << logs.err;
  std::set<int> ids;
  for (const auto& r : out) {
    const Json v = Json::parse(*r.value);
    ids.insert(v["id"].get<int>());
    EXPECT_EQ(v["cents"].get<int>(), v["id"].get<int>() * 100);
    EXPECT_EQ(*r.key, std::to_string(v["id"].get<int>()));
    bool tagged = false;
    for (const auto& [name, value] : r.headers) tagged = tagged || (name == "origin" && value == "pipeline");
    EXPECT_TRUE(tagged);
  }
  EXPECT_EQ(ids.size(), 290u);
  EXPECT_EQ(*ids.begin(), 11);

  // SIGTERM as Kubernetes sends it: the pipeline commits and exits 0.
  auto stop = podman({"pod", "stop", "--time", "30", name_}, 60s);
  ASSERT_EQ(stop.exitCode, 0) << stop.err;
  auto inspected = podman({"pod", "inspect", name_});
  ASSERT_EQ(inspected.exitCode, 0) << inspected.err;
  const Json podInfo = Json::parse(inspected.out);
  const Json& info = podInfo.is_array() ? podInfo[0] : podInfo;
  int pipelines = 0;
  for (const auto& c : info.value("Containers", Json::array())) {
    if (c.value("Name", "").find("infra") != std::string::npos) continue;
    auto state = podman({"inspect", "--format", "{{.State.Status}} {{.State.ExitCode}} {{.Config.User}}",
                         c.value("Id", "")});
    EXPECT_EQ(lastLine(state.out), "exited 0 65532:65532") << c.dump() << state.err
        << "\na clean exit after SIGTERM (not 137), as the non-root user";
    ++pipelines;
  }
  EXPECT_EQ(pipelines, 1) << info.dump(2);
  logs = podman({"pod", "logs", name_});
  const std::string log = logs.out + logs.err;
  EXPECT_NE(log.find("\"pipeline running\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"shutdown complete\""), std::string::npos) << log;
  podman({"kube", "down", podFile}, 120s);
}

}  // namespace
