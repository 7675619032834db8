#pragma once
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/config/config_providers.h"
#include "sidecar/config/sidecar_config.h"
#include "sidecar/pipeline/steps.h"

namespace tributary::sidecar::pipeline {

// Where a sink's records go.
struct SinkConfig {
  enum class Kind { Topic, Http };
  Kind kind = Kind::Topic;
  // topic
  std::string topic;
  std::string cluster;  // a name of `clusters`; empty: the source's cluster (`kafka`)
  // http: delivered exactly as a push subscription delivers (CloudEvents, retries, Retry-After)
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // sent with every request
  std::chrono::milliseconds timeout{10'000};                  // per attempt
};

// Another Kafka cluster a topic sink may write to.
struct ClusterConfig {
  std::string bootstrapServers;
  KafkaProperties properties;  // ${file:...}/${env:...} resolved as for `kafka.properties`
};

// A pipeline file (`tributary-sidecar --pipeline FILE`), parsed and validated
// once. The KafkaPipeline CRD's spec has the same shape minus `kafka`,
// `clusters`, `admin`, `log`, `shutdown`, `tracing` (the operator adds those).
// See sidecar/README.md "Pipelines".
struct PipelineConfig {
  enum class Processing { AtLeastOnce, ExactlyOnce };

  std::string name;  // metrics label and tributary.dlq.subscription; default: source.group
  std::vector<std::string> topics;  // source.topics
  std::string group;                // source.group
  SubscriptionConfig::StartFrom startFrom = SubscriptionConfig::StartFrom::Earliest;
  std::vector<StepConfig> steps;
  std::map<std::string, SinkConfig> sinks;
  std::string defaultSink;  // "default", or the only sink; empty: a record no route matched fails
  RetryConfig retry;
  std::string deadLetterTopic;  // on the source's cluster; empty: none
  SubscriptionConfig::OnExhausted onExhausted = SubscriptionConfig::OnExhausted::Block;
  SubscriptionConfig::Ordering ordering = SubscriptionConfig::Ordering::Partition;
  // Records between fetch and settled; more than a push subscription's 64: an
  // output's round trip is a broker's acknowledgement, and 64 left the
  // pipeline waiting on them (make bench: 37k records/s at 64, 90k at 256).
  int maxInFlight = 256;
  Processing processing = Processing::AtLeastOnce;
  // exactlyOnce: this instance's transactional.id. From `transactionalId`, else
  // $TRIBUTARY_PIPELINE_TRANSACTIONAL_ID (the operator sets it per replica),
  // else "tributary-pipeline-<name>".
  std::string transactionalId;
  std::map<std::string, ClusterConfig> clusters;
  // kafka, admin, shutdown, log and tracing: the sidecar's own sections, read by
  // the sidecar's parser (and its TRIBUTARY_* overrides). `api` is not used.
  SidecarConfig runtime;

  // The subscription the at-least-once runner runs (the same engine as push).
  SubscriptionConfig subscription() const;
};

struct PipelineConfigResult {
  std::optional<PipelineConfig> config;  // set when errors is empty
  std::vector<std::string> errors;       // every problem found, each naming its key
};

inline constexpr const char* kTransactionalIdVariable = "TRIBUTARY_PIPELINE_TRANSACTIONAL_ID";

// Parses and validates a pipeline file. Expressions are not compiled here
// (see checkPipelineFile and Steps::compile). `providers` as in parseSidecarConfig.
PipelineConfigResult parsePipelineConfig(std::string_view yaml, const Environment& env,
                                         const ConfigProviderSource* providers = &systemConfigProviderSource());
PipelineConfigResult loadPipelineConfig(const std::string& path, const Environment& env,
                                        const ConfigProviderSource* providers = &systemConfigProviderSource());

// The operator's check of a spec before any rollout: parses `yaml` without
// reading ${file:}/${env:} references or the environment, and compiles every
// expression (with a process-wide JqExecutor). Empty: valid.
std::vector<std::string> checkPipelineFile(std::string_view yaml);

}  // namespace tributary::sidecar::pipeline
