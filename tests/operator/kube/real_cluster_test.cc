// The KubeClient against a real Kubernetes API server, when
// TRIBUTARY_TEST_KUBECONFIG names a kubeconfig for one (kind, a dev cluster).
// Everything happens to ConfigMaps labelled tributary-test in the kubeconfig's
// namespace, and is deleted afterwards. Skipped, saying so, otherwise: the
// test API server stands in for it in every other test.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include <prometheus/registry.h>

#include "operator/kube/api_error.h"
#include "operator/kube/curl_kube_client.h"
#include "operator/kube/kube_config.h"

using namespace std::chrono_literals;
namespace kube = tributary::op::kube;
using Json = nlohmann::json;

namespace {

class RealCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* path = std::getenv("TRIBUTARY_TEST_KUBECONFIG");
    if (!path || !*path)
      GTEST_SKIP() << "set TRIBUTARY_TEST_KUBECONFIG to a kubeconfig of a real cluster to run these; the test API "
                      "server stands in for it everywhere else";
    connection = kube::loadKubeconfig(path);
    client = std::make_unique<kube::CurlKubeClient>(connection, registry);
    ns = connection.defaultNamespace;
    std::random_device rd;
    name = "tributary-test-" + std::to_string(rd() % 1000000);
  }
  void TearDown() override {
    if (!client) return;
    try {
      client->remove(kube::resources::kConfigMaps, ns, name);
    } catch (const kube::ApiError&) {
    }
  }

  prometheus::Registry registry;
  kube::ClusterConnection connection;
  std::unique_ptr<kube::CurlKubeClient> client;
  std::string ns, name;
};

TEST_F(RealCluster, EveryVerbAndAWatchOnAConfigMap) {
  Json cm{{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"labels", {{"tributary-test", "true"}}}}},
          {"data", {{"a", "1"}}}};
  Json created = client->create(kube::resources::kConfigMaps, ns, cm);
  EXPECT_EQ(created["data"]["a"], "1");
  EXPECT_THROW(client->create(kube::resources::kConfigMaps, ns, cm), kube::ApiError);

  kube::ListOptions selector;
  selector.labelSelector = "tributary-test=true";
  auto listed = client->listAll(kube::resources::kConfigMaps, ns, selector);
  bool found = false;
  for (const auto& item : listed.items) found = found || item["metadata"]["name"] == name;
  EXPECT_TRUE(found);

  kube::WatchOptions w;
  w.resourceVersion = listed.resourceVersion;
  w.labelSelector = "tributary-test=true";
  auto stream = client->watch(kube::resources::kConfigMaps, ns, w);
  client->patch(kube::resources::kConfigMaps, ns, name, Json{{"data", {{"b", "2"}}}});
  kube::WatchEvent event;
  bool sawPatch = false;
  for (int i = 0; i < 20 && !sawPatch; ++i) {
    auto status = stream->next(5s, event);
    if (status == kube::WatchStream::Status::Ended) break;
    if (status == kube::WatchStream::Status::Event && event.type == kube::WatchEvent::Type::Modified &&
        event.object["metadata"]["name"] == name)
      sawPatch = event.object["data"].value("b", "") == "2";
  }
  EXPECT_TRUE(sawPatch);
  stream->cancel();

  Json stale = created;
  stale["data"]["a"] = "stale";
  try {
    client->update(kube::resources::kConfigMaps, ns, stale);
    ADD_FAILURE() << "an update with a stale resourceVersion must be a conflict";
  } catch (const kube::ApiError& e) {
    EXPECT_TRUE(kube::isConflict(e)) << e.what();
  }
  client->remove(kube::resources::kConfigMaps, ns, name);
  try {
    client->get(kube::resources::kConfigMaps, ns, name);
    ADD_FAILURE() << "the ConfigMap is gone";
  } catch (const kube::ApiError& e) {
    EXPECT_TRUE(kube::isNotFound(e)) << e.what();
  }
}

}  // namespace
