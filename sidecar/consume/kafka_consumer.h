#pragma once
#include <memory>
#include <string>

#include "sidecar/config/sidecar_config.h"
#include "sidecar/consume/consumer.h"
#include "sidecar/metrics/sidecar_metrics.h"

namespace tributary::sidecar {

// The production Consumer over librdkafka's high-level consumer: auto-commit
// off (commits come from the OffsetTracker), eager rebalancing with the
// listener called before partitions are given up. With `metrics`, librdkafka's
// statistics (every statistics.interval.ms, 10 s unless kafka.properties sets
// it) become the tributary_consumer_* gauges, labelled with the subscription;
// its series go when the consumer does.
std::unique_ptr<Consumer> makeKafkaConsumer(const KafkaConfig& kafka, const std::string& bootstrapServers,
                                            const SubscriptionConfig& subscription, RebalanceListener& listener,
                                            std::string& error, SidecarMetrics* metrics = nullptr);

}  // namespace tributary::sidecar
