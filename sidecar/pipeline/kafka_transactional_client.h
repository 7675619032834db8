#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sidecar/pipeline/transactional_client.h"

namespace tributary::sidecar::pipeline {

struct KafkaTransactionalConfig {
  std::string bootstrapServers;
  // librdkafka properties for both clients (security, timeouts, ...). The ones
  // exactly-once rests on are set here and win: transactional.id, acks=all,
  // enable.idempotence, isolation.level=read_committed, enable.auto.commit=false.
  std::map<std::string, std::string> properties;
  std::string transactionalId;
  std::string group;
  std::vector<std::string> topics;
  bool startFromEarliest = true;  // auto.offset.reset when the group has no committed offset
  std::string clientId = "tributary-pipeline";
};

// The production TransactionalClient over librdkafka: a high-level consumer
// (eager rebalancing, the listener called before partitions go) and a
// transactional producer, two rd_kafka_t handles. The producer's delivery
// reports are served on the owning thread (inside produce/flush/commit), so
// nothing runs on librdkafka's threads but librdkafka.
//
// Returns nullptr with `error` when a property is refused or a client cannot be created.
std::unique_ptr<TransactionalClient> makeKafkaTransactionalClient(const KafkaTransactionalConfig& config,
                                                                  TxnRebalanceListener& listener, std::string& error);

}  // namespace tributary::sidecar::pipeline
