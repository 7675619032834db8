// Dev mode, as an app developer starts it: the real tributary-sidecar binary
// with no brokers configured (and with --dev over a configured broker list).
// The embedded 3-broker cluster starts inside the process, /v1/info says
// `mode: dev` and names its brokers, and a record goes round trip: produced
// through the API, read back from the embedded cluster by a plain consumer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>
#include <nlohmann/json.hpp>

#include "tests/support/record_reader.h"
#include "tests/support/subprocess.h"

using namespace std::chrono_literals;
using Json = nlohmann::json;
using testing::HasSubstr;

namespace {

// Polls `condition` until it holds or `timeout` passed (a bounded await, not a sleep).
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

int portFrom(const std::string& logLine, const char* field) {
  auto j = Json::parse(logLine);
  std::string addr = j[field];
  return std::stoi(addr.substr(addr.rfind(':') + 1));
}

// Starts the binary with `yaml` as its config file and `args`, checks dev mode
// end to end, stops it with SIGTERM.
void checkDevMode(const std::string& yaml, const std::vector<std::string>& args, const std::string& logged = "") {
  char dir[] = "/tmp/tributary-dev-mode-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/sidecar.yaml";
  std::ofstream(path) << yaml;
  std::vector<std::string> all{"--config", path};
  all.insert(all.end(), args.begin(), args.end());
  tributary::test::Subprocess sidecar(tributary::test::binDir() + "/tributary-sidecar", all);
  auto listening = sidecar.waitForLine("sidecar listening", 60s);
  ASSERT_TRUE(listening) << sidecar.output();
  EXPECT_THAT(sidecar.output(), HasSubstr("started the embedded Kafka cluster"));
  if (!logged.empty()) {
    EXPECT_THAT(sidecar.output(), HasSubstr(logged));
  }
  httplib::Client api("127.0.0.1", portFrom(*listening, "api"));
  httplib::Client admin("127.0.0.1", portFrom(*listening, "admin"));
  api.set_read_timeout(30, 0);

  auto info = api.Get("/v1/info");
  ASSERT_TRUE(info);
  ASSERT_EQ(info->status, 200);
  const Json body = Json::parse(info->body);
  EXPECT_EQ(body["mode"], "dev");
  const std::string bootstrap = body.value("bootstrapServers", "");
  EXPECT_EQ(std::count(bootstrap.begin(), bootstrap.end(), ','), 2) << "3 embedded brokers: " << bootstrap;

  EXPECT_TRUE(eventually(
      [&] {
        auto r = admin.Get("/readyz");
        return r && r->status == 200;
      },
      30s));
  auto produced = api.Post("/v1/topics/dev-orders/records",
                           R"({"records":[{"key":"user-1","value":{"order":42}}]})", "application/json");
  ASSERT_TRUE(produced);
  ASSERT_EQ(produced->status, 200) << produced->body;
  const Json offsets = Json::parse(produced->body)["offsets"];
  auto records = tributary::test::readAll(bootstrap, "dev-orders");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].key, "user-1");
  EXPECT_EQ(records[0].value, R"({"order":42})");
  EXPECT_EQ(records[0].partition, offsets[0]["partition"]);
  EXPECT_EQ(records[0].offset, offsets[0]["offset"]);

  sidecar.signal(SIGTERM);
  EXPECT_EQ(sidecar.wait(30s), 0) << sidecar.output();
  std::filesystem::remove_all(dir);
}

const std::string kPorts = "api:\n  listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\n";

}  // namespace

TEST(DevMode, NoBrokersConfiguredStartsTheEmbeddedClusterAndARecordGoesRoundTrip) {
  checkDevMode(kPorts, {});
}

TEST(DevMode, DevFlagWinsOverConfiguredBrokers) {
  checkDevMode("kafka:\n  bootstrapServers: kafka-0.kafka:9092\n" + kPorts, {"--dev"},
               "--dev given: ignoring kafka.bootstrapServers");
}
