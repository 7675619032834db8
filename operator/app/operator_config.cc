#include "operator/app/operator_config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "common/config/duration.h"

namespace tributary::op::app {

namespace {

bool scalarString(const YAML::Node& n, const std::string& key, std::string& out, std::vector<std::string>& errors) {
  if (!n.IsScalar()) {
    errors.push_back(key + ": must be a string");
    return false;
  }
  out = n.Scalar();
  return true;
}

void unknownKeys(const YAML::Node& map, const std::set<std::string>& known, const std::string& prefix,
                 std::vector<std::string>& errors) {
  for (const auto& kv : map) {
    const std::string k = kv.first.Scalar();
    if (!known.count(k)) errors.push_back(prefix + k + ": unknown key");
  }
}

}  // namespace

OperatorConfigResult parseOperatorConfig(const std::string& yamlText, const ConfigProviderSource& source) {
  OperatorConfigResult r;
  auto& errors = r.errors;
  YAML::Node root;
  try {
    root = YAML::Load(yamlText);
  } catch (const YAML::Exception& e) {
    errors.push_back(std::string("not valid YAML: ") + e.what());
    return r;
  }
  OperatorConfig c;
  if (root.IsNull()) {
    r.config = c;
    return r;
  }
  if (!root.IsMap()) {
    errors.push_back("the configuration must be a mapping");
    return r;
  }
  unknownKeys(root, {"clusters", "watchNamespaces", "resyncPeriod", "leaderElection", "consumerGroups", "tracing"}, "",
              errors);

  if (const YAML::Node clusters = root["clusters"]; clusters && !clusters.IsNull()) {
    if (!clusters.IsMap()) {
      errors.push_back("clusters: must be a mapping of cluster name to {bootstrapServers, properties}");
    } else {
      for (const auto& kv : clusters) {
        const std::string name = kv.first.Scalar();
        const std::string prefix = "clusters." + name;
        const YAML::Node cluster = kv.second;
        if (!cluster.IsMap()) {
          errors.push_back(prefix + ": must be a mapping with bootstrapServers");
          continue;
        }
        unknownKeys(cluster, {"bootstrapServers", "properties"}, prefix + ".", errors);
        kafka::ClusterConnection conn;
        if (!cluster["bootstrapServers"]) errors.push_back(prefix + ".bootstrapServers: required");
        else if (scalarString(cluster["bootstrapServers"], prefix + ".bootstrapServers", conn.bootstrapServers, errors) &&
                 conn.bootstrapServers.empty())
          errors.push_back(prefix + ".bootstrapServers: must not be empty");
        if (const YAML::Node props = cluster["properties"]; props && !props.IsNull()) {
          if (!props.IsMap()) {
            errors.push_back(prefix + ".properties: must be a mapping of librdkafka property to value");
          } else {
            for (const auto& p : props) {
              std::string v;
              if (scalarString(p.second, prefix + ".properties." + p.first.Scalar(), v, errors))
                conn.properties[p.first.Scalar()] = v;
            }
            // ${file:...} / ${env:...}: resolved now to report what is missing at
            // start-up; the config keeps the references, which the admin client
            // resolves again whenever a file changes (reloading_cluster_admin.h).
            auto resolved = resolveConfigReferences(conn.properties, prefix + ".properties", source);
            for (auto& e : resolved.errors) errors.push_back(e);
            std::map<std::string, std::string> toValidate;
            for (const auto& [k, v] : resolved.properties)
              if (resolved.errors.empty() || !hasConfigReference(v)) toValidate[k] = v;
            for (auto& e : kafka::validateAdminProperties(toValidate, prefix + ".properties"))
              errors.push_back(redactSecrets(e, resolved.properties, resolved.fromProviders));
          }
        }
        c.clusters[name] = conn;
      }
    }
  }
  if (const YAML::Node ns = root["watchNamespaces"]; ns && !ns.IsNull()) {
    if (!ns.IsSequence()) errors.push_back("watchNamespaces: must be a list of namespace names");
    else
      for (size_t i = 0; i < ns.size(); ++i) {
        std::string n;
        if (scalarString(ns[i], "watchNamespaces[" + std::to_string(i) + "]", n, errors)) c.watchNamespaces.push_back(n);
      }
  }
  if (const YAML::Node cg = root["consumerGroups"]; cg && !cg.IsNull()) {
    if (!cg.IsMap()) {
      errors.push_back(
          "consumerGroups: must be a mapping {lagInterval, statusInterval, lagChangeFraction, partitionLagMetrics}");
    } else {
      unknownKeys(cg, {"lagInterval", "statusInterval", "lagChangeFraction", "partitionLagMetrics"}, "consumerGroups.",
                  errors);
      if (const YAML::Node pm = cg["partitionLagMetrics"]; pm && !pm.IsNull()) {
        std::string text;
        if (scalarString(pm, "consumerGroups.partitionLagMetrics", text, errors)) {
          if (text == "true") c.consumerGroups.partitionLagMetrics = true;
          else if (text == "false") c.consumerGroups.partitionLagMetrics = false;
          else errors.push_back("consumerGroups.partitionLagMetrics: must be true or false, got \"" + text + "\"");
        }
      }
      for (auto [key, target] : {std::pair<const char*, std::chrono::milliseconds*>{"lagInterval", &c.consumerGroups.lagInterval},
                                 {"statusInterval", &c.consumerGroups.statusInterval}}) {
        const YAML::Node n = cg[key];
        if (!n || n.IsNull()) continue;
        std::string text;
        const std::string where = std::string("consumerGroups.") + key;
        if (!scalarString(n, where, text, errors)) continue;
        auto d = parseDuration(text);
        if (!d || d->count() < 1000) errors.push_back(where + ": must be a duration of at least 1s such as 30s or 5m, got \"" + text + "\"");
        else *target = *d;
      }
      if (const YAML::Node f = cg["lagChangeFraction"]; f && !f.IsNull()) {
        std::string text;
        if (scalarString(f, "consumerGroups.lagChangeFraction", text, errors)) {
          char* end = nullptr;
          const double v = std::strtod(text.c_str(), &end);
          if (text.empty() || *end != '\0' || !(v >= 0 && v <= 1))
            errors.push_back("consumerGroups.lagChangeFraction: must be a number from 0 to 1 (0.1 = 10 %), got \"" + text + "\"");
          else c.consumerGroups.lagChangeFraction = v;
        }
      }
    }
  }
  if (const YAML::Node rp = root["resyncPeriod"]; rp && !rp.IsNull()) {
    std::string text;
    if (scalarString(rp, "resyncPeriod", text, errors)) {
      auto d = parseDuration(text);
      if (!d || d->count() <= 0) errors.push_back("resyncPeriod: must be a positive duration such as 5m or 30s, got \"" + text + "\"");
      else c.resyncPeriod = *d;
    }
  }
  if (const YAML::Node le = root["leaderElection"]; le && !le.IsNull()) {
    if (!le.IsMap()) {
      errors.push_back("leaderElection: must be a mapping with enabled, leaseName, namespace");
    } else {
      unknownKeys(le, {"enabled", "leaseName", "namespace"}, "leaderElection.", errors);
      if (le["enabled"]) {
        bool b = false;
        if (!le["enabled"].IsScalar() || !YAML::convert<bool>::decode(le["enabled"], b))
          errors.push_back("leaderElection.enabled: must be true or false");
        else c.leaderElection.enabled = b;
      }
      if (le["leaseName"]) scalarString(le["leaseName"], "leaderElection.leaseName", c.leaderElection.leaseName, errors);
      if (le["namespace"]) scalarString(le["namespace"], "leaderElection.namespace", c.leaderElection.namespace_, errors);
    }
  }
  if (const YAML::Node t = root["tracing"]; t && !t.IsNull()) {
    if (!t.IsMap()) {
      errors.push_back("tracing: must be a mapping {otlpEndpoint, serviceName, samplingRatio, headers, timeout}");
    } else {
      unknownKeys(t, {"otlpEndpoint", "serviceName", "samplingRatio", "headers", "timeout"}, "tracing.", errors);
      if (t["otlpEndpoint"] && !t["otlpEndpoint"].IsNull() &&
          scalarString(t["otlpEndpoint"], "tracing.otlpEndpoint", c.tracing.otlpEndpoint, errors) &&
          !c.tracing.otlpEndpoint.empty())
        if (std::string why = tracing::checkOtlpEndpoint(c.tracing.otlpEndpoint); !why.empty())
          errors.push_back("tracing.otlpEndpoint: " + why);
      if (t["serviceName"] && !t["serviceName"].IsNull() &&
          scalarString(t["serviceName"], "tracing.serviceName", c.tracing.serviceName, errors) &&
          c.tracing.serviceName.empty())
        errors.push_back("tracing.serviceName: must not be empty");
      if (const YAML::Node f = t["samplingRatio"]; f && !f.IsNull()) {
        std::string text;
        if (scalarString(f, "tracing.samplingRatio", text, errors)) {
          char* end = nullptr;
          const double v = std::strtod(text.c_str(), &end);
          if (text.empty() || *end != '\0' || !(v >= 0 && v <= 1))
            errors.push_back("tracing.samplingRatio: must be a number from 0 to 1, got \"" + text + "\"");
          else c.tracing.samplingRatio = v;
        }
      }
      if (const YAML::Node h = t["headers"]; h && !h.IsNull()) {
        if (!h.IsMap()) {
          errors.push_back("tracing.headers: must be a mapping of HTTP header names to values");
        } else {
          for (const auto& kv : h) {
            const std::string name = kv.first.IsScalar() ? kv.first.Scalar() : "";
            // The value is never echoed: headers carry API keys.
            if (!tracing::isHttpHeaderName(name))
              errors.push_back("tracing.headers: \"" + name + "\" is not an HTTP header name");
            else if (!kv.second.IsScalar() || kv.second.Scalar().find_first_of("\r\n") != std::string::npos)
              errors.push_back("tracing.headers." + name + ": must be a one-line string");
            else
              c.tracing.headers[name] = kv.second.Scalar();
          }
        }
      }
      if (const YAML::Node d = t["timeout"]; d && !d.IsNull()) {
        std::string text;
        if (scalarString(d, "tracing.timeout", text, errors)) {
          auto v = parseDuration(text);
          if (!v || v->count() < 100)
            errors.push_back("tracing.timeout: must be a duration of at least 100ms such as 10s, got \"" + text + "\"");
          else c.tracing.timeout = *v;
        }
      }
    }
  }
  if (errors.empty()) r.config = std::move(c);
  return r;
}

OperatorConfigResult loadOperatorConfig(const std::string& path, const ConfigProviderSource& source) {
  std::ifstream in(path);
  if (!in) {
    OperatorConfigResult r;
    r.errors.push_back(path + ": cannot read the file");
    return r;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parseOperatorConfig(ss.str(), source);
}

}  // namespace tributary::op::app
