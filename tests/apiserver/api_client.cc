#include "tests/apiserver/api_client.h"

#include <cctype>

namespace tributary::apiserver::test {

namespace {
Reply toReply(const httplib::Result& r) {
  Reply out;
  if (!r) return out;
  out.status = r->status;
  out.raw = r->body;
  out.headers = r->headers;
  out.body = Json::parse(r->body, nullptr, false);
  if (out.body.is_discarded()) out.body = nullptr;
  return out;
}
}  // namespace

ApiClient::ApiClient(int port) : client_("127.0.0.1", port) {
  client_.set_keep_alive(true);
  client_.set_tcp_nodelay(true);
  client_.set_read_timeout(30, 0);
}

Reply ApiClient::get(const std::string& path, const httplib::Headers& headers) {
  return toReply(client_.Get(path, headers));
}

Reply ApiClient::post(const std::string& path, const Json& body) {
  return toReply(client_.Post(path, body.dump(), "application/json"));
}

Reply ApiClient::put(const std::string& path, const Json& body) {
  return toReply(client_.Put(path, body.dump(), "application/json"));
}

Reply ApiClient::patch(const std::string& path, const std::string& body, const std::string& contentType) {
  return toReply(client_.Patch(path, body, contentType));
}

Reply ApiClient::del(const std::string& path, const Json& options) {
  if (options.is_null()) return toReply(client_.Delete(path));
  return toReply(client_.Delete(path, options.dump(), "application/json"));
}

Reply ApiClient::send(const std::string& method, const std::string& path, const std::string& body,
                      const std::string& contentType, const httplib::Headers& headers) {
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.headers = headers;
  req.body = body;
  if (!contentType.empty()) req.set_header("Content-Type", contentType);
  return toReply(client_.send(req));
}

WatchReader::WatchReader(int port, const std::string& pathAndQuery, const httplib::Headers& headers)
    : client_("127.0.0.1", port) {
  // A quiet watch is normal; only the test's own bounded waits decide it is too quiet.
  client_.set_read_timeout(300, 0);
  thread_ = std::thread([this, pathAndQuery, headers] {
    client_.Get(
        pathAndQuery, headers,
        [this](const httplib::Response& r) {
          std::lock_guard lock(mu_);
          status_ = r.status;
          cv_.notify_all();
          return true;
        },
        [this](const char* data, size_t len) {
          std::lock_guard lock(mu_);
          buffer_.append(data, len);
          size_t nl;
          while ((nl = buffer_.find('\n')) != std::string::npos) {
            std::string line = buffer_.substr(0, nl);
            buffer_.erase(0, nl + 1);
            if (!line.empty()) events_.push_back(Json::parse(line, nullptr, false));
          }
          cv_.notify_all();
          return !stopping_;
        });
    std::lock_guard lock(mu_);
    ended_ = true;
    cv_.notify_all();
  });
}

WatchReader::~WatchReader() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  client_.stop();
  thread_.join();
}

std::optional<Json> WatchReader::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !events_.empty() || ended_; });
  if (events_.empty()) return std::nullopt;
  Json e = events_.front();
  events_.pop_front();
  return e;
}

bool WatchReader::waitEnded(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return ended_; });
}

int WatchReader::status() {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, 10s, [&] { return status_ != 0 || ended_; });
  return status_;
}

std::string urlEncode(const std::string& value) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

const char* const kKafkaTopicCrdYaml = R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: kafkatopics.tributary.dev
spec:
  group: tributary.dev
  scope: Namespaced
  names:
    kind: KafkaTopic
    listKind: KafkaTopicList
    plural: kafkatopics
    singular: kafkatopic
    shortNames: [kt]
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources:
      status: {}
    additionalPrinterColumns:
    - name: Topic
      type: string
      jsonPath: .spec.topicName
    - name: Partitions
      type: integer
      jsonPath: .spec.partitions
    - name: Ready
      type: string
      jsonPath: .status.conditions[?(@.type=="Ready")].status
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [partitions]
            properties:
              topicName:
                type: string
              partitions:
                type: integer
                minimum: 1
              replicationFactor:
                type: integer
                default: -1
              config:
                type: object
                additionalProperties:
                  type: string
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
)";

Json kafkaTopicCrd() {
  return Json::parse(R"({
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "kafkatopics.tributary.dev"},
    "spec": {
      "group": "tributary.dev",
      "scope": "Namespaced",
      "names": {"kind": "KafkaTopic", "listKind": "KafkaTopicList", "plural": "kafkatopics",
                "singular": "kafkatopic", "shortNames": ["kt"]},
      "versions": [{
        "name": "v1alpha1", "served": true, "storage": true,
        "subresources": {"status": {}},
        "additionalPrinterColumns": [
          {"name": "Topic", "type": "string", "jsonPath": ".spec.topicName"},
          {"name": "Partitions", "type": "integer", "jsonPath": ".spec.partitions"},
          {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
          {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
        ],
        "schema": {"openAPIV3Schema": {
          "type": "object",
          "properties": {
            "spec": {"type": "object", "required": ["partitions"], "properties": {
              "topicName": {"type": "string"},
              "partitions": {"type": "integer", "minimum": 1},
              "replicationFactor": {"type": "integer", "default": -1},
              "config": {"type": "object", "additionalProperties": {"type": "string"}}
            }},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
          }
        }}
      }]
    }
  })");
}

Json kafkaTopic(const std::string& name, int partitions, const std::string& ns) {
  return {{"apiVersion", "tributary.dev/v1alpha1"},
          {"kind", "KafkaTopic"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"topicName", name + "-topic"}, {"partitions", partitions}}}};
}

Json configMap(const std::string& name, const Json& labels, const std::string& ns) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
          {"data", {{"key", "value"}}}};
}

void ApiServerTest::SetUp() {
  server = std::make_unique<TestApiServer>(serverOptions());
  server->start();
  client = std::make_unique<ApiClient>(server->port());
}

void ApiServerTest::TearDown() {
  client.reset();
  server->stop();
}

void ApiServerTest::installKafkaTopicCrd() {
  auto r = client->post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", kafkaTopicCrd());
  ASSERT_EQ(r.status, 201) << r.raw;
}

std::string ApiServerTest::listResourceVersion(const std::string& collection) {
  auto r = client->get(collection);
  EXPECT_EQ(r.status, 200) << r.raw;
  return r.body["metadata"]["resourceVersion"].get<std::string>();
}

}  // namespace tributary::apiserver::test
