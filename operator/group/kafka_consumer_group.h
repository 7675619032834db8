#pragma once
// The KafkaConsumerGroup resource (tributary.dev/v1alpha1), parsed and
// validated once into an immutable struct. Pure functions: any thread.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/topic/kafka_topic.h"

namespace tributary::op::group {

inline constexpr const char* kKafkaConsumerGroupKind = "KafkaConsumerGroup";
inline constexpr const char* kGroupFinalizer = "tributary.dev/consumer-group";

using topic::DeletionPolicy;
using topic::ResourceIdentity;

enum class ResetTo { Earliest, Latest, Timestamp, Offsets, Shift };
const char* toString(ResetTo to);

struct ExplicitOffset {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
};

struct OffsetResetSpec {
  std::string requestId;
  ResetTo to = ResetTo::Earliest;
  int64_t timestampMs = 0;      // to: timestamp (from RFC 3339)
  std::string timestamp;        // as written, for messages
  int64_t shiftBy = 0;          // to: shift
  std::vector<ExplicitOffset> offsets;  // to: offsets
  std::vector<std::string> topics;      // limits the reset; empty: spec.topics, else every topic with offsets
};

struct ScaleTargetSpec {
  std::string apiVersion = "apps/v1";
  std::string kind;
  std::string name;
  int minReplicas = 1;
  int maxReplicas = 1;
  int64_t lagPerReplica = 1;
  int64_t activationLag = 0;
  bool limitToPartitionsWithLag = false;
  int scaleDownStabilizationSeconds = 300;
};

struct KafkaConsumerGroupSpec {
  std::string cluster = "default";
  std::string groupId;              // spec.groupId, else metadata.name
  std::vector<std::string> topics;  // reported topics; empty: every topic the group has offsets for
  std::optional<OffsetResetSpec> offsetReset;
  DeletionPolicy deletionPolicy = DeletionPolicy::Retain;
  std::optional<ScaleTargetSpec> scaleTarget;
  bool paused = false;  // annotation tributary.dev/paused: "true"
};

struct KafkaConsumerGroup {
  ResourceIdentity resource;
  KafkaConsumerGroupSpec spec;
};

struct KafkaConsumerGroupParseResult {
  std::optional<KafkaConsumerGroup> group;  // set when errors is empty
  ResourceIdentity resource;                // as much as could be read, for reporting errors
  std::vector<std::string> errors;          // every problem, each naming its field
};

// Parses a KafkaConsumerGroup as the API serves it (or YAML converted to JSON).
// Unknown spec fields are errors; cross-field rules the CRD schema cannot say
// (to: timestamp needs timestamp, minReplicas <= maxReplicas, ...) are checked here.
KafkaConsumerGroupParseResult parseKafkaConsumerGroup(const nlohmann::json& object);

// RFC 3339 (as Kubernetes writes date-time) → milliseconds since the epoch.
std::optional<int64_t> parseRfc3339Millis(const std::string& text);

}  // namespace tributary::op::group
