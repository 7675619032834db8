#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/tracing/span.h"
#include "common/tracing/trace_context.h"

namespace prometheus {
class Counter;
class Registry;
}  // namespace prometheus

namespace tributary::tracing {

// The `tracing:` section of a configuration file (the sidecar's; the operator
// can read the same keys). Immutable once parsed.
struct TracingConfig {
  std::string otlpEndpoint;  // http(s)://host:port of an OTLP/HTTP receiver; empty: no spans
  std::string serviceName;   // the resource's service.name; empty: the binary's default
  double samplingRatio = 1.0;  // for traces that start here; an incoming sampled flag wins
  std::map<std::string, std::string> headers;  // sent with every export (e.g. an API key): never logged
  std::chrono::milliseconds timeout{10'000};   // per export request

  bool spansEnabled() const { return !otlpEndpoint.empty(); }
};

// For configuration checks (the sidecar's and the operator's): "" when
// `endpoint` is an http:// or https:// URL with a host, else the error message.
std::string checkOtlpEndpoint(const std::string& endpoint);
// An HTTP header name (an RFC 9110 token), for `tracing.headers`.
bool isHttpHeaderName(const std::string& name);

// How a Tracer batches. The defaults suit a sidecar: a burst of a few thousand
// spans is held, more are dropped rather than grow memory or wait.
struct TracerOptions {
  std::string serviceName;
  double samplingRatio = 1.0;
  size_t maxQueue = 4096;  // spans waiting for export; beyond: dropped and counted
  size_t maxBatch = 512;   // spans per export request
  std::chrono::milliseconds exportInterval{500};  // the longest a span waits for a batch to fill
};

// A span being built: `recording` false means not sampled — its context is
// still passed on (with the sampled flag off, so that downstream agrees) but
// end() discards it.
struct ActiveSpan {
  Span span;
  bool recording = false;
  TraceContext context() const { return {span.traceId, span.spanId, static_cast<uint8_t>(recording ? 1 : 0), span.traceState}; }
};

// Starts spans (parent-based sampling: a parent's sampled flag decides; a root
// is sampled by `samplingRatio` of its trace id, as OpenTelemetry's
// TraceIdRatioBased does, so every service that samples by ratio agrees) and
// exports the finished ones in batches on a thread of its own.
//
// The data path never waits here: end() takes a mutex for a push onto a
// bounded queue and nothing else; the exporter runs outside it. When the
// queue is full (a slow or absent collector), spans are dropped and counted in
// tributary_tracing_spans_dropped_total, as are spans of a failed export.
//
// Threads: start()/end() from any thread; flush() from the controlling thread.
class Tracer {
 public:
  // Registers tributary_tracing_spans_{exported,dropped}_total in `registry` when given.
  Tracer(TracerOptions options, std::unique_ptr<SpanExporter> exporter, prometheus::Registry* registry);
  ~Tracer();  // exports nothing more: call flush() first for a clean end
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // A new span: a child of `parent` (same trace, its sampled flag, its
  // tracestate), or the root of a new trace when there is none. Starts now.
  ActiveSpan start(std::string name, Span::Kind kind, const std::optional<TraceContext>& parent) const;
  // Ends the span now (unless its end was set) and queues it when recording.
  void end(ActiveSpan&& span);

  // Exports everything queued; waits at most `timeout`. True when all went out
  // (or was dropped by a failed export) in time.
  bool flush(std::chrono::milliseconds timeout);

  uint64_t exported() const { return exported_.load(); }
  uint64_t dropped() const { return dropped_.load(); }
  const TracerOptions& options() const { return options_; }

 private:
  void run();
  bool sampleRoot(const std::array<uint8_t, 16>& traceId) const;
  void countDropped(size_t n);

  const TracerOptions options_;
  std::unique_ptr<SpanExporter> exporter_;  // export thread only
  prometheus::Counter* exportedCounter_ = nullptr;
  prometheus::Counter* droppedCounter_ = nullptr;
  std::atomic<uint64_t> exported_{0};
  std::atomic<uint64_t> dropped_{0};

  std::mutex mutex_;
  std::condition_variable wake_;  // the export thread waits here
  std::condition_variable idle_;  // flush() waits here
  std::deque<Span> queue_;        // guarded by mutex_
  bool exporting_ = false;        // guarded by mutex_: a batch is out
  bool flushNow_ = false;         // guarded by mutex_
  bool stopping_ = false;         // guarded by mutex_
  bool failing_ = false;          // export thread only: to log a failure once, not per batch
  std::thread thread_;
};

}  // namespace tributary::tracing
