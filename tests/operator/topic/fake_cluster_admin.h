#pragma once
// A test double of a Kafka cluster's admin API that behaves as Apache Kafka
// documents it: per-topic dynamic configs over broker defaults, AlterConfigs
// replacing the whole dynamic set, validateOnly, InvalidPartitions for
// decreases, InvalidConfig for unknown keys and bad values, per-item errors,
// an "unavailable" mode, and a count of round trips per operation.
// Threads: every method may be called from any thread (one mutex).
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "operator/kafka/cluster_admin.h"

namespace tributary::op::test {

class FakeClusterAdmin final : public kafka::ClusterAdmin {
 public:
  struct Topic {
    int partitions = 0;
    int replicationFactor = 0;
    std::map<std::string, std::string> dynamicConfigs;
  };

  explicit FakeClusterAdmin(int brokers = 3);

  std::vector<kafka::DescribeResult> describeTopics(const std::vector<std::string>& topics) override;
  std::vector<kafka::ItemResult> createTopics(const std::vector<kafka::NewTopic>& topics, bool validateOnly) override;
  std::vector<kafka::ItemResult> createPartitions(const std::vector<kafka::PartitionIncrease>& increases,
                                                  bool validateOnly) override;
  std::vector<kafka::ItemResult> alterConfigs(const std::vector<kafka::TopicConfigs>& configs, bool validateOnly) override;
  std::vector<kafka::ItemResult> deleteTopics(const std::vector<std::string>& topics) override;

  // ---- test controls
  // A topic made outside the operator (or drift: overwrite an existing one).
  void putTopic(const std::string& name, Topic topic);
  std::optional<Topic> topic(const std::string& name) const;
  std::vector<std::string> topicNames() const;
  // Every call fails for every item with Unavailable (brokers down) while set.
  void setUnavailable(bool unavailable);
  // The next call of `operation` ("createTopics", ...) fails for `topic` only.
  void failNext(const std::string& operation, const std::string& topic, kafka::AdminError error);

  // ---- observation
  int calls(const std::string& operation) const;  // round trips, validateOnly ones included
  int totalCalls() const;
  int mutations() const;  // calls that changed state (not validateOnly, at least one item applied)
  // Broker defaults for topic configs, as a broker reports them.
  static const std::map<std::string, std::string>& brokerDefaults();

 private:
  std::optional<kafka::AdminError> takeFault(const std::string& operation, const std::string& topic);
  std::optional<kafka::AdminError> validateConfigs(const std::map<std::string, std::string>& configs) const;
  bool begin(const std::string& operation);  // counts; false when unavailable

  const int brokers_;
  mutable std::mutex mu_;
  std::map<std::string, Topic> topics_;
  bool unavailable_ = false;
  std::map<std::pair<std::string, std::string>, kafka::AdminError> faults_;
  std::map<std::string, int> calls_;
  int mutations_ = 0;
};

}  // namespace tributary::op::test
