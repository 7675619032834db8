#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tributary::tracing {

// W3C Trace Context level 1 (https://www.w3.org/TR/trace-context/): the
// `traceparent` and `tracestate` values that travel with a request, a Kafka
// record (as headers of the same names) and a delivery. Pure values: any thread.
struct TraceContext {
  std::array<uint8_t, 16> traceId{};
  std::array<uint8_t, 8> spanId{};  // the parent-id of whoever receives this context
  uint8_t flags = 0;                // bit 0: sampled
  std::string traceState;           // opaque vendor data, carried as it came (may be empty)

  bool sampled() const { return (flags & 0x01) != 0; }
};

// Parses a `traceparent` value. nullopt when it is not valid, which the spec
// says receivers must treat as absent (never an error to the caller):
// - version: two lowercase hex digits, not "ff"; version 00 is exactly 55
//   characters; a higher version is at least 55, and anything after the 55th
//   character must start with '-' (future versions may append fields);
// - trace-id: 32 lowercase hex digits, not all zero; parent-id: 16, not all zero;
// - flags: two lowercase hex digits. Uppercase hex is invalid.
// Surrounding spaces and tabs (HTTP optional whitespace) are ignored.
std::optional<TraceContext> parseTraceparent(std::string_view value);

// "00-<trace-id>-<span-id>-<flags>" (version 00: what this code speaks, whatever it received).
std::string formatTraceparent(const TraceContext& context);

// Lowercase hex of bytes (trace and span ids, as OTLP/JSON writes them).
std::string toHex(const uint8_t* bytes, size_t n);
template <size_t N>
std::string toHex(const std::array<uint8_t, N>& a) {
  return toHex(a.data(), N);
}

// The value of `tracestate` worth carrying: at most 512 characters (the
// spec's limit for what a vendor must propagate) of printable ASCII; anything
// else is dropped ("" ), never passed on half-understood.
std::string sanitizeTracestate(std::string_view value);

// The context a Kafka record carries: its last `traceparent` header when that
// is valid, with its last `tracestate` header. Header names are matched
// exactly (lowercase, as every OpenTelemetry Kafka instrumentation writes them).
std::optional<TraceContext> fromRecordHeaders(const std::vector<std::pair<std::string, std::string>>& headers);

// Random ids (never all zero), from a per-thread generator.
std::array<uint8_t, 16> newTraceId();
std::array<uint8_t, 8> newSpanId();

}  // namespace tributary::tracing
