#pragma once
// The operator's configuration file (`--config`), parsed and validated once.
// Pure functions, any thread.
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/config/config_providers.h"
#include "common/tracing/tracer.h"
#include "operator/kafka/rdkafka_cluster_admin.h"

namespace tributary::op::app {

struct LeaderElectionConfig {
  bool enabled = true;
  std::string leaseName = "tributary-operator";
  std::string namespace_;  // empty: the operator's own namespace
};

// clusters:            {<name>: {bootstrapServers, properties}}  — Kafka clusters resources may name
// watchNamespaces: []  — controller mode: namespaces to watch (empty: all)
// resyncPeriod: 5m     — controller mode: how often every resource is re-checked (drift)
// leaderElection:      {enabled, leaseName, namespace} — controller mode
// consumerGroups: {lagInterval: 30s, statusInterval: 5m, lagChangeFraction: 0.1, partitionLagMetrics: false}
// tracing:             {otlpEndpoint, serviceName, samplingRatio, headers, timeout} — as the sidecar's:
//                      one span per reconcile to an OTLP/HTTP receiver (empty otlpEndpoint: none)
struct ConsumerGroupsConfig {
  std::chrono::milliseconds lagInterval{30'000};      // one lag pass per cluster per interval
  std::chrono::milliseconds statusInterval{300'000};  // small lag moves reach status at most this often
  double lagChangeFraction = 0.10;                    // larger moves are written at the next pass
  // tributary_consumer_group_partition_lag, one series per partition: off by
  // default to bound cardinality (1000 groups x 12 partitions = 12 000 series).
  bool partitionLagMetrics = false;
};

struct OperatorConfig {
  std::map<std::string, kafka::ClusterConnection> clusters;
  std::vector<std::string> watchNamespaces;
  std::chrono::milliseconds resyncPeriod{5 * 60 * 1000};
  LeaderElectionConfig leaderElection;
  ConsumerGroupsConfig consumerGroups;
  tracing::TracingConfig tracing = defaultTracing();

  static tracing::TracingConfig defaultTracing() {
    tracing::TracingConfig t;
    t.serviceName = "tributary-operator";
    return t;
  }
};

struct OperatorConfigResult {
  std::optional<OperatorConfig> config;  // set when errors is empty
  std::vector<std::string> errors;       // every problem, each naming its key (`clusters.default.bootstrapServers: required`)
};

// `clusters.*.properties` may hold ${file:...} / ${env:...} references
// (common/config/config_providers.h): they are resolved with `source` to report
// every one that does not resolve, and kept as references in the result (the
// admin clients resolve them, and again when a file changes).
OperatorConfigResult parseOperatorConfig(const std::string& yamlText,
                                         const ConfigProviderSource& source = systemConfigProviderSource());
// Reads the file; a missing or unreadable file is one error naming it.
OperatorConfigResult loadOperatorConfig(const std::string& path,
                                        const ConfigProviderSource& source = systemConfigProviderSource());

}  // namespace tributary::op::app
