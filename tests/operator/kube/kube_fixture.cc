#include "tests/operator/kube/kube_fixture.h"

namespace tributary::op::kube::test {

double metricValue(prometheus::Registry& registry, const std::string& name,
                   const std::map<std::string, std::string>& labels) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      std::map<std::string, std::string> have;
      for (const auto& l : metric.label) have[l.name] = l.value;
      if (have != labels) continue;
      return family.type == prometheus::MetricType::Gauge ? metric.gauge.value : metric.counter.value;
    }
  }
  return 0;
}

Json configMap(const std::string& name, const Json& labels, const std::string& ns) {
  Json cm{{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"labels", labels}}},
          {"data", {{"k", "v"}}}};
  if (!ns.empty()) cm["metadata"]["namespace"] = ns;
  return cm;
}

void KubeTest::SetUp() {
  apiServer = std::make_unique<tributary::test::ApiServerUnderTest>(serverOptions());
  server = apiServer->testServer();
  ns = apiServer->ns();
  client = newClient(registry, clientOptions());
}

void KubeTest::TearDown() {
  // Our client's idle keep-alive connection would hold the test server's stop().
  client.reset();
  apiServer.reset();
  server = nullptr;
}

std::unique_ptr<KubeClient> KubeTest::newClient(prometheus::Registry& reg, CurlClientOptions options) {
  return apiServer->newClient(reg, options);
}

void KubeTest::installKafkaTopicCrd() { apiServer->installCrds({"kafkatopic.yaml"}); }

size_t KubeTest::countRequests(const std::string& verb, const std::string& contains) {
  return apiServer->calls().count(verb, contains);
}

}  // namespace tributary::op::kube::test
