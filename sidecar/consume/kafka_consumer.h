#pragma once
#include <memory>
#include <string>

#include "sidecar/config/sidecar_config.h"
#include "sidecar/consume/consumer.h"

namespace tributary::sidecar {

// The production Consumer over librdkafka's high-level consumer: auto-commit
// off (commits come from the OffsetTracker), eager rebalancing with the
// listener called before partitions are given up.
std::unique_ptr<Consumer> makeKafkaConsumer(const KafkaConfig& kafka, const std::string& bootstrapServers,
                                            const SubscriptionConfig& subscription, RebalanceListener& listener,
                                            std::string& error);

}  // namespace tributary::sidecar
