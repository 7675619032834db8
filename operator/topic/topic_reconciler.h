#pragma once
// Plans and applies KafkaTopic resources onto one Kafka cluster through a
// ClusterAdmin, many topics per admin round trip.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "operator/kafka/cluster_admin.h"
#include "operator/topic/kafka_topic.h"

namespace tributary::op::topic {

enum class TopicAction {
  Create,
  AddPartitions,
  AlterConfig,
  AddPartitionsAndAlterConfig,  // rendered "addPartitions+alterConfig"
  Delete,
  None,
  Rejected,
};

// "create", "addPartitions", "alterConfig", "addPartitions+alterConfig", "delete", "none", "rejected".
std::string_view toString(TopicAction action);

// Condition reasons (CamelCase, as in a Ready condition).
namespace reason {
inline constexpr const char* kCreated = "Created";
inline constexpr const char* kUpdated = "Updated";
inline constexpr const char* kUpToDate = "UpToDate";
inline constexpr const char* kDeleted = "Deleted";
inline constexpr const char* kRetained = "Retained";  // deletionPolicy Retain: the topic stays
inline constexpr const char* kStillClaimed = "TopicStillClaimed";  // another resource still claims it
inline constexpr const char* kPaused = "ReconciliationPaused";
inline constexpr const char* kPartitionDecrease = "PartitionDecreaseNotAllowed";
inline constexpr const char* kReplicationFactorChange = "ReplicationFactorChangeNotSupported";
inline constexpr const char* kInvalidConfig = "InvalidConfig";
inline constexpr const char* kInvalidReplicationFactor = "InvalidReplicationFactor";  // e.g. more replicas than brokers
inline constexpr const char* kInvalidPartitions = "InvalidPartitions";
inline constexpr const char* kPolicyViolation = "PolicyViolation";  // a broker-side create/alter policy said no
inline constexpr const char* kNameConflict = "TopicNameConflict";
inline constexpr const char* kKafkaUnavailable = "KafkaUnavailable";
inline constexpr const char* kKafkaError = "KafkaError";
inline constexpr const char* kUnauthorized = "KafkaAuthorizationFailed";
inline constexpr const char* kInvalidSpec = "InvalidSpec";
}  // namespace reason

// What happened (or, in a dry run, would happen) to one resource.
struct TopicOutcome {
  ResourceIdentity resource;
  std::string topic;
  std::string cluster;
  TopicAction action = TopicAction::None;
  // before → after, one line each: "partitions 6 → 8",
  // "retention.ms: 604800000 → 3600000", "cleanup.policy: compact → (default)".
  std::vector<std::string> details;
  std::string reason;   // see `reason::`
  std::string message;  // for people; the broker's message when Kafka refused
  bool retryable = false;  // retry with backoff (Kafka unavailable), as opposed to a refusal
  bool converged = false;  // Ready: the topic matches the spec (or would, after a dry run's changes)
  bool applied = false;    // a change was made to Kafka
  // The topic as it is after this reconcile (status.partitions / replicationFactor);
  // replicationFactor is -1 right after a create that left it to the broker.
  int partitions = 0;
  int replicationFactor = 0;
};

// Outcome for a resource whose spec did not validate (nothing is sent to Kafka).
TopicOutcome invalidSpecOutcome(const ResourceIdentity& resource, const std::vector<std::string>& errors);

struct TopicReconcilerOptions {
  size_t batchSize = 500;  // topics per admin request
  // Dry run: describe and ask the brokers to validate (validateOnly), change nothing.
  bool dryRun = false;
};

// Threads: one call at a time per instance (it drives one ClusterAdmin).
// All items passed in one call are planned and applied together; round trips
// per batch: 1 describe (the admin may spend two requests on it) + at most one
// each of createTopics, alterConfigs, createPartitions (dry run: the same, as
// validateOnly) — never per topic.
class TopicReconciler {
 public:
  TopicReconciler(kafka::ClusterAdmin& admin, TopicReconcilerOptions options = {});

  // Makes Kafka match `desired` (resources of this cluster), one outcome per
  // item in input order. Items claiming the same topic name: the oldest
  // (creationTimestamp, then uid, then input order) keeps it, the others are
  // refused with TopicNameConflict — so pass every live resource of the
  // cluster that may claim these names, not only the changed ones.
  std::vector<TopicOutcome> reconcile(const std::vector<KafkaTopic>& desired);

  // Resources being deleted: with deletionPolicy Delete their topic is deleted
  // (already gone counts as success), with Retain nothing happens. A topic that
  // a resource in `stillPresent` claims is never deleted (a conflicting second
  // resource going away must not take the first one's topic with it).
  std::vector<TopicOutcome> finalize(const std::vector<KafkaTopic>& deleting,
                                     const std::vector<KafkaTopic>& stillPresent = {});

 private:
  void reconcileBatch(const std::vector<const KafkaTopic*>& batch, std::vector<TopicOutcome*>& outcomes);

  kafka::ClusterAdmin& admin_;
  const TopicReconcilerOptions options_;
};

}  // namespace tributary::op::topic
