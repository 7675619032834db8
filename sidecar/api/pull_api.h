#pragma once
#include <chrono>
#include <string>
#include <variant>
#include <vector>

#include "sidecar/api/api_error.h"
#include "sidecar/consume/lease_broker.h"

namespace tributary::sidecar {

// The pull routes' inputs and outputs (POST /v1/subscriptions/{name}/poll,
// /ack, /nack), kept apart from HTTP so that they are tested as plain functions.

constexpr size_t kDefaultPollMax = 10;
constexpr size_t kMaxPollMax = 1000;
constexpr std::chrono::milliseconds kMaxPollWait{30'000};
constexpr size_t kMaxSettleIds = 10'000;

struct PollRequest {
  size_t max = kDefaultPollMax;
  std::chrono::milliseconds wait{0};
};
// From the query parameters `max` and `waitMs` (each absent = default).
std::variant<PollRequest, ApiError> parsePollRequest(const std::string* max, const std::string* waitMs);

struct SettleRequest {
  std::vector<std::string> ids;
  bool retryable = true;  // nack only
  std::string reason;     // nack only
};
// `{"ids":[...]}`; a nack may add `"retryable": false` and `"reason": "..."`.
std::variant<SettleRequest, ApiError> parseSettleRequest(const std::string& body, bool isNack);

// `{"records":[{"id","topic","partition","offset","timestamp","attempt","key"|"keyBase64",
//   "value"|"valueBase64","headers"[, "headersBase64"][, "traceparent", "tracestate"]}]}`: a value that is JSON is
// given parsed, anything else as base64; keys and header values as text when
// they are UTF-8, else base64.
std::string leasesToJson(const std::vector<LeaseBroker::Lease>& leases);

// `{"<verb>": n, "expired": [...], "unknown": [...]}`.
std::string settleResultToJson(const char* verb, const LeaseBroker::SettleResult& result);

}  // namespace tributary::sidecar
