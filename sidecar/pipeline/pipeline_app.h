#pragma once
#include <functional>
#include <memory>
#include <string>

#include "sidecar/metrics/sidecar_metrics.h"
#include "sidecar/pipeline/pipeline_config.h"

namespace tributary::sidecar::pipeline {

// Pipeline mode's composition root (`tributary-sidecar --pipeline FILE`): the
// embedded Kafka in dev mode, the producers (the source's cluster and each
// other cluster a sink names), the jq executor and compiled steps, the sinks,
// the runner (at-least-once: the subscription engine with a PipelineDeliverer;
// exactly-once: the transactional runner) and the admin listener (/metrics,
// /healthz, /readyz).
// Threads: start() and shutdown() from one controlling thread; `onFatal` is
// called (once, from any thread) when the pipeline cannot go on — fenced by
// another instance with its transactional.id — and the process should exit
// non-zero.
class PipelineApp {
 public:
  static std::unique_ptr<PipelineApp> start(const PipelineConfig& config, std::function<void()> onFatal,
                                            std::string& error);
  virtual ~PipelineApp() = default;

  virtual int adminPort() const = 0;
  virtual const std::string& bootstrapServers() const = 0;
  virtual SidecarMetrics& metrics() = 0;
  // True once the runner joined its group (what /readyz says, with the brokers).
  virtual bool ready() const = 0;
  // Why onFatal was called; empty otherwise.
  virtual std::string fatalError() const = 0;

  // SIGTERM: /readyz turns 503, the runner stops taking records and finishes
  // (or, exactly-once, commits or aborts) what is open within
  // shutdown.gracePeriod, commits what is settled, leaves the group; the
  // producers flush. Returns the outputs still unacknowledged. Idempotent.
  virtual int shutdown() = 0;
};

}  // namespace tributary::sidecar::pipeline
