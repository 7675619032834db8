#pragma once
#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>
#include <string>

#include "common/kafka/embedded_cluster.h"
#include "sidecar/app/sidecar.h"
#include "sidecar/config/sidecar_config.h"

namespace tributary::test {

// A sidecar in-process against an embedded cluster owned by the test (so the
// test can inject faults), both listeners on kernel-chosen loopback ports.
class SidecarTest : public ::testing::Test {
 protected:
  // Override to change the configuration before start; the default is the
  // documented default except ports (0) and a short delivery timeout.
  virtual void configure(sidecar::SidecarConfig& /*config*/) {}

  void SetUp() override;
  void TearDown() override;

  // A keep-alive client of the API / admin listener.
  std::unique_ptr<httplib::Client> apiClient() const;
  std::unique_ptr<httplib::Client> adminClient() const;

  // POST JSON to /v1/topics/{topic}/records.
  httplib::Result postJson(const std::string& topic, const std::string& body, const std::string& query = "");

  // The value of a metric line `name{labels}` from /metrics, or -1 when absent.
  double metricValue(const std::string& nameAndLabels);

  std::unique_ptr<EmbeddedKafka> kafka;
  sidecar::SidecarConfig config;
  std::unique_ptr<sidecar::Sidecar> sidecar;
  std::unique_ptr<httplib::Client> client;
};

// The defaults tests run with: loopback port 0 everywhere, brokers = `bootstrap`.
sidecar::SidecarConfig testConfig(const std::string& bootstrap);

}  // namespace tributary::test
