#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "sidecar/metrics/sidecar_metrics.h"
#include "sidecar/produce/producer.h"

namespace tributary::sidecar {

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

  ProduceService(Producer& producer, SidecarMetrics& metrics, std::chrono::milliseconds deliveryTimeout);

  // `received` is when the HTTP request arrived (for the latency histogram).
  Reply produce(const std::string& topic, std::vector<OutgoingRecord> records, bool async,
                std::chrono::steady_clock::time_point received);

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
  std::atomic<bool> accepting_{true};
  std::mutex mutex_;
  std::condition_variable idle_;
  int running_ = 0;  // guarded by mutex_
};

}  // namespace tributary::sidecar
