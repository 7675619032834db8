#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/tracing/trace_context.h"

namespace tributary::tracing {

// One finished span, as OTLP describes it. Built by the thread doing the work,
// then handed to a Tracer (which owns it from then on).
struct Span {
  enum class Kind { Internal = 1, Server = 2, Client = 3, Producer = 4, Consumer = 5 };  // OTLP's numbers
  enum class Status { Unset = 0, Ok = 1, Error = 2 };                                     // OTLP's numbers
  using Value = std::variant<std::string, int64_t, double, bool>;

  std::array<uint8_t, 16> traceId{};
  std::array<uint8_t, 8> spanId{};
  std::array<uint8_t, 8> parentSpanId{};  // all zero: a root span
  std::string traceState;
  std::string name;
  Kind kind = Kind::Internal;
  int64_t startUnixNanos = 0;
  int64_t endUnixNanos = 0;
  std::vector<std::pair<std::string, Value>> attributes;
  Status status = Status::Unset;
  std::string statusMessage;  // only with Status::Error

  void set(std::string key, Value value) { attributes.emplace_back(std::move(key), std::move(value)); }
  // The context a child of this span (or a receiver of it) gets.
  TraceContext context() const { return {traceId, spanId, 0x01, traceState}; }
};

// Nanoseconds since the Unix epoch, now (system clock: spans are compared
// across processes).
int64_t unixNanosNow();

// Where finished spans go. Implementations are called from the Tracer's one
// export thread only, so they need no locking of their own.
class SpanExporter {
 public:
  virtual ~SpanExporter() = default;
  // Sends one batch. false with `error` set when the batch was not accepted;
  // the Tracer counts its spans as dropped (no retry: a retry would hold the
  // queue while the collector is down, and data-path spans keep coming).
  virtual bool exportSpans(const std::vector<Span>& spans, std::string& error) = 0;
};

}  // namespace tributary::tracing
