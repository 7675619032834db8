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
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
          {"data", {{"k", "v"}}}};
}

void awaitServing(apiserver::TestApiServer& server) {
  apiserver::test::ApiClient probe(server.port());
  ASSERT_TRUE(eventually([&] { return probe.get("/version").status == 200; }));
}

void KubeTest::SetUp() {
  server = std::make_unique<apiserver::TestApiServer>(serverOptions());
  server->start();
  awaitServing(*server);
  client = newClient(registry, clientOptions());
}

void KubeTest::TearDown() {
  client.reset();
  if (server) server->stop();
}

std::unique_ptr<CurlKubeClient> KubeTest::newClient(prometheus::Registry& reg, CurlClientOptions options) {
  ClusterConnection connection;
  connection.server = server->url();
  return std::make_unique<CurlKubeClient>(connection, reg, options);
}

void KubeTest::installKafkaTopicCrd() {
  client->create({"apiextensions.k8s.io", "v1", "customresourcedefinitions", false}, "",
                 apiserver::test::kafkaTopicCrd());
}

size_t KubeTest::countRequests(const std::string& verb, const std::string& contains) {
  size_t n = 0;
  for (const auto& r : server->requests())
    if (r.verb == verb && r.target.find(contains) != std::string::npos) ++n;
  return n;
}

}  // namespace tributary::op::kube::test
