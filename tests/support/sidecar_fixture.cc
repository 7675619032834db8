#include "tests/support/sidecar_fixture.h"

#include <sstream>

namespace tributary::test {

sidecar::SidecarConfig testConfig(const std::string& bootstrap) {
  sidecar::SidecarConfig c;
  c.kafka.bootstrapServers = bootstrap;
  c.kafka.deliveryTimeout = std::chrono::seconds(10);
  c.api.listen = {"127.0.0.1", 0};
  c.admin.listen = {"127.0.0.1", 0};
  c.api.workerThreads = 16;
  c.shutdown.gracePeriod = std::chrono::seconds(10);
  return c;
}

void SidecarTest::SetUp() {
  kafka = std::make_unique<EmbeddedKafka>(3);
  config = testConfig(kafka->bootstrapServers());
  configure(config);
  std::string error;
  sidecar = sidecar::Sidecar::start(config, error);
  ASSERT_NE(sidecar, nullptr) << error;
  client = apiClient();
}

void SidecarTest::TearDown() {
  client.reset();
  if (sidecar) sidecar->shutdown();
  sidecar.reset();
  kafka.reset();
}

std::unique_ptr<httplib::Client> SidecarTest::apiClient() const {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", sidecar->apiPort());
  c->set_tcp_nodelay(true);
  c->set_keep_alive(true);
  c->set_read_timeout(60);
  return c;
}

std::unique_ptr<httplib::Client> SidecarTest::adminClient() const {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", sidecar->adminPort());
  c->set_tcp_nodelay(true);
  return c;
}

httplib::Result SidecarTest::postJson(const std::string& topic, const std::string& body, const std::string& query) {
  return client->Post(("/v1/topics/" + topic + "/records" + query).c_str(), body, "application/json");
}

double SidecarTest::metricValue(const std::string& nameAndLabels) {
  auto res = adminClient()->Get("/metrics");
  if (!res || res->status != 200) return -1;
  std::istringstream in(res->body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(nameAndLabels + " ", 0) == 0) return std::stod(line.substr(nameAndLabels.size() + 1));
  }
  return -1;
}

}  // namespace tributary::test
