#pragma once
// Test helpers for the test API server: a JSON HTTP client, a watch reader,
// the KafkaTopic CRD fixture and a fixture that runs a server per test.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/support/apiserver/test_api_server.h"

namespace tributary::apiserver::test {

using Json = nlohmann::json;
using namespace std::chrono_literals;

struct Reply {
  int status = 0;  // 0: no answer (connection failed)
  Json body;       // parsed when the answer is JSON, else null
  std::string raw;
  httplib::Headers headers;
};

// A keep-alive HTTP client speaking JSON to the server, as a Kubernetes client does.
class ApiClient {
 public:
  explicit ApiClient(int port);
  Reply get(const std::string& path, const httplib::Headers& headers = {});
  Reply post(const std::string& path, const Json& body);
  Reply put(const std::string& path, const Json& body);
  Reply patch(const std::string& path, const std::string& body,
              const std::string& contentType = "application/merge-patch+json");
  Reply del(const std::string& path, const Json& options = nullptr);
  // Any method with a raw body.
  Reply send(const std::string& method, const std::string& path, const std::string& body,
             const std::string& contentType, const httplib::Headers& headers = {});

 private:
  httplib::Client client_;
};

// Reads a watch stream on a thread of its own; events queue up for next().
class WatchReader {
 public:
  WatchReader(int port, const std::string& pathAndQuery, const httplib::Headers& headers = {});
  ~WatchReader();
  // The next event, or nullopt if none arrives within `timeout` or the stream ended.
  std::optional<Json> next(std::chrono::milliseconds timeout = 10s);
  // True once the server has ended the stream (within `timeout`).
  bool waitEnded(std::chrono::milliseconds timeout = 10s);
  int status();

 private:
  httplib::Client client_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Json> events_;
  std::string buffer_;
  bool ended_ = false;
  bool stopping_ = false;
  int status_ = 0;
};

// Percent-encodes a query parameter value.
std::string urlEncode(const std::string& value);

// Polls `condition` until it holds or `timeout` passes (awaiting a state, never a fixed sleep).
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 10s);

// The KafkaTopic CRD used throughout: tributary.dev/v1alpha1, namespaced,
// short name kt, status subresource, printer columns Topic, Partitions, Ready, Age.
Json kafkaTopicCrd();
// The same CRD as YAML, for kubectl.
extern const char* const kKafkaTopicCrdYaml;
Json kafkaTopic(const std::string& name, int partitions, const std::string& ns = "default");
inline const std::string kTopics = "/apis/tributary.dev/v1alpha1/namespaces/default/kafkatopics";
inline const std::string kConfigMaps = "/api/v1/namespaces/default/configmaps";
Json configMap(const std::string& name, const Json& labels = Json::object(), const std::string& ns = "default");

// A fresh server on a kernel-chosen port for each test, and a client for it.
class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  virtual TestApiServerOptions serverOptions() { return {}; }
  void installKafkaTopicCrd();
  // The resourceVersion of a fresh list of `collection`.
  std::string listResourceVersion(const std::string& collection);

  std::unique_ptr<TestApiServer> server;
  std::unique_ptr<ApiClient> client;
};

}  // namespace tributary::apiserver::test
