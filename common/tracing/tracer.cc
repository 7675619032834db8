#include "common/tracing/tracer.h"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <cctype>
#include <string_view>
#include <vector>

#include "common/log/log.h"

namespace tributary::tracing {

std::string checkOtlpEndpoint(const std::string& e) {
  const size_t hostAt = e.rfind("http://", 0) == 0 ? 7 : e.rfind("https://", 0) == 0 ? 8 : std::string::npos;
  if (hostAt != std::string::npos && hostAt < e.size() && e[hostAt] != '/' &&
      e.find_first_of(" \t\r\n") == std::string::npos)
    return "";
  return "\"" + e + "\" must be the http:// or https:// URL of an OTLP/HTTP receiver, "
         "e.g. http://otel-collector:4318 (spans go to <url>/v1/traces)";
}

bool isHttpHeaderName(const std::string& n) {
  if (n.empty()) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos))
      return false;
  return true;
}

Tracer::Tracer(TracerOptions options, std::unique_ptr<SpanExporter> exporter, prometheus::Registry* registry)
    : options_(std::move(options)), exporter_(std::move(exporter)) {
  if (registry) {
    exportedCounter_ = &prometheus::BuildCounter()
                            .Name("tributary_tracing_spans_exported_total")
                            .Help("Spans the OTLP collector accepted")
                            .Register(*registry)
                            .Add({});
    droppedCounter_ = &prometheus::BuildCounter()
                           .Name("tributary_tracing_spans_dropped_total")
                           .Help("Spans dropped: the export queue was full (slow or absent collector) or an export failed")
                           .Register(*registry)
                           .Add({});
  }
  thread_ = std::thread([this] { run(); });
}

Tracer::~Tracer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

bool Tracer::sampleRoot(const std::array<uint8_t, 16>& traceId) const {
  if (options_.samplingRatio >= 1.0) return true;
  if (options_.samplingRatio <= 0.0) return false;
  // OpenTelemetry's TraceIdRatioBased: the trace id's last 8 bytes (random in
  // W3C ids) below ratio × 2^64, so the decision is the trace's, not the process's.
  uint64_t v = 0;
  for (size_t i = 8; i < 16; ++i) v = v << 8 | traceId[i];
  return static_cast<double>(v) < options_.samplingRatio * 18446744073709551616.0;
}

ActiveSpan Tracer::start(std::string name, Span::Kind kind, const std::optional<TraceContext>& parent) const {
  ActiveSpan a;
  a.span.name = std::move(name);
  a.span.kind = kind;
  a.span.spanId = newSpanId();
  if (parent) {
    a.span.traceId = parent->traceId;
    a.span.parentSpanId = parent->spanId;
    a.span.traceState = parent->traceState;
    a.recording = parent->sampled();
  } else {
    a.span.traceId = newTraceId();
    a.recording = sampleRoot(a.span.traceId);
  }
  if (a.recording) a.span.startUnixNanos = unixNanosNow();
  return a;
}

void Tracer::end(ActiveSpan&& a) {
  if (!a.recording) return;
  if (a.span.endUnixNanos == 0) a.span.endUnixNanos = unixNanosNow();
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= options_.maxQueue) {
      countDropped(1);
      return;
    }
    queue_.push_back(std::move(a.span));
    wake = queue_.size() == options_.maxBatch;
  }
  if (wake) wake_.notify_one();
}

void Tracer::countDropped(size_t n) {
  dropped_ += n;
  if (droppedCounter_) droppedCounter_->Increment(static_cast<double>(n));
}

bool Tracer::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  flushNow_ = true;
  wake_.notify_all();
  return idle_.wait_for(lock, timeout, [&] { return queue_.empty() && !exporting_; });
}

void Tracer::run() {
  std::vector<Span> batch;
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait_for(lock, options_.exportInterval,
                   [&] { return stopping_ || flushNow_ || queue_.size() >= options_.maxBatch; });
    if (stopping_) return;
    if (queue_.empty()) {
      flushNow_ = false;  // done: the next wait really waits (and lets go of the mutex)
      idle_.notify_all();
      continue;
    }
    batch.clear();
    while (!queue_.empty() && batch.size() < options_.maxBatch) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    exporting_ = true;
    lock.unlock();
    std::string error;
    const bool ok = exporter_->exportSpans(batch, error);
    if (ok) {
      exported_ += batch.size();
      if (exportedCounter_) exportedCounter_->Increment(static_cast<double>(batch.size()));
      if (failing_) log::info("span export works again");
    } else {
      countDropped(batch.size());
      // Once per outage, not per batch: a collector that is down stays down a while.
      if (!failing_) log::warn("span export failed; spans are dropped until it works again", {{"error", error}});
    }
    failing_ = !ok;
    lock.lock();
    exporting_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
}

}  // namespace tributary::tracing
