#pragma once
#include <memory>
#include <string>

#include <prometheus/registry.h>

#include "sidecar/config/sidecar_config.h"
#include "sidecar/produce/producer.h"

namespace tributary::sidecar {

// The production Producer: librdkafka with acks=all and idempotence. Owns two
// threads: the poll thread (serves delivery reports and statistics: listeners
// run there) and the health thread (a metadata request every 2 s, for /readyz
// and for answering 503 at once while no broker is reachable).
// Registers tributary_kafka_* gauges from librdkafka's statistics in `registry`.
//
// Only this file (and common/kafka) include librdkafka.
std::unique_ptr<Producer> makeKafkaProducer(const KafkaConfig& config, const std::string& bootstrapServers,
                                            prometheus::Registry& registry, std::string& error);

}  // namespace tributary::sidecar
