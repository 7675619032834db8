#pragma once
// The API server under test (the in-process test API server, or a real one
// when TRIBUTARY_TEST_KUBECONFIG is set), a namespace of the test's own, and
// a CurlKubeClient pointed at it.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include <prometheus/registry.h>

#include "operator/kube/curl_kube_client.h"
#include "tests/apiserver/api_client.h"
#include "tests/support/apiserver/test_api_server.h"
#include "tests/support/kube/api_server_under_test.h"

namespace tributary::op::kube::test {

using apiserver::test::eventually;
using namespace std::chrono_literals;

inline const ResourceRef kTopicsRef{"tributary.dev", "v1alpha1", "kafkatopics", true};
inline const ResourceRef kConfigMapsRef = resources::kConfigMaps;

// The value of a counter or gauge with exactly these labels (0 when absent).
double metricValue(prometheus::Registry& registry, const std::string& name,
                   const std::map<std::string, std::string>& labels = {});

// A ConfigMap; without `ns` it carries no namespace (the URL's applies).
Json configMap(const std::string& name, const Json& labels = Json::object(), const std::string& ns = "");

class KubeTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  // Options of the in-process server (ignored against a real one).
  virtual apiserver::TestApiServerOptions serverOptions() { return {}; }
  virtual CurlClientOptions clientOptions() { return {}; }
  // A client (with its own registry when none is given) for this server; its calls are counted.
  std::unique_ptr<KubeClient> newClient(prometheus::Registry& registry, CurlClientOptions options = {});
  // crds/kafkatopic.yaml, Established.
  void installKafkaTopicCrd();
  // How many calls this test's clients made with this verb whose target
  // contains `contains` (counted by the clients, so also on a real server).
  size_t countRequests(const std::string& verb, const std::string& contains = "");
  void clearRequests() { apiServer->calls().clear(); }

  std::unique_ptr<tributary::test::ApiServerUnderTest> apiServer;
  // The in-process server for what only it can do; nullptr against a real
  // one (such tests first SKIP_UNLESS_TEST_SERVER).
  apiserver::TestApiServer* server = nullptr;
  std::string ns;  // this test's namespace (created, deleted afterwards)
  prometheus::Registry registry;
  std::unique_ptr<KubeClient> client;
};

}  // namespace tributary::op::kube::test

#define SKIP_UNLESS_TEST_SERVER(why) SKIP_UNLESS_TEST_API_SERVER(*apiServer, why)
