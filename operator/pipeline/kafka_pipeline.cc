#include "operator/pipeline/kafka_pipeline.h"

#include <cstdio>
#include <regex>

#include "operator/app/yaml_json.h"

namespace tributary::op::pipeline {
namespace {

using Json = nlohmann::json;

const Json& member(const Json& o, const char* key) {
  static const Json null;
  if (!o.is_object()) return null;
  auto it = o.find(key);
  return it == o.end() ? null : *it;
}

bool validTopicName(const std::string& name) {
  static const std::regex rule("^[a-zA-Z0-9._-]+$");
  return !name.empty() && name.size() <= 249 && name != "." && name != ".." && std::regex_match(name, rule);
}

// An integer field: absent → fallback; present but not an integer in [lo, hi] → error.
std::optional<int64_t> integer(const Json& o, const char* key, const std::string& path, int64_t lo, int64_t hi,
                               std::vector<std::string>& errors) {
  const Json& v = member(o, key);
  if (v.is_null()) return std::nullopt;
  if (!v.is_number_integer()) {
    errors.push_back(path + ": must be an integer");
    return std::nullopt;
  }
  const int64_t n = v.get<int64_t>();
  if (n < lo || n > hi) {
    errors.push_back(path + ": must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
                     std::to_string(n));
    return std::nullopt;
  }
  return n;
}

}  // namespace

KafkaPipelineParseResult parseKafkaPipeline(const Json& object) {
  KafkaPipelineParseResult r;
  r.resource.kind = kKafkaPipelineKind;
  const Json& meta = member(object, "metadata");
  auto metaString = [&](const char* key) {
    const Json& v = member(meta, key);
    return v.is_string() ? v.get<std::string>() : std::string();
  };
  r.resource.name = metaString("name");
  if (auto ns = metaString("namespace"); !ns.empty()) r.resource.namespace_ = ns;
  r.resource.uid = metaString("uid");
  r.resource.creationTimestamp = metaString("creationTimestamp");
  if (member(meta, "generation").is_number_integer()) r.resource.generation = meta["generation"].get<int64_t>();
  auto& errors = r.errors;

  const Json& spec = member(object, "spec");
  if (!spec.is_object()) {
    errors.push_back("spec: required (an object with source, sinks and optionally steps)");
    return r;
  }
  KafkaPipelineSpec s;
  if (const Json& c = member(spec, "cluster"); !c.is_null()) {
    if (!c.is_string() || c.get<std::string>().empty()) errors.push_back("spec.cluster: must be a non-empty string");
    else s.cluster = c.get<std::string>();
  }
  s.clusters.insert(s.cluster);

  // ---- source
  Json source = member(spec, "source");
  if (!source.is_object()) {
    errors.push_back("spec.source: required: {topics: [...], group: ..., startFrom: earliest|latest}");
    source = Json::object();
  } else {
    const Json& topics = member(source, "topics");
    if (!topics.is_array() || topics.empty()) {
      errors.push_back("spec.source.topics: required: a non-empty list of topic names");
    } else {
      std::set<std::string> seen;
      for (size_t i = 0; i < topics.size(); ++i) {
        const std::string path = "spec.source.topics[" + std::to_string(i) + "]";
        if (!topics[i].is_string() || !validTopicName(topics[i].get<std::string>())) {
          errors.push_back(path + ": must be a topic name (1-249 of a-z A-Z 0-9 . _ -)");
          continue;
        }
        const std::string t = topics[i].get<std::string>();
        if (!seen.insert(t).second) errors.push_back(path + ": \"" + t + "\" is listed twice");
        else s.sourceTopics.push_back(t);
      }
    }
    const Json& group = member(source, "group");
    if (group.is_null()) {
      s.group = r.resource.name;
    } else if (!group.is_string() || group.get<std::string>().empty() || group.get<std::string>().size() > 255) {
      errors.push_back("spec.source.group: must be a consumer group id of 1-255 characters");
    } else {
      s.group = group.get<std::string>();
    }
    // The file always names its group: the default is the resource's name.
    source["group"] = s.group;
  }

  // ---- processing
  if (const Json& p = member(spec, "processing"); !p.is_null()) {
    if (p == "exactlyOnce") s.processing = Processing::ExactlyOnce;
    else if (p != "atLeastOnce") errors.push_back("spec.processing: must be atLeastOnce or exactlyOnce");
  }

  // ---- replicas / autoscale
  const bool hasReplicas = !member(spec, "replicas").is_null();
  if (auto n = integer(spec, "replicas", "spec.replicas", 0, 10'000, errors)) s.replicas = static_cast<int>(*n);
  if (const Json& a = member(spec, "autoscale"); !a.is_null()) {
    if (!a.is_object()) {
      errors.push_back("spec.autoscale: must be an object {min, max, lagPerReplica}");
    } else {
      AutoscaleSpec as;
      if (hasReplicas)
        errors.push_back("spec.replicas and spec.autoscale: set one of them (with autoscale the lag decides the replicas "
                         "between min and max)");
      if (auto n = integer(a, "min", "spec.autoscale.min", 0, 10'000, errors)) as.minReplicas = static_cast<int>(*n);
      if (member(a, "max").is_null()) errors.push_back("spec.autoscale.max: required (at least 1)");
      else if (auto n = integer(a, "max", "spec.autoscale.max", 1, 10'000, errors)) as.maxReplicas = static_cast<int>(*n);
      if (member(a, "lagPerReplica").is_null())
        errors.push_back("spec.autoscale.lagPerReplica: required (the lag one replica keeps up with, at least 1)");
      else if (auto n = integer(a, "lagPerReplica", "spec.autoscale.lagPerReplica", 1, INT64_MAX, errors))
        as.lagPerReplica = *n;
      if (auto n = integer(a, "scaleDownStabilizationSeconds", "spec.autoscale.scaleDownStabilizationSeconds", 0,
                           86'400, errors))
        as.scaleDownStabilizationSeconds = static_cast<int>(*n);
      if (as.minReplicas > as.maxReplicas)
        errors.push_back("spec.autoscale.min: " + std::to_string(as.minReplicas) + " is above max " +
                         std::to_string(as.maxReplicas));
      s.autoscale = as;
    }
  }

  // ---- sinks: the shapes the operator needs (clusters, the Sinks column)
  const Json& sinks = member(spec, "sinks");
  if (!sinks.is_object() || sinks.empty()) {
    errors.push_back("spec.sinks: required: a map of sink name to {topic: ...} or {http: {url: ...}}");
  } else {
    for (const auto& [name, sink] : sinks.items()) {
      const std::string path = "spec.sinks." + name;
      const Json& topic = member(sink, "topic");
      const Json& http = member(sink, "http");
      if (!sink.is_object() || topic.is_null() == http.is_null()) {
        errors.push_back(path + ": must have exactly one of topic or http");
        continue;
      }
      if (topic.is_string()) {
        s.sinkTargets.push_back(topic.get<std::string>());
      } else if (topic.is_object() && member(topic, "name").is_string()) {
        std::string target = topic["name"].get<std::string>();
        if (const Json& c = member(topic, "cluster"); !c.is_null()) {
          if (!c.is_string() || c.get<std::string>().empty()) {
            errors.push_back(path + ".topic.cluster: must be a non-empty cluster name");
          } else {
            s.clusters.insert(c.get<std::string>());
            if (c != s.cluster) target += "@" + c.get<std::string>();
          }
        }
        s.sinkTargets.push_back(target);
      } else if (!topic.is_null()) {
        errors.push_back(path + ".topic: must be a topic name or {name, cluster}");
      } else if (member(http, "url").is_string()) {
        s.sinkTargets.push_back(http["url"].get<std::string>());
      } else {
        errors.push_back(path + ".http.url: required");
      }
    }
  }
  if (!errors.empty()) return r;

  s.pipeline = spec;
  s.pipeline["source"] = source;
  // A sink naming the source's own cluster is a sink without one in the file
  // (the file's `clusters` lists only the others; exactlyOnce allows only those).
  for (auto& [name, sink] : s.pipeline["sinks"].items())
    if (sink.contains("topic") && sink["topic"].is_object() && sink["topic"].value("cluster", "") == s.cluster)
      sink["topic"] = sink["topic"]["name"];
  for (const char* key : {"replicas", "autoscale", "cluster"}) s.pipeline.erase(key);
  r.pipeline = KafkaPipeline{r.resource, std::move(s)};
  return r;
}

Json pipelineFile(const KafkaPipeline& p, const std::map<std::string, kafka::ClusterConnection>& connections) {
  auto connection = [&](const std::string& name) {
    const auto& c = connections.at(name);
    Json j = {{"bootstrapServers", c.bootstrapServers}};
    if (!c.properties.empty()) j["properties"] = c.properties;
    return j;
  };
  Json file = p.spec.pipeline;
  // The sidecar's metrics label and tributary.dlq.subscription: the resource's name.
  file["name"] = p.resource.name;
  file["kafka"] = connection(p.spec.cluster);
  Json others = Json::object();
  for (const auto& name : p.spec.clusters)
    if (name != p.spec.cluster) others[name] = connection(name);
  if (!others.empty()) file["clusters"] = others;
  return file;
}

std::string pipelineYaml(const Json& file) { return app::jsonToYaml(file); }

std::string contentHash(const std::string& text) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64: stable across builds, as Kubernetes' pod-template-hash
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

}  // namespace tributary::op::pipeline
