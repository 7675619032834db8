#pragma once
// The operator's view of a Kafka cluster's admin API: batch-shaped (many topics
// per call, one result per item), so that N topics cost O(N / batch) round trips.
// Headers here never include librdkafka; rdkafka_cluster_admin.cc is the only adapter.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tributary::op::kafka {

// The one error type of this component. Codes are Kafka's error classes as the
// operator must react to them, not librdkafka's codes.
enum class AdminErrorCode {
  TopicNotFound,
  TopicAlreadyExists,
  InvalidPartitions,
  InvalidReplicationFactor,
  InvalidConfig,
  PolicyViolation,
  Unavailable,  // brokers do not answer, or the request timed out: retry later
  Unauthorized,
  Other,
};

std::string_view toString(AdminErrorCode code);

struct AdminError {
  AdminErrorCode code = AdminErrorCode::Other;
  std::string message;  // the broker's own message when it sent one
};

// A topic as the cluster describes it.
struct TopicDescription {
  int partitions = 0;
  int replicationFactor = 0;
  // Only the topic's dynamic (per-topic) configs: what AlterConfigs replaces.
  std::map<std::string, std::string> dynamicConfigs;
  // Every config the broker reported with its effective value (defaults
  // included), so that plans can show what a key returns to.
  std::map<std::string, std::string> effectiveConfigs;
};

// One result per requested item, in request order. `error` unset = success.
struct ItemResult {
  std::string topic;
  std::optional<AdminError> error;
  bool ok() const { return !error.has_value(); }
};

struct DescribeResult {
  std::string topic;
  std::optional<TopicDescription> description;  // set on success
  std::optional<AdminError> error;               // TopicNotFound when the topic does not exist
};

struct NewTopic {
  std::string name;
  int partitions = 1;          // -1: the broker's num.partitions
  int replicationFactor = -1;  // -1: the broker's default.replication.factor
  std::map<std::string, std::string> configs;
};

struct PartitionIncrease {
  std::string topic;
  int newTotal = 0;  // the total count after the increase, as Kafka's API takes it
};

// The complete desired dynamic config set of a topic. Kafka's (non-incremental)
// AlterConfigs, the only one librdkafka 2.0.2 has, replaces the whole set:
// keys absent here return to the broker default.
struct TopicConfigs {
  std::string topic;
  std::map<std::string, std::string> configs;
};

// Threads: an implementation is called by one thread at a time (calls block
// until the cluster answered or the request timed out); callers serialise.
// A call never throws for a Kafka-side failure: when the whole request fails
// (brokers down), every item carries the same error.
// `validateOnly` asks the broker to check the request without applying it.
class ClusterAdmin {
 public:
  virtual ~ClusterAdmin() = default;
  virtual std::vector<DescribeResult> describeTopics(const std::vector<std::string>& topics) = 0;
  virtual std::vector<ItemResult> createTopics(const std::vector<NewTopic>& topics, bool validateOnly) = 0;
  virtual std::vector<ItemResult> createPartitions(const std::vector<PartitionIncrease>& increases,
                                                   bool validateOnly) = 0;
  virtual std::vector<ItemResult> alterConfigs(const std::vector<TopicConfigs>& configs, bool validateOnly) = 0;
  virtual std::vector<ItemResult> deleteTopics(const std::vector<std::string>& topics) = 0;
};

}  // namespace tributary::op::kafka
