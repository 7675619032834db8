#pragma once
// A test double of a Kafka cluster's admin API that behaves as Apache Kafka
// documents it: per-topic dynamic configs over broker defaults, AlterConfigs
// replacing the whole dynamic set, validateOnly, InvalidPartitions for
// decreases, InvalidConfig for unknown keys and bad values, per-item errors,
// an "unavailable" mode, and a count of round trips per operation.
// Consumer groups as Apache Kafka's group coordinator keeps them: a group
// nobody knows is Dead; with members it is Stable (or a rebalance state set by
// the test); without, Empty. Offset commits and deletion are refused
// (GroupNotEmpty: Kafka's UNKNOWN_MEMBER_ID / NON_EMPTY_GROUP) while members
// exist. Partition logs have a log start, a log end and record timestamps, so
// ListOffsets (earliest, latest, by time) answers as a broker does.
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
  std::vector<kafka::GroupDescribeResult> describeGroups(const std::vector<std::string>& groups) override;
  std::vector<kafka::GroupOffsets> listGroupOffsets(const std::vector<std::string>& groups,
                                                  const kafka::GroupPartitions& only = {}) override;
  std::vector<kafka::GroupOffsets> alterGroupOffsets(const std::vector<kafka::GroupOffsets>& changes) override;
  std::vector<kafka::GroupResult> deleteGroups(const std::vector<std::string>& groups) override;
  std::vector<kafka::PartitionOffset> listOffsets(const std::vector<kafka::OffsetQuery>& queries) override;
  std::vector<kafka::RecordAt> recordTimestamps(const std::vector<kafka::RecordAt>& at) override;

  // ---- test controls: groups and logs
  // Appends `count` records with this timestamp (ms) to a partition of an existing topic.
  void produce(const std::string& topic, int32_t partition, int count, int64_t timestampMs);
  // Moves the log start (retention or DeleteRecords removed the records before it).
  void truncateBefore(const std::string& topic, int32_t partition, int64_t newLogStart);
  // A consumer joins (the group becomes Stable) or leaves (Empty once no member is left).
  void join(const std::string& group, kafka::GroupMember member);
  void leave(const std::string& group, const std::string& memberId);
  // Forces the state the coordinator reports while members exist (e.g. PreparingRebalance).
  void setGroupState(const std::string& group, kafka::GroupState state);
  // A commit by the group's own consumers (allowed with members).
  void commit(const std::string& group, const std::string& topic, int32_t partition, int64_t offset);
  std::map<kafka::TopicPartition, int64_t> committed(const std::string& group) const;
  bool groupExists(const std::string& group) const;

  // ---- test controls: topics
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
  // The `only` argument of the last listGroupOffsets call.
  kafka::GroupPartitions lastGroupPartitionsAsked() const;
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
  struct PartitionLog {
    int64_t start = 0;
    int64_t end = 0;
    std::map<int64_t, int64_t> timestamps;  // offset → record timestamp, for offsets [start, end)
  };
  std::map<kafka::TopicPartition, PartitionLog> logs_;  // absent: an empty log at 0
  struct Group {
    std::vector<kafka::GroupMember> members;
    std::optional<kafka::GroupState> forcedState;
    std::map<kafka::TopicPartition, int64_t> offsets;
  };
  std::map<std::string, Group> groups_;
  bool partitionExists(const kafka::TopicPartition& tp) const;
  bool unavailable_ = false;
  std::map<std::pair<std::string, std::string>, kafka::AdminError> faults_;
  std::map<std::string, int> calls_;
  kafka::GroupPartitions lastGroupPartitionsAsked_;
  int mutations_ = 0;
};

}  // namespace tributary::op::test
