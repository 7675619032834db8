#include "sidecar/config/sidecar_config.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "common/config/config_providers.h"
#include "common/config/duration.h"
#include "common/config/yaml_reader.h"
#include "common/kafka/topic_name.h"

extern char** environ;

namespace tributary::sidecar {
namespace {

// An environment variable overriding one key: the key's path, and how the text
// becomes a YAML value (lists are comma-separated).
struct EnvOverride {
  const char* variable;
  std::vector<std::string> path;
  bool list = false;
};

const std::vector<EnvOverride>& envOverrides() {
  static const std::vector<EnvOverride> k = {
      {"TRIBUTARY_KAFKA_BOOTSTRAP_SERVERS", {"kafka", "bootstrapServers"}},
      {"TRIBUTARY_KAFKA_DELIVERY_TIMEOUT", {"kafka", "deliveryTimeout"}},
      {"TRIBUTARY_API_LISTEN", {"api", "listen"}},
      {"TRIBUTARY_API_TOKEN", {"api", "token"}},
      {"TRIBUTARY_API_TOKEN_FILE", {"api", "tokenFile"}},
      {"TRIBUTARY_API_MAX_BODY_BYTES", {"api", "maxBodyBytes"}},
      {"TRIBUTARY_API_ALLOWED_TOPICS", {"api", "allowedTopics"}, true},
      {"TRIBUTARY_API_WORKER_THREADS", {"api", "workerThreads"}},
      {"TRIBUTARY_API_MAX_INFLIGHT_BYTES", {"api", "maxInflightBytes"}},
      {"TRIBUTARY_ADMIN_LISTEN", {"admin", "listen"}},
      {"TRIBUTARY_SHUTDOWN_GRACE_PERIOD", {"shutdown", "gracePeriod"}},
      {"TRIBUTARY_LOG_LEVEL", {"log", "level"}},
      {"TRIBUTARY_TRACING_OTLP_ENDPOINT", {"tracing", "otlpEndpoint"}},
      {"TRIBUTARY_TRACING_SERVICE_NAME", {"tracing", "serviceName"}},
      {"TRIBUTARY_TRACING_SAMPLING_RATIO", {"tracing", "samplingRatio"}},
  };
  return k;
}

std::string checkTopicName(const std::string& t) {
  return isValidTopicName(t) ? "" : "\"" + t + "\" is not a valid Kafka topic name";
}

bool validSubscriptionName(const std::string& n) {
  if (n.empty() || n.size() > 63) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return n.front() != '-' && n.back() != '-';
}

void readSubscription(YamlReader& r, const YAML::Node& n, size_t index, SubscriptionConfig& s) {
  // Errors name the subscription by its name when it has a usable one, else by position.
  std::string at = "subscriptions[" + std::to_string(index) + "]";
  if (n.IsMap() && n["name"] && n["name"].IsScalar() && validSubscriptionName(n["name"].Scalar()))
    at = "subscriptions[" + n["name"].Scalar() + "]";
  if (!r.mapping(n, at, {"name", "mode", "topics", "group", "endpoint", "ordering", "maxInFlight", "batchSize",
                         "connections", "timeout", "ackTimeout", "startFrom", "retry", "deadLetterTopic", "onExhausted"})) {
    if (!n || n.IsNull()) r.fail(at, "must be a mapping");
    return;
  }
  r.string(n["name"], at + ".name", s.name);
  if (s.name.empty()) r.fail(at + ".name", "is required");
  else if (!validSubscriptionName(s.name))
    r.fail(at + ".name", "\"" + s.name + "\" must be 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'");
  if (auto m = r.choice(n["mode"], at + ".mode", {"push", "pull"})) s.mode = *m == 0 ? SubscriptionConfig::Mode::Push : SubscriptionConfig::Mode::Pull;
  r.stringList(n["topics"], at + ".topics", s.topics, checkTopicName);
  if (!n["topics"] || n["topics"].IsNull() || (n["topics"].IsSequence() && n["topics"].size() == 0))
    r.fail(at + ".topics", "is required: list at least one topic");
  r.string(n["group"], at + ".group", s.group);
  if (s.group.empty()) r.fail(at + ".group", "is required: the consumer group id the sidecars of this app share");
  r.string(n["endpoint"], at + ".endpoint", s.endpoint);
  if (s.mode == SubscriptionConfig::Mode::Push) {
    if (s.endpoint.empty())
      r.fail(at + ".endpoint", "is required for mode push: the app's URL, e.g. http://127.0.0.1:8080/events");
    else if (s.endpoint.rfind("http://", 0) != 0 && s.endpoint.rfind("https://", 0) != 0)
      r.fail(at + ".endpoint", "\"" + s.endpoint + "\" must be an http:// or https:// URL");
  } else if (!s.endpoint.empty()) {
    r.fail(at + ".endpoint", "is for mode push only; a pull subscription is read with POST /v1/subscriptions/" +
                                 s.name + "/poll");
  }
  if (auto o = r.choice(n["ordering"], at + ".ordering", {"partition", "key", "none"}))
    s.ordering = static_cast<SubscriptionConfig::Ordering>(*o);
  r.integer(n["maxInFlight"], at + ".maxInFlight", s.maxInFlight, 1, 10000);
  r.integer(n["batchSize"], at + ".batchSize", s.batchSize, 1, 1000);
  if (n["batchSize"] && s.mode == SubscriptionConfig::Mode::Pull)
    r.fail(at + ".batchSize", "is for mode push only; a pull subscription sets its batch size per poll (?max=)");
  r.integer(n["connections"], at + ".connections", s.connections, 1, 256);
  if (n["connections"] && s.mode == SubscriptionConfig::Mode::Pull)
    r.fail(at + ".connections", "is for mode push only; a pull subscription's app opens its own connections");
  r.duration(n["timeout"], at + ".timeout", s.timeout, std::chrono::milliseconds(10));
  r.duration(n["ackTimeout"], at + ".ackTimeout", s.ackTimeout, std::chrono::milliseconds(1000));
  if (auto f = r.choice(n["startFrom"], at + ".startFrom", {"earliest", "latest"}))
    s.startFrom = *f == 0 ? SubscriptionConfig::StartFrom::Earliest : SubscriptionConfig::StartFrom::Latest;
  if (auto rt = n["retry"];
      r.mapping(rt, at + ".retry", {"maxAttempts", "initialBackoff", "maxBackoff", "multiplier", "jitter"})) {
    r.integer(rt["maxAttempts"], at + ".retry.maxAttempts", s.retry.maxAttempts, 1, 1000);
    r.duration(rt["initialBackoff"], at + ".retry.initialBackoff", s.retry.initialBackoff, std::chrono::milliseconds(1));
    r.duration(rt["maxBackoff"], at + ".retry.maxBackoff", s.retry.maxBackoff, std::chrono::milliseconds(1));
    r.number(rt["multiplier"], at + ".retry.multiplier", s.retry.multiplier, 1.0, 100.0);
    r.number(rt["jitter"], at + ".retry.jitter", s.retry.jitter, 0.0, 1.0);
    if (s.retry.maxBackoff < s.retry.initialBackoff)
      r.fail(at + ".retry.maxBackoff", "must not be shorter than retry.initialBackoff");
  }
  r.string(n["deadLetterTopic"], at + ".deadLetterTopic", s.deadLetterTopic);
  if (!s.deadLetterTopic.empty()) {
    if (!isValidTopicName(s.deadLetterTopic))
      r.fail(at + ".deadLetterTopic", checkTopicName(s.deadLetterTopic));
    else if (std::find(s.topics.begin(), s.topics.end(), s.deadLetterTopic) != s.topics.end())
      r.fail(at + ".deadLetterTopic", "must not be one of the subscription's own topics (dead letters would loop)");
    s.onExhausted = SubscriptionConfig::OnExhausted::DeadLetter;
  }
  if (auto e = r.choice(n["onExhausted"], at + ".onExhausted", {"deadLetter", "block", "drop"})) {
    s.onExhausted = static_cast<SubscriptionConfig::OnExhausted>(*e);
    if (*e == 0 && s.deadLetterTopic.empty())
      r.fail(at + ".onExhausted", "deadLetter needs deadLetterTopic");
  }
}

void readTracing(YamlReader& r, const YAML::Node& t, tracing::TracingConfig& out) {
  if (!r.mapping(t, "tracing", {"otlpEndpoint", "serviceName", "samplingRatio", "headers", "timeout"})) return;
  r.string(t["otlpEndpoint"], "tracing.otlpEndpoint", out.otlpEndpoint);
  if (!out.otlpEndpoint.empty())
    if (std::string why = tracing::checkOtlpEndpoint(out.otlpEndpoint); !why.empty()) r.fail("tracing.otlpEndpoint", why);
  r.string(t["serviceName"], "tracing.serviceName", out.serviceName);
  if (t["serviceName"] && out.serviceName.empty()) r.fail("tracing.serviceName", "must not be empty");
  r.number(t["samplingRatio"], "tracing.samplingRatio", out.samplingRatio, 0.0, 1.0);
  if (auto h = t["headers"]; h && !h.IsNull()) {
    if (!h.IsMap()) {
      r.fail("tracing.headers", "must be a mapping of HTTP header names to values, e.g. {x-api-key: \"...\"}");
    } else {
      for (const auto& kv : h) {
        const std::string name = kv.first.IsScalar() ? kv.first.Scalar() : "";
        if (!tracing::isHttpHeaderName(name)) {
          r.fail("tracing.headers", "\"" + name + "\" is not an HTTP header name");
          continue;
        }
        // The value is never echoed: headers carry API keys.
        if (!kv.second.IsScalar() || kv.second.Scalar().find_first_of("\r\n") != std::string::npos) {
          r.fail("tracing.headers." + name, "must be a one-line string");
          continue;
        }
        out.headers[name] = kv.second.Scalar();
      }
    }
  }
  r.duration(t["timeout"], "tracing.timeout", out.timeout, std::chrono::milliseconds(100));
}

std::string joinPath(const std::vector<std::string>& p) {
  std::string s;
  for (const auto& part : p) s += (s.empty() ? "" : ".") + part;
  return s;
}

}  // namespace

ConfigResult parseSidecarConfig(std::string_view yaml, const Environment& env, const ConfigProviderSource* providers) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return {std::nullopt, {"config is not valid YAML: " + e.msg + " (line " + std::to_string(e.mark.line + 1) +
                               ", column " + std::to_string(e.mark.column + 1) + ")"}};
  }
  if (!root || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) return {std::nullopt, {"(top level): must be a mapping"}};

  // Environment overrides are written into the document so that they meet the
  // same validation as the file; errors name the variable.
  std::map<std::string, std::string> fromEnv;
  for (const auto& o : envOverrides()) {
    auto it = env.find(o.variable);
    if (it == env.end()) continue;
    YAML::Node parent = root;
    bool reachable = true;
    for (size_t i = 0; i + 1 < o.path.size() && reachable; ++i) {
      if (!parent[o.path[i]] || parent[o.path[i]].IsNull()) parent[o.path[i]] = YAML::Node(YAML::NodeType::Map);
      // A section the file got wrong (e.g. `kafka: [...]`) stays as it is and is reported.
      if (!parent[o.path[i]].IsMap()) reachable = false;
      else parent.reset(parent[o.path[i]]);
    }
    if (!reachable) continue;
    if (o.list) {
      YAML::Node seq(YAML::NodeType::Sequence);
      std::stringstream ss(it->second);
      std::string item;
      while (std::getline(ss, item, ','))
        if (!item.empty()) seq.push_back(item);
      parent[o.path.back()] = seq;
    } else {
      parent[o.path.back()] = it->second;
    }
    fromEnv[joinPath(o.path)] = o.variable;
  }

  YamlReader r(fromEnv);
  SidecarConfig c;
  r.mapping(root, "", {"kafka", "api", "admin", "shutdown", "log", "subscriptions", "tracing"});

  if (auto k = root["kafka"]; r.mapping(k, "kafka", {"bootstrapServers", "properties", "deliveryTimeout"})) {
    r.string(k["bootstrapServers"], "kafka.bootstrapServers", c.kafka.bootstrapServers);
    r.duration(k["deliveryTimeout"], "kafka.deliveryTimeout", c.kafka.deliveryTimeout, std::chrono::milliseconds(100));
    if (auto p = k["properties"]; p && !p.IsNull()) {
      if (!p.IsMap()) {
        r.fail("kafka.properties", "must be a mapping of librdkafka property names to values");
      } else {
        for (const auto& kv : p) {
          const std::string name = kv.first.Scalar();
          if (!kv.second.IsScalar()) {
            r.fail("kafka.properties." + name, "must be a string, number or boolean");
            continue;
          }
          c.kafka.properties[name] = kv.second.Scalar();
        }
        // ${file:...} / ${env:...} references: resolved here, at start-up (a
        // changed Secret takes effect when the sidecar restarts), or only
        // checked when the files live elsewhere (the operator's check).
        KafkaProperties toValidate;
        std::set<std::string> fromProviders;
        if (providers) {
          auto resolved = resolveConfigReferences(c.kafka.properties, "kafka.properties", *providers);
          for (auto& e : resolved.errors) r.errors.push_back(e);
          c.kafka.properties = resolved.properties;
          fromProviders = resolved.fromProviders;
          for (const auto& [name, value] : c.kafka.properties)
            if (resolved.errors.empty() || !hasConfigReference(value)) toValidate[name] = value;
        } else {
          for (auto& e : checkConfigReferences(c.kafka.properties, "kafka.properties")) r.errors.push_back(e);
          for (const auto& [name, value] : c.kafka.properties)
            if (!hasConfigReference(value)) toValidate[name] = value;
        }
        for (auto& e : validateProducerProperties(toValidate, "kafka.properties"))
          r.errors.push_back(redactSecrets(e, c.kafka.properties, fromProviders));
      }
    }
  }

  if (auto a = root["api"];
      r.mapping(a, "api", {"listen", "token", "tokenFile", "maxBodyBytes", "allowedTopics", "workerThreads",
                           "maxInflightBytes"})) {
    r.listen(a["listen"], "api.listen", c.api.listen);
    r.string(a["token"], "api.token", c.api.token);
    std::string tokenFile;
    r.string(a["tokenFile"], "api.tokenFile", tokenFile);
    if (!tokenFile.empty()) {
      if (!c.api.token.empty()) {
        auto tokenVariable = r.variable("api.token");
        r.fail("api.tokenFile", "set either api.token or api.tokenFile, not both" +
                                    (tokenVariable ? " (api.token is set by " + *tokenVariable + ")" : ""));
      } else {
        std::string why;
        auto token = readWholeFile(tokenFile, why);
        while (token && !token->empty() && (token->back() == '\n' || token->back() == '\r' || token->back() == ' '))
          token->pop_back();
        if (!token) r.fail("api.tokenFile", "cannot read " + tokenFile + ": " + why);
        else if (token->empty()) r.fail("api.tokenFile", tokenFile + " is empty");
        else c.api.token = *token;
      }
    }
    r.integer(a["maxBodyBytes"], "api.maxBodyBytes", c.api.maxBodyBytes, 1024, 256LL * 1024 * 1024);
    r.stringList(a["allowedTopics"], "api.allowedTopics", c.api.allowedTopics, checkTopicName);
    r.integer(a["workerThreads"], "api.workerThreads", c.api.workerThreads, 1, 4096);
    r.integer(a["maxInflightBytes"], "api.maxInflightBytes", c.api.maxInflightBytes, 1024, 64LL * 1024 * 1024 * 1024);
    // Unset, the budget grows with a larger body limit: one largest body always fits.
    if (!a["maxInflightBytes"]) c.api.maxInflightBytes = std::max(c.api.maxInflightBytes, c.api.maxBodyBytes);
    else if (c.api.maxInflightBytes < c.api.maxBodyBytes)
      r.fail("api.maxInflightBytes", "must be at least api.maxBodyBytes (" + std::to_string(c.api.maxBodyBytes) +
                                         "): a body of the largest allowed size must fit; raise it or lower "
                                         "api.maxBodyBytes");
  }

  if (auto a = root["admin"]; r.mapping(a, "admin", {"listen"})) r.listen(a["listen"], "admin.listen", c.admin.listen);

  if (auto s = root["shutdown"]; r.mapping(s, "shutdown", {"gracePeriod"}))
    r.duration(s["gracePeriod"], "shutdown.gracePeriod", c.shutdown.gracePeriod, std::chrono::milliseconds(0));

  if (auto l = root["log"]; r.mapping(l, "log", {"level"})) {
    r.string(l["level"], "log.level", c.logLevel);
    if (c.logLevel != "debug" && c.logLevel != "info" && c.logLevel != "warn" && c.logLevel != "error")
      r.fail("log.level", "must be one of debug, info, warn, error, got \"" + c.logLevel + "\"");
  }

  if (auto s = root["subscriptions"]; s && !s.IsNull()) {
    if (!s.IsSequence()) {
      r.fail("subscriptions", "must be a list");
    } else {
      std::set<std::string> names;
      for (size_t i = 0; i < s.size(); ++i) {
        SubscriptionConfig sub;
        readSubscription(r, s[i], i, sub);
        if (!sub.name.empty() && !names.insert(sub.name).second)
          r.fail("subscriptions[" + std::to_string(i) + "].name", "\"" + sub.name + "\" is used by another subscription");
        c.subscriptions.push_back(std::move(sub));
      }
    }
  }

  // The allow-list bounds what the sidecar reads as well as what it writes: a
  // subscription's topics, and its dead-letter topic (written to), must be on it.
  if (!c.api.allowedTopics.empty()) {
    const std::set<std::string> allowed(c.api.allowedTopics.begin(), c.api.allowedTopics.end());
    std::string list;
    for (const auto& t : c.api.allowedTopics) list += (list.empty() ? "" : ", ") + t;
    const auto variable = r.variable("api.allowedTopics");
    const std::string listed = "api.allowedTopics" + (variable ? " (from " + *variable + ")" : std::string()) + " (" + list + ")";
    for (size_t i = 0; i < c.subscriptions.size(); ++i) {
      const auto& sub = c.subscriptions[i];
      const std::string at = "subscriptions[" + (validSubscriptionName(sub.name) ? sub.name : std::to_string(i)) + "]";
      for (const auto& t : sub.topics)
        if (!allowed.count(t))
          r.errors.push_back(at + ".topics: \"" + t + "\" is not in " + listed +
                             "; add it there, or remove it from the subscription");
      if (!sub.deadLetterTopic.empty() && !allowed.count(sub.deadLetterTopic))
        r.errors.push_back(at + ".deadLetterTopic: \"" + sub.deadLetterTopic + "\" is not in " + listed +
                           "; dead letters are written to it, so add it there");
    }
  }
  readTracing(r, root["tracing"], c.tracing);

  if (!r.errors.empty()) return {std::nullopt, r.errors};
  return {c, {}};
}

ConfigResult loadSidecarConfig(const std::string& path, const Environment& env, const ConfigProviderSource* providers) {
  std::string why;
  auto text = readWholeFile(path, why);
  if (!text) return {std::nullopt, {"cannot read config file " + path + ": " + why}};
  return parseSidecarConfig(*text, env, providers);
}

ConfigResult resolveSidecarConfig(const std::string& path, const Environment& env, std::string* source,
                                  const ConfigProviderSource* providers) {
  if (!path.empty()) {
    if (source) *source = path;
    return loadSidecarConfig(path, env, providers);
  }
  if (auto it = env.find(kConfigYamlVariable); it != env.end()) {
    if (source) *source = kConfigYamlVariable;
    return parseSidecarConfig(it->second, env, providers);
  }
  if (source) source->clear();
  return parseSidecarConfig("", env, providers);
}

Environment processEnvironment() {
  Environment env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    if (kv.rfind("TRIBUTARY_", 0) != 0) continue;
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

}  // namespace tributary::sidecar
