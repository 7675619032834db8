#include "common/tracing/otlp_json.h"

#include <chrono>
#include <nlohmann/json.hpp>

namespace tributary::tracing {

int64_t unixNanosNow() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

using Json = nlohmann::json;

Json anyValue(const Span::Value& v) {
  return std::visit(
      [](const auto& x) -> Json {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) return {{"stringValue", x}};
        else if constexpr (std::is_same_v<T, int64_t>) return {{"intValue", std::to_string(x)}};
        else if constexpr (std::is_same_v<T, double>) return {{"doubleValue", x}};
        else return {{"boolValue", x}};
      },
      v);
}

bool allZero(const std::array<uint8_t, 8>& a) {
  for (uint8_t b : a)
    if (b) return false;
  return true;
}

}  // namespace

std::string otlpJson(const std::vector<Span>& spans, const std::string& serviceName) {
  Json out = Json::array();
  for (const auto& s : spans) {
    Json attrs = Json::array();
    for (const auto& [k, v] : s.attributes) attrs.push_back({{"key", k}, {"value", anyValue(v)}});
    Json span{{"traceId", toHex(s.traceId)},
              {"spanId", toHex(s.spanId)},
              {"name", s.name},
              {"kind", static_cast<int>(s.kind)},
              {"startTimeUnixNano", std::to_string(s.startUnixNanos)},
              {"endTimeUnixNano", std::to_string(s.endUnixNanos)},
              {"attributes", std::move(attrs)}};
    if (!allZero(s.parentSpanId)) span["parentSpanId"] = toHex(s.parentSpanId);
    if (!s.traceState.empty()) span["traceState"] = s.traceState;
    Json status{{"code", static_cast<int>(s.status)}};
    if (s.status == Span::Status::Error && !s.statusMessage.empty()) status["message"] = s.statusMessage;
    span["status"] = std::move(status);
    out.push_back(std::move(span));
  }
  Json resource{{"attributes",
                 Json::array({{{"key", "service.name"}, {"value", {{"stringValue", serviceName}}}},
                              {{"key", "telemetry.sdk.name"}, {"value", {{"stringValue", "tributary"}}}},
                              {{"key", "telemetry.sdk.language"}, {"value", {{"stringValue", "cpp"}}}}})}};
  Json body{{"resourceSpans",
             Json::array({{{"resource", std::move(resource)},
                           {"scopeSpans", Json::array({{{"scope", {{"name", "tributary"}, {"version", TRIBUTARY_VERSION}}},
                                                        {"spans", std::move(out)}}})}}})}};
  // Attribute values come from Kafka (keys, topic names) and may not be UTF-8.
  return body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace tributary::tracing
