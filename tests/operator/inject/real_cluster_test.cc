// The injector called by a real Kubernetes API server, when
// TRIBUTARY_TEST_KUBECONFIG names a kubeconfig for one (kind, a dev cluster)
// and TRIBUTARY_TEST_WEBHOOK_HOST is this machine's address as the API server
// reaches it (for kind: the docker network's gateway, e.g. 172.18.0.1). The
// webhook runs here, in-process, as `--webhook-cert-dir` runs it (the same
// InjectionWebhook), registered with clientConfig.url; a namespace labelled
// tributary.dev/injection=enabled gets an annotated pod, and the pod the server
// returns must carry the sidecar. Everything is deleted afterwards. Skipped,
// saying why, otherwise.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "common/codec/base64.h"
#include "operator/inject/certificate_authority.h"
#include "operator/inject/injection_webhook.h"
#include "operator/inject/server_version.h"
#include "operator/inject/webhook_certificates.h"
#include "operator/kube/curl_kube_client.h"
#include "operator/kube/kube_config.h"

namespace tributary::op::inject {
namespace {

using namespace std::chrono_literals;
const kube::ResourceRef kPods{"", "v1", "pods", true};

TEST(RealCluster, TheApiServerCallsTheWebhookAndStoresTheInjectedPod) {
  const char* kubeconfig = std::getenv("TRIBUTARY_TEST_KUBECONFIG");
  const char* host = std::getenv("TRIBUTARY_TEST_WEBHOOK_HOST");
  if (!kubeconfig || !*kubeconfig)
    GTEST_SKIP() << "set TRIBUTARY_TEST_KUBECONFIG to a kubeconfig of a real cluster (and TRIBUTARY_TEST_WEBHOOK_HOST "
                    "to this machine's address as its API server reaches it) to run this; the test API server "
                    "stands in for it everywhere else";
  if (!host || !*host)
    GTEST_SKIP() << "TRIBUTARY_TEST_KUBECONFIG is set but TRIBUTARY_TEST_WEBHOOK_HOST is not: the API server must "
                    "reach the webhook running in this test (for kind: the docker network gateway, e.g. 172.18.0.1)";
  prometheus::Registry clientRegistry;
  auto client = std::make_shared<kube::CurlKubeClient>(kube::loadKubeconfig(kubeconfig), clientRegistry);
  std::random_device rd;
  const std::string suffix = std::to_string(rd() % 1000000);
  const std::string ns = "tributary-inject-test-" + suffix, configName = "tributary-inject-test-" + suffix;

  // --webhook-cert-dir: a CA and a leaf for `host`, written where the webhook reads them.
  const auto now = std::chrono::system_clock::now() - 5min;
  CertificatePair ca = issueCa("tributary-test-ca", now, 24h);
  CertificatePair leaf = issueServing(ca, {host}, now, 24h);
  char tmpl[] = "/tmp/tributary-real-webhook-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::ofstream(dir + "/tls.crt") << leaf.certPem;
  std::ofstream(dir + "/tls.key") << leaf.keyPem;

  InjectionWebhookOptions wo;
  wo.listen = {"0.0.0.0", 0};
  wo.certDir = dir;
  wo.sidecarImage = "tributary/sidecar:test";
  auto registry = std::make_shared<prometheus::Registry>();
  InjectionWebhook webhook(wo, client, registry);
  std::string error;
  ASSERT_TRUE(webhook.start(error)) << error;

  auto cleanup = [&] {
    try { client->remove(kMutatingWebhookConfigurations, "", configName); } catch (const kube::ApiError&) {}
    try { client->remove(kube::resources::kNamespaces, "", ns); } catch (const kube::ApiError&) {}
    std::filesystem::remove_all(dir);
  };
  try {
    client->create(kube::resources::kNamespaces, "",
                   Json{{"apiVersion", "v1"},
                        {"kind", "Namespace"},
                        {"metadata", {{"name", ns}, {"labels", {{"tributary.dev/injection", "enabled"}}}}}});
    client->create(
        kMutatingWebhookConfigurations, "",
        Json{{"apiVersion", "admissionregistration.k8s.io/v1"},
             {"kind", "MutatingWebhookConfiguration"},
             {"metadata", {{"name", configName}}},
             {"webhooks",
              Json::array({{{"name", "inject.tributary.dev"},
                            {"clientConfig",
                             {{"url", "https://" + std::string(host) + ":" + std::to_string(webhook.port()) + "/inject"},
                              {"caBundle", base64Encode(ca.certPem)}}},
                            {"rules", Json::array({{{"operations", Json::array({"CREATE"})},
                                                    {"apiGroups", Json::array({""})},
                                                    {"apiVersions", Json::array({"v1"})},
                                                    {"resources", Json::array({"pods"})}}})},
                            {"namespaceSelector", {{"matchLabels", {{"kubernetes.io/metadata.name", ns}}}}},
                            {"failurePolicy", "Fail"},
                            {"sideEffects", "None"},
                            {"reinvocationPolicy", "IfNeeded"},
                            {"timeoutSeconds", 10},
                            {"admissionReviewVersions", Json::array({"v1"})}}})}});
    Json pod{{"apiVersion", "v1"},
             {"kind", "Pod"},
             {"metadata", {{"name", "orders"}, {"annotations", {{"tributary.dev/inject", "true"}}}}},
             {"spec", {{"containers", Json::array({{{"name", "app"}, {"image", "registry.k8s.io/pause:3.9"}}})}}}};
    // The webhook configuration takes a moment to reach the API server's cache.
    Json created;
    for (int attempt = 0; attempt < 50; ++attempt) {
      created = client->create(kPods, ns, pod);
      bool injected = false;
      for (const char* list : {"initContainers", "containers"})
        for (const auto& c : created["spec"].value(list, Json::array()))
          injected = injected || c.value("name", "") == "tributary-sidecar";
      if (injected) break;
      client->remove(kPods, ns, "orders");
      std::this_thread::sleep_for(200ms);  // a real server's cache: nothing to await on
    }
    const bool native = webhook.nativeSidecars();
    const Json& list = created["spec"][native ? "initContainers" : "containers"];
    ASSERT_TRUE(list.is_array()) << created.dump();
    EXPECT_EQ(list[0]["name"], "tributary-sidecar") << created.dump();
    if (native) {
      EXPECT_EQ(list[0]["restartPolicy"], "Always");
    }
    EXPECT_EQ(created["metadata"]["annotations"]["tributary.dev/injected"], TRIBUTARY_VERSION);
  } catch (...) {
    cleanup();
    throw;
  }
  cleanup();
  webhook.stop();
}

}  // namespace
}  // namespace tributary::op::inject
