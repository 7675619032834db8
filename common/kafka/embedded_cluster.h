#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tributary {

// An in-process Kafka cluster: librdkafka's mock cluster, speaking the real Kafka
// protocol on loopback ports chosen by the kernel. Topics are auto-created on
// first use (4 partitions, replication factor min(3, brokers)). It serves dev
// mode and the tests, including fault injection. It has no admin API
// (CreateTopics, DescribeConfigs, ...): see PRODUCT.md "How it is tested here".
//
// Thread safety: every method may be called from any thread.
class EmbeddedKafka {
 public:
  explicit EmbeddedKafka(int brokers = 3);
  ~EmbeddedKafka();
  EmbeddedKafka(const EmbeddedKafka&) = delete;
  EmbeddedKafka& operator=(const EmbeddedKafka&) = delete;

  // "127.0.0.1:port,127.0.0.1:port,..."
  const std::string& bootstrapServers() const;
  int brokerCount() const;

  void createTopic(const std::string& topic, int partitions, int replicationFactor = 1);

  // Fault injection. Broker ids are 1..brokerCount().
  void setBrokerDown(int brokerId);
  void setBrokerUp(int brokerId);
  void setAllBrokersDown();
  void setAllBrokersUp();
  // Every broker answers `ms` milliseconds late (0: no delay).
  void setAllBrokersRtt(int ms);
  // The next `errors.size()` requests with this Kafka API key (e.g. 0 = Produce)
  // fail with these Kafka error codes, in order, on whichever broker receives them.
  void pushRequestErrors(int16_t apiKey, const std::vector<int>& errors);
  // Metadata responses report this Kafka error code for the topic (0 clears it),
  // e.g. 3 (UNKNOWN_TOPIC_OR_PARTITION) to act as a cluster without auto-creation.
  void setTopicError(const std::string& topic, int error);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tributary
