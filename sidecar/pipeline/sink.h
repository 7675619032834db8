#pragma once
#include <functional>
#include <memory>
#include <string>

#include "sidecar/consume/consumer.h"
#include "sidecar/consume/deliverer.h"
#include "sidecar/pipeline/pipeline_config.h"
#include "sidecar/pipeline/steps.h"
#include "sidecar/produce/producer.h"

namespace tributary::sidecar::pipeline {

// Where a pipeline's outputs go: a topic (through a Producer: acks=all,
// idempotent) or an HTTP endpoint (through the push subscriptions' deliverer:
// the same CloudEvents, timeouts and Retry-After reading).
//
// Thread safety: send() from any thread (the pipeline calls it from the jq
// executor's); `done` is called exactly once, from the sink's own thread (the
// producer's poll thread, an HTTP worker), or at once when the output is refused.
class Sink {
 public:
  using Done = std::function<void(AttemptResult)>;
  virtual ~Sink() = default;
  // `source` is the record the output came from, `index` the output's place
  // among its outputs (the CloudEvent id), `attempt` the source record's attempt.
  virtual void send(StepOutput output, const ConsumedRecord& source, uint32_t index, int attempt, Done done) = 0;
};

// Produces to `topic`. A record the broker can never take (too large) is not
// retryable; anything else (no leader, a full queue, a timeout) is.
std::unique_ptr<Sink> makeTopicSink(Producer& producer, std::string topic);

// POSTs each output as a binary-mode CloudEvent to config.url, with
// config.headers, from `connections` keep-alive connections.
std::unique_ptr<Sink> makeHttpSink(const SinkConfig& config, int connections, const std::string& source);

}  // namespace tributary::sidecar::pipeline
