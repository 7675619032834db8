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
  // Written straight into its text, each JSON value embedded as the bytes it is
  // in Kafka: a DOM per record, with every value parsed into it and printed
  // again, was over a third of the sidecar's CPU on the pull path.
  size_t estimate = 16;
  for (const auto& l : leases)
    estimate += 160 + (l.record->value ? l.record->value->size() * 4 / 3 : 0) + (l.record->key ? l.record->key->size() : 0);
  std::string out;
  out.reserve(estimate);
  out += R"({"records":[)";
  bool firstRecord = true;
  for (const auto& l : leases) {
    const ConsumedRecord& r = *l.record;
    if (!firstRecord) out += ',';
    firstRecord = false;
    out += R"({"id":)";
    appendJsonString(out, l.id);
    out += R"(,"topic":)";
    appendJsonString(out, r.tp.topic);
    out += R"(,"partition":)" + std::to_string(r.tp.partition);
    out += R"(,"offset":)" + std::to_string(r.offset);
    out += R"(,"timestamp":)" + std::to_string(r.timestampMs);
    out += R"(,"attempt":)" + std::to_string(l.attempt);
    if (!r.key) {
      out += R"(,"key":null)";
    } else if (isValidUtf8(*r.key)) {
      out += R"(,"key":)";
      appendJsonString(out, *r.key);
    } else {
      out += R"(,"keyBase64":")" + base64Encode(*r.key) + '"';
    }
    if (!r.value) {
      out += R"(,"value":null)";
    } else if (isJsonText(*r.value)) {
      out += R"(,"value":)";
      out += *r.value;
    } else {
      out += R"(,"valueBase64":")" + base64Encode(*r.value) + '"';
    }
    // One member per header name, the last value of a repeated name, as before.
    auto lastOfItsName = [&](size_t i) {
      for (size_t k = i + 1; k < r.headers.size(); ++k)
        if (r.headers[k].first == r.headers[i].first) return false;
      return true;
    };
    out += R"(,"headers":{)";
    bool anyBinary = false, first = true;
    for (size_t i = 0; i < r.headers.size(); ++i) {
      const auto& [name, value] = r.headers[i];
      if (!isValidUtf8(value)) {
        anyBinary = true;
        continue;
      }
      if (!lastOfItsName(i)) continue;
      if (!first) out += ',';
      first = false;
      appendJsonString(out, name);
      out += ':';
      appendJsonString(out, value);
    }
    out += '}';
    if (anyBinary) {
      out += R"(,"headersBase64":{)";
      first = true;
      for (size_t i = 0; i < r.headers.size(); ++i) {
        const auto& [name, value] = r.headers[i];
        if (isValidUtf8(value) || !lastOfItsName(i)) continue;
        if (!first) out += ',';
        first = false;
        appendJsonString(out, name);
        out += R"(:")" + base64Encode(value) + '"';
      }
      out += '}';
    }
    if (auto trace = tracing::fromRecordHeaders(r.headers)) {  // W3C trace context, for tracing libraries
      out += R"(,"traceparent":)";
      appendJsonString(out, tracing::formatTraceparent(*trace));
      if (!trace->traceState.empty()) {
        out += R"(,"tracestate":)";
        appendJsonString(out, trace->traceState);
      }
    }
    out += '}';
  }
  out += "]}";
  return out;
}

std::string settleResultToJson(const char* verb, const LeaseBroker::SettleResult& result) {
  return Json{{verb, result.settled}, {"expired", result.expired}, {"unknown", result.unknown}}.dump(
      -1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace tributary::sidecar
