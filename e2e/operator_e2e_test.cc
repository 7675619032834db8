// End to end with real processes: the test API server (in this process, real
// HTTP), the real kubectl, and the real tributary-operator binary in controller
// mode. There is no Kafka broker here (the embedded mock cluster has no admin
// API), so the operator's librdkafka admin client is pointed at a dead address:
// what these scenarios prove is the wiring a user meets — kubectl apply of the
// CRD and examples, the operator noticing them and writing status conditions
// that kubectl shows, leader election between two operator processes with a
// hand-over when the leader is killed, and clean SIGTERM. Ready=True paths are
// covered in-process against the ClusterAdmin test double
// (tests/operator/controllers).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/codec/base64.h"
#include "tests/apiserver/api_client.h"
#include "tests/apiserver/command.h"
#include "tests/support/subprocess.h"

using namespace std::chrono_literals;
using tributary::apiserver::test::ApiClient;
using tributary::apiserver::test::Command;
using tributary::apiserver::test::eventually;
using tributary::apiserver::test::findOnPath;
using Json = nlohmann::json;

namespace {

const std::string kTopics = "/apis/tributary.dev/v1alpha1/namespaces/default/kafkatopics";
constexpr const char* kNeedsKubectl = "kubectl is not on PATH; this scenario drives the real kubectl binary";

class OperatorE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    // Scenarios that drive kubectl skip without it (kNeedsKubectl); the others run.
    if (auto kubectl = findOnPath("kubectl")) kubectl_ = *kubectl;
    char tmpl[] = "/tmp/tributary-e2e-XXXXXX";
    dir_ = mkdtemp(tmpl);
    server = std::make_unique<tributary::apiserver::TestApiServer>();
    server->start();
    api = std::make_unique<ApiClient>(server->port());
    tributary::apiserver::test::writeKubeconfig(dir_ + "/kubeconfig", server->url());
  }
  void TearDown() override {
    operators.clear();
    if (server) server->stop();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  tributary::apiserver::test::CommandResult kubectl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--kubeconfig", dir_ + "/kubeconfig", "--cache-dir", dir_ + "/cache"});
    return tributary::apiserver::test::run(kubectl_, args, {{"HOME", dir_}}, 60s);
  }

  // Starts the operator binary; returns it once it logged that it started.
  tributary::test::Subprocess& startOperator(std::vector<std::string> extra,
                                             const std::string& binary = "tributary-operator") {
    std::vector<std::string> args = {"--kubeconfig", dir_ + "/kubeconfig", "--bootstrap-servers", "127.0.0.1:1",
                                     "--metrics-bind-address", "127.0.0.1:0", "--health-probe-bind-address",
                                     "127.0.0.1:0"};
    // The webhook's default :9443 would collide between processes and tests:
    // off unless a scenario asks for it.
    bool webhook = false;
    for (const auto& e : extra) webhook = webhook || e.rfind("--webhook-bind-address", 0) == 0;
    if (!webhook) args.push_back("--webhook-bind-address=0");
    args.insert(args.end(), extra.begin(), extra.end());
    operators.push_back(
        std::make_unique<tributary::test::Subprocess>(tributary::test::binDir() + "/" + binary, args));
    EXPECT_TRUE(operators.back()->waitForLine("operator started", 30s)) << operators.back()->output();
    return *operators.back();
  }

  // A JSON log field of the first line containing `needle`.
  static std::string logField(const tributary::test::Subprocess& p, const std::string& needle,
                              const std::string& field) {
    const std::string& out = p.output();
    auto at = out.find(needle);
    if (at == std::string::npos) return "";
    auto start = out.rfind('\n', at);
    auto end = out.find('\n', at);
    Json line = Json::parse(out.substr(start == std::string::npos ? 0 : start + 1,
                                       end == std::string::npos ? std::string::npos : end - start - 1),
                            nullptr, false);
    return line.is_object() ? line.value(field, "") : "";
  }

  Json readyCondition(const std::string& name) {
    Json o = api->get(kTopics + "/" + name).body;
    const Json conditions = o.value("status", Json::object()).value("conditions", Json::array());
    for (const auto& c : conditions)
      if (c.value("type", "") == "Ready") return c;
    return Json::object();
  }

  std::string leaseHolder() {
    auto r = api->get("/apis/coordination.k8s.io/v1/namespaces/default/leases/tributary-operator");
    if (r.status != 200) return "";
    return r.body["spec"].value("holderIdentity", "");
  }

  std::string kubectl_, dir_;
  std::unique_ptr<tributary::apiserver::TestApiServer> server;
  std::unique_ptr<ApiClient> api;
  std::vector<std::unique_ptr<tributary::test::Subprocess>> operators;
};

TEST_F(OperatorE2E, KubectlApplyReachesTheOperatorWhichReportsKafkaUnavailableAndStopsCleanly) {
  if (kubectl_.empty()) GTEST_SKIP() << kNeedsKubectl;
  auto crd = kubectl({"apply", "--validate=false", "-f", std::string(TRIBUTARY_SOURCE_DIR) + "/crds/"});
  ASSERT_EQ(crd.exitCode, 0) << crd.err;
  ASSERT_EQ(kubectl({"wait", "--for=condition=Established", "crd/kafkatopics.tributary.dev", "--timeout=30s"}).exitCode,
            0);
  auto& op = startOperator({"--leader-elect=false"});
  auto examples =
      kubectl({"apply", "--validate=false", "-f", std::string(TRIBUTARY_SOURCE_DIR) + "/manifests/examples/"});
  ASSERT_EQ(examples.exitCode, 0) << examples.err;

  // No broker answers: the operator says so on the resource, by condition.
  ASSERT_TRUE(eventually([&] { return readyCondition("orders").value("reason", "") == "KafkaUnavailable"; }, 120s))
      << api->get(kTopics + "/orders").raw << "\n" << op.output();
  EXPECT_EQ(readyCondition("orders")["status"], "False");
  auto get = kubectl({"get", "kt", "orders"});
  ASSERT_EQ(get.exitCode, 0) << get.err;
  EXPECT_NE(get.out.find("READY"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("False"), std::string::npos) << get.out;
  // Events are written by the recorder's own thread, maybe just after the status: awaited.
  std::string eventsOut;
  EXPECT_TRUE(eventually([&] {
    auto events = kubectl({"get", "events", "--field-selector", "involvedObject.name=orders", "-o", "json"});
    eventsOut = events.out + events.err;
    return events.exitCode == 0 && events.out.find("KafkaUnavailable") != std::string::npos;
  }, 30s)) << eventsOut;
  // The Delete-policy example carries the finalizer even while Kafka is away.
  EXPECT_EQ(api->get(kTopics + "/customer-profiles").body["metadata"]["finalizers"],
            Json::array({"tributary.dev/topic"}));

  // Running reconciles finish first (each waits at most 10 s for Kafka).
  op.signal(SIGTERM);
  EXPECT_EQ(op.wait(60s), 0) << op.output();
}

// What "Kafka" holds, as the operator's ClusterAdmin double wrote it.
Json kafkaState(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  Json state = Json::parse(s.str(), nullptr, false);
  return state.is_discarded() ? Json::object() : state;
}

TEST_F(OperatorE2E, KubectlApplyEditAndDeleteReachKafkaThroughTheOperatorProcess) {
  if (kubectl_.empty()) GTEST_SKIP() << kNeedsKubectl;
  // The real command line over the ClusterAdmin double (tributary-operator-fake-kafka).
  const std::string state = dir_ + "/kafka.json";
  setenv("TRIBUTARY_FAKE_KAFKA_STATE", state.c_str(), 1);
  ASSERT_EQ(kubectl({"apply", "--validate=false", "-f", std::string(TRIBUTARY_SOURCE_DIR) + "/crds/"}).exitCode, 0);
  ASSERT_EQ(kubectl({"wait", "--for=condition=Established", "crd/kafkatopics.tributary.dev", "--timeout=30s"}).exitCode,
            0);
  auto& op = startOperator({"--leader-elect=false"}, "tributary-operator-fake-kafka");
  auto apply =
      kubectl({"apply", "--validate=false", "-f", std::string(TRIBUTARY_SOURCE_DIR) + "/manifests/examples/"});
  ASSERT_EQ(apply.exitCode, 0) << apply.err;

  // apply → Ready=True, the topics exist as specified, kubectl shows it.
  auto wait = kubectl({"wait", "--for=condition=Ready", "kt/orders", "kt/customer-profiles", "--timeout=60s"});
  ASSERT_EQ(wait.exitCode, 0) << wait.out << wait.err << op.output();
  Json kafka = kafkaState(state);
  EXPECT_EQ(kafka["orders"]["partitions"], 12);
  EXPECT_EQ(kafka["orders"]["replicationFactor"], 3);
  EXPECT_EQ(kafka["orders"]["config"]["retention.ms"], "604800000");
  EXPECT_EQ(kafka["crm.customer-profiles.v1"]["config"]["cleanup.policy"], "compact");
  auto get = kubectl({"get", "kt", "orders"});
  EXPECT_NE(get.out.find("True"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("12"), std::string::npos) << get.out;

  // Edit partitions with kubectl: the change reaches Kafka.
  ASSERT_EQ(kubectl({"patch", "kt", "orders", "--type=merge", "-p", R"({"spec":{"partitions":16}})"}).exitCode, 0);
  ASSERT_TRUE(eventually([&] { return kafkaState(state)["orders"].value("partitions", 0) == 16; }, 60s))
      << kafkaState(state).dump() << op.output();

  // A decrease is refused with a condition kubectl shows; Kafka keeps 16.
  ASSERT_EQ(kubectl({"patch", "kt", "orders", "--type=merge", "-p", R"({"spec":{"partitions":4}})"}).exitCode, 0);
  ASSERT_TRUE(eventually([&] { return readyCondition("orders").value("reason", "") == "PartitionDecreaseNotAllowed"; },
                         60s));
  EXPECT_EQ(kafkaState(state)["orders"]["partitions"], 16);

  // Delete: deletionPolicy Delete removes the topic, Retain (the default) keeps it.
  ASSERT_EQ(kubectl({"delete", "kt", "customer-profiles", "--timeout=60s"}).exitCode, 0);
  ASSERT_EQ(kubectl({"delete", "kt", "orders", "--timeout=60s"}).exitCode, 0);
  EXPECT_FALSE(kafkaState(state).contains("crm.customer-profiles.v1")) << kafkaState(state).dump();
  EXPECT_TRUE(kafkaState(state).contains("orders"));

  op.signal(SIGTERM);
  EXPECT_EQ(op.wait(60s), 0) << op.output();
}

TEST_F(OperatorE2E, TwoOperatorsElectOneLeaderAndKillingItHandsOver) {
  if (kubectl_.empty()) GTEST_SKIP() << kNeedsKubectl;
  ASSERT_EQ(kubectl({"apply", "--validate=false", "-f", std::string(TRIBUTARY_SOURCE_DIR) + "/crds/"}).exitCode, 0);
  auto& a = startOperator({"--leader-elect=true"});
  auto& b = startOperator({"--leader-elect=true"});
  const std::string idA = logField(a, "tributary-operator starting", "identity");
  const std::string idB = logField(b, "tributary-operator starting", "identity");
  ASSERT_FALSE(idA.empty());
  ASSERT_NE(idA, idB);
  ASSERT_TRUE(eventually([&] { return leaseHolder() == idA || leaseHolder() == idB; }, 30s)) << leaseHolder();
  const std::string first = leaseHolder();
  auto& leader = first == idA ? a : b;
  auto& standby = first == idA ? b : a;
  const std::string standbyId = first == idA ? idB : idA;
  ASSERT_TRUE(leader.waitForLine("reconciling KafkaTopics", 30s));
  EXPECT_EQ(standby.output().find("reconciling KafkaTopics"), std::string::npos) << "only the leader reconciles";

  // A crash: no release. The standby takes over once the lease expires (15 s).
  leader.signal(SIGKILL);
  leader.wait(10s);
  ASSERT_TRUE(eventually([&] { return leaseHolder() == standbyId; }, 60s)) << leaseHolder();
  EXPECT_TRUE(standby.waitForLine("reconciling KafkaTopics", 30s)) << standby.output();
  standby.signal(SIGTERM);
  EXPECT_EQ(standby.wait(30s), 0) << standby.output();
  // A clean stop releases the lease for the next one at once.
  EXPECT_EQ(leaseHolder(), "");
}

// The sidecar injector in controller mode: two replicas (leader election on),
// each serving the webhook; they share the self-managed certificate through the
// Secret, the caBundle is patched, and each answers an AdmissionReview over HTTPS.
TEST_F(OperatorE2E, EveryReplicaServesTheWebhookWithTheSelfManagedCertificate) {
  ASSERT_EQ(api->post("/api/v1/namespaces",
                      Json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "tributary-system"}}}})
                .status,
            201);
  const std::string webhooks = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";
  ASSERT_EQ(api->post(webhooks, Json{{"apiVersion", "admissionregistration.k8s.io/v1"},
                                     {"kind", "MutatingWebhookConfiguration"},
                                     {"metadata", {{"name", "tributary-sidecar-injector"}}},
                                     {"webhooks", Json::array({{{"name", "inject.tributary.dev"},
                                                                {"clientConfig",
                                                                 {{"service",
                                                                   {{"namespace", "tributary-system"},
                                                                    {"name", "tributary-webhook"},
                                                                    {"path", "/inject"}}}}},
                                                                {"sideEffects", "None"},
                                                                {"admissionReviewVersions", Json::array({"v1"})}}})}})
                .status,
            201);
  std::ofstream(dir_ + "/sidecar.yaml") << "kafka:\n  bootstrapServers: kafka-0.kafka:9092\n";
  std::vector<std::string> flags = {"--leader-elect=true", "--webhook-bind-address=127.0.0.1:0",
                                    "--sidecar-config=" + dir_ + "/sidecar.yaml", "--sidecar-image=example/sidecar:1"};
  auto& a = startOperator(flags);
  auto& b = startOperator(flags);
  const Json review{{"apiVersion", "admission.k8s.io/v1"},
                    {"kind", "AdmissionReview"},
                    {"request",
                     {{"uid", "e2e-1"},
                      {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
                      {"namespace", "shop"},
                      {"operation", "CREATE"},
                      {"object",
                       {{"metadata", {{"generateName", "orders-"}, {"annotations", {{"tributary.dev/inject", "true"}}}}},
                        {"spec", {{"containers", Json::array({{{"name", "app"}, {"image", "example/app:1"}}})}}}}}}}};
  for (auto* op : {&a, &b}) {
    // Logged before "operator started", which startOperator already waited for.
    ASSERT_NE(op->output().find("sidecar injector webhook serving"), std::string::npos) << op->output();
    const int port = std::stoi(logField(*op, "sidecar injector webhook serving", "port"));
    const int probes = std::stoi(logField(*op, "operator started", "probes"));
    // Ready once a certificate is loaded (the Secret created by one, read by the other).
    ApiClient probe(probes);
    ASSERT_TRUE(eventually(
        [&] {
          auto r = probe.get("/readyz");
          return r.body.is_object() && r.body.value("webhook", false);
        },
        30s))
        << op->output();
    httplib::SSLClient https("127.0.0.1", port);
    https.enable_server_certificate_verification(false);  // full verification: tests/operator/inject
    auto res = https.Post("/inject", review.dump(), "application/json");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    ASSERT_EQ(res->status, 200) << res->body;
    Json out = Json::parse(res->body);
    EXPECT_EQ(out["response"]["uid"], "e2e-1");
    EXPECT_EQ(out["response"]["patchType"], "JSONPatch");
    const std::string patch = tributary::base64Decode(out["response"]["patch"].get<std::string>()).value_or("");
    EXPECT_NE(patch.find("example/sidecar:1"), std::string::npos) << patch;
    EXPECT_NE(patch.find("kafka-0.kafka:9092"), std::string::npos) << "the default config, inline: " << patch;
  }
  auto secret = api->get("/api/v1/namespaces/tributary-system/secrets/tributary-webhook-tls");
  ASSERT_EQ(secret.status, 200);
  EXPECT_TRUE(eventually([&] {
    auto config = api->get(webhooks + "/tributary-sidecar-injector");
    return config.body["webhooks"][0]["clientConfig"].value("caBundle", "") == secret.body["data"]["ca.crt"];
  }));
  for (auto* op : {&a, &b}) {
    op->signal(SIGTERM);
    EXPECT_EQ(op->wait(30s), 0) << op->output();
  }
}

TEST_F(OperatorE2E, UsageAndConfigurationErrorsExitTwoWithAMessage) {
  auto bin = tributary::test::binDir() + "/tributary-operator";
  auto noCluster = tributary::apiserver::test::run(bin, {"--kubeconfig", dir_ + "/kubeconfig"});
  EXPECT_EQ(noCluster.exitCode, 2);
  EXPECT_NE(noCluster.err.find("no Kafka cluster"), std::string::npos) << noCluster.err;
  auto badFlag = tributary::apiserver::test::run(bin, {"--leader-elect=maybe", "--bootstrap-servers", "k:9092"});
  EXPECT_EQ(badFlag.exitCode, 2);
  EXPECT_NE(badFlag.err.find("--leader-elect must be true or false"), std::string::npos) << badFlag.err;
  std::ofstream(dir_ + "/broken") << "apiVersion: v1\nkind: Config\ncurrent-context: nowhere\n";
  auto badKubeconfig =
      tributary::apiserver::test::run(bin, {"--kubeconfig", dir_ + "/broken", "--bootstrap-servers", "k:9092"});
  EXPECT_EQ(badKubeconfig.exitCode, 2);
  EXPECT_NE(badKubeconfig.err.find("broken"), std::string::npos) << "names the file: " << badKubeconfig.err;
}

}  // namespace
