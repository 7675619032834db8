#include "sidecar/pipeline/pipeline_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "common/config/yaml_reader.h"
#include "common/kafka/client_properties.h"
#include "common/kafka/topic_name.h"

namespace tributary::sidecar::pipeline {
namespace {

// The sections the sidecar's own parser reads (with their TRIBUTARY_* overrides).
const std::vector<std::string>& runtimeSections() {
  static const std::vector<std::string> k = {"kafka", "admin", "shutdown", "log", "tracing"};
  return k;
}

bool validSinkName(const std::string& n) {
  if (n.empty() || n.size() > 63) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  return true;
}

bool httpHeaderName(const std::string& n) {
  if (n.empty()) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  return true;
}

std::string topicProblem(const std::string& t) {
  return isValidTopicName(t) ? "" : "\"" + t + "\" is not a valid Kafka topic name";
}

// A non-empty expression string.
void expression(YamlReader& r, const YAML::Node& n, const std::string& key, std::string& out) {
  if (!n || n.IsNull() || !n.IsScalar()) return r.fail(key, "must be a jq expression (a string)");
  out = n.Scalar();
  if (out.find_first_not_of(" \t\r\n") == std::string::npos) r.fail(key, "must not be empty");
}

void readStep(YamlReader& r, const YAML::Node& n, size_t i, StepConfig& s) {
  const std::string at = "steps[" + std::to_string(i) + "]";
  static const std::vector<std::string> kinds = {"filter", "transform", "setKey", "setHeaders", "route"};
  if (!n.IsMap() || n.size() != 1) {
    r.fail(at, "must be a mapping with exactly one of filter, transform, setKey, setHeaders, route — e.g. "
               "{filter: '.amount > 10'}");
    return;
  }
  const auto kv = *n.begin();
  const std::string kind = kv.first.IsScalar() ? kv.first.Scalar() : "";
  const auto found = std::find(kinds.begin(), kinds.end(), kind);
  if (found == kinds.end()) {
    r.fail(at + "." + kind, "unknown step (known steps: filter, transform, setKey, setHeaders, route)");
    return;
  }
  s.kind = static_cast<StepConfig::Kind>(found - kinds.begin());
  const std::string key = at + "." + kind;
  switch (s.kind) {
    case StepConfig::Kind::Filter:
    case StepConfig::Kind::Transform:
    case StepConfig::Kind::SetKey:
      expression(r, kv.second, key, s.expression);
      break;
    case StepConfig::Kind::SetHeaders:
      if (!kv.second.IsMap() || kv.second.size() == 0) {
        r.fail(key, "must be a mapping of header names to jq expressions, e.g. {origin: '\"pipeline\"'}");
        break;
      }
      for (const auto& h : kv.second) {
        const std::string name = h.first.IsScalar() ? h.first.Scalar() : "";
        if (name.empty()) {
          r.fail(key, "header names must be non-empty strings");
          continue;
        }
        std::string e;
        expression(r, h.second, key + "." + name, e);
        s.headers.emplace_back(name, e);
      }
      break;
    case StepConfig::Kind::Route:
      if (!kv.second.IsSequence() || kv.second.size() == 0) {
        r.fail(key, "must be a list of {when, sink}, e.g. [{when: '.cents >= 100000', sink: audit}]");
        break;
      }
      for (size_t j = 0; j < kv.second.size(); ++j) {
        const std::string rk = key + "[" + std::to_string(j) + "]";
        const YAML::Node& route = kv.second[j];
        if (!r.mapping(route, rk, {"when", "sink"})) {
          r.fail(rk, "must be a mapping {when, sink}");
          continue;
        }
        StepConfig::Route out;
        expression(r, route["when"], rk + ".when", out.when);
        r.string(route["sink"], rk + ".sink", out.sink);
        if (out.sink.empty()) r.fail(rk + ".sink", "is required: a name of sinks");
        s.routes.push_back(std::move(out));
      }
      break;
  }
}

void readSink(YamlReader& r, const YAML::Node& n, const std::string& name, SinkConfig& s) {
  const std::string at = "sinks." + name;
  if (!r.mapping(n, at, {"topic", "http"})) {
    r.fail(at, "must be a mapping with topic or http, e.g. {topic: big-orders}");
    return;
  }
  if (n["topic"] && n["http"]) return r.fail(at, "set either topic or http, not both");
  if (const YAML::Node t = n["topic"]; t) {
    s.kind = SinkConfig::Kind::Topic;
    if (t.IsScalar()) {
      s.topic = t.Scalar();
    } else if (r.mapping(t, at + ".topic", {"name", "cluster"})) {
      r.string(t["name"], at + ".topic.name", s.topic);
      r.string(t["cluster"], at + ".topic.cluster", s.cluster);
    } else {
      return r.fail(at + ".topic", "must be a topic name or {name, cluster}");
    }
    if (s.topic.empty()) r.fail(at + ".topic", "needs a topic name");
    else if (std::string why = topicProblem(s.topic); !why.empty()) r.fail(at + ".topic", why);
    return;
  }
  if (const YAML::Node h = n["http"]; h) {
    s.kind = SinkConfig::Kind::Http;
    if (!r.mapping(h, at + ".http", {"url", "headers", "timeout"}))
      return r.fail(at + ".http", "must be a mapping {url, headers, timeout}");
    r.string(h["url"], at + ".http.url", s.url);
    if (s.url.empty()) r.fail(at + ".http.url", "is required, e.g. http://auditor:8080/events");
    else if (s.url.rfind("http://", 0) != 0 && s.url.rfind("https://", 0) != 0)
      r.fail(at + ".http.url", "\"" + s.url + "\" must be an http:// or https:// URL");
    if (const YAML::Node hs = h["headers"]; hs && !hs.IsNull()) {
      if (!hs.IsMap()) {
        r.fail(at + ".http.headers", "must be a mapping of HTTP header names to values");
      } else {
        for (const auto& kv : hs) {
          const std::string hn = kv.first.IsScalar() ? kv.first.Scalar() : "";
          if (!httpHeaderName(hn)) {
            r.fail(at + ".http.headers", "\"" + hn + "\" is not an HTTP header name");
            continue;
          }
          // The value is never echoed: headers carry API keys.
          if (!kv.second.IsScalar() || kv.second.Scalar().find_first_of("\r\n") != std::string::npos) {
            r.fail(at + ".http.headers." + hn, "must be a one-line string");
            continue;
          }
          s.headers.emplace_back(hn, kv.second.Scalar());
        }
      }
    }
    r.duration(h["timeout"], at + ".http.timeout", s.timeout, std::chrono::milliseconds(10));
    return;
  }
  r.fail(at, "needs topic or http, e.g. {topic: big-orders} or {http: {url: 'http://auditor:8080/events'}}");
}

void readClusters(YamlReader& r, const YAML::Node& n, const ConfigProviderSource* providers,
                  std::map<std::string, ClusterConfig>& out) {
  if (!n || n.IsNull()) return;
  if (!n.IsMap()) return r.fail("clusters", "must be a mapping of names to {bootstrapServers, properties}");
  for (const auto& kv : n) {
    const std::string name = kv.first.IsScalar() ? kv.first.Scalar() : "";
    const std::string at = "clusters." + name;
    if (!validSinkName(name)) {
      r.fail("clusters", "\"" + name + "\" is not a cluster name (letters, digits, '-', '_')");
      continue;
    }
    ClusterConfig c;
    if (!r.mapping(kv.second, at, {"bootstrapServers", "properties"})) {
      r.fail(at, "must be a mapping {bootstrapServers, properties}");
      continue;
    }
    r.string(kv.second["bootstrapServers"], at + ".bootstrapServers", c.bootstrapServers);
    if (c.bootstrapServers.empty()) r.fail(at + ".bootstrapServers", "is required, e.g. kafka-dr:9092");
    if (const YAML::Node p = kv.second["properties"]; p && !p.IsNull()) {
      if (!p.IsMap()) {
        r.fail(at + ".properties", "must be a mapping of librdkafka property names to values");
      } else {
        for (const auto& pv : p) {
          if (!pv.second.IsScalar()) {
            r.fail(at + ".properties." + pv.first.Scalar(), "must be a string, number or boolean");
            continue;
          }
          c.properties[pv.first.Scalar()] = pv.second.Scalar();
        }
        KafkaProperties toValidate;
        std::set<std::string> fromProviders;
        if (providers) {
          auto resolved = resolveConfigReferences(c.properties, at + ".properties", *providers);
          for (auto& e : resolved.errors) r.errors.push_back(e);
          c.properties = resolved.properties;
          fromProviders = resolved.fromProviders;
          for (const auto& [k, v] : c.properties)
            if (resolved.errors.empty() || !hasConfigReference(v)) toValidate[k] = v;
        } else {
          for (auto& e : checkConfigReferences(c.properties, at + ".properties")) r.errors.push_back(e);
          for (const auto& [k, v] : c.properties)
            if (!hasConfigReference(v)) toValidate[k] = v;
        }
        for (auto& e : validateProducerProperties(toValidate, at + ".properties"))
          r.errors.push_back(redactSecrets(e, c.properties, fromProviders));
      }
    }
    out[name] = std::move(c);
  }
}

}  // namespace

SubscriptionConfig PipelineConfig::subscription() const {
  SubscriptionConfig s;
  s.name = name;
  s.mode = SubscriptionConfig::Mode::Push;
  s.topics = topics;
  s.group = group;
  s.ordering = ordering;
  s.maxInFlight = maxInFlight;
  s.startFrom = startFrom;
  s.retry = retry;
  s.deadLetterTopic = deadLetterTopic;
  s.onExhausted = onExhausted;
  s.deliveryKeepsOrder = std::all_of(sinks.begin(), sinks.end(),
                                     [](const auto& sink) { return sink.second.kind == SinkConfig::Kind::Topic; });
  return s;
}

PipelineConfigResult parsePipelineConfig(std::string_view yaml, const Environment& env,
                                         const ConfigProviderSource* providers) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return {std::nullopt, {"pipeline file is not valid YAML: " + e.msg + " (line " + std::to_string(e.mark.line + 1) +
                               ", column " + std::to_string(e.mark.column + 1) + ")"}};
  }
  if (!root || root.IsNull() || !root.IsMap())
    return {std::nullopt, {"(top level): a pipeline file is a mapping with at least source, sinks (and steps)"}};

  YamlReader r;
  PipelineConfig c;
  r.mapping(root, "", {"name", "source", "steps", "sinks", "retry", "deadLetterTopic", "onExhausted", "ordering",
                       "maxInFlight", "processing", "transactionalId", "clusters", "kafka", "admin", "shutdown",
                       "log", "tracing"});

  // The sidecar's own sections, by the sidecar's own parser: one set of rules
  // (and of TRIBUTARY_* overrides) for kafka, admin, shutdown, log and tracing.
  {
    YAML::Node runtime(YAML::NodeType::Map);
    for (const auto& section : runtimeSections())
      if (root[section]) runtime[section] = root[section];
    YAML::Emitter out;
    out << runtime;
    auto parsed = parseSidecarConfig(out.c_str(), env, providers);
    for (auto& e : parsed.errors) r.errors.push_back(e);
    if (parsed.config) c.runtime = std::move(*parsed.config);
  }

  if (const YAML::Node s = root["source"]; r.mapping(s, "source", {"topics", "group", "startFrom"})) {
    r.stringList(s["topics"], "source.topics", c.topics, [](const std::string& t) { return topicProblem(t); });
    if (!s["topics"] || !s["topics"].IsSequence() || s["topics"].size() == 0)
      r.fail("source.topics", "is required: list at least one topic");
    r.string(s["group"], "source.group", c.group);
    if (c.group.empty()) r.fail("source.group", "is required: the consumer group id the pipeline's replicas share");
    if (auto f = r.choice(s["startFrom"], "source.startFrom", {"earliest", "latest"}))
      c.startFrom = *f == 0 ? SubscriptionConfig::StartFrom::Earliest : SubscriptionConfig::StartFrom::Latest;
  } else {
    r.fail("source", "is required: {topics: [...], group: ...}");
  }
  r.string(root["name"], "name", c.name);
  if (c.name.empty()) c.name = c.group;

  if (const YAML::Node s = root["sinks"]; s && s.IsMap() && s.size() > 0) {
    for (const auto& kv : s) {
      const std::string name = kv.first.IsScalar() ? kv.first.Scalar() : "";
      if (!validSinkName(name)) {
        r.fail("sinks", "\"" + name + "\" is not a sink name (1-63 letters, digits, '-', '_')");
        continue;
      }
      SinkConfig sink;
      readSink(r, kv.second, name, sink);
      c.sinks[name] = std::move(sink);
    }
  } else {
    r.fail("sinks", "is required: a mapping of sink names to {topic: ...} or {http: {url: ...}}, e.g. "
                    "{default: {topic: big-orders}}");
  }
  if (c.sinks.count("default")) c.defaultSink = "default";
  else if (c.sinks.size() == 1) c.defaultSink = c.sinks.begin()->first;

  if (const YAML::Node s = root["steps"]; s && !s.IsNull()) {
    if (!s.IsSequence()) {
      r.fail("steps", "must be a list of steps, e.g. [{filter: '.amount > 10'}]");
    } else {
      for (size_t i = 0; i < s.size(); ++i) {
        StepConfig step;
        readStep(r, s[i], i, step);
        c.steps.push_back(std::move(step));
      }
    }
  }
  bool routes = false;
  for (size_t i = 0; i < c.steps.size(); ++i) {
    if (c.steps[i].kind != StepConfig::Kind::Route) continue;
    routes = true;
    for (size_t j = 0; j < c.steps[i].routes.size(); ++j) {
      const auto& sink = c.steps[i].routes[j].sink;
      if (!sink.empty() && !c.sinks.count(sink))
        r.fail("steps[" + std::to_string(i) + "].route[" + std::to_string(j) + "].sink",
               "\"" + sink + "\" is not a name of sinks");
    }
  }
  if (c.sinks.size() > 1 && !routes && c.defaultSink.empty())
    r.fail("sinks", "with several sinks, add a route step or name one sink `default` (every record goes to it)");
  for (const auto& [name, sink] : c.sinks) {
    bool referenced = name == c.defaultSink;
    for (const auto& step : c.steps)
      for (const auto& route : step.routes) referenced = referenced || route.sink == name;
    if (!referenced) r.fail("sinks." + name, "no route names it and it is not `default`: no record would reach it");
  }

  readClusters(r, root["clusters"], providers, c.clusters);
  for (const auto& [name, sink] : c.sinks) {
    if (sink.kind != SinkConfig::Kind::Topic) continue;
    if (!sink.cluster.empty() && !c.clusters.count(sink.cluster)) {
      r.fail("sinks." + name + ".topic.cluster", "\"" + sink.cluster + "\" is not a name of clusters");
    } else if (sink.cluster.empty() && std::find(c.topics.begin(), c.topics.end(), sink.topic) != c.topics.end()) {
      r.fail("sinks." + name + ".topic", "\"" + sink.topic + "\" is a source topic: records would loop");
    }
  }

  if (const YAML::Node rt = root["retry"];
      r.mapping(rt, "retry", {"maxAttempts", "initialBackoff", "maxBackoff", "multiplier", "jitter"})) {
    r.integer(rt["maxAttempts"], "retry.maxAttempts", c.retry.maxAttempts, 1, 1000);
    r.duration(rt["initialBackoff"], "retry.initialBackoff", c.retry.initialBackoff, std::chrono::milliseconds(1));
    r.duration(rt["maxBackoff"], "retry.maxBackoff", c.retry.maxBackoff, std::chrono::milliseconds(1));
    r.number(rt["multiplier"], "retry.multiplier", c.retry.multiplier, 1.0, 100.0);
    r.number(rt["jitter"], "retry.jitter", c.retry.jitter, 0.0, 1.0);
    if (c.retry.maxBackoff < c.retry.initialBackoff)
      r.fail("retry.maxBackoff", "must not be shorter than retry.initialBackoff");
  }
  r.string(root["deadLetterTopic"], "deadLetterTopic", c.deadLetterTopic);
  if (!c.deadLetterTopic.empty()) {
    if (std::string why = topicProblem(c.deadLetterTopic); !why.empty()) r.fail("deadLetterTopic", why);
    else if (std::find(c.topics.begin(), c.topics.end(), c.deadLetterTopic) != c.topics.end())
      r.fail("deadLetterTopic", "must not be a source topic (dead letters would loop)");
    c.onExhausted = SubscriptionConfig::OnExhausted::DeadLetter;
  }
  if (auto e = r.choice(root["onExhausted"], "onExhausted", {"deadLetter", "block", "drop"})) {
    c.onExhausted = static_cast<SubscriptionConfig::OnExhausted>(*e);
    if (*e == 0 && c.deadLetterTopic.empty()) r.fail("onExhausted", "deadLetter needs deadLetterTopic");
  }
  if (auto o = r.choice(root["ordering"], "ordering", {"partition", "key", "none"}))
    c.ordering = static_cast<SubscriptionConfig::Ordering>(*o);
  r.integer(root["maxInFlight"], "maxInFlight", c.maxInFlight, 1, 10000);

  if (auto p = r.choice(root["processing"], "processing", {"atLeastOnce", "exactlyOnce"}))
    c.processing = static_cast<PipelineConfig::Processing>(*p);
  r.string(root["transactionalId"], "transactionalId", c.transactionalId);
  if (c.processing == PipelineConfig::Processing::ExactlyOnce) {
    // One transaction spans the source's offsets and every output: Kafka's
    // transactions do not cross clusters, and an HTTP endpoint cannot join one.
    for (const auto& [name, sink] : c.sinks) {
      if (sink.kind == SinkConfig::Kind::Http)
        r.fail("processing", "exactlyOnce needs topic sinks on the source's cluster; sinks." + name +
                                 " is an http sink (use atLeastOnce, or write to a topic and push from there)");
      else if (!sink.cluster.empty())
        r.fail("processing", "exactlyOnce needs topic sinks on the source's cluster; sinks." + name +
                                 " writes to cluster " + sink.cluster + " (a transaction cannot span two clusters)");
    }
    if (c.transactionalId.empty()) {
      auto it = env.find(kTransactionalIdVariable);
      c.transactionalId = it != env.end() && !it->second.empty() ? it->second : "tributary-pipeline-" + c.name;
    }
  } else if (!c.transactionalId.empty()) {
    r.fail("transactionalId", "is for processing: exactlyOnce only");
  }
  if (!r.errors.empty()) return {std::nullopt, std::move(r.errors)};
  return {std::move(c), {}};
}

PipelineConfigResult loadPipelineConfig(const std::string& path, const Environment& env,
                                        const ConfigProviderSource* providers) {
  std::string why;
  auto text = readWholeFile(path, why);
  if (!text) return {std::nullopt, {"cannot read pipeline file " + path + ": " + why}};
  return parsePipelineConfig(*text, env, providers);
}

std::vector<std::string> checkPipelineFile(std::string_view yaml) {
  auto parsed = parsePipelineConfig(yaml, {}, nullptr);
  if (!parsed.config) return parsed.errors;
  // One jq thread for the process: libjq 1.6 is not thread-safe (jq_executor.h).
  static JqExecutor executor;
  return Steps::check(executor, parsed.config->steps);
}

}  // namespace tributary::sidecar::pipeline
