#pragma once
// The KafkaPipeline resource (tributary.dev/v1alpha1): what the operator itself
// needs of the spec (source topics and group, processing, replicas/autoscale,
// the clusters it names), parsed once into an immutable struct, and the
// pipeline file rendered from it — the spec minus replicas/autoscale/cluster,
// plus how to reach Kafka — which the sidecar's own parser checks (steps, jq
// expressions, sinks, retry: the PipelineValidator, see pipeline_resources.h).
// Pure functions: any thread.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/kafka/rdkafka_cluster_admin.h"
#include "operator/topic/kafka_topic.h"

namespace tributary::op::pipeline {

using topic::ResourceIdentity;

inline constexpr const char* kKafkaPipelineKind = "KafkaPipeline";
inline constexpr const char* kApiVersion = "tributary.dev/v1alpha1";

enum class Processing { AtLeastOnce, ExactlyOnce };

// spec.autoscale: the replicas follow the lag of source.group, decided by
// group::decideScale exactly as a KafkaConsumerGroup's scaleTarget.
struct AutoscaleSpec {
  int minReplicas = 1;
  int maxReplicas = 1;
  int64_t lagPerReplica = 1;
  int scaleDownStabilizationSeconds = 300;
};

struct KafkaPipelineSpec {
  std::string cluster = "default";     // spec.cluster: the source's cluster (and the default sinks')
  std::vector<std::string> sourceTopics;
  std::string group;                    // spec.source.group, else metadata.name
  Processing processing = Processing::AtLeastOnce;
  int replicas = 1;                     // spec.replicas (ignored with autoscale)
  std::optional<AutoscaleSpec> autoscale;
  std::set<std::string> clusters;       // every cluster the pipeline reaches: cluster + the sinks'
  std::vector<std::string> sinkTargets; // "topic", "topic@cluster" or the URL, by sink name: the Sinks column
  // The pipeline part of the spec as written (source with the group filled in,
  // steps, sinks, retry, deadLetterTopic, onExhausted, ordering, maxInFlight,
  // processing): what the pipeline file holds besides `kafka`.
  nlohmann::json pipeline = nlohmann::json::object();
};

struct KafkaPipeline {
  ResourceIdentity resource;
  KafkaPipelineSpec spec;
};

struct KafkaPipelineParseResult {
  std::optional<KafkaPipeline> pipeline;  // set when errors is empty
  ResourceIdentity resource;              // as much as could be read, for reporting errors
  std::vector<std::string> errors;        // every problem, each naming its field
};

// Parses a KafkaPipeline as the API serves it. Checks what the CRD schema
// cannot say and what the operator needs (replicas and autoscale not both,
// min <= max, sink shapes); steps and expressions are the validator's.
KafkaPipelineParseResult parseKafkaPipeline(const nlohmann::json& object);

// The pipeline file as JSON: spec.pipeline plus
//   name: metadata.name                     the sidecar's metrics label
//   kafka: {bootstrapServers, properties}   the spec.cluster's connection from the operator config
//   clusters: {NAME: {bootstrapServers, properties}}   every other cluster a sink names (only when any)
// Properties are as the operator config writes them: ${file:...}/${env:...}
// references stay references (a secret never lands in a ConfigMap); the pod
// must offer the same files/variables. Precondition: every cluster of
// spec.clusters is in `connections` (the caller refuses UnknownCluster first).
nlohmann::json pipelineFile(const KafkaPipeline& p, const std::map<std::string, kafka::ClusterConnection>& connections);

// The file's YAML text (what the ConfigMap holds and the validator reads).
std::string pipelineYaml(const nlohmann::json& file);

// A short stable hash (FNV-1a 64, hex) of a text: the config-hash annotation.
std::string contentHash(const std::string& text);

}  // namespace tributary::op::pipeline
