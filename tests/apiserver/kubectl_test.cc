// The real kubectl against the test API server: what a user types, and what
// they see. Skipped (with a message) when kubectl is not installed.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/apiserver/api_client.h"
#include "tests/apiserver/command.h"

namespace tributary::apiserver::test {
namespace {

const char* const kOrdersYaml = R"(apiVersion: tributary.dev/v1alpha1
kind: KafkaTopic
metadata:
  name: orders
spec:
  topicName: orders-v1
  partitions: 6
)";

const char* const kHeldYaml = R"(apiVersion: tributary.dev/v1alpha1
kind: KafkaTopic
metadata:
  name: held
  finalizers: [tributary.dev/topic]
spec:
  partitions: 1
)";

std::vector<std::vector<std::string>> tableRows(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::stringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::stringstream words(line);
    std::vector<std::string> row;
    std::string w;
    while (words >> w) row.push_back(w);
    if (!row.empty()) rows.push_back(row);
  }
  return rows;
}

class Kubectl : public ApiServerTest {
 protected:
  void SetUp() override {
    auto path = findOnPath("kubectl");
    if (!path) GTEST_SKIP() << "kubectl is not on PATH; these tests drive the real kubectl binary";
    kubectl_ = *path;
    ApiServerTest::SetUp();
    char tmpl[] = "/tmp/tributary-kubectl-XXXXXX";
    ASSERT_TRUE(mkdtemp(tmpl));
    dir_ = tmpl;
    write("kubeconfig", "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: " + server->url() +
                            "\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n    namespace: "
                            "default\ncurrent-context: test\nusers:\n- name: test\n  user: {}\n");
  }
  void TearDown() override {
    if (server) ApiServerTest::TearDown();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string write(const std::string& name, const std::string& content) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << content;
    return path;
  }
  std::vector<std::string> withGlobals(std::vector<std::string> args) {
    args.insert(args.begin(), {"--kubeconfig", dir_ + "/kubeconfig", "--cache-dir", dir_ + "/cache"});
    return args;
  }
  std::map<std::string, std::string> env() { return {{"HOME", dir_}, {"KUBECONFIG", dir_ + "/kubeconfig"}}; }
  CommandResult kubectl(const std::vector<std::string>& args) { return run(kubectl_, withGlobals(args), env()); }
  std::unique_ptr<Command> start(const std::vector<std::string>& args) {
    return std::make_unique<Command>(kubectl_, withGlobals(args), env());
  }
  // kubectl succeeded, and said `says` on stdout.
  void expectOk(const std::vector<std::string>& args, const std::string& says = "") {
    auto r = kubectl(args);
    EXPECT_EQ(r.exitCode, 0) << "kubectl " << args[0] << ": " << r.err << r.out;
    if (!says.empty()) {
      EXPECT_NE(r.out.find(says), std::string::npos) << "stdout: " << r.out << "\nstderr: " << r.err;
    }
  }
  void installCrdAndOrders() {
    expectOk({"apply", "--validate=false", "-f", write("crd.yaml", kKafkaTopicCrdYaml)},
             "customresourcedefinition.apiextensions.k8s.io/kafkatopics.tributary.dev created");
    expectOk({"apply", "--validate=false", "-f", write("orders.yaml", kOrdersYaml)}, "kafkatopic.tributary.dev/orders created");
  }

  std::string kubectl_;
  std::string dir_;
};

TEST_F(Kubectl, ApplyCrdAndResourceThenGetShowsThePrinterColumns) {
  installCrdAndOrders();
  ASSERT_EQ(client->patch(kTopics + "/orders/status", R"({"status":{"conditions":[{"type":"Ready","status":"True"}]}})").status, 200);
  auto r = kubectl({"get", "kt"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto rows = tableRows(r.out);
  ASSERT_EQ(rows.size(), 2u) << r.out;
  EXPECT_EQ(rows[0], (std::vector<std::string>{"NAME", "TOPIC", "PARTITIONS", "READY", "AGE"}));
  ASSERT_EQ(rows[1].size(), 5u) << r.out;
  EXPECT_EQ(rows[1][0], "orders");
  EXPECT_EQ(rows[1][1], "orders-v1");
  EXPECT_EQ(rows[1][2], "6");
  EXPECT_EQ(rows[1][3], "True");
  EXPECT_EQ(rows[1][4].back(), 's') << "an age in seconds: " << rows[1][4];

  // The long names resolve through discovery too, and -A adds the namespace.
  auto all = kubectl({"get", "kafkatopics.tributary.dev", "-A"});
  ASSERT_EQ(all.exitCode, 0) << all.err;
  EXPECT_EQ(tableRows(all.out)[0][0], "NAMESPACE");
  EXPECT_EQ(tableRows(all.out)[1][1], "orders");
}

TEST_F(Kubectl, GetAsJsonIsTheStoredObject) {
  installCrdAndOrders();
  auto r = kubectl({"get", "kt", "orders", "-o", "json"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  Json obj = Json::parse(r.out);
  Json stored = client->get(kTopics + "/orders").body;
  EXPECT_EQ(obj["spec"], stored["spec"]);
  EXPECT_EQ(obj["metadata"]["uid"], stored["metadata"]["uid"]);
  EXPECT_EQ(obj["spec"]["partitions"], 6);
  EXPECT_TRUE(obj["metadata"]["annotations"].contains("kubectl.kubernetes.io/last-applied-configuration"));

  auto jp = kubectl({"get", "kt", "orders", "-o", "jsonpath={.spec.topicName}/{.metadata.generation}"});
  EXPECT_EQ(jp.out, "orders-v1/1");
}

TEST_F(Kubectl, MergePatchChangesTheSpecAndGeneration) {
  installCrdAndOrders();
  expectOk({"patch", "kt", "orders", "--type=merge", "-p", R"({"spec":{"partitions":8}})"},
           "kafkatopic.tributary.dev/orders patched");
  Json stored = client->get(kTopics + "/orders").body;
  EXPECT_EQ(stored["spec"]["partitions"], 8);
  EXPECT_EQ(stored["metadata"]["generation"], 2);
  expectOk({"patch", "kt", "orders", "--type=json", "-p", R"([{"op":"replace","path":"/spec/partitions","value":9}])"});
  EXPECT_EQ(client->get(kTopics + "/orders").body["spec"]["partitions"], 9);
  // kubectl's default (strategic) patch is refused for custom resources, as by a real server.
  auto strategic = kubectl({"patch", "kt", "orders", "-p", R"({"spec":{"partitions":10}})"});
  EXPECT_NE(strategic.exitCode, 0);
  EXPECT_NE(strategic.err.find("strategic-merge-patch"), std::string::npos) << strategic.err;
}

TEST_F(Kubectl, StatusSubresourcePatchFeedsTheReadyColumn) {
  installCrdAndOrders();
  expectOk({"patch", "kt", "orders", "--subresource=status", "--type=merge", "-p",
            R"({"status":{"conditions":[{"type":"Ready","status":"False"}]},"spec":{"partitions":99}})"});
  auto rows = tableRows(kubectl({"get", "kt", "orders"}).out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1][2], "6") << "the status subresource ignored the spec";
  EXPECT_EQ(rows[1][3], "False");
}

TEST_F(Kubectl, ReapplyingConfiguresAndIsIdempotent) {
  installCrdAndOrders();
  std::string edited = kOrdersYaml;
  edited.replace(edited.find("partitions: 6"), 13, "partitions: 12");
  expectOk({"apply", "--validate=false", "-f", write("orders.yaml", edited)}, "kafkatopic.tributary.dev/orders configured");
  EXPECT_EQ(client->get(kTopics + "/orders").body["spec"]["partitions"], 12);
  const auto rv = client->get(kTopics + "/orders").body["metadata"]["resourceVersion"];
  expectOk({"apply", "--validate=false", "-f", dir_ + "/orders.yaml"}, "kafkatopic.tributary.dev/orders unchanged");
  EXPECT_EQ(client->get(kTopics + "/orders").body["metadata"]["resourceVersion"], rv);
}

TEST_F(Kubectl, ReplaceUpdatesTheWholeObject) {
  installCrdAndOrders();
  auto current = kubectl({"get", "kt", "orders", "-o", "json"});
  Json obj = Json::parse(current.out);
  obj["spec"]["partitions"] = 20;
  expectOk({"replace", "--validate=false", "-f", write("replace.json", obj.dump())},
           "kafkatopic.tributary.dev/orders replaced");
  EXPECT_EQ(client->get(kTopics + "/orders").body["spec"]["partitions"], 20);
  // The same file again carries a stale resourceVersion: a conflict.
  auto stale = kubectl({"replace", "--validate=false", "-f", dir_ + "/replace.json"});
  EXPECT_NE(stale.exitCode, 0);
  EXPECT_NE(stale.err.find("the object has been modified"), std::string::npos) << stale.err;
}

TEST_F(Kubectl, LabelsAndSelectors) {
  installCrdAndOrders();
  expectOk({"label", "kt", "orders", "team=payments"}, "kafkatopic.tributary.dev/orders labeled");
  EXPECT_EQ(client->get(kTopics + "/orders").body["metadata"]["labels"]["team"], "payments");
  auto selected = kubectl({"get", "kt", "-l", "team=payments", "-o", "name"});
  EXPECT_EQ(selected.out, "kafkatopic.tributary.dev/orders\n");
  auto none = kubectl({"get", "kt", "-l", "team in (orders,billing)"});
  EXPECT_EQ(none.exitCode, 0);
  EXPECT_NE(none.err.find("No resources found"), std::string::npos) << none.err;
  expectOk({"label", "kt", "orders", "team-"}, "unlabeled");
  EXPECT_FALSE(client->get(kTopics + "/orders").body["metadata"].contains("labels") &&
               client->get(kTopics + "/orders").body["metadata"]["labels"].contains("team"));
  expectOk({"annotate", "kt", "orders", "tributary.dev/paused=true"}, "annotated");
}

TEST_F(Kubectl, DeleteWithoutFinalizersRemovesTheObject) {
  installCrdAndOrders();
  expectOk({"delete", "kt", "orders"}, "kafkatopic.tributary.dev \"orders\" deleted");
  auto gone = kubectl({"get", "kt", "orders"});
  EXPECT_NE(gone.exitCode, 0);
  EXPECT_NE(gone.err.find("NotFound"), std::string::npos) << gone.err;
}

TEST_F(Kubectl, DeleteWithAFinalizerLeavesItTerminatingUntilTheFinalizerGoes) {
  installCrdAndOrders();
  expectOk({"apply", "--validate=false", "-f", write("held.yaml", kHeldYaml)});
  expectOk({"delete", "kt", "held", "--wait=false"}, "kafkatopic.tributary.dev \"held\" deleted");
  auto marked = kubectl({"get", "kt", "held", "-o", "jsonpath={.metadata.deletionTimestamp}"});
  ASSERT_EQ(marked.exitCode, 0) << marked.err;
  EXPECT_FALSE(marked.out.empty()) << "still there, with a deletionTimestamp";
  expectOk({"patch", "kt", "held", "--type=merge", "-p", R"({"metadata":{"finalizers":null}})"});
  EXPECT_NE(kubectl({"get", "kt", "held"}).exitCode, 0);
}

TEST_F(Kubectl, DeleteWaitsUntilTheFinalizerIsRemoved) {
  installCrdAndOrders();
  expectOk({"apply", "--validate=false", "-f", write("held.yaml", kHeldYaml)});
  // kubectl delete (waiting, by default) watches the object until it is gone.
  auto deleting = start({"delete", "kt", "held", "--timeout=60s"});
  ASSERT_TRUE(eventually([&] { return client->get(kTopics + "/held").body["metadata"].contains("deletionTimestamp"); }));
  ASSERT_TRUE(eventually([&] { return server->openWatches() > 0; })) << deleting->err();
  ASSERT_EQ(client->patch(kTopics + "/held", R"({"metadata":{"finalizers":[]}})").status, 200);
  EXPECT_EQ(deleting->wait(std::chrono::seconds(60)), 0) << deleting->err();
  EXPECT_NE(deleting->out().find("\"held\" deleted"), std::string::npos) << deleting->out();
}

TEST_F(Kubectl, WatchPrintsChanges) {
  installCrdAndOrders();
  auto watching = start({"get", "kt", "--watch"});
  ASSERT_TRUE(watching->waitForOutput("orders", std::chrono::seconds(30))) << watching->err();
  ASSERT_EQ(client->patch(kTopics + "/orders", R"({"spec":{"partitions":77}})").status, 200);
  EXPECT_TRUE(watching->waitForOutput("77", std::chrono::seconds(30))) << watching->out() << watching->err();
}

TEST_F(Kubectl, WaitForTheCrdToBeEstablished) {
  expectOk({"apply", "--validate=false", "-f", write("crd.yaml", kKafkaTopicCrdYaml)});
  expectOk({"wait", "--for=condition=Established", "crd/kafkatopics.tributary.dev", "--timeout=30s"}, "condition met");
}

TEST_F(Kubectl, ApiResourcesAndVersion) {
  expectOk({"apply", "--validate=false", "-f", write("crd.yaml", kKafkaTopicCrdYaml)});
  auto r = kubectl({"api-resources", "--api-group=tributary.dev"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto rows = tableRows(r.out);
  ASSERT_EQ(rows.size(), 2u) << r.out;
  EXPECT_EQ(rows[1], (std::vector<std::string>{"kafkatopics", "kt", "tributary.dev/v1alpha1", "true", "KafkaTopic"}));
  expectOk({"version"}, "Server Version: v1.32.0");
}

TEST_F(Kubectl, BuiltInKindsFromFiles) {
  const char* manifest = R"(apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: demo
data:
  retention: 7d
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: leader
  namespace: demo
spec:
  holderIdentity: pod-1
  leaseDurationSeconds: 15
)";
  expectOk({"apply", "--validate=false", "-f", write("demo.yaml", manifest)}, "configmap/settings created");
  auto cm = kubectl({"get", "cm", "settings", "-n", "demo", "-o", "jsonpath={.data.retention}"});
  EXPECT_EQ(cm.out, "7d");
  auto leases = kubectl({"get", "leases", "-n", "demo", "-o", "name"});
  EXPECT_EQ(leases.out, "lease.coordination.k8s.io/leader\n");
  auto ns = tableRows(kubectl({"get", "ns", "demo"}).out);
  ASSERT_EQ(ns.size(), 2u);
  EXPECT_EQ(ns[1][0], "demo");
  expectOk({"delete", "namespace", "demo"}, "namespace \"demo\" deleted");
  EXPECT_EQ(client->get("/api/v1/namespaces/demo").status, 404);
  EXPECT_EQ(client->get("/api/v1/namespaces/demo/configmaps/settings").status, 404);
}

TEST_F(Kubectl, ScaleADeploymentThroughItsScaleSubresource) {
  const char* manifest = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: consumers
spec:
  replicas: 1
  selector: {matchLabels: {app: consumers}}
  template:
    metadata: {labels: {app: consumers}}
    spec: {containers: [{name: c, image: consumer:1}]}
)";
  expectOk({"apply", "--validate=false", "-f", write("deploy.yaml", manifest)}, "deployment.apps/consumers created");
  expectOk({"scale", "deployment", "consumers", "--replicas=3"}, "deployment.apps/consumers scaled");
  EXPECT_EQ(kubectl({"get", "deploy", "consumers", "-o", "jsonpath={.spec.replicas}"}).out, "3");
  // --current-replicas is a precondition: a wrong one refuses.
  auto refused = kubectl({"scale", "deployment", "consumers", "--replicas=5", "--current-replicas=2"});
  EXPECT_NE(refused.exitCode, 0) << refused.out;
  expectOk({"scale", "deployment", "consumers", "--replicas=5", "--current-replicas=3"}, "scaled");
  EXPECT_EQ(kubectl({"get", "deploy", "consumers", "-o", "jsonpath={.spec.replicas}"}).out, "5");
}

TEST_F(Kubectl, ServerSideDryRun) {
  installCrdAndOrders();
  expectOk({"delete", "kt", "orders", "--dry-run=server"}, "deleted (server dry run)");
  EXPECT_EQ(client->get(kTopics + "/orders").status, 200);
  expectOk({"patch", "kt", "orders", "--type=merge", "-p", R"({"spec":{"partitions":50}})", "--dry-run=server"});
  EXPECT_EQ(client->get(kTopics + "/orders").body["spec"]["partitions"], 6);
  expectOk({"apply", "--validate=false", "--dry-run=server", "-f", write("held.yaml", kHeldYaml)});
  EXPECT_EQ(client->get(kTopics + "/held").status, 404);
}

}  // namespace
}  // namespace tributary::apiserver::test
