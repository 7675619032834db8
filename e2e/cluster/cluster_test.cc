// The real-cluster scenario (e2e/README.md): on a Kubernetes cluster that has
// the images (e.g. kind with `kind load`), kubectl applies
// manifests/install.yaml with the brokers of TRIBUTARY_TEST_BOOTSTRAP, then a
// namespace labelled for injection with a KafkaTopic, the sidecar config and a
// Deployment of the e2e app (app.yaml). The webhook injects the sidecar, the
// app produces through it and gets every record back through its push
// subscription, and says so in its log.
//
// Runs when KUBECONFIG and TRIBUTARY_TEST_BOOTSTRAP are given (the brokers as
// the cluster's pods reach them; TRIBUTARY_E2E_CLUSTER_BOOTSTRAP overrides that
// when the test machine and the pods see them under different addresses);
// skipped, saying so, otherwise. The install stays after the test (applying it
// again is idempotent); the test's namespace is deleted.
#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "operator/app/yaml_json.h"
#include "tests/apiserver/command.h"

using namespace std::chrono_literals;
using tributary::apiserver::test::Command;
using tributary::apiserver::test::CommandResult;
using tributary::apiserver::test::findOnPath;
using Json = nlohmann::json;

namespace {

const std::string kSource = TRIBUTARY_SOURCE_DIR;
const std::string kVersion = TRIBUTARY_VERSION;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void replaceAll(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

std::string emit(const YAML::Node& node) {
  YAML::Emitter out;
  out << node;
  return out.c_str();
}

class ClusterE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (env("KUBECONFIG").empty() || env("TRIBUTARY_TEST_BOOTSTRAP").empty())
      GTEST_SKIP() << "skipped: the real-cluster scenario needs KUBECONFIG (a cluster with the tributary images, "
                      "e.g. kind) and TRIBUTARY_TEST_BOOTSTRAP (Kafka brokers its pods reach); see e2e/README.md";
    auto kubectl = findOnPath("kubectl");
    if (!kubectl) GTEST_SKIP() << "skipped: kubectl is not on PATH";
    kubectl_ = *kubectl;
    if (!std::filesystem::exists(kSource + "/manifests/install.yaml"))
      GTEST_SKIP() << "skipped: manifests/install.yaml is not on this branch";
    bootstrap_ = env("TRIBUTARY_E2E_CLUSTER_BOOTSTRAP").empty() ? env("TRIBUTARY_TEST_BOOTSTRAP")
                                                                : env("TRIBUTARY_E2E_CLUSTER_BOOTSTRAP");
    namespace_ = "tributary-e2e-" + std::to_string(getpid());
    char tmpl[] = "/tmp/tributary-e2e-cluster-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }

  void TearDown() override {
    if (!namespace_.empty()) kubectl({"delete", "namespace", namespace_, "--ignore-not-found", "--timeout=180s"}, 200s);
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  CommandResult kubectl(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 120s) {
    return tributary::apiserver::test::run(kubectl_, args, {}, timeout);
  }

  // install.yaml with the operator's and the default sidecar's brokers set,
  // as a JSON List (typed as kubectl reads the YAML: quoted stays a string).
  std::string installWithBrokers() {
    Json list = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", Json::array()}};
    for (Json doc : tributary::op::app::yamlDocumentsToJson(readFile(kSource + "/manifests/install.yaml"))) {
      if (!doc.is_object()) continue;
      if (doc.value("kind", "") == "ConfigMap") {
        const std::string name = doc["metadata"].value("name", "");
        if (name == "tributary-operator-config") {
          YAML::Node config = YAML::Load(doc["data"].value("operator.yaml", ""));
          config["clusters"]["default"]["bootstrapServers"] = bootstrap_;
          doc["data"]["operator.yaml"] = emit(config) + "\n";
        } else if (name == "tributary-sidecar") {
          YAML::Node config = YAML::Load(doc["data"].value("sidecar.yaml", ""));
          config["kafka"]["bootstrapServers"] = bootstrap_;
          doc["data"]["sidecar.yaml"] = emit(config) + "\n";
        }
      }
      list["items"].push_back(doc);
    }
    return list.dump(2);
  }

  std::string kubectl_, bootstrap_, namespace_, dir_;
};

TEST_F(ClusterE2E, InstallThenAnInjectedAppRoundTripsRecordsThroughItsSidecar) {
  // 1. The install, with this cluster's brokers; the operator becomes available.
  std::ofstream(dir_ + "/install.json") << installWithBrokers();
  auto install = kubectl({"apply", "--server-side", "--force-conflicts", "-f", dir_ + "/install.json"});
  ASSERT_EQ(install.exitCode, 0) << install.err;
  auto rollout = kubectl({"-n", "tributary-system", "rollout", "status", "deployment/tributary-operator",
                          "--timeout=300s"},
                         320s);
  ASSERT_EQ(rollout.exitCode, 0) << rollout.err << rollout.out;

  // 2. A namespace whose pods get the sidecar.
  ASSERT_EQ(kubectl({"create", "namespace", namespace_}).exitCode, 0);
  ASSERT_EQ(kubectl({"label", "namespace", namespace_, "tributary.dev/injection=enabled"}).exitCode, 0);

  // 3. The topic, the sidecar config and the app.
  std::string app = readFile(kSource + "/e2e/cluster/app.yaml");
  replaceAll(app, "${NAMESPACE}", namespace_);
  replaceAll(app, "${TOPIC}", namespace_);
  replaceAll(app, "${BOOTSTRAP}", bootstrap_);
  replaceAll(app, "${VERSION}", kVersion);
  std::ofstream(dir_ + "/app.yaml") << app;
  // The topic first: the app's subscription then starts on an existing topic.
  const std::string topicDoc = app.substr(0, app.find("\n---\n"));
  std::ofstream(dir_ + "/topic.yaml") << topicDoc << "\n";
  auto topic = kubectl({"apply", "-f", dir_ + "/topic.yaml"});
  ASSERT_EQ(topic.exitCode, 0) << topic.err;
  auto ready = kubectl({"-n", namespace_, "wait", "--for=condition=Ready", "kafkatopic/e2e-roundtrip", "--timeout=180s"},
                       200s);
  ASSERT_EQ(ready.exitCode, 0) << ready.err << ready.out
                               << kubectl({"-n", namespace_, "get", "kafkatopic/e2e-roundtrip", "-o", "yaml"}).out;
  auto applied = kubectl({"apply", "-f", dir_ + "/app.yaml"});
  ASSERT_EQ(applied.exitCode, 0) << applied.err;
  auto appRollout =
      kubectl({"-n", namespace_, "rollout", "status", "deployment/e2e-app", "--timeout=300s"}, 320s);
  ASSERT_EQ(appRollout.exitCode, 0) << appRollout.err << appRollout.out
                                    << kubectl({"-n", namespace_, "get", "events"}).out;

  // 4. The webhook injected the sidecar (native on >= 1.29, classic before).
  auto pods = kubectl({"-n", namespace_, "get", "pods", "-l", "app=e2e-app", "-o", "json"});
  ASSERT_EQ(pods.exitCode, 0) << pods.err;
  Json list = Json::parse(pods.out);
  ASSERT_FALSE(list["items"].empty());
  const Json& spec = list["items"][0]["spec"];
  bool injected = false;
  for (const char* field : {"initContainers", "containers"})
    for (const auto& c : spec.value(field, Json::array()))
      if (c.value("name", "") == "tributary-sidecar") injected = true;
  EXPECT_TRUE(injected) << spec.dump(2);

  // 5. The app's verdict: every record it produced came back through the sidecar.
  Command logs(kubectl_, {"-n", namespace_, "logs", "--follow", "deployment/e2e-app", "-c", "app"});
  ASSERT_TRUE(logs.waitForOutput("RESULT", 240s)) << logs.out() << logs.err();
  const std::string& out = logs.out();
  const std::string result = out.substr(out.find("RESULT"), out.find('\n', out.find("RESULT")) - out.find("RESULT"));
  EXPECT_NE(result.find("RESULT PASS"), std::string::npos) << result;
  EXPECT_NE(result.find("uid=65532 gid=65532 rootfs=read-only"), std::string::npos) << result;
}

}  // namespace
