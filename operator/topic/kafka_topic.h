#pragma once
// The KafkaTopic resource (tributary.dev/v1alpha1), parsed and validated once
// into an immutable struct. Pure functions: callable from any thread.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tributary::op::topic {

inline constexpr const char* kKafkaTopicApiVersion = "tributary.dev/v1alpha1";
inline constexpr const char* kKafkaTopicKind = "KafkaTopic";
inline constexpr const char* kPausedAnnotation = "tributary.dev/paused";
inline constexpr const char* kTopicFinalizer = "tributary.dev/topic";

enum class DeletionPolicy { Retain, Delete };

// Which resource asked for a topic. creationTimestamp (RFC 3339, as the API
// server writes it, so string order is time order) and uid decide who keeps a
// topic name claimed twice; empty in file mode, where file order decides.
struct ResourceIdentity {
  std::string kind = kKafkaTopicKind;
  std::string namespace_ = "default";
  std::string name;
  std::string uid;
  std::string creationTimestamp;
  int64_t generation = 0;
};

struct KafkaTopicSpec {
  std::string topicName;  // spec.topicName, else metadata.name
  int partitions = 1;     // required: a partition count can never be lowered, so no silent default
  int replicationFactor = -1;  // -1: the broker's default.replication.factor
  std::map<std::string, std::string> config;  // the topic's complete dynamic config
  DeletionPolicy deletionPolicy = DeletionPolicy::Retain;
  std::string cluster = "default";
  bool paused = false;  // annotation tributary.dev/paused: "true"
};

struct KafkaTopic {
  ResourceIdentity resource;
  KafkaTopicSpec spec;
};

struct KafkaTopicParseResult {
  std::optional<KafkaTopic> topic;  // set when errors is empty
  ResourceIdentity resource;        // as much as could be read, for reporting errors
  std::vector<std::string> errors;  // every problem, each naming its field: "spec.partitions: must be >= 1, got -3"
};

// Parses a KafkaTopic object as the API serves it (or YAML converted to JSON).
// Checks apiVersion/kind, metadata.name, and every spec field; unknown spec
// fields are errors (a typo such as `partition:` must not be ignored).
KafkaTopicParseResult parseKafkaTopic(const nlohmann::json& object);

}  // namespace tributary::op::topic
