#pragma once
#include <memory>
#include <string>

#include "sidecar/config/sidecar_config.h"
#include "sidecar/metrics/sidecar_metrics.h"

namespace tributary::sidecar {

// The composition root: embedded Kafka (dev mode), producer, produce service,
// the API listener and the admin listener (/metrics, /healthz, /readyz).
// Threads: create and shutdown() are called from one controlling thread (main,
// or a test); everything else runs on the components' own threads.
class Sidecar {
 public:
  // Starts everything; nullptr with `error` set when something cannot start
  // (a port in use, a producer property librdkafka refuses).
  static std::unique_ptr<Sidecar> start(const SidecarConfig& config, std::string& error);
  virtual ~Sidecar() = default;

  virtual int apiPort() const = 0;
  virtual int adminPort() const = 0;
  virtual const std::string& bootstrapServers() const = 0;
  virtual SidecarMetrics& metrics() = 0;

  // The SIGTERM sequence: /readyz turns 503 and new produce requests get 503;
  // the producer flushes for up to shutdown.gracePeriod so that waiting
  // requests get their real result; then the listeners close. Returns the
  // number of records still unacknowledged when the grace period ran out
  // (their requests were answered with an error, never 200). Idempotent.
  virtual int shutdown() = 0;
};

}  // namespace tributary::sidecar
