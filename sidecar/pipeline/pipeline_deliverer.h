#pragma once
#include <map>
#include <memory>
#include <string>

#include "sidecar/consume/deliverer.h"
#include "sidecar/pipeline/pipeline_metrics.h"
#include "sidecar/pipeline/sink.h"
#include "sidecar/pipeline/steps.h"

namespace tributary::sidecar::pipeline {

// The at-least-once pipeline as a Deliverer, so that the subscription engine
// (SubscriptionRunner: ordering, maxInFlight, retries with backoff, dead
// letters, commits of settled offsets only) runs it unchanged. One attempt of a
// source record = its steps, then every output sent to its sink; the attempt
// is delivered when every sink acknowledged its outputs (none: filtered out).
//
// - A step's failure (an expression's runtime error, no route and no default
//   sink) is not retryable: the runner dead-letters the record with
//   tributary.dlq.step (the step's index) and tributary.dlq.error.
// - A sink's failure fails the attempt: retryable (a broker or an endpoint not
//   answering, HTTP 5xx/408/429) or not (HTTP 4xx, a record too large; the
//   dead letter says tributary.dlq.sink). A retry runs the steps again and
//   sends every output again, those already acknowledged included: the
//   at-least-once duplicates a retry can make.
//
// Threads: deliver() from the runner's thread; the steps and the hand-over to
// the sinks run on the jq executor's thread; `done` from a sink's thread.
class PipelineDeliverer final : public Deliverer {
 public:
  PipelineDeliverer(const Steps& steps, std::map<std::string, std::unique_ptr<Sink>> sinks, PipelineMetrics& metrics);
  // Waits until no task of this deliverer is left on the executor.
  ~PipelineDeliverer() override;

  void deliver(std::shared_ptr<const ConsumedRecord> record, int attempt, Done done) override;

 private:
  void run(const std::shared_ptr<const ConsumedRecord>& record, int attempt, Done& done);

  const Steps& steps_;
  std::map<std::string, std::unique_ptr<Sink>> sinks_;
  PipelineMetrics& metrics_;
};

}  // namespace tributary::sidecar::pipeline
