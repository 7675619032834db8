// The Helm chart helm/tributary and manifests/install.yaml: install.yaml is
// exactly the chart rendered with its defaults, the chart's CRDs are the
// top-level ones, the objects carry the names and settings the other parts
// (injector, images) rely on, and other values render consistent objects.
// Rendering is tests/support/helm-render (Helm's engine and libraries).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "operator/app/operator_config.h"
#include "sidecar/config/sidecar_config.h"
#include "tests/apiserver/command.h"
#include "tests/install/manifest.h"

namespace tributary::install::test {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr const char* kNoRenderer =
    "tributary-helm-render was not built (needs golang-go and Debian's sprig, sigs.k8s.io/yaml and gojsonschema "
    "packages: scripts/install-deps.sh)";
const std::string kVersion = TRIBUTARY_VERSION;

class ChartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!helmRenderBinary()) GTEST_SKIP() << kNoRenderer;
  }
  // The chart rendered with `args`; fails the test (and returns an empty manifest) on a render error.
  Manifest render(std::vector<std::string> args = {}) {
    auto r = renderChart(args);
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return Manifest(r.exitCode == 0 ? r.out : "");
  }
};

Json container(const Manifest& m, const std::string& name = "operator") {
  for (const auto& c : m.get("Deployment", "tributary-operator")["spec"]["template"]["spec"]["containers"])
    if (c.value("name", "") == name) return c;
  return Json();
}

std::vector<std::string> args(const Manifest& m) {
  return container(m).value("args", Json::array()).get<std::vector<std::string>>();
}

bool hasArg(const Manifest& m, const std::string& arg) {
  auto a = args(m);
  return std::find(a.begin(), a.end(), arg) != a.end();
}

bool hasRuleFor(const Manifest& m, const std::string& kind, const std::string& resource) {
  for (const Json* role : m.ofKind(kind))
    for (const auto& rule : role->value("rules", Json::array()))
      for (const auto& r : rule.value("resources", Json::array()))
        if (r == resource) return true;
  return false;
}

bool selects(const Json& selector, const Json& labels) {
  for (const auto& [k, v] : selector.items())
    if (!labels.contains(k) || labels[k] != v) return false;
  return !selector.empty();
}

// What holds for every rendering, whatever the values: objects that refer to
// each other agree, and every namespaced object is in `ns`.
void expectConsistent(const Manifest& m, const std::string& ns) {
  static const std::set<std::string> clusterScoped{"Namespace", "CustomResourceDefinition", "ClusterRole",
                                                   "ClusterRoleBinding", "MutatingWebhookConfiguration"};
  for (const auto& o : m.objects()) {
    const std::string id = o.value("kind", "") + "/" + o["metadata"].value("name", "");
    if (clusterScoped.count(o.value("kind", ""))) {
      EXPECT_FALSE(o["metadata"].contains("namespace")) << id;
    } else {
      EXPECT_EQ(o["metadata"].value("namespace", ""), ns) << id << " is not in the chart's namespace";
    }
  }
  const Json& deploy = m.get("Deployment", "tributary-operator");
  const Json& podLabels = deploy["spec"]["template"]["metadata"]["labels"];
  EXPECT_TRUE(selects(deploy["spec"]["selector"]["matchLabels"], podLabels)) << "the Deployment's selector";
  std::set<std::string> portNames;
  const Json operatorContainer = container(m);
  for (const auto& p : operatorContainer["ports"]) portNames.insert(p.value("name", ""));
  for (const Json* svc : m.ofKind("Service")) {
    const std::string name = (*svc)["metadata"]["name"];
    EXPECT_TRUE(selects((*svc)["spec"]["selector"], podLabels)) << "Service " << name << " selects no operator pod";
    for (const auto& p : (*svc)["spec"]["ports"])
      EXPECT_TRUE(portNames.count(p.value("targetPort", ""))) << "Service " << name << " targets a port the "
                                                              << "container does not name: " << p.dump();
  }
  for (const Json* pdb : m.ofKind("PodDisruptionBudget"))
    EXPECT_TRUE(selects((*pdb)["spec"]["selector"]["matchLabels"], podLabels)) << "the PodDisruptionBudget";
  const Json& pod = deploy["spec"]["template"]["spec"];
  EXPECT_TRUE(m.find("ServiceAccount", pod.value("serviceAccountName", ""))) << "the pod's ServiceAccount";
  std::set<std::string> volumes;
  for (const auto& v : pod["volumes"]) {
    volumes.insert(v.value("name", ""));
    if (v.contains("configMap")) {
      EXPECT_TRUE(m.find("ConfigMap", v["configMap"].value("name", ""))) << "volume " << v.dump();
    }
  }
  for (const auto& mount : operatorContainer["volumeMounts"])
    EXPECT_TRUE(volumes.count(mount.value("name", ""))) << "mount without a volume: " << mount.dump();
  for (const std::string kind : {"ClusterRoleBinding", "RoleBinding"}) {
    for (const Json* b : m.ofKind(kind)) {
      const Json& ref = (*b)["roleRef"];
      EXPECT_TRUE(m.find(ref.value("kind", ""), ref.value("name", ""))) << kind << " refers to a missing role";
      for (const auto& s : (*b)["subjects"]) {
        EXPECT_EQ(s.value("namespace", ""), ns) << kind << " subject";
        EXPECT_TRUE(m.find("ServiceAccount", s.value("name", ""))) << kind << " subject";
      }
    }
  }
  for (const Json* w : m.ofKind("MutatingWebhookConfiguration")) {
    for (const auto& hook : (*w)["webhooks"]) {
      const Json& svc = hook["clientConfig"]["service"];
      EXPECT_EQ(svc.value("namespace", ""), ns);
      EXPECT_TRUE(m.find("Service", svc.value("name", ""))) << "the webhook's Service";
      const Json excluded = hook["namespaceSelector"]["matchExpressions"][0]["values"];
      EXPECT_NE(std::find(excluded.begin(), excluded.end(), ns), excluded.end())
          << "the operator's own namespace must never depend on its webhook";
    }
  }
  const std::string operatorYaml = configMapData(m, "tributary-operator-config", "operator.yaml");
  auto config = op::app::parseOperatorConfig(operatorYaml);
  EXPECT_TRUE(config.errors.empty()) << operatorYaml << ::testing::PrintToString(config.errors);
  if (config.config) {
    EXPECT_EQ(config.config->leaderElection.namespace_, ns);
  }
  const std::string sidecarYaml = configMapData(m, "tributary-sidecar", "sidecar.yaml");
  auto sidecar = sidecar::parseSidecarConfig(sidecarYaml, {});
  EXPECT_TRUE(sidecar.errors.empty()) << sidecarYaml << ::testing::PrintToString(sidecar.errors);
}

TEST_F(ChartTest, InstallYamlIsExactlyTheChartRenderedWithDefaultValues) {
  auto r = renderChart({"--include-crds"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const std::string installPath = sourceDir() + "/manifests/install.yaml";
  const std::string install = readFile(installPath);
  if (r.out == install) return;
  const std::string rendered =
      (fs::temp_directory_path() / ("tributary-rendered-install-" + std::to_string(getpid()) + ".yaml")).string();
  std::ofstream(rendered) << r.out;
  auto diff = apiserver::test::run("/usr/bin/diff", {"-u", installPath, rendered});
  fs::remove(rendered);
  ADD_FAILURE() << "manifests/install.yaml differs from `helm template tributary helm/tributary --include-crds`; "
                   "run `make manifests`:\n"
                << diff.out;
}

TEST_F(ChartTest, ChartCrdsAreByteForByteTheTopLevelCrds) {
  const fs::path top = sourceDir() + "/crds", chart = sourceDir() + "/helm/tributary/crds";
  std::set<std::string> expected;
  for (const auto& e : fs::directory_iterator(top)) {
    const std::string ext = e.path().extension();
    if (ext != ".yaml" && ext != ".yml" && ext != ".json") continue;
    const std::string name = e.path().filename();
    expected.insert(name);
    ASSERT_TRUE(fs::exists(chart / name)) << "helm/tributary/crds/" << name << " is missing; run `make manifests`";
    EXPECT_TRUE(readFile(e.path()) == readFile(chart / name))
        << "helm/tributary/crds/" << name << " differs from crds/" << name << "; run `make manifests`";
  }
  EXPECT_FALSE(expected.empty());
  for (const auto& e : fs::directory_iterator(chart))
    EXPECT_TRUE(expected.count(e.path().filename()))
        << "helm/tributary/crds/" << e.path().filename().string() << " has no counterpart in crds/";
}

TEST_F(ChartTest, ChartVersionAndImagesAreTheProjectVersion) {
  const std::string chartYaml = readFile(sourceDir() + "/helm/tributary/Chart.yaml");
  EXPECT_THAT(chartYaml, HasSubstr("\nversion: " + kVersion + "\n"));
  EXPECT_THAT(chartYaml, HasSubstr("\nappVersion: \"" + kVersion + "\"\n"));
  Manifest m = render();
  EXPECT_EQ(container(m).value("image", ""), "tributary/operator:" + kVersion);
  EXPECT_TRUE(hasArg(m, "--sidecar-image=tributary/sidecar:" + kVersion)) << container(m).dump(2);
}

TEST_F(ChartTest, InstallYamlHoldsTheObjectsOfTheInstallInApplyOrder) {
  Manifest m(readFile(sourceDir() + "/manifests/install.yaml"));
  EXPECT_EQ(m.ids(), (std::vector<std::string>{
                         "CustomResourceDefinition/kafkaconsumergroups.tributary.dev",
                         "CustomResourceDefinition/kafkapipelines.tributary.dev",
                         "CustomResourceDefinition/kafkatopics.tributary.dev",
                         "Namespace/tributary-system",
                         "PodDisruptionBudget/tributary-operator",
                         "ServiceAccount/tributary-operator",
                         "ConfigMap/tributary-operator-config",
                         "ConfigMap/tributary-sidecar",
                         "ClusterRole/tributary-operator",
                         "ClusterRoleBinding/tributary-operator",
                         "Role/tributary-operator",
                         "RoleBinding/tributary-operator",
                         "Service/tributary-operator-metrics",
                         "Service/tributary-webhook",
                         "Deployment/tributary-operator",
                         "MutatingWebhookConfiguration/tributary-sidecar-injector",
                     }));
  // The operator creates the webhook's certificate Secret; install.yaml must not carry one.
  EXPECT_TRUE(m.ofKind("Secret").empty());
  expectConsistent(m, "tributary-system");
}

TEST_F(ChartTest, OperatorDeploymentIsTheContractsAndLocksItsContainerDown) {
  Manifest m(readFile(sourceDir() + "/manifests/install.yaml"));
  const Json& deploy = m.get("Deployment", "tributary-operator");
  EXPECT_EQ(deploy["spec"]["replicas"], 2);
  EXPECT_EQ(deploy["spec"]["selector"]["matchLabels"],
            (Json{{"app.kubernetes.io/name", "tributary-operator"}, {"app.kubernetes.io/part-of", "tributary"}}));
  const Json& pod = deploy["spec"]["template"]["spec"];
  EXPECT_EQ(pod["serviceAccountName"], "tributary-operator");
  const Json c = container(m);
  ASSERT_TRUE(c.is_object()) << "no container named operator";
  EXPECT_EQ(c["args"], (Json{"--config=/etc/tributary/operator/operator.yaml", "--leader-elect=true",
                             "--sidecar-image=tributary/sidecar:" + kVersion,
                             "--sidecar-config=/etc/tributary/sidecar/sidecar.yaml"}));
  EXPECT_EQ(c["env"],
            (Json{{{"name", "POD_NAME"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}},
                  {{"name", "POD_NAMESPACE"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.namespace"}}}}}}}));
  EXPECT_EQ(c["ports"], (Json{{{"name", "metrics"}, {"containerPort", 8080}},
                              {{"name", "probes"}, {"containerPort", 8081}},
                              {{"name", "webhook"}, {"containerPort", 9443}}}));
  EXPECT_EQ(c["livenessProbe"]["httpGet"], (Json{{"path", "/healthz"}, {"port", "probes"}}));
  EXPECT_EQ(c["readinessProbe"]["httpGet"], (Json{{"path", "/readyz"}, {"port", "probes"}}));
  EXPECT_TRUE(c["resources"].contains("requests"));
  EXPECT_TRUE(c["resources"]["limits"].contains("memory"));

  const Json& sc = c["securityContext"];
  EXPECT_EQ(sc["runAsNonRoot"], true);
  EXPECT_EQ(sc["runAsUser"], 65532);
  EXPECT_EQ(sc["runAsGroup"], 65532);
  EXPECT_EQ(sc["readOnlyRootFilesystem"], true);
  EXPECT_EQ(sc["allowPrivilegeEscalation"], false);
  EXPECT_EQ(sc["capabilities"]["drop"], Json({"ALL"}));
  EXPECT_FALSE(sc["capabilities"].contains("add"));
  EXPECT_EQ(sc["seccompProfile"]["type"], "RuntimeDefault");
  EXPECT_EQ(pod["securityContext"]["runAsNonRoot"], true);
  EXPECT_EQ(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");

  // Config files mounted read-only where the operator's args say.
  std::map<std::string, Json> mounts;
  for (const auto& mount : c["volumeMounts"]) mounts[mount.value("mountPath", "")] = mount;
  ASSERT_TRUE(mounts.count("/etc/tributary/operator"));
  ASSERT_TRUE(mounts.count("/etc/tributary/sidecar"));
  EXPECT_EQ(mounts["/etc/tributary/operator"].value("readOnly", false), true);
  EXPECT_EQ(mounts["/etc/tributary/sidecar"].value("readOnly", false), true);
  EXPECT_FALSE(mounts["/etc/tributary/sidecar"].contains("subPath")) << "a subPath mount is never refreshed";
  EXPECT_EQ(m.get("PodDisruptionBudget", "tributary-operator")["spec"]["minAvailable"], 1);
}

TEST_F(ChartTest, ServicesAndWebhookConfigurationAreTheContracts) {
  Manifest m(readFile(sourceDir() + "/manifests/install.yaml"));
  EXPECT_EQ(m.get("Service", "tributary-operator-metrics")["spec"]["ports"],
            (Json{{{"name", "metrics"}, {"port", 8080}, {"targetPort", "metrics"}}}));
  EXPECT_EQ(m.get("Service", "tributary-webhook")["spec"]["ports"],
            (Json{{{"name", "https"}, {"port", 443}, {"targetPort", "webhook"}}}));
  const Json& mwc = m.get("MutatingWebhookConfiguration", "tributary-sidecar-injector");
  ASSERT_EQ(mwc["webhooks"].size(), 1u);
  const Json& hook = mwc["webhooks"][0];
  EXPECT_EQ(hook["name"], "inject.tributary.dev");
  EXPECT_EQ(
      hook["clientConfig"],
      (Json{{"service",
             {{"namespace", "tributary-system"}, {"name", "tributary-webhook"}, {"path", "/inject"}, {"port", 443}}}}))
      << "no caBundle: the operator patches it in";
  EXPECT_EQ(hook["rules"], (Json{{{"apiGroups", {""}},
                                  {"apiVersions", {"v1"}},
                                  {"operations", {"CREATE"}},
                                  {"resources", {"pods"}},
                                  {"scope", "Namespaced"}}}));
  EXPECT_EQ(hook["failurePolicy"], "Fail");
  EXPECT_EQ(hook["sideEffects"], "None");
  EXPECT_EQ(hook["admissionReviewVersions"], Json({"v1"}));
  EXPECT_EQ(hook["reinvocationPolicy"], "IfNeeded");
  EXPECT_EQ(hook["timeoutSeconds"], 10);
  EXPECT_EQ(hook["namespaceSelector"],
            (Json{{"matchLabels", {{"tributary.dev/injection", "enabled"}}},
                  {"matchExpressions",
                   {{{"key", "kubernetes.io/metadata.name"},
                     {"operator", "NotIn"},
                     {"values", {"kube-system", "kube-public", "kube-node-lease", "tributary-system"}}}}}}));
  EXPECT_EQ(hook["objectSelector"],
            (Json{{"matchExpressions",
                   {{{"key", "tributary.dev/inject"}, {"operator", "NotIn"}, {"values", {"false"}}},
                    {{"key", "app.kubernetes.io/name"}, {"operator", "NotIn"}, {"values", {"tributary-operator"}}}}}}));
}

TEST_F(ChartTest, ConfigMapsAreAcceptedByTheBinariesOwnConfigParsers) {
  Manifest m(readFile(sourceDir() + "/manifests/install.yaml"));
  auto config = op::app::parseOperatorConfig(configMapData(m, "tributary-operator-config", "operator.yaml"));
  ASSERT_TRUE(config.errors.empty()) << ::testing::PrintToString(config.errors);
  EXPECT_EQ(config.config->clusters.at("default").bootstrapServers, "kafka-kafka-bootstrap.kafka:9092");
  EXPECT_TRUE(config.config->leaderElection.enabled);
  EXPECT_EQ(config.config->leaderElection.leaseName, "tributary-operator");
  EXPECT_EQ(config.config->leaderElection.namespace_, "tributary-system");
  auto sidecar = sidecar::parseSidecarConfig(configMapData(m, "tributary-sidecar", "sidecar.yaml"), {});
  ASSERT_TRUE(sidecar.errors.empty()) << ::testing::PrintToString(sidecar.errors);
  EXPECT_EQ(sidecar.config->kafka.bootstrapServers, "kafka-kafka-bootstrap.kafka:9092");
}

TEST_F(ChartTest, CertManagerIssuesTheWebhookCertificateInsteadOfTheOperator) {
  Manifest m = render({"--set", "certManager.enabled=true"});
  expectConsistent(m, "tributary-system");
  const Json& cert = m.get("Certificate", "tributary-webhook");
  EXPECT_EQ(cert["apiVersion"], "cert-manager.io/v1");
  EXPECT_EQ(cert["spec"]["secretName"], "tributary-webhook-tls");
  EXPECT_EQ(cert["spec"]["dnsNames"],
            (Json{"tributary-webhook.tributary-system.svc", "tributary-webhook.tributary-system.svc.cluster.local"}));
  EXPECT_EQ(cert["spec"]["issuerRef"], (Json{{"kind", "Issuer"}, {"name", "tributary-selfsigned"}}));
  EXPECT_TRUE(m.get("Issuer", "tributary-selfsigned")["spec"].contains("selfSigned"));
  EXPECT_EQ(m.get("MutatingWebhookConfiguration", "tributary-sidecar-injector")["metadata"]["annotations"],
            (Json{{"cert-manager.io/inject-ca-from", "tributary-system/tributary-webhook"}}));
  EXPECT_TRUE(hasArg(m, "--webhook-cert-dir=/etc/tributary/webhook-tls"));
  bool mounted = false;
  const Json c = container(m);
  for (const auto& mount : c["volumeMounts"])
    if (mount["mountPath"] == "/etc/tributary/webhook-tls") mounted = mount.value("readOnly", false);
  EXPECT_TRUE(mounted) << "the certificate Secret is mounted read-only where --webhook-cert-dir points";
  bool secretVolume = false;
  for (const auto& v : m.get("Deployment", "tributary-operator")["spec"]["template"]["spec"]["volumes"])
    if (v.contains("secret")) secretVolume = v["secret"]["secretName"] == "tributary-webhook-tls";
  EXPECT_TRUE(secretVolume);
  // The operator no longer touches the Secret or the webhook configuration.
  EXPECT_FALSE(hasRuleFor(m, "Role", "secrets"));
  EXPECT_FALSE(hasRuleFor(m, "ClusterRole", "mutatingwebhookconfigurations"));
  EXPECT_TRUE(hasRuleFor(m, "ClusterRole", "configmaps")) << "the injector still reads pods' ConfigMaps";

  Manifest own = render({"--set", "certManager.enabled=true", "--set", "certManager.issuerRef.name=corp-ca", "--set",
                         "certManager.issuerRef.kind=ClusterIssuer"});
  EXPECT_FALSE(own.find("Issuer", "tributary-selfsigned"));
  EXPECT_EQ(own.get("Certificate", "tributary-webhook")["spec"]["issuerRef"],
            (Json{{"kind", "ClusterIssuer"}, {"name", "corp-ca"}}));
}

TEST_F(ChartTest, ServiceMonitorSelectsTheMetricsService) {
  EXPECT_FALSE(render().find("ServiceMonitor", "tributary-operator")) << "off by default";
  Manifest m = render({"--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.labels.release=prometheus"});
  expectConsistent(m, "tributary-system");
  const Json& sm = m.get("ServiceMonitor", "tributary-operator");
  EXPECT_EQ(sm["apiVersion"], "monitoring.coreos.com/v1");
  EXPECT_EQ(sm["metadata"]["labels"]["release"], "prometheus");
  const Json& svc = m.get("Service", "tributary-operator-metrics");
  EXPECT_TRUE(selects(sm["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"]));
  EXPECT_EQ(sm["spec"]["namespaceSelector"]["matchNames"], Json({"tributary-system"}));
  EXPECT_EQ(sm["spec"]["endpoints"][0]["port"], svc["spec"]["ports"][0]["name"]);
}

TEST_F(ChartTest, WebhookDisabledRemovesTheInjectorAndItsPermissions) {
  Manifest m = render({"--set", "webhook.enabled=false"});
  expectConsistent(m, "tributary-system");
  EXPECT_TRUE(m.ofKind("MutatingWebhookConfiguration").empty());
  EXPECT_FALSE(m.find("Service", "tributary-webhook"));
  EXPECT_TRUE(hasArg(m, "--webhook-bind-address=0"));
  const Json c = container(m);
  for (const auto& p : c["ports"]) EXPECT_NE(p["name"], "webhook");
  // KafkaPipelines' files are ConfigMaps: that rule stays without the injector.
  EXPECT_TRUE(hasRuleFor(m, "ClusterRole", "configmaps"));
  EXPECT_FALSE(hasRuleFor(m, "ClusterRole", "mutatingwebhookconfigurations"));
  EXPECT_FALSE(hasRuleFor(m, "Role", "secrets"));
  EXPECT_TRUE(hasRuleFor(m, "Role", "leases"));
}

TEST_F(ChartTest, AnotherNamespaceMovesEveryObjectAndReference) {
  auto r = renderChart({"--set", "namespace=kafka-ops", "--set", "createNamespace=false"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out.find("tributary-system"), std::string::npos) << "a reference to the default namespace was left";
  Manifest m(r.out);
  EXPECT_TRUE(m.ofKind("Namespace").empty());
  expectConsistent(m, "kafka-ops");
  Manifest created = render({"--set", "namespace=kafka-ops"});
  EXPECT_TRUE(created.find("Namespace", "kafka-ops"));
}

TEST_F(ChartTest, KafkaValuesReachBothConfigFiles) {
  const std::string values =
      (fs::temp_directory_path() / ("tributary-chart-values-" + std::to_string(getpid()) + ".yaml")).string();
  std::ofstream(values) << "kafka:\n  bootstrapServers: broker-0:9093,broker-1:9093\n"
                           "  properties: {security.protocol: SSL}\n"
                           "operator:\n  watchNamespaces: [apps, billing]\n  resyncPeriod: 15m\n"
                           "  extraClusters: {analytics: {bootstrapServers: 'an-0:9092'}}\n"
                           "  consumerGroups: {lagInterval: 10s, partitionLagMetrics: true}\n"
                           "  replicas: 3\n"
                           "sidecar:\n  kafka: {deliveryTimeout: 45s}\n  config: {log: {level: debug}}\n";
  Manifest m = render({"-f", values});
  fs::remove(values);
  expectConsistent(m, "tributary-system");
  auto config = op::app::parseOperatorConfig(configMapData(m, "tributary-operator-config", "operator.yaml"));
  ASSERT_TRUE(config.config) << ::testing::PrintToString(config.errors);
  EXPECT_EQ(config.config->clusters.at("default").bootstrapServers, "broker-0:9093,broker-1:9093");
  EXPECT_EQ(config.config->clusters.at("default").properties.at("security.protocol"), "SSL");
  EXPECT_EQ(config.config->clusters.at("analytics").bootstrapServers, "an-0:9092");
  EXPECT_EQ(config.config->watchNamespaces, (std::vector<std::string>{"apps", "billing"}));
  EXPECT_EQ(config.config->consumerGroups.lagInterval, std::chrono::seconds(10));
  EXPECT_TRUE(config.config->consumerGroups.partitionLagMetrics);
  auto sidecar = sidecar::parseSidecarConfig(configMapData(m, "tributary-sidecar", "sidecar.yaml"), {});
  ASSERT_TRUE(sidecar.config) << ::testing::PrintToString(sidecar.errors);
  EXPECT_EQ(sidecar.config->kafka.bootstrapServers, "broker-0:9093,broker-1:9093");
  EXPECT_EQ(m.get("Deployment", "tributary-operator")["spec"]["replicas"], 3);
}

// Kafka credentials from a Secret: the operator mounts it (extraVolumes /
// extraVolumeMounts) and both configs reference the file; the binaries' parsers
// accept the references (the sidecar's syntax, as the injector checks it; the
// operator's against a file standing in for the mounted Secret).
TEST_F(ChartTest, KafkaCredentialsFromAMountedSecret) {
  const fs::path dir = fs::temp_directory_path() / ("tributary-chart-secret-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "password") << "s3cret\n";
  const std::string values = (dir / "values.yaml").string();
  std::ofstream(values) << "kafka:\n  properties:\n    security.protocol: SASL_SSL\n    sasl.mechanisms: SCRAM-SHA-512\n"
                           "    sasl.username: tributary\n    sasl.password: '${file:" << (dir / "password").string() << "}'\n"
                           "operator:\n  extraVolumes: [{name: kafka-user, secret: {secretName: tributary-operator}}]\n"
                           "  extraVolumeMounts: [{name: kafka-user, mountPath: /etc/kafka/user, readOnly: true}]\n";
  Manifest m = render({"-f", values});
  expectConsistent(m, "tributary-system");
  const auto pod = m.get("Deployment", "tributary-operator")["spec"]["template"]["spec"];
  EXPECT_EQ(pod["volumes"].back()["secret"]["secretName"], "tributary-operator");
  EXPECT_EQ(pod["containers"][0]["volumeMounts"].back()["mountPath"], "/etc/kafka/user");
  auto config = op::app::parseOperatorConfig(configMapData(m, "tributary-operator-config", "operator.yaml"));
  ASSERT_TRUE(config.config) << ::testing::PrintToString(config.errors);
  EXPECT_EQ(config.config->clusters.at("default").properties.at("sasl.password"),
            "${file:" + (dir / "password").string() + "}");
  auto sidecar = sidecar::parseSidecarConfig(configMapData(m, "tributary-sidecar", "sidecar.yaml"), {}, nullptr);
  EXPECT_TRUE(sidecar.config) << ::testing::PrintToString(sidecar.errors);
  fs::remove_all(dir);
}

TEST_F(ChartTest, BadValuesAreRefusedNamingTheValue) {
  auto port = renderChart({"--set", "webhook.port=https"});
  EXPECT_EQ(port.exitCode, 1);
  EXPECT_THAT(port.err, HasSubstr("webhook.port"));
  auto unknown = renderChart({"--set", "webhok.enabled=false"});
  EXPECT_EQ(unknown.exitCode, 1);
  EXPECT_THAT(unknown.err, HasSubstr("webhok"));
  auto policy = renderChart({"--set", "webhook.failurePolicy=Sometimes"});
  EXPECT_EQ(policy.exitCode, 1);
  EXPECT_THAT(policy.err, HasSubstr("webhook.failurePolicy"));
  auto sidecarKafka = renderChart({"--set", "sidecar.config.kafka.bootstrapServers=x:9092"});
  EXPECT_EQ(sidecarKafka.exitCode, 1);
  EXPECT_THAT(sidecarKafka.err, HasSubstr("sidecar.config"));
  auto noLeader = renderChart({"--set", "operator.leaderElection.enabled=false"});
  EXPECT_EQ(noLeader.exitCode, 1);
  EXPECT_THAT(noLeader.err, HasSubstr("operator.leaderElection.enabled"));
  EXPECT_EQ(renderChart({"--set", "operator.leaderElection.enabled=false", "--set", "operator.replicas=1"}).exitCode,
            0);
  auto monitor = renderChart({"--set", "serviceMonitor.enabled=true", "--set", "metrics.service.enabled=false"});
  EXPECT_EQ(monitor.exitCode, 1);
  EXPECT_THAT(monitor.err, HasSubstr("metrics.service.enabled"));
  auto lagEvery = renderChart({"--set", "operator.consumerGroups.lagInterval=often"});
  EXPECT_NE(lagEvery.exitCode, 0);
  EXPECT_NE(lagEvery.err.find("lagInterval"), std::string::npos) << lagEvery.err;
  auto noKafka = renderChart({"--set", "kafka.bootstrapServers="});
  EXPECT_EQ(noKafka.exitCode, 1);
  EXPECT_THAT(noKafka.err, HasSubstr("kafka.bootstrapServers"));
}

TEST_F(ChartTest, NotesSayWhereItIsAndHowToInject) {
  auto notes = renderChart({"--notes"});
  ASSERT_EQ(notes.exitCode, 0) << notes.err;
  EXPECT_THAT(notes.out, HasSubstr("namespace tributary-system"));
  EXPECT_THAT(notes.out, HasSubstr("tributary.dev/injection=enabled"));
  auto off = renderChart({"--notes", "--set", "webhook.enabled=false"});
  EXPECT_THAT(off.out, HasSubstr("Sidecar injection is off"));
}

}  // namespace
}  // namespace tributary::install::test
