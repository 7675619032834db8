#pragma once
// A test API server per test and a CurlKubeClient pointed at it.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include <prometheus/registry.h>

#include "operator/kube/curl_kube_client.h"
#include "tests/apiserver/api_client.h"
#include "tests/support/apiserver/test_api_server.h"

namespace tributary::op::kube::test {

using apiserver::test::eventually;
using namespace std::chrono_literals;

inline const ResourceRef kTopicsRef{"tributary.dev", "v1alpha1", "kafkatopics", true};
inline const ResourceRef kConfigMapsRef = resources::kConfigMaps;

// The value of a counter or gauge with exactly these labels (0 when absent).
double metricValue(prometheus::Registry& registry, const std::string& name,
                   const std::map<std::string, std::string>& labels = {});

Json configMap(const std::string& name, const Json& labels = Json::object(), const std::string& ns = "default");

// Returns once `server` answers a request. httplib's stop() is a no-op (and a
// later join hangs) when it runs before the accept loop started, so a test
// that stops a server soon after start() calls this first.
void awaitServing(apiserver::TestApiServer& server);

class KubeTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  virtual apiserver::TestApiServerOptions serverOptions() { return {}; }
  virtual CurlClientOptions clientOptions() { return {}; }
  // A client (with its own registry when none is given) for this server.
  std::unique_ptr<CurlKubeClient> newClient(prometheus::Registry& registry, CurlClientOptions options = {});
  void installKafkaTopicCrd();
  // How many requests the server saw with this verb whose target contains `contains`.
  size_t countRequests(const std::string& verb, const std::string& contains = "");

  std::unique_ptr<apiserver::TestApiServer> server;
  prometheus::Registry registry;
  std::unique_ptr<CurlKubeClient> client;
};

}  // namespace tributary::op::kube::test
