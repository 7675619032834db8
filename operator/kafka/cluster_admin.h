#pragma once
// The operator's view of a Kafka cluster's admin API: batch-shaped (many topics
// per call, one result per item), so that N topics cost O(N / batch) round trips.
// Headers here never include librdkafka; rdkafka_cluster_admin.cc is the only adapter.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
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
  GroupNotFound,   // GROUP_ID_NOT_FOUND (e.g. deleting a group that does not exist)
  GroupNotEmpty,   // the group has active members: NON_EMPTY_GROUP, UNKNOWN_MEMBER_ID on an offset commit,
                   // REBALANCE_IN_PROGRESS — Kafka refuses offset changes and deletion while members exist
  Unsupported,     // no such operation: a topic-only test double, or brokers that do not implement the request
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

// ---- consumer groups

// The coordinator's view of a group (Kafka's GroupState names).
enum class GroupState { Unknown, PreparingRebalance, CompletingRebalance, Stable, Dead, Empty };
std::string_view toString(GroupState state);

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  bool operator<(const TopicPartition& o) const { return std::tie(topic, partition) < std::tie(o.topic, o.partition); }
  bool operator==(const TopicPartition& o) const { return topic == o.topic && partition == o.partition; }
};

// Per group id, the partitions a call is limited to (see listGroupOffsets).
using GroupPartitions = std::map<std::string, std::vector<TopicPartition>>;

struct GroupMember {
  std::string memberId;
  std::string clientId;
  std::string host;
  std::vector<TopicPartition> assignment;
};

struct GroupDescription {
  GroupState state = GroupState::Unknown;
  std::vector<GroupMember> members;
};

// A group that never existed is described as Dead with no members (what Kafka's
// DescribeGroups answers), not as an error.
struct GroupDescribeResult {
  std::string group;
  std::optional<GroupDescription> description;  // set on success
  std::optional<AdminError> error;
};

// A partition's offset, with its own error (alter: e.g. GroupNotEmpty for
// that partition; list offsets: TopicNotFound).
struct PartitionOffset {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = -1;
  std::optional<AdminError> error;
};

// A group's committed offsets (list), or the offsets to commit and their
// per-partition results (alter). `error` set: the whole group failed.
struct GroupOffsets {
  std::string group;
  std::vector<PartitionOffset> offsets;
  std::optional<AdminError> error;
};

struct GroupResult {
  std::string group;
  std::optional<AdminError> error;
  bool ok() const { return !error.has_value(); }
};

// Kafka's ListOffsets: the earliest (log start), the latest (log end) offset,
// or the first offset whose record timestamp is >= a time.
inline constexpr int64_t kEarliestTimestamp = -2;
inline constexpr int64_t kLatestTimestamp = -1;
// The first record at or after `offset` of a partition, and its timestamp
// (ms since the epoch): what the age of a group's oldest unconsumed record is
// read from. On a compacted topic the record at `offset` may be gone; the
// next one is the oldest left. No record there (the log end): neither set.
struct RecordAt {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::optional<int64_t> timestampMs;
  std::optional<AdminError> error;
};

struct OffsetQuery {
  std::string topic;
  int32_t partition = 0;
  int64_t timestamp = kLatestTimestamp;  // kEarliestTimestamp, kLatestTimestamp, or ms since the epoch
};

// Threads: each controller serialises its own calls per cluster, but the
// KafkaTopic and the KafkaConsumerGroup controllers share an admin, so an
// implementation must allow calls from two threads at once (calls block until
// the cluster answered or the request timed out).
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

  // ---- consumer groups. The defaults answer Unsupported for every item, so
  // that topic-only doubles need not implement them; the production admin
  // and the group-aware double do.

  // State and members of each group (DescribeGroups, one request per coordinator).
  virtual std::vector<GroupDescribeResult> describeGroups(const std::vector<std::string>& groups);
  // The committed offsets of each group (OffsetFetch). A group named in
  // `only` is asked for exactly those partitions (an empty list: none, and no
  // request); any other group for every partition it has an offset for.
  // Naming the partitions is what a caller that knows its topics should do:
  // it is the request every broker version answers (the all-partitions form
  // needs OffsetFetch v2+, and librdkafka's mock cluster answers it empty).
  // Partitions without a committed offset are not in the answer.
  virtual std::vector<GroupOffsets> listGroupOffsets(const std::vector<std::string>& groups,
                                                     const GroupPartitions& only = {});
  // Commits the given offsets for each group (OffsetCommit as an admin, no
  // member id). Kafka refuses it (GroupNotEmpty) while the group has members.
  virtual std::vector<GroupOffsets> alterGroupOffsets(const std::vector<GroupOffsets>& changes);
  // Deletes empty groups (DeleteGroups); a group with members: GroupNotEmpty,
  // a group that does not exist: GroupNotFound.
  virtual std::vector<GroupResult> deleteGroups(const std::vector<std::string>& groups);
  // Resolves offsets (ListOffsets, one request per partition leader). An item
  // whose timestamp is later than every record resolves to offset -1 (Kafka's
  // answer: no such record).
  virtual std::vector<PartitionOffset> listOffsets(const std::vector<OffsetQuery>& queries);
  // Reads one record at each position (Fetch, one request per partition
  // leader, as little data as the brokers allow) for its timestamp. The
  // default answers Unsupported for each: callers fall back to estimating.
  virtual std::vector<RecordAt> recordTimestamps(const std::vector<RecordAt>& at);
};

}  // namespace tributary::op::kafka
