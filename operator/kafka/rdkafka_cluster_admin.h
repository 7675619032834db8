#pragma once
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "operator/kafka/cluster_admin.h"

namespace tributary::op::kafka {

// How to reach one Kafka cluster (the operator config's `clusters.<name>`).
struct ClusterConnection {
  std::string bootstrapServers;                   // host:port[,host:port...]
  std::map<std::string, std::string> properties;  // librdkafka client properties (TLS, SASL, ...)
  std::chrono::milliseconds requestTimeout{30'000};  // per admin request, and for metadata
};

// Checks pass-through librdkafka properties as librdkafka will read them (name
// known, value parses) and refuses `bootstrap.servers` (it has its own key).
// Each message names the key as `<keyPrefix>.<name>`. Any thread.
std::vector<std::string> validateAdminProperties(const std::map<std::string, std::string>& properties,
                                                 std::string_view keyPrefix);

// ClusterAdmin over librdkafka's Admin API (CreateTopics, CreatePartitions,
// DescribeConfigs, AlterConfigs, DeleteTopics; partitions and replication
// factor from one all-topics Metadata request, which never auto-creates).
// describeTopics costs two round trips (Metadata + DescribeConfigs), the
// others one each, whatever the number of topics.
// Groups: DescribeConsumerGroups and DeleteGroups take every group in one
// call; List/AlterConsumerGroupOffsets take one group per call in 2.0.2, so a
// batch sends them all at once and collects the answers (one round trip of
// latency); listOffsets is rd_kafka_offsets_for_times (one ListOffsets per
// leader broker for the whole batch).
// Threads: any thread, also several at once: every call collects its answer
// on a result queue of its own (rd_kafka_offsets_for_times and the metadata
// request are synchronous), so the KafkaTopic and the KafkaConsumerGroup
// controllers share one client. librdkafka's own threads run inside. Destruction waits for librdkafka to close its connections.
class RdKafkaClusterAdmin final : public ClusterAdmin {
 public:
  // nullptr and `error` set when librdkafka refuses the configuration.
  // Creating the client does not contact the cluster.
  static std::unique_ptr<RdKafkaClusterAdmin> create(const ClusterConnection& connection, std::string& error);
  ~RdKafkaClusterAdmin() override;

  std::vector<DescribeResult> describeTopics(const std::vector<std::string>& topics) override;
  std::vector<ItemResult> createTopics(const std::vector<NewTopic>& topics, bool validateOnly) override;
  std::vector<ItemResult> createPartitions(const std::vector<PartitionIncrease>& increases,
                                           bool validateOnly) override;
  std::vector<ItemResult> alterConfigs(const std::vector<TopicConfigs>& configs, bool validateOnly) override;
  std::vector<ItemResult> deleteTopics(const std::vector<std::string>& topics) override;
  std::vector<GroupDescribeResult> describeGroups(const std::vector<std::string>& groups) override;
  std::vector<RecordAt> recordTimestamps(const std::vector<RecordAt>& at) override;
  std::vector<GroupOffsets> listGroupOffsets(const std::vector<std::string>& groups,
                                             const GroupPartitions& only = {}) override;
  std::vector<GroupOffsets> alterGroupOffsets(const std::vector<GroupOffsets>& changes) override;
  std::vector<GroupResult> deleteGroups(const std::vector<std::string>& groups) override;
  std::vector<PartitionOffset> listOffsets(const std::vector<OffsetQuery>& queries) override;

  struct Handle;  // librdkafka handles, defined in the .cc

 private:
  explicit RdKafkaClusterAdmin(std::unique_ptr<Handle> handle);
  std::unique_ptr<Handle> handle_;
};

}  // namespace tributary::op::kafka
