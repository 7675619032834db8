#include "tests/support/otlp_collector.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tests/support/loopback_server.h"

namespace tributary::test {
namespace {

using Json = nlohmann::json;

std::string attributeText(const Json& v) {
  if (v.contains("stringValue")) return v["stringValue"].get<std::string>();
  if (v.contains("intValue")) return v["intValue"].is_string() ? v["intValue"].get<std::string>() : v["intValue"].dump();
  if (v.contains("boolValue")) return v["boolValue"].get<bool>() ? "true" : "false";
  if (v.contains("doubleValue")) return v["doubleValue"].dump();
  return v.dump();
}

int64_t nanos(const Json& v) { return v.is_string() ? std::stoll(v.get<std::string>()) : v.get<int64_t>(); }

// Every span of an ExportTraceServiceRequest in OTLP JSON; throws on a bad shape.
std::vector<OtlpCollector::Span> parse(const std::string& body) {
  std::vector<OtlpCollector::Span> out;
  const Json doc = Json::parse(body);
  for (const auto& rs : doc.at("resourceSpans")) {
    std::string service;
    for (const auto& a : rs.at("resource").at("attributes"))
      if (a.at("key") == "service.name") service = attributeText(a.at("value"));
    for (const auto& ss : rs.at("scopeSpans"))
      for (const auto& s : ss.at("spans")) {
        OtlpCollector::Span span;
        span.serviceName = service;
        span.traceId = s.at("traceId").get<std::string>();
        span.spanId = s.at("spanId").get<std::string>();
        span.parentSpanId = s.value("parentSpanId", "");
        span.name = s.at("name").get<std::string>();
        span.kind = s.at("kind").get<int>();
        span.startUnixNanos = nanos(s.at("startTimeUnixNano"));
        span.endUnixNanos = nanos(s.at("endTimeUnixNano"));
        for (const auto& a : s.value("attributes", Json::array()))
          span.attributes[a.at("key").get<std::string>()] = attributeText(a.at("value"));
        if (s.contains("status")) {
          span.statusCode = s["status"].value("code", 0);
          span.statusMessage = s["status"].value("message", "");
        }
        out.push_back(std::move(span));
      }
  }
  return out;
}

}  // namespace

OtlpCollector::OtlpCollector() {
  server_.set_tcp_nodelay(true);
  server_.set_keep_alive_max_count(1'000'000);
  server_.Post("/v1/traces", [this](const httplib::Request& req, httplib::Response& res) {
    int status;
    std::chrono::milliseconds delay;
    {
      std::lock_guard lock(mutex_);
      status = status_;
      delay = delay_;
    }
    // A slow collector: the exporter's timeout runs out first.
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    if (status == 200) {
      try {
        auto spans = parse(req.body);
        std::lock_guard lock(mutex_);
        headers_.clear();
        for (const auto& [k, v] : req.headers) {
          std::string lower = k;
          std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
          headers_[lower] = v;
        }
        spans_.insert(spans_.end(), spans.begin(), spans.end());
      } catch (const std::exception& e) {
        std::lock_guard lock(mutex_);
        ++malformed_;
        status = 400;
      }
      changed_.notify_all();
    }
    res.status = status;
    res.set_content("{}", "application/json");
  });
  port_ = bindLoopback(server_);
  thread_ = std::thread([this] { server_.listen_after_bind(); });
}

OtlpCollector::~OtlpCollector() {
  server_.stop();
  thread_.join();
}

std::string OtlpCollector::endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

void OtlpCollector::answer(int status, std::chrono::milliseconds delay) {
  std::lock_guard lock(mutex_);
  status_ = status;
  delay_ = delay;
}

bool OtlpCollector::waitFor(const std::function<bool(const std::vector<Span>&)>& pred,
                            std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return pred(spans_); });
}

std::vector<OtlpCollector::Span> OtlpCollector::spans() {
  std::lock_guard lock(mutex_);
  return spans_;
}

std::map<std::string, std::string> OtlpCollector::lastHeaders() {
  std::lock_guard lock(mutex_);
  return headers_;
}

int OtlpCollector::malformed() {
  std::lock_guard lock(mutex_);
  return malformed_;
}

const OtlpCollector::Span* findSpan(const std::vector<OtlpCollector::Span>& spans, const std::string& name) {
  for (const auto& s : spans)
    if (s.name == name) return &s;
  return nullptr;
}

}  // namespace tributary::test
