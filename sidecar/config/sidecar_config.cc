#include "sidecar/config/sidecar_config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "common/config/duration.h"
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
      {"TRIBUTARY_ADMIN_LISTEN", {"admin", "listen"}},
      {"TRIBUTARY_SHUTDOWN_GRACE_PERIOD", {"shutdown", "gracePeriod"}},
      {"TRIBUTARY_LOG_LEVEL", {"log", "level"}},
  };
  return k;
}

// Walks the document, collecting every error with the key it concerns.
class Reader {
 public:
  explicit Reader(std::map<std::string, std::string> fromEnv) : fromEnv_(std::move(fromEnv)) {}

  std::vector<std::string> errors;

  void fail(const std::string& key, const std::string& what) {
    auto it = fromEnv_.find(key);
    errors.push_back(key + (it != fromEnv_.end() ? " (from " + it->second + ")" : "") + ": " + what);
  }

  // A mapping whose keys must all be known; returns false (and reports) otherwise.
  bool mapping(const YAML::Node& n, const std::string& key, const std::set<std::string>& known) {
    if (!n || n.IsNull()) return false;
    if (!n.IsMap()) {
      fail(key.empty() ? "(top level)" : key, "must be a mapping");
      return false;
    }
    for (const auto& kv : n) {
      const std::string k = kv.first.Scalar();
      if (!known.count(k)) {
        std::string list;
        for (const auto& s : known) list += (list.empty() ? "" : ", ") + s;
        fail(key.empty() ? k : key + "." + k, "unknown key (known keys here: " + list + ")");
      }
    }
    return true;
  }

  void string(const YAML::Node& n, const std::string& key, std::string& out) {
    if (!n || n.IsNull()) return;
    if (!n.IsScalar()) return fail(key, "must be a string");
    out = n.Scalar();
  }

  template <typename Int>
  void integer(const YAML::Node& n, const std::string& key, Int& out, long long min, long long max) {
    if (!n || n.IsNull()) return;
    long long v;
    if (!n.IsScalar() || !YAML::convert<long long>::decode(n, v)) return fail(key, "must be an integer");
    if (v < min || v > max)
      return fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                           std::to_string(v));
    out = static_cast<Int>(v);
  }

  void duration(const YAML::Node& n, const std::string& key, std::chrono::milliseconds& out,
                std::chrono::milliseconds min) {
    if (!n || n.IsNull()) return;
    if (!n.IsScalar()) return fail(key, "must be a duration string such as \"500ms\", \"10s\" or \"1m\"");
    auto d = parseDuration(n.Scalar());
    if (!d) return fail(key, "\"" + n.Scalar() + "\" is not a duration; write e.g. \"500ms\", \"10s\" or \"1m\"");
    if (*d < min) return fail(key, "must be at least " + formatDuration(min));
    out = *d;
  }

  void listen(const YAML::Node& n, const std::string& key, ListenAddress& out) {
    std::string s;
    string(n, key, s);
    if (s.empty()) return;
    auto a = parseListenAddress(s);
    if (!a) return fail(key, "\"" + s + "\" is not a listen address; write host:port, e.g. \"127.0.0.1:9191\"");
    out = *a;
  }

  void stringList(const YAML::Node& n, const std::string& key, std::vector<std::string>& out) {
    if (!n || n.IsNull()) return;
    if (!n.IsSequence()) return fail(key, "must be a list of strings");
    out.clear();
    for (size_t i = 0; i < n.size(); ++i) {
      if (!n[i].IsScalar()) {
        fail(key + "[" + std::to_string(i) + "]", "must be a string");
        continue;
      }
      out.push_back(n[i].Scalar());
    }
  }

 private:
  std::map<std::string, std::string> fromEnv_;  // key → variable that set it
};

std::string joinPath(const std::vector<std::string>& p) {
  std::string s;
  for (const auto& part : p) s += (s.empty() ? "" : ".") + part;
  return s;
}

}  // namespace

ConfigResult parseSidecarConfig(std::string_view yaml, const Environment& env) {
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
    for (size_t i = 0; i + 1 < o.path.size(); ++i) {
      if (!parent[o.path[i]] || !parent[o.path[i]].IsMap()) parent[o.path[i]] = YAML::Node(YAML::NodeType::Map);
      parent.reset(parent[o.path[i]]);
    }
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

  Reader r(fromEnv);
  SidecarConfig c;
  r.mapping(root, "", {"kafka", "api", "admin", "shutdown", "log", "subscriptions"});

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
        for (auto& e : validateProducerProperties(c.kafka.properties, "kafka.properties")) r.errors.push_back(e);
      }
    }
  }

  if (auto a = root["api"];
      r.mapping(a, "api", {"listen", "token", "tokenFile", "maxBodyBytes", "allowedTopics", "workerThreads"})) {
    r.listen(a["listen"], "api.listen", c.api.listen);
    r.string(a["token"], "api.token", c.api.token);
    std::string tokenFile;
    r.string(a["tokenFile"], "api.tokenFile", tokenFile);
    if (!tokenFile.empty()) {
      if (!c.api.token.empty()) {
        r.fail("api.tokenFile", "set either api.token or api.tokenFile, not both");
      } else {
        std::ifstream in(tokenFile);
        std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
        if (!in.good() && !in.eof()) r.fail("api.tokenFile", "cannot read " + tokenFile);
        else if (token.empty()) r.fail("api.tokenFile", tokenFile + " is missing or empty");
        else c.api.token = token;
      }
    }
    r.integer(a["maxBodyBytes"], "api.maxBodyBytes", c.api.maxBodyBytes, 1024, 256LL * 1024 * 1024);
    r.stringList(a["allowedTopics"], "api.allowedTopics", c.api.allowedTopics);
    for (size_t i = 0; i < c.api.allowedTopics.size(); ++i)
      if (!isValidTopicName(c.api.allowedTopics[i]))
        r.fail("api.allowedTopics[" + std::to_string(i) + "]",
               "\"" + c.api.allowedTopics[i] + "\" is not a valid Kafka topic name");
    r.integer(a["workerThreads"], "api.workerThreads", c.api.workerThreads, 1, 4096);
  }

  if (auto a = root["admin"]; r.mapping(a, "admin", {"listen"})) r.listen(a["listen"], "admin.listen", c.admin.listen);

  if (auto s = root["shutdown"]; r.mapping(s, "shutdown", {"gracePeriod"}))
    r.duration(s["gracePeriod"], "shutdown.gracePeriod", c.shutdown.gracePeriod, std::chrono::milliseconds(0));

  if (auto l = root["log"]; r.mapping(l, "log", {"level"})) {
    r.string(l["level"], "log.level", c.logLevel);
    if (c.logLevel != "debug" && c.logLevel != "info" && c.logLevel != "warn" && c.logLevel != "error")
      r.fail("log.level", "must be one of debug, info, warn, error");
  }

  if (auto s = root["subscriptions"]; s && !s.IsNull()) {
    if (!s.IsSequence()) r.fail("subscriptions", "must be a list");
    else if (s.size() > 0)
      r.fail("subscriptions", "consuming is not available in this version of the sidecar yet; remove the entries");
  }

  if (!r.errors.empty()) return {std::nullopt, r.errors};
  return {c, {}};
}

ConfigResult loadSidecarConfig(const std::string& path, const Environment& env) {
  std::ifstream in(path);
  if (!in) return {std::nullopt, {"cannot read config file " + path}};
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parseSidecarConfig(text, env);
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
