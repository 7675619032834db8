#include "operator/group/kafka_consumer_group.h"

#include <cctype>
#include <ctime>
#include <iterator>
#include <limits>
#include <set>

#include "common/kafka/topic_name.h"

namespace tributary::op::group {

using nlohmann::json;

const char* toString(ResetTo to) {
  switch (to) {
    case ResetTo::Earliest: return "earliest";
    case ResetTo::Latest: return "latest";
    case ResetTo::Timestamp: return "timestamp";
    case ResetTo::Offsets: return "offsets";
    case ResetTo::Shift: return "shift";
  }
  return "earliest";
}

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

std::optional<int64_t> readInt64(const json& v, const std::string& field, std::vector<std::string>& errors) {
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    errors.push_back(field + ": out of range, got " + v.dump());
    return std::nullopt;
  }
  if (!(v.is_number_integer() || v.is_number_unsigned())) {
    errors.push_back(field + ": must be an integer, got " + typeName(v) + " " + v.dump());
    return std::nullopt;
  }
  return v.get<int64_t>();
}

std::optional<int> readInt(const json& v, const std::string& field, std::vector<std::string>& errors) {
  auto n = readInt64(v, field, errors);
  if (!n) return std::nullopt;
  if (*n < std::numeric_limits<int>::min() || *n > std::numeric_limits<int>::max()) {
    errors.push_back(field + ": out of range, got " + v.dump());
    return std::nullopt;
  }
  return static_cast<int>(*n);
}

std::optional<std::string> readString(const json& v, const std::string& field, std::vector<std::string>& errors,
                                      bool nonEmpty = true) {
  if (!v.is_string()) {
    errors.push_back(field + ": must be a string, got " + typeName(v));
    return std::nullopt;
  }
  if (nonEmpty && v.get<std::string>().empty()) {
    errors.push_back(field + ": must not be empty");
    return std::nullopt;
  }
  return v.get<std::string>();
}

std::vector<std::string> readTopicList(const json& v, const std::string& field, std::vector<std::string>& errors) {
  std::vector<std::string> out;
  if (!v.is_array()) {
    errors.push_back(field + ": must be an array of topic names, got " + typeName(v));
    return out;
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string where = field + "[" + std::to_string(i) + "]";
    auto t = readString(v[i], where, errors);
    if (!t) continue;
    if (!isValidTopicName(*t)) {
      errors.push_back(where + ": not a valid Kafka topic name, got \"" + *t + "\"");
      continue;
    }
    if (!seen.insert(*t).second) {
      errors.push_back(where + ": \"" + *t + "\" is listed twice");
      continue;
    }
    out.push_back(*t);
  }
  return out;
}

// Drops null members: the API server prunes them for non-nullable fields
// (YAML `topics:` with nothing under it).
json withoutNulls(json object) {
  if (object.is_object())
    for (auto it = object.begin(); it != object.end();) it = it->is_null() ? object.erase(it) : std::next(it);
  return object;
}

void unknownFields(const json& object, const std::set<std::string>& known, const std::string& prefix,
                   std::vector<std::string>& errors) {
  for (const auto& [key, value] : object.items())
    if (!known.count(key)) errors.push_back(prefix + key + ": unknown field");
}

std::optional<OffsetResetSpec> parseOffsetReset(const json& raw, std::vector<std::string>& errors) {
  const std::string p = "spec.offsetReset";
  if (!raw.is_object()) {
    errors.push_back(p + ": must be an object, got " + typeName(raw));
    return std::nullopt;
  }
  const json r = withoutNulls(raw);
  unknownFields(r, {"requestId", "to", "timestamp", "shiftBy", "offsets", "topics"}, p + ".", errors);
  const size_t before = errors.size();
  OffsetResetSpec spec;
  if (!r.contains("requestId")) errors.push_back(p + ".requestId: required (a new id asks for a new reset)");
  else if (auto id = readString(r["requestId"], p + ".requestId", errors)) {
    if (id->size() > 253) errors.push_back(p + ".requestId: at most 253 characters, got " + std::to_string(id->size()));
    spec.requestId = *id;
  }
  std::optional<ResetTo> to;
  if (!r.contains("to")) {
    errors.push_back(p + ".to: required (earliest, latest, timestamp, offsets or shift)");
  } else {
    const json& t = r["to"];
    for (ResetTo candidate : {ResetTo::Earliest, ResetTo::Latest, ResetTo::Timestamp, ResetTo::Offsets, ResetTo::Shift})
      if (t == toString(candidate)) to = candidate;
    if (!to) errors.push_back(p + ".to: must be one of earliest, latest, timestamp, offsets, shift, got " + t.dump());
    else spec.to = *to;
  }
  // Each mode's own field is required with it and refused without it: a
  // `timestamp` next to `to: latest` is a mistake the user should hear about.
  auto onlyWith = [&](const char* field, ResetTo mode) {
    const bool has = r.contains(field);
    if (to && *to == mode && !has)
      errors.push_back(p + "." + field + ": required when to is " + toString(mode));
    else if (to && *to != mode && has)
      errors.push_back(p + "." + field + ": only allowed when to is " + toString(mode) + " (to is " + toString(*to) + ")");
    return has;
  };
  if (onlyWith("timestamp", ResetTo::Timestamp)) {
    if (auto ts = readString(r["timestamp"], p + ".timestamp", errors)) {
      spec.timestamp = *ts;
      if (auto ms = parseRfc3339Millis(*ts)) spec.timestampMs = *ms;
      else errors.push_back(p + ".timestamp: not an RFC 3339 date-time (e.g. 2026-01-31T12:00:00Z), got \"" + *ts + "\"");
    }
  }
  if (onlyWith("shiftBy", ResetTo::Shift)) {
    if (auto s = readInt64(r["shiftBy"], p + ".shiftBy", errors)) spec.shiftBy = *s;
  }
  if (onlyWith("offsets", ResetTo::Offsets)) {
    const json& list = r["offsets"];
    if (!list.is_array() || list.empty()) {
      errors.push_back(p + ".offsets: must be a non-empty array of {topic, partition, offset}");
    } else {
      std::set<std::pair<std::string, int32_t>> seen;
      for (size_t i = 0; i < list.size(); ++i) {
        const std::string where = p + ".offsets[" + std::to_string(i) + "]";
        if (!list[i].is_object()) {
          errors.push_back(where + ": must be an object {topic, partition, offset}, got " + typeName(list[i]));
          continue;
        }
        const json o = withoutNulls(list[i]);
        unknownFields(o, {"topic", "partition", "offset"}, where + ".", errors);
        ExplicitOffset eo;
        bool ok = true;
        for (const char* f : {"topic", "partition", "offset"})
          if (!o.contains(f)) {
            errors.push_back(where + "." + f + ": required");
            ok = false;
          }
        if (!ok) continue;
        if (auto t = readString(o["topic"], where + ".topic", errors)) {
          if (!isValidTopicName(*t)) errors.push_back(where + ".topic: not a valid Kafka topic name, got \"" + *t + "\"");
          eo.topic = *t;
        }
        if (auto part = readInt(o["partition"], where + ".partition", errors)) {
          if (*part < 0) errors.push_back(where + ".partition: must be >= 0, got " + std::to_string(*part));
          eo.partition = *part;
        }
        if (auto off = readInt64(o["offset"], where + ".offset", errors)) {
          if (*off < 0) errors.push_back(where + ".offset: must be >= 0, got " + std::to_string(*off));
          eo.offset = *off;
        }
        if (!seen.insert({eo.topic, eo.partition}).second)
          errors.push_back(where + ": " + eo.topic + "-" + std::to_string(eo.partition) + " is listed twice");
        spec.offsets.push_back(std::move(eo));
      }
    }
  }
  if (r.contains("topics")) spec.topics = readTopicList(r["topics"], p + ".topics", errors);
  if (to && *to == ResetTo::Offsets && !spec.topics.empty())
    for (const auto& o : spec.offsets) {
      bool listed = false;
      for (const auto& t : spec.topics) listed = listed || t == o.topic;
      if (!listed)
        errors.push_back(p + ".offsets: topic \"" + o.topic + "\" is not in " + p + ".topics, which limits the reset");
    }
  if (errors.size() != before) return std::nullopt;
  return spec;
}

std::optional<ScaleTargetSpec> parseScaleTarget(const json& raw, std::vector<std::string>& errors) {
  const std::string p = "spec.scaleTarget";
  if (!raw.is_object()) {
    errors.push_back(p + ": must be an object, got " + typeName(raw));
    return std::nullopt;
  }
  const json s = withoutNulls(raw);
  unknownFields(s,
                {"apiVersion", "kind", "name", "minReplicas", "maxReplicas", "lagPerReplica", "activationLag",
                 "limitToPartitionsWithLag", "scaleDownStabilizationSeconds"},
                p + ".", errors);
  const size_t before = errors.size();
  ScaleTargetSpec spec;
  if (s.contains("apiVersion"))
    if (auto v = readString(s["apiVersion"], p + ".apiVersion", errors)) spec.apiVersion = *v;
  for (const char* f : {"kind", "name", "maxReplicas", "lagPerReplica"})
    if (!s.contains(f)) errors.push_back(p + "." + f + ": required");
  if (s.contains("kind"))
    if (auto v = readString(s["kind"], p + ".kind", errors)) spec.kind = *v;
  if (s.contains("name"))
    if (auto v = readString(s["name"], p + ".name", errors)) spec.name = *v;
  if (s.contains("minReplicas"))
    if (auto v = readInt(s["minReplicas"], p + ".minReplicas", errors)) {
      if (*v < 0) errors.push_back(p + ".minReplicas: must be >= 0, got " + std::to_string(*v));
      spec.minReplicas = *v;
    }
  if (s.contains("maxReplicas"))
    if (auto v = readInt(s["maxReplicas"], p + ".maxReplicas", errors)) {
      if (*v < 1) errors.push_back(p + ".maxReplicas: must be >= 1, got " + std::to_string(*v));
      spec.maxReplicas = *v;
    }
  if (s.contains("lagPerReplica"))
    if (auto v = readInt64(s["lagPerReplica"], p + ".lagPerReplica", errors)) {
      if (*v < 1) errors.push_back(p + ".lagPerReplica: must be >= 1, got " + std::to_string(*v));
      spec.lagPerReplica = *v;
    }
  if (s.contains("activationLag"))
    if (auto v = readInt64(s["activationLag"], p + ".activationLag", errors)) {
      if (*v < 0) errors.push_back(p + ".activationLag: must be >= 0, got " + std::to_string(*v));
      spec.activationLag = *v;
    }
  if (s.contains("limitToPartitionsWithLag")) {
    if (!s["limitToPartitionsWithLag"].is_boolean())
      errors.push_back(p + ".limitToPartitionsWithLag: must be a boolean, got " + typeName(s["limitToPartitionsWithLag"]));
    else spec.limitToPartitionsWithLag = s["limitToPartitionsWithLag"].get<bool>();
  }
  if (s.contains("scaleDownStabilizationSeconds"))
    if (auto v = readInt(s["scaleDownStabilizationSeconds"], p + ".scaleDownStabilizationSeconds", errors)) {
      if (*v < 0) errors.push_back(p + ".scaleDownStabilizationSeconds: must be >= 0, got " + std::to_string(*v));
      spec.scaleDownStabilizationSeconds = *v;
    }
  if (errors.size() == before && spec.minReplicas > spec.maxReplicas)
    errors.push_back(p + ".minReplicas: must be <= maxReplicas (" + std::to_string(spec.maxReplicas) + "), got " +
                     std::to_string(spec.minReplicas));
  if (errors.size() != before) return std::nullopt;
  return spec;
}

}  // namespace

std::optional<int64_t> parseRfc3339Millis(const std::string& text) {
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM); 't'/'z' and a space separator as RFC 3339 allows.
  auto digits = [&](size_t pos, size_t n, int& out) {
    if (pos + n > text.size()) return false;
    out = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  int Y, M, D, h, m, s;
  if (!digits(0, 4, Y) || text.size() < 20 || text[4] != '-' || !digits(5, 2, M) || text[7] != '-' ||
      !digits(8, 2, D) || (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !digits(11, 2, h) ||
      text[13] != ':' || !digits(14, 2, m) || text[16] != ':' || !digits(17, 2, s))
    return std::nullopt;
  if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || s > 60) return std::nullopt;
  size_t pos = 19;
  int64_t millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      if (n < 3) millis = millis * 10 + (text[pos] - '0');
      ++n;
      ++pos;
    }
    if (n == 0) return std::nullopt;
    for (int i = n; i < 3; ++i) millis *= 10;
  }
  int64_t offsetSeconds = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int oh, om;
    if (!digits(pos + 1, 2, oh) || pos + 3 >= text.size() || text[pos + 3] != ':' || !digits(pos + 4, 2, om) ||
        oh > 23 || om > 59)
      return std::nullopt;
    offsetSeconds = (oh * 3600 + om * 60) * (text[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = Y - 1900;
  tm.tm_mon = M - 1;
  tm.tm_mday = D;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = s;
  const time_t t = timegm(&tm);
  if (tm.tm_mday != D) return std::nullopt;  // 2026-02-31 normalised to March: not a date
  return (static_cast<int64_t>(t) - offsetSeconds) * 1000 + millis;
}

KafkaConsumerGroupParseResult parseKafkaConsumerGroup(const json& object) {
  KafkaConsumerGroupParseResult r;
  r.resource.kind = kKafkaConsumerGroupKind;
  auto& errors = r.errors;
  if (!object.is_object()) {
    errors.push_back("the document must be an object, got " + typeName(object));
    return r;
  }
  if (object.value("apiVersion", json()) != topic::kKafkaTopicApiVersion)
    errors.push_back(std::string("apiVersion: must be ") + topic::kKafkaTopicApiVersion + ", got " +
                     object.value("apiVersion", json()).dump());
  if (object.value("kind", json()) != kKafkaConsumerGroupKind)
    errors.push_back(std::string("kind: must be ") + kKafkaConsumerGroupKind + ", got " +
                     object.value("kind", json()).dump());

  KafkaConsumerGroupSpec spec;
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
    if (annotations.is_object() && annotations.contains(topic::kPausedAnnotation)) {
      const json& p = annotations[topic::kPausedAnnotation];
      if (p == "true") spec.paused = true;
      else if (p != "false")
        errors.push_back(std::string("metadata.annotations.") + topic::kPausedAnnotation +
                         ": must be \"true\" or \"false\", got " + p.dump());
    }
  }

  // Every spec field is optional: an absent spec watches the group named like the resource.
  json specJson = withoutNulls(object.value("spec", json::object()));
  if (!specJson.is_object()) {
    errors.push_back("spec: must be an object, got " + typeName(specJson));
    return r;
  }
  unknownFields(specJson, {"cluster", "groupId", "topics", "offsetReset", "deletionPolicy", "scaleTarget"}, "spec.",
                errors);
  spec.groupId = r.resource.name;
  if (specJson.contains("groupId"))
    if (auto g = readString(specJson["groupId"], "spec.groupId", errors)) {
      if (g->size() > 255) errors.push_back("spec.groupId: at most 255 characters, got " + std::to_string(g->size()));
      spec.groupId = *g;
    }
  if (specJson.contains("cluster"))
    if (auto c = readString(specJson["cluster"], "spec.cluster", errors)) spec.cluster = *c;
  if (specJson.contains("topics")) spec.topics = readTopicList(specJson["topics"], "spec.topics", errors);
  if (specJson.contains("offsetReset")) spec.offsetReset = parseOffsetReset(specJson["offsetReset"], errors);
  if (specJson.contains("deletionPolicy")) {
    const json& d = specJson["deletionPolicy"];
    if (d == "Retain") spec.deletionPolicy = DeletionPolicy::Retain;
    else if (d == "Delete") spec.deletionPolicy = DeletionPolicy::Delete;
    else errors.push_back("spec.deletionPolicy: must be one of Retain, Delete, got " + d.dump());
  }
  if (specJson.contains("scaleTarget")) spec.scaleTarget = parseScaleTarget(specJson["scaleTarget"], errors);
  if (errors.empty()) r.group = KafkaConsumerGroup{r.resource, std::move(spec)};
  return r;
}

}  // namespace tributary::op::group
