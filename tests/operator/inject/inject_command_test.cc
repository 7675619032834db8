// `tributary-operator inject`: in-process (runInject) on a Deployment and a
// multi-document file, and the real binary as a child process.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "operator/app/yaml_json.h"
#include "operator/inject/inject_command.h"
#include "tests/support/subprocess.h"

namespace tributary::op::inject {
namespace {

using Json = nlohmann::json;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/tributary-inject-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(path + "/" + name) << text;
    return path + "/" + name;
  }
  std::string path;
};

struct Result {
  int code;
  std::string out, err;
};

Result run(const std::vector<std::string>& args, const std::string& stdinText = "") {
  std::istringstream in(stdinText);
  std::ostringstream out, err;
  int code = runInject(args, in, out, err);
  return {code, out.str(), err.str()};
}

constexpr const char* kDeployment = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: orders
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app: orders}
  template:
    metadata:
      labels: {app: orders}
      annotations:
        tributary.dev/inject: "true"
        tributary.dev/log-level: debug
    spec:
      containers:
        - name: app
          image: example/orders:1
          ports: [{containerPort: 8080}]
)";

const Json* findContainer(const Json& list, const std::string& name) {
  if (!list.is_array()) return nullptr;
  for (const auto& c : list)
    if (c.value("name", "") == name) return &c;
  return nullptr;
}

TEST(InjectCommand, ADeploymentsPodTemplateGetsTheSidecar) {
  TempDir dir;
  auto file = dir.write("deploy.yaml", kDeployment);
  Result r = run({"-f", file, "--sidecar-image", "localhost/tributary/sidecar:dev"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto docs = app::yamlDocumentsToJson(r.out);
  ASSERT_EQ(docs.size(), 1u);
  const Json& d = docs[0];
  EXPECT_EQ(d["kind"], "Deployment");
  EXPECT_EQ(d["spec"]["replicas"], 2);
  const Json& spec = d["spec"]["template"]["spec"];
  ASSERT_TRUE(spec.contains("initContainers")) << r.out;
  const Json& sidecar = spec["initContainers"][0];
  EXPECT_EQ(sidecar["name"], "tributary-sidecar");
  EXPECT_EQ(sidecar["image"], "localhost/tributary/sidecar:dev");
  EXPECT_EQ(sidecar["restartPolicy"], "Always") << "offline default: native";
  EXPECT_EQ(spec["containers"][0]["env"][0]["name"], "TRIBUTARY_URL");
  EXPECT_EQ(spec["containers"][0]["ports"][0]["containerPort"], 8080) << "a number stays a number";
  EXPECT_EQ(d["spec"]["template"]["metadata"]["annotations"]["tributary.dev/injected"], TRIBUTARY_VERSION);

  // The output is accepted again, unchanged: idempotent.
  auto again = run({"-f", "-"}, r.out);
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(app::yamlDocumentsToJson(again.out), docs);
}

TEST(InjectCommand, MultiDocumentFilesEveryWorkloadKindAndListsAndOtherKindsUnchanged) {
  const std::string input = std::string(R"(apiVersion: v1
kind: Pod
metadata: {name: plain}
spec:
  containers: [{name: app, image: a}]
---
apiVersion: v1
kind: Service
metadata: {name: orders}
spec:
  ports: [{port: 80}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: job, image: j}]
---
apiVersion: v1
kind: Pod
metadata:
  name: opted-out
  annotations: {tributary.dev/inject: "false"}
spec:
  containers: [{name: app, image: a}]
---
apiVersion: v1
kind: List
items:
  - apiVersion: apps/v1
    kind: StatefulSet
    metadata: {name: db}
    spec:
      template:
        spec:
          containers: [{name: db, image: d}]
  - apiVersion: apps/v1
    kind: DaemonSet
    metadata: {name: agent}
    spec:
      template:
        metadata:
          annotations: {tributary.dev/native-sidecar: "false"}
        spec:
          containers: [{name: agent, image: g}]
---
)");
  TempDir dir;
  auto config = dir.write("sidecar.yaml", "kafka:\n  bootstrapServers: kafka-0.kafka:9092\n");
  Result r = run({"-f", "-", "--sidecar-config", config}, input);
  ASSERT_EQ(r.code, 0) << r.err;
  auto docs = app::yamlDocumentsToJson(r.out);
  ASSERT_EQ(docs.size(), 5u) << r.out;

  // A pod without the annotation: manual injection means "inject", and says so.
  EXPECT_EQ(docs[0]["spec"]["initContainers"][0]["name"], "tributary-sidecar");
  EXPECT_EQ(docs[0]["metadata"]["annotations"]["tributary.dev/inject"], "true");
  const Json& env = docs[0]["spec"]["initContainers"][0]["env"];
  EXPECT_EQ(env[0]["name"], "TRIBUTARY_CONFIG_YAML");
  EXPECT_EQ(env[0]["value"], "kafka:\n  bootstrapServers: kafka-0.kafka:9092\n");

  EXPECT_EQ(docs[1]["kind"], "Service");
  EXPECT_EQ(docs[1], app::yamlDocumentsToJson(input)[1]) << "other kinds unchanged";
  EXPECT_EQ(docs[2]["spec"]["schedule"], "0 3 * * *");
  EXPECT_EQ(docs[2]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["initContainers"][0]["name"],
            "tributary-sidecar");
  EXPECT_FALSE(docs[3]["spec"].contains("initContainers")) << "tributary.dev/inject: false is respected";
  const Json& items = docs[4]["items"];
  EXPECT_EQ(items[0]["spec"]["template"]["spec"]["initContainers"][0]["name"], "tributary-sidecar");
  EXPECT_EQ(items[1]["spec"]["template"]["spec"]["containers"][0]["name"], "tributary-sidecar")
      << "the classic form on request";
  EXPECT_NE(findContainer(items[1]["spec"]["template"]["spec"]["containers"], "agent"), nullptr);
}

TEST(InjectCommand, NativeSidecarFalseGivesTheClassicForm) {
  Result r = run({"-f", "-", "--native-sidecar=false"}, kDeployment);
  ASSERT_EQ(r.code, 0) << r.err;
  auto d = app::yamlDocumentsToJson(r.out)[0];
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["name"], "tributary-sidecar");
  EXPECT_FALSE(d["spec"]["template"]["spec"].contains("initContainers"));
}

TEST(InjectCommand, ARefusalPrintsNothingAndExits1WithTheWebhooksMessage) {
  std::string input = kDeployment;
  input.replace(input.find("tributary.dev/log-level: debug"), 30, "tributary.dev/sidecar-cpu-limit: fast");
  Result r = run({"-f", "-"}, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n" + input);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("document 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Deployment shop/orders"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tributary.dev/sidecar-cpu-limit"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\"fast\""), std::string::npos) << r.err;
}

TEST(InjectCommand, UsageErrorsExit2AndBadInputExit1) {
  EXPECT_EQ(run({}).code, 2);
  EXPECT_EQ(run({"-f"}).code, 2);
  EXPECT_EQ(run({"-f", "-", "--native-sidecar=maybe"}).code, 2);
  EXPECT_EQ(run({"-f", "-", "--frobnicate"}).code, 2);
  Result missingConfig = run({"-f", "-", "--sidecar-config", "/nonexistent/sidecar.yaml"});
  EXPECT_EQ(missingConfig.code, 2);
  EXPECT_NE(missingConfig.err.find("/nonexistent/sidecar.yaml"), std::string::npos);
  TempDir dir;
  Result badConfig = run({"-f", "-", "--sidecar-config", dir.write("bad.yaml", "kafka:\n  bootstrapServer: x\n")});
  EXPECT_EQ(badConfig.code, 2);
  EXPECT_NE(badConfig.err.find("kafka.bootstrapServer"), std::string::npos) << badConfig.err;
  Result missingFile = run({"-f", "/nonexistent/pod.yaml"});
  EXPECT_EQ(missingFile.code, 1);
  EXPECT_NE(missingFile.err.find("/nonexistent/pod.yaml"), std::string::npos);
  Result syntax = run({"-f", "-"}, "kind: [unclosed\n");
  EXPECT_EQ(syntax.code, 1);
  EXPECT_NE(syntax.err.find("stdin"), std::string::npos) << syntax.err;
}

// The real binary: stdout to a file through the shell, as a user pipes it.
TEST(InjectCommand, TheBinaryPrintsTheInjectedYaml) {
  TempDir dir;
  auto in = dir.write("deploy.yaml", kDeployment);
  const std::string out = dir.path + "/out.yaml";
  const std::string bin = test::binDir() + "/tributary-operator";
  int status = std::system(("'" + bin + "' inject -f '" + in + "' > '" + out + "' 2> '" + dir.path + "/err'").c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  std::ifstream f(out);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto docs = app::yamlDocumentsToJson(text);
  ASSERT_EQ(docs.size(), 1u) << text;
  EXPECT_EQ(docs[0]["spec"]["template"]["spec"]["initContainers"][0]["image"],
            std::string("tributary/sidecar:") + TRIBUTARY_VERSION);

  test::Subprocess usage(bin, {"inject"});
  EXPECT_EQ(usage.wait(std::chrono::seconds(30)), 2);
  EXPECT_NE(usage.output().find("-f FILE"), std::string::npos) << usage.output();
}

}  // namespace
}  // namespace tributary::op::inject
