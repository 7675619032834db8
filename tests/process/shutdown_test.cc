// The real binary, as Kubernetes runs it: SIGTERM under load loses no record
// that was acknowledged with 200, and the process exits 0.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/kafka/embedded_cluster.h"
#include "tests/support/record_reader.h"
#include "tests/support/subprocess.h"
#include "tests/support/loopback_server.h"

using Json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string writeConfig(const std::string& bootstrap) {
  char dir[] = "/tmp/tributary-shutdown-XXXXXX";
  if (!mkdtemp(dir)) throw std::runtime_error("mkdtemp");
  std::string path = std::string(dir) + "/sidecar.yaml";
  std::ofstream(path) << "kafka:\n  bootstrapServers: \"" << bootstrap << "\"\n  deliveryTimeout: 20s\n"
                      << "api:\n  listen: \"127.0.0.1:0\"\n  workerThreads: 32\n"
                      << "admin:\n  listen: \"127.0.0.1:0\"\n"
                      << "shutdown:\n  gracePeriod: 15s\n";
  return path;
}

int portFrom(const std::string& logLine, const char* field) {
  auto j = Json::parse(logLine);
  std::string addr = j[field];
  return std::stoi(addr.substr(addr.rfind(':') + 1));
}

TEST(Shutdown, SigtermUnderLoadLosesNoAcknowledgedRecordAndExitsZero) {
  tributary::EmbeddedKafka kafka(3);
  tributary::test::Subprocess sidecar(tributary::test::binDir() + "/tributary-sidecar",
                                      {"--config", writeConfig(kafka.bootstrapServers())});
  auto listening = sidecar.waitForLine("sidecar listening", 30s);
  ASSERT_TRUE(listening) << sidecar.output();
  const int port = portFrom(*listening, "api");

  constexpr int kClients = 8;
  std::mutex mutex;
  std::condition_variable enough;
  std::map<std::pair<int, int64_t>, std::string> acked;  // (partition, offset) → value
  std::atomic<int> shuttingDownAnswers{0}, otherErrors{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      httplib::Client cl("127.0.0.1", port);
      cl.set_tcp_nodelay(true);
      cl.set_keep_alive(true);
      cl.set_read_timeout(60);
      for (int i = 0; !stop; ++i) {
        const std::string value = "c" + std::to_string(c) + "-" + std::to_string(i);
        Json req{{"records", {{{"key", "c" + std::to_string(c)}, {"value", value}}}}};
        auto res = cl.Post("/v1/topics/durable/records", req.dump(), "application/json");
        if (!res) return;  // the listener closed: the process is going away
        if (res->status == 200) {
          auto o = Json::parse(res->body)["offsets"][0];
          std::lock_guard lock(mutex);
          acked[{o["partition"].get<int>(), o["offset"].get<int64_t>()}] = "\"" + value + "\"";
          enough.notify_all();
        } else if (res->status == 503 && Json::parse(res->body)["errorCode"] == "SHUTTING_DOWN") {
          ++shuttingDownAnswers;
          return;
        } else {
          ++otherErrors;
        }
      }
    });
  }
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(enough.wait_for(lock, 60s, [&] { return acked.size() >= 300; })) << "load never got going";
  }
  sidecar.signal(SIGTERM);
  const int exitCode = sidecar.wait(30s);
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(exitCode, 0) << sidecar.output();
  EXPECT_EQ(otherErrors.load(), 0);
  EXPECT_NE(sidecar.output().find("shutdown complete"), std::string::npos);

  auto records = tributary::test::readAll(kafka.bootstrapServers(), "durable");
  std::map<std::pair<int, int64_t>, std::string> inKafka;
  for (auto& r : records) inKafka[{r.partition, r.offset}] = *r.value;
  size_t missing = 0;
  for (auto& [pos, value] : acked) {
    auto it = inKafka.find(pos);
    if (it == inKafka.end() || it->second != value) ++missing;
  }
  EXPECT_EQ(missing, 0u) << "of " << acked.size() << " acknowledged records";
  RecordProperty("acknowledged", static_cast<int>(acked.size()));
  RecordProperty("shutting_down_answers", shuttingDownAnswers.load());
}

TEST(Shutdown, InvalidConfigExitsTwoNamingTheKey) {
  char dir[] = "/tmp/tributary-badcfg-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  std::string path = std::string(dir) + "/bad.yaml";
  std::ofstream(path) << "api:\n  lisen: \"127.0.0.1:9191\"\nkafka:\n  properties:\n    compression.type: zstd2\n";
  tributary::test::Subprocess sidecar(tributary::test::binDir() + "/tributary-sidecar", {"--config", path});
  EXPECT_EQ(sidecar.wait(30s), 2);
  EXPECT_NE(sidecar.output().find("api.lisen"), std::string::npos) << sidecar.output();
  EXPECT_NE(sidecar.output().find("kafka.properties.compression.type"), std::string::npos) << sidecar.output();
}

TEST(Shutdown, PortInUseExitsOneWithAClearMessage) {
  httplib::Server blocker;
  const int port = tributary::test::bindLoopback(blocker);
  ASSERT_GT(port, 0);
  tributary::EmbeddedKafka kafka(1);
  char dir[] = "/tmp/tributary-port-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  std::string path = std::string(dir) + "/c.yaml";
  std::ofstream(path) << "kafka:\n  bootstrapServers: \"" << kafka.bootstrapServers() << "\"\napi:\n  listen: \"127.0.0.1:"
                      << port << "\"\nadmin:\n  listen: \"127.0.0.1:0\"\n";
  tributary::test::Subprocess sidecar(tributary::test::binDir() + "/tributary-sidecar", {"--config", path});
  EXPECT_EQ(sidecar.wait(30s), 1);
  EXPECT_NE(sidecar.output().find("cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << sidecar.output();
}

}  // namespace
