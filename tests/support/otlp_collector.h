#pragma once
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tributary::test {

// A test OpenTelemetry collector: an OTLP/HTTP receiver (`POST /v1/traces`,
// JSON encoding) on a loopback port chosen by the kernel, that parses what it
// gets with nlohmann-json and keeps every span. Its answer is programmable
// (a status, or a delay, to play a collector that is down or slow).
class OtlpCollector {
 public:
  struct Span {
    std::string serviceName;  // the resource's service.name
    std::string traceId, spanId, parentSpanId;  // lowercase hex; parent "" for a root
    std::string name;
    int kind = 0;  // OTLP: 2 server, 3 client, 4 producer, 5 consumer
    int64_t startUnixNanos = 0, endUnixNanos = 0;
    // Attribute values as text: strings as they are, ints in decimal, bools "true"/"false".
    std::map<std::string, std::string> attributes;
    int statusCode = 0;  // 0 unset, 1 ok, 2 error
    std::string statusMessage;
    std::string attribute(const std::string& key) const {
      auto it = attributes.find(key);
      return it == attributes.end() ? "" : it->second;
    }
  };

  OtlpCollector();
  ~OtlpCollector();

  std::string endpoint() const;  // http://127.0.0.1:<port> (the exporter adds /v1/traces)
  // The status every export request is answered with from now on (default 200),
  // after `delay` (default none).
  void answer(int status, std::chrono::milliseconds delay = std::chrono::milliseconds(0));
  // Waits until `pred(spans)` holds or the timeout; returns whether it held.
  bool waitFor(const std::function<bool(const std::vector<Span>&)>& pred, std::chrono::milliseconds timeout);
  std::vector<Span> spans();
  // The headers of the last export request (names in lower case).
  std::map<std::string, std::string> lastHeaders();
  // Export requests whose body was not OTLP JSON (should stay 0).
  int malformed();

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Span> spans_;                  // guarded by mutex_
  std::map<std::string, std::string> headers_;  // guarded by mutex_
  int status_ = 200;                         // guarded by mutex_
  std::chrono::milliseconds delay_{0};       // guarded by mutex_
  int malformed_ = 0;                        // guarded by mutex_
};

// Finds the first span with this name (nullptr when none).
const OtlpCollector::Span* findSpan(const std::vector<OtlpCollector::Span>& spans, const std::string& name);

}  // namespace tributary::test
