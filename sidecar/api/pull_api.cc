#include "sidecar/api/pull_api.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "common/codec/base64.h"
#include "common/codec/json_text.h"
#include "common/codec/utf8.h"
#include "common/tracing/trace_context.h"

namespace tributary::sidecar {
namespace {

using Json = nlohmann::json;

ApiError invalid(const std::string& message) { return {400, "INVALID_REQUEST", message, std::nullopt}; }

std::optional<long long> parseCount(const std::string& s) {
  long long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::variant<PollRequest, ApiError> parsePollRequest(const std::string* max, const std::string* waitMs) {
  PollRequest r;
  if (max) {
    auto v = parseCount(*max);
    if (!v || *v < 1 || *v > static_cast<long long>(kMaxPollMax))
      return invalid("max must be a whole number from 1 to " + std::to_string(kMaxPollMax) + ", got \"" + *max +
                     "\"");
    r.max = static_cast<size_t>(*v);
  }
  if (waitMs) {
    auto v = parseCount(*waitMs);
    if (!v || *v < 0 || *v > kMaxPollWait.count())
      return invalid("waitMs must be a whole number of milliseconds from 0 to " +
                     std::to_string(kMaxPollWait.count()) + ", got \"" + *waitMs + "\"");
    r.wait = std::chrono::milliseconds(*v);
  }
  return r;
}

std::variant<SettleRequest, ApiError> parseSettleRequest(const std::string& body, bool isNack) {
  const char* shape = isNack ? R"({"ids":["<id>", ...], "retryable": true|false, "reason": "<text>"})"
                             : R"({"ids":["<id>", ...]})";
  Json doc = Json::parse(body, nullptr, false);
  if (doc.is_discarded()) return invalid(std::string("the body is not JSON; send ") + shape);
  if (!doc.is_object()) return invalid(std::string("the body must be a JSON object: ") + shape);
  SettleRequest r;
  for (const auto& [key, value] : doc.items()) {
    if (key == "ids") {
      if (!value.is_array()) return invalid("ids must be an array of the ids that poll returned");
      if (value.empty()) return invalid("ids is empty: name at least one lease");
      if (value.size() > kMaxSettleIds)
        return invalid("ids has " + std::to_string(value.size()) + " entries; send at most " +
                       std::to_string(kMaxSettleIds) + " per request");
      for (size_t i = 0; i < value.size(); ++i) {
        if (!value[i].is_string()) return invalid("ids[" + std::to_string(i) + "] must be a string");
        r.ids.push_back(value[i].get<std::string>());
      }
    } else if (isNack && key == "retryable") {
      if (!value.is_boolean()) return invalid("retryable must be true or false");
      r.retryable = value.get<bool>();
    } else if (isNack && key == "reason") {
      if (!value.is_string()) return invalid("reason must be a string");
      r.reason = value.get<std::string>();
    } else {
      return invalid("unknown field \"" + key + "\"; send " + shape);
    }
  }
  if (r.ids.empty()) return invalid(std::string("ids is missing; send ") + shape);
  return r;
}

std::string leasesToJson(const std::vector<LeaseBroker::Lease>& leases) {
  Json records = Json::array();
  for (const auto& l : leases) {
    const ConsumedRecord& r = *l.record;
    Json j{{"id", l.id},
           {"topic", r.tp.topic},
           {"partition", r.tp.partition},
           {"offset", r.offset},
           {"timestamp", r.timestampMs},
           {"attempt", l.attempt}};
    if (!r.key) j["key"] = nullptr;
    else if (isValidUtf8(*r.key)) j["key"] = *r.key;
    else j["keyBase64"] = base64Encode(*r.key);
    if (!r.value) {
      j["value"] = nullptr;
    } else if (auto parsed = parseJsonText(*r.value)) {
      j["value"] = std::move(*parsed);
    } else {
      j["valueBase64"] = base64Encode(*r.value);
    }
    Json headers = Json::object(), binary = Json::object();
    for (const auto& [name, value] : r.headers) {
      if (isValidUtf8(value)) headers[name] = value;
      else binary[name] = base64Encode(value);
    }
    j["headers"] = std::move(headers);
    if (!binary.empty()) j["headersBase64"] = std::move(binary);
    if (auto trace = tracing::fromRecordHeaders(r.headers)) {  // W3C trace context, for tracing libraries
      j["traceparent"] = tracing::formatTraceparent(*trace);
      if (!trace->traceState.empty()) j["tracestate"] = trace->traceState;
    }
    records.push_back(std::move(j));
  }
  // Header names are not checked for UTF-8 by Kafka; replace rather than fail.
  return Json{{"records", std::move(records)}}.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string settleResultToJson(const char* verb, const LeaseBroker::SettleResult& result) {
  return Json{{verb, result.settled}, {"expired", result.expired}, {"unknown", result.unknown}}.dump(
      -1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace tributary::sidecar
