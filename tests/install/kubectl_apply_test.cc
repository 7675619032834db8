// What a platform team types: the real kubectl applies manifests/install.yaml
// (and other renderings of the chart) to the test API server — first as a
// server-side dry run, then for real — and reads every object back. With
// TRIBUTARY_TEST_KUBECONFIG naming a real API server, install.yaml is also
// checked there with a server-side dry run. Skipped, saying so, without kubectl.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "tests/apiserver/api_client.h"
#include "tests/apiserver/command.h"
#include "tests/install/manifest.h"

namespace tributary::install::test {
namespace {

namespace fs = std::filesystem;
using apiserver::test::CommandResult;
using ::testing::HasSubstr;

// Plural resource names kubectl accepts for `kubectl get KIND/NAME`.
std::string kubectlName(const Json& o) {
  std::string kind = o.value("kind", "");
  std::string group;
  const std::string apiVersion = o.value("apiVersion", "");
  if (auto slash = apiVersion.find('/'); slash != std::string::npos) group = apiVersion.substr(0, slash);
  for (auto& ch : kind) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return kind + (group.empty() ? "" : "." + group) + "/" + o["metadata"].value("name", "");
}

// Writes objects as one YAML stream (JSON documents are YAML).
void writeObjects(const std::string& path, const std::vector<Json>& objects) {
  std::ofstream out(path);
  for (const auto& o : objects) out << "---\n" << o.dump(2) << "\n";
}

class KubectlInstallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto path = apiserver::test::findOnPath("kubectl");
    if (!path) GTEST_SKIP() << "kubectl is not on PATH; these tests drive the real kubectl binary";
    kubectl_ = *path;
    std::string tmpl = (fs::temp_directory_path() / "tributary-install-kubectl-XXXXXX").string();
    ASSERT_TRUE(mkdtemp(tmpl.data()));
    dir_ = tmpl;
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void startServer() {
    server_ = std::make_unique<apiserver::TestApiServer>();
    server_->start();
    kubeconfig_ = dir_ + "/kubeconfig";
    tributary::apiserver::test::writeKubeconfig(kubeconfig_, server_->url());
  }
  CommandResult kubectl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--kubeconfig", kubeconfig_, "--cache-dir", dir_ + "/cache"});
    return apiserver::test::run(kubectl_, args, {{"HOME", dir_}, {"KUBECONFIG", kubeconfig_}},
                                std::chrono::seconds(120));
  }
  // The test server has no OpenAPI document: kubectl cannot validate client-side.
  CommandResult apply(const std::string& file, bool dryRun) {
    std::vector<std::string> args{"apply", "--validate=false", "-f", file};
    if (dryRun) args.push_back("--dry-run=server");
    return kubectl(args);
  }
  // Creates what a server dry run of namespaced objects needs to exist: the
  // CRDs (so their kinds resolve) and the Namespace.
  void applyPrerequisites(const Manifest& m, const std::vector<Json>& extraCrds = {}) {
    std::vector<Json> pre = extraCrds;
    for (const auto& o : m.objects())
      if (o["kind"] == "CustomResourceDefinition" || o["kind"] == "Namespace") pre.push_back(o);
    if (pre.empty()) return;
    writeObjects(dir_ + "/pre.yaml", pre);
    auto r = apply(dir_ + "/pre.yaml", false);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    for (const auto& o : pre)
      if (o["kind"] == "CustomResourceDefinition") {
        ASSERT_EQ(kubectl({"wait", "--for=condition=Established", kubectlName(o), "--timeout=30s"}).exitCode, 0);
      }
  }
  // A server-side dry run of every object, which must then not exist.
  void expectDryRunAccepted(const Manifest& m, const std::string& file) {
    auto r = apply(file, true);
    ASSERT_EQ(r.exitCode, 0) << r.err << r.out;
    for (const auto& o : m.objects()) {
      EXPECT_THAT(r.out, HasSubstr(kubectlName(o))) << "not applied: " << kubectlName(o);
      if (o["kind"] == "CustomResourceDefinition" || o["kind"] == "Namespace") continue;
      auto get = kubectl({"get", kubectlName(o), "-n", o["metadata"].value("namespace", "default")});
      EXPECT_NE(get.exitCode, 0) << kubectlName(o) << " exists after a dry run";
    }
    EXPECT_THAT(r.out, HasSubstr("(server dry run)"));
  }

  std::string kubectl_, dir_, kubeconfig_;
  std::unique_ptr<apiserver::TestApiServer> server_;
};

TEST_F(KubectlInstallTest, InstallYamlAppliesAsServerDryRunThenForRealAndEveryObjectIsThere) {
  startServer();
  const std::string install = sourceDir() + "/manifests/install.yaml";
  Manifest m(readFile(install));
  applyPrerequisites(m);
  expectDryRunAccepted(m, install);

  auto real = apply(install, false);
  std::map<std::string, Json> resourceVersions;
  ASSERT_EQ(real.exitCode, 0) << real.err;
  for (const auto& o : m.objects()) {
    auto get = kubectl({"get", kubectlName(o), "-n", o["metadata"].value("namespace", "default"), "-o", "json"});
    ASSERT_EQ(get.exitCode, 0) << kubectlName(o) << ": " << get.err;
    Json back = Json::parse(get.out);
    const Json labels = o["metadata"].value("labels", Json::object());
    for (const auto& [k, v] : labels.items())
      EXPECT_EQ(back["metadata"]["labels"].value(k, ""), v) << kubectlName(o) << " label " << k;
    resourceVersions[kubectlName(o)] = back["metadata"]["resourceVersion"];
    if (o.contains("spec") && o["kind"] != "CustomResourceDefinition") {
      EXPECT_EQ(back["spec"], o["spec"]) << kubectlName(o);
    }
    for (const char* field : {"rules", "webhooks", "data", "subjects", "roleRef"}) {
      if (o.contains(field)) {
        EXPECT_EQ(back[field], o[field]) << kubectlName(o) << " " << field;
      }
    }
  }
  // Applying it again changes nothing (an upgrade with the same file). kubectl
  // still sends a patch for the PodDisruptionBudget, and says "configured":
  // policy/v1's spec.selector has patchStrategy "replace", so kubectl's computed
  // patch is never empty — the object stays as it was all the same.
  auto again = apply(install, false);
  ASSERT_EQ(again.exitCode, 0) << again.err;
  for (const auto& o : m.objects()) {
    const std::string name = kubectlName(o);
    if (o["kind"] != "PodDisruptionBudget") {
      EXPECT_THAT(again.out, HasSubstr(name + " unchanged")) << again.err;
    }
    auto get = kubectl({"get", name, "-n", o["metadata"].value("namespace", "default"), "-o", "json"});
    EXPECT_EQ(Json::parse(get.out)["metadata"]["resourceVersion"], resourceVersions[name]) << name << " was rewritten";
  }
  // kubectl finds the new built-in kinds through discovery, with their short names.
  auto pdb = kubectl({"get", "pdb", "-n", "tributary-system", "-o", "name"});
  EXPECT_EQ(pdb.out, "poddisruptionbudget.policy/tributary-operator\n") << pdb.err;
  auto hooks = kubectl({"get", "mutatingwebhookconfigurations", "-o", "name"});
  EXPECT_EQ(hooks.out, "mutatingwebhookconfiguration.admissionregistration.k8s.io/tributary-sidecar-injector\n")
      << hooks.err;
}

// CRDs of the projects the optional objects belong to (cert-manager,
// Prometheus Operator), reduced to what a server needs to accept them.
Json foreignCrd(const std::string& group, const std::string& kind, const std::string& plural) {
  return {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "CustomResourceDefinition"},
          {"metadata", {{"name", plural + "." + group}}},
          {"spec",
           {{"group", group},
            {"scope", "Namespaced"},
            {"names", {{"kind", kind}, {"plural", plural}}},
            {"versions",
             {{{"name", "v1"},
               {"served", true},
               {"storage", true},
               {"schema",
                {{"openAPIV3Schema", {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}}}}}}}}}};
}

TEST_F(KubectlInstallTest, OtherRenderingsOfTheChartApplyAsServerDryRun) {
  if (!helmRenderBinary()) GTEST_SKIP() << "tributary-helm-render was not built (scripts/install-deps.sh)";
  const std::vector<Json> foreign = {foreignCrd("cert-manager.io", "Issuer", "issuers"),
                                     foreignCrd("cert-manager.io", "Certificate", "certificates"),
                                     foreignCrd("monitoring.coreos.com", "ServiceMonitor", "servicemonitors")};
  const std::vector<std::vector<std::string>> variants = {
      {"--set", "certManager.enabled=true", "--set", "serviceMonitor.enabled=true"},
      {"--set", "webhook.enabled=false", "--set", "podDisruptionBudget.enabled=false"},
      {"--set", "namespace=kafka-ops", "--set", "operator.replicas=3"},
  };
  for (const auto& values : variants) {
    SCOPED_TRACE(::testing::PrintToString(values));
    startServer();
    std::vector<std::string> args = values;
    args.push_back("--include-crds");
    auto r = renderChart(args);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    std::ofstream(dir_ + "/rendered.yaml") << r.out;
    Manifest m(r.out);
    applyPrerequisites(m, foreign);
    expectDryRunAccepted(m, dir_ + "/rendered.yaml");
    server_->stop();
  }
}

// A real API server validates every field (kubectl's strict field validation
// and the server's own checks). The CRDs and the Namespace are applied for
// real when missing (and deleted again afterwards), the rest as a server-side
// dry run, so nothing of the install remains.
TEST_F(KubectlInstallTest, InstallYamlPassesAServerSideDryRunOnARealApiServer) {
  const char* real = std::getenv("TRIBUTARY_TEST_KUBECONFIG");
  if (!real || !*real)
    GTEST_SKIP() << "TRIBUTARY_TEST_KUBECONFIG is not set; set it to a kubeconfig of a real cluster to dry-run "
                    "install.yaml there";
  kubeconfig_ = real;
  const std::string install = sourceDir() + "/manifests/install.yaml";
  Manifest m(readFile(install));
  std::vector<Json> created;
  for (const auto& o : m.objects()) {
    if (o["kind"] != "CustomResourceDefinition" && o["kind"] != "Namespace") continue;
    if (kubectl({"get", kubectlName(o)}).exitCode == 0) continue;
    writeObjects(dir_ + "/one.yaml", {o});
    auto r = kubectl({"apply", "-f", dir_ + "/one.yaml"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    created.push_back(o);
    if (o["kind"] == "CustomResourceDefinition") {
      ASSERT_EQ(kubectl({"wait", "--for=condition=Established", kubectlName(o), "--timeout=60s"}).exitCode, 0);
    }
  }
  auto r = kubectl({"apply", "--dry-run=server", "-f", install});
  for (auto it = created.rbegin(); it != created.rend(); ++it) kubectl({"delete", kubectlName(*it), "--wait=false"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  for (const auto& o : m.objects()) EXPECT_THAT(r.out, HasSubstr(kubectlName(o)));
}

}  // namespace
}  // namespace tributary::install::test
