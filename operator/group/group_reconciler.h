#pragma once
// Observes (lag, state, members) and steers (offset resets, deletion) many
// KafkaConsumerGroups on one Kafka cluster through a ClusterAdmin, a few admin
// round trips per batch of groups, never per group.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "operator/group/kafka_consumer_group.h"
#include "operator/group/lag_history.h"
#include "operator/group/offset_reset.h"
#include "operator/kafka/cluster_admin.h"

namespace tributary::op::group {

using kafka::AdminError;
using kafka::GroupMember;
using kafka::GroupState;

// Condition reasons (CamelCase).
namespace reason {
inline constexpr const char* kObserved = "LagObserved";          // Ready=True: the group was seen
inline constexpr const char* kOffsetsReset = "OffsetsReset";      // OffsetsReset=True: applied
inline constexpr const char* kResetPlanned = "ResetPlanned";      // dry run
inline constexpr const char* kGroupNotEmpty = "GroupNotEmpty";    // members exist: retried with backoff
inline constexpr const char* kOffsetOutOfRange = "OffsetOutOfRange";
inline constexpr const char* kTopicNotFound = "TopicNotFound";
inline constexpr const char* kNothingToReset = "NothingToReset";  // no partition in the reset's scope
inline constexpr const char* kKafkaUnavailable = "KafkaUnavailable";
inline constexpr const char* kKafkaError = "KafkaError";
inline constexpr const char* kUnauthorized = "KafkaAuthorizationFailed";
inline constexpr const char* kInvalidSpec = "InvalidSpec";
inline constexpr const char* kDeleted = "GroupDeleted";
inline constexpr const char* kRetained = "Retained";
}  // namespace reason

struct PartitionLag {
  int32_t partition = 0;
  std::optional<int64_t> committed;  // unset: no committed offset
  int64_t logStart = 0;
  int64_t logEnd = 0;
  int64_t lag = 0;
  bool noCommittedOffset = false;  // lag = log end - log start
};

struct TopicLag {
  std::string topic;
  bool missing = false;  // the topic does not exist (deleted under the group)
  int64_t lag = 0;
  std::vector<PartitionLag> partitions;
};

// One group as one lag pass saw it.
struct GroupLag {
  ResourceIdentity resource;
  std::string groupId;
  std::optional<AdminError> error;  // the pass could not see the group; the rest is unset
  GroupState state = GroupState::Unknown;
  std::vector<GroupMember> members;
  std::vector<TopicLag> topics;
  int64_t totalLag = 0;
  int partitions = 0;            // partitions reported (of existing topics)
  int partitionsWithLag = 0;
  // Age of the oldest unconsumed record: from its timestamp (recordTimestamps),
  // else estimated by LagHistory; unset until it can be told.
  std::optional<int64_t> lagSeconds;
};

struct ResetOutcome {
  ResourceIdentity resource;
  std::string groupId;
  std::string requestId;
  bool applied = false;    // offsets were committed (not in a dry run)
  bool converged = false;  // applied, or (dry run) would be
  bool retryable = false;  // GroupNotEmpty, Kafka unavailable: try again later
  std::string reason;      // see `reason::`
  std::string message;
  std::vector<PartitionReset> partitions;  // the plan: before → after
};

struct GroupReconcilerOptions {
  bool dryRun = false;  // reset: plan only, commit nothing
};

// Threads: used by one thread at a time (the ClusterAdmin's rule).
class GroupReconciler {
 public:
  GroupReconciler(kafka::ClusterAdmin& admin, GroupReconcilerOptions options = {});

  // One lag pass for all `groups` together: describeGroups (1 call),
  // listGroupOffsets (1 batch), describeTopics (2 requests) and listOffsets
  // (earliest + latest: one ListOffsets per leader broker each). `history`
  // (optional) turns offsets into lagSeconds across passes.
  std::vector<GroupLag> observe(const std::vector<KafkaConsumerGroup>& groups, LagHistory* history = nullptr,
                                std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

  // Resets the offsets of every group given (each has spec.offsetReset; the
  // caller skips those whose requestId was applied already). A group with
  // members is not touched (GroupNotEmpty, retryable); a plan with a refused
  // partition is not applied at all (OffsetOutOfRange, naming the range).
  std::vector<ResetOutcome> reset(const std::vector<KafkaConsumerGroup>& groups);

  // Deletes the groups of resources with deletionPolicy Delete (a group
  // already gone is success; one with members: GroupNotEmpty, retryable).
  // Retain: nothing (reason Retained).
  std::vector<ResetOutcome> finalize(const std::vector<KafkaConsumerGroup>& groups);

 private:
  void readRecordTimestamps(std::vector<GroupLag>& lags, std::chrono::system_clock::time_point now);
  kafka::ClusterAdmin& admin_;
  const GroupReconcilerOptions options_;
};

}  // namespace tributary::op::group
