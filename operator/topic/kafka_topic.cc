#include "operator/topic/kafka_topic.h"

#include <iterator>
#include <limits>
#include <set>

#include "common/kafka/topic_name.h"

namespace tributary::op::topic {

using nlohmann::json;

namespace {

std::string typeName(const json& v) {
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "boolean";
  if (v.is_number_integer() || v.is_number_unsigned()) return "integer";
  if (v.is_number()) return "number";
  if (v.is_object()) return "object";
  if (v.is_array()) return "array";
  return "null";
}

// An int field: an integer in int range, or an error naming the field.
std::optional<int> readInt(const json& v, const std::string& field, std::vector<std::string>& errors) {
  if (!(v.is_number_integer() || v.is_number_unsigned())) {
    errors.push_back(field + ": must be an integer, got " + typeName(v) + " " + v.dump());
    return std::nullopt;
  }
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int>::max())) {
    errors.push_back(field + ": out of range, got " + v.dump());
    return std::nullopt;
  }
  const int64_t n = v.get<int64_t>();
  if (n < std::numeric_limits<int>::min() || n > std::numeric_limits<int>::max()) {
    errors.push_back(field + ": out of range, got " + v.dump());
    return std::nullopt;
  }
  return static_cast<int>(n);
}

}  // namespace

KafkaTopicParseResult parseKafkaTopic(const json& object) {
  KafkaTopicParseResult r;
  auto& errors = r.errors;
  if (!object.is_object()) {
    errors.push_back("the document must be an object, got " + typeName(object));
    return r;
  }
  if (object.value("apiVersion", json()) != kKafkaTopicApiVersion)
    errors.push_back(std::string("apiVersion: must be ") + kKafkaTopicApiVersion + ", got " +
                     object.value("apiVersion", json()).dump());
  if (object.value("kind", json()) != kKafkaTopicKind)
    errors.push_back(std::string("kind: must be ") + kKafkaTopicKind + ", got " + object.value("kind", json()).dump());

  KafkaTopicSpec spec;
  const json meta = object.value("metadata", json::object());
  if (!meta.is_object()) {
    errors.push_back("metadata: must be an object, got " + typeName(meta));
  } else {
    const json name = meta.value("name", json());
    if (!name.is_string() || name.get<std::string>().empty()) errors.push_back("metadata.name: required");
    else r.resource.name = name.get<std::string>();
    if (meta.contains("namespace")) {
      if (meta["namespace"].is_string() && !meta["namespace"].get<std::string>().empty())
        r.resource.namespace_ = meta["namespace"].get<std::string>();
      else errors.push_back("metadata.namespace: must be a non-empty string");
    }
    if (meta.contains("uid") && meta["uid"].is_string()) r.resource.uid = meta["uid"].get<std::string>();
    if (meta.contains("creationTimestamp") && meta["creationTimestamp"].is_string())
      r.resource.creationTimestamp = meta["creationTimestamp"].get<std::string>();
    if (meta.contains("generation") && meta["generation"].is_number_integer())
      r.resource.generation = meta["generation"].get<int64_t>();
    const json annotations = meta.value("annotations", json::object());
    if (annotations.is_object() && annotations.contains(kPausedAnnotation)) {
      const json& p = annotations[kPausedAnnotation];
      if (p == "true") spec.paused = true;
      else if (p != "false")
        errors.push_back(std::string("metadata.annotations.") + kPausedAnnotation + ": must be \"true\" or \"false\", got " + p.dump());
    }
  }

  json specJson = object.value("spec", json());
  if (specJson.is_object()) {
    // A null field is an unset one, as the API server prunes it for non-nullable
    // fields (YAML `config:` with nothing under it).
    for (auto it = specJson.begin(); it != specJson.end();) it = it->is_null() ? specJson.erase(it) : std::next(it);
  }
  if (!specJson.is_object()) {
    errors.push_back("spec: required (an object with at least partitions)");
    return r;
  }
  static const std::set<std::string> kKnown = {"topicName", "partitions", "replicationFactor", "config",
                                               "deletionPolicy", "cluster"};
  for (const auto& [key, value] : specJson.items())
    if (!kKnown.count(key)) errors.push_back("spec." + key + ": unknown field");

  spec.topicName = r.resource.name;
  if (specJson.contains("topicName")) {
    const json& t = specJson["topicName"];
    if (!t.is_string()) errors.push_back("spec.topicName: must be a string, got " + typeName(t));
    else spec.topicName = t.get<std::string>();
  }
  if (!spec.topicName.empty() && !isValidTopicName(spec.topicName))
    errors.push_back(std::string(specJson.contains("topicName") ? "spec.topicName" : "metadata.name") +
                     ": not a valid Kafka topic name (1-249 characters of [a-zA-Z0-9._-], not \".\" or \"..\"), got \"" +
                     spec.topicName + "\"");

  if (!specJson.contains("partitions")) {
    errors.push_back("spec.partitions: required");
  } else if (auto p = readInt(specJson["partitions"], "spec.partitions", errors)) {
    if (*p < 1) errors.push_back("spec.partitions: must be >= 1, got " + std::to_string(*p));
    spec.partitions = *p;
  }
  if (specJson.contains("replicationFactor")) {
    if (auto rf = readInt(specJson["replicationFactor"], "spec.replicationFactor", errors)) {
      if (*rf < 1 && *rf != -1)
        errors.push_back("spec.replicationFactor: must be >= 1, or -1 for the broker default, got " + std::to_string(*rf));
      spec.replicationFactor = *rf;
    }
  }
  if (specJson.contains("config")) {
    const json& c = specJson["config"];
    if (!c.is_object()) {
      errors.push_back("spec.config: must be an object of strings, got " + typeName(c));
    } else {
      for (const auto& [key, value] : c.items()) {
        // Strings only, as the CRD says: `retention.ms: 1e10` or `true` would
        // otherwise reach Kafka in a spelling the user never wrote.
        if (!value.is_string())
          errors.push_back("spec.config." + key + ": must be a string (quote it: \"" +
                           (value.is_string() ? value.get<std::string>() : value.dump()) + "\"), got " + typeName(value));
        else spec.config[key] = value.get<std::string>();
      }
    }
  }
  if (specJson.contains("deletionPolicy")) {
    const json& d = specJson["deletionPolicy"];
    if (d == "Retain") spec.deletionPolicy = DeletionPolicy::Retain;
    else if (d == "Delete") spec.deletionPolicy = DeletionPolicy::Delete;
    else errors.push_back("spec.deletionPolicy: must be one of Retain, Delete, got " + d.dump());
  }
  if (specJson.contains("cluster")) {
    const json& c = specJson["cluster"];
    if (!c.is_string() || c.get<std::string>().empty())
      errors.push_back("spec.cluster: must be a non-empty string, got " + c.dump());
    else spec.cluster = c.get<std::string>();
  }
  if (errors.empty()) r.topic = KafkaTopic{r.resource, std::move(spec)};
  return r;
}

}  // namespace tributary::op::topic
