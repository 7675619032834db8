#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "common/tracing/tracer.h"
#include "sidecar/metrics/sidecar_metrics.h"
#include "sidecar/produce/producer.h"

namespace tributary::sidecar {

// A produce request's W3C trace context headers, as received (empty: absent).
struct ProduceTraceHeaders {
  std::string traceparent;
  std::string tracestate;
  bool repeated = false;  // more than one traceparent header: invalid
};

// The HTTP-independent half of the produce API: hands records to the Producer,
// waits for the broker's answers (sync) or not (async), and builds the reply.
// Thread safety: produce() is called concurrently from HTTP worker threads;
// stopAccepting() and waitIdle() from the shutdown thread.
class ProduceService {
 public:
  struct Reply {
    int status = 200;
    std::string body;  // JSON
    std::optional<int> retryAfterSeconds;
  };

  // `tracer` (may be null: propagation only) must outlive the service.
  ProduceService(Producer& producer, SidecarMetrics& metrics, std::chrono::milliseconds deliveryTimeout,
                 tracing::Tracer* tracer = nullptr);

  using TraceHeaders = ProduceTraceHeaders;

  // `received` is when the HTTP request arrived (for the latency histogram).
  // The request's trace context becomes the `traceparent`/`tracestate` record
  // headers of every record that has no traceparent of its own; with a tracer,
  // the produce span sits between them (see "Tracing" in sidecar/README.md).
  Reply produce(const std::string& topic, std::vector<OutgoingRecord> records, bool async,
                std::chrono::steady_clock::time_point received, const TraceHeaders& trace = TraceHeaders());

  // From now on every produce() answers 503 SHUTTING_DOWN.
  void stopAccepting();
  // Waits until no produce() call is running; false on timeout.
  bool waitIdle(std::chrono::milliseconds timeout);

  // Records every produce() call, including an error answered before enqueueing.
  void countRequest(const std::string& topic, int status);

 private:
  Producer& producer_;
  SidecarMetrics& metrics_;
  const std::chrono::milliseconds deliveryTimeout_;
  tracing::Tracer* const tracer_;
  std::atomic<bool> accepting_{true};
  std::mutex mutex_;
  std::condition_variable idle_;
  int running_ = 0;  // guarded by mutex_
};

}  // namespace tributary::sidecar
