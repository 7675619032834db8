#include "operator/inject/sidecar_injector.h"

#include <map>
#include <optional>
#include <regex>
#include <set>
#include <vector>

#include "operator/inject/annotations.h"
#include "operator/inject/quantity.h"

namespace tributary::op::inject {
namespace {

namespace a = annotations;

// Defaults: enough for a produce/consume sidecar at moderate rates; no CPU
// limit (CFS throttling shows up as latency, the thing a sidecar must not add).
constexpr const char* kDefaultCpuRequest = "50m";
constexpr const char* kDefaultMemoryRequest = "64Mi";
constexpr const char* kDefaultMemoryLimit = "256Mi";

const std::set<std::string>& knownAnnotations() {
  static const std::set<std::string> k = {a::kInject,      a::kConfig,         a::kNativeSidecar, a::kCpuRequest,
                                          a::kMemoryRequest, a::kCpuLimit,     a::kMemoryLimit,   a::kApiTokenSecret,
                                          a::kLogLevel,    a::kInjected};
  return k;
}

bool isDnsSubdomain(const std::string& s) {
  static const std::regex re("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  return !s.empty() && s.size() <= 253 && std::regex_match(s, re);
}

const Json& member(const Json& j, const char* key) {
  static const Json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

bool hasContainerNamed(const Json& list, const std::string& name) {
  if (!list.is_array()) return false;
  for (const auto& c : list)
    if (member(c, "name") == name) return true;
  return false;
}

Json httpProbe(const char* path, int periodSeconds, int failureThreshold) {
  return {{"httpGet", {{"path", path}, {"port", kSidecarAdminPort}, {"scheme", "HTTP"}}},
          {"periodSeconds", periodSeconds},
          {"timeoutSeconds", 1},
          {"failureThreshold", failureThreshold}};
}

}  // namespace

const char* outcomeName(InjectionResult::Outcome outcome) {
  switch (outcome) {
    case InjectionResult::Outcome::Injected: return "injected";
    case InjectionResult::Outcome::NotRequested: return "not_requested";
    case InjectionResult::Outcome::AlreadyInjected: return "already_injected";
    case InjectionResult::Outcome::Refused: return "refused";
  }
  return "unknown";
}

std::string escapeJsonPointer(const std::string& token) {
  std::string out;
  for (char c : token) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

SidecarInjector::SidecarInjector(InjectorSettings settings) : settings_(std::move(settings)) {}

Json SidecarInjector::sidecarContainer(const Json& ann, bool native) const {
  auto annotation = [&](const char* key) -> std::string {
    const Json& v = member(ann, key);
    return v.is_string() ? v.get<std::string>() : std::string();
  };
  Json env = Json::array();
  const std::string configMap = annotation(a::kConfig);
  if (configMap.empty() && !settings_.defaultConfigYaml.empty())
    env.push_back({{"name", "TRIBUTARY_CONFIG_YAML"}, {"value", settings_.defaultConfigYaml}});
  if (auto level = annotation(a::kLogLevel); !level.empty())
    env.push_back({{"name", "TRIBUTARY_LOG_LEVEL"}, {"value", level}});
  if (auto secret = annotation(a::kApiTokenSecret); !secret.empty())
    env.push_back({{"name", "TRIBUTARY_API_TOKEN"},
                   {"valueFrom", {{"secretKeyRef", {{"name", secret}, {"key", "token"}}}}}});

  Json requests{{"cpu", kDefaultCpuRequest}, {"memory", kDefaultMemoryRequest}};
  Json limits{{"memory", kDefaultMemoryLimit}};
  if (auto v = annotation(a::kCpuRequest); !v.empty()) requests["cpu"] = v;
  if (auto v = annotation(a::kMemoryRequest); !v.empty()) requests["memory"] = v;
  if (auto v = annotation(a::kCpuLimit); !v.empty()) limits["cpu"] = v;
  if (auto v = annotation(a::kMemoryLimit); !v.empty()) limits["memory"] = v;

  Json c{{"name", kSidecarContainerName},
         {"image", settings_.sidecarImage},
         {"imagePullPolicy", "IfNotPresent"},
         {"ports", Json::array({{{"name", "tributary-admin"}, {"containerPort", kSidecarAdminPort}, {"protocol", "TCP"}}})},
         {"resources", {{"requests", requests}, {"limits", limits}}},
         // The app waits for this (native form): the kubelet starts the next
         // container only once the sidecar's startup probe passed. Up to 2 min.
         {"startupProbe", httpProbe("/healthz", 1, 120)},
         {"livenessProbe", httpProbe("/healthz", 10, 3)},
         {"readinessProbe", httpProbe("/readyz", 5, 3)},
         {"securityContext",
          {{"runAsNonRoot", true},
           {"runAsUser", 65532},
           {"runAsGroup", 65532},
           {"readOnlyRootFilesystem", true},
           {"allowPrivilegeEscalation", false},
           {"capabilities", {{"drop", Json::array({"ALL"})}}},
           {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
         {"terminationMessagePolicy", "FallbackToLogsOnError"}};
  if (!env.empty()) c["env"] = env;
  if (!configMap.empty()) {
    c["args"] = Json::array({std::string("--config=") + kConfigMountPath + "/" + kConfigKey});
    c["volumeMounts"] = Json::array({{{"name", kConfigVolumeName}, {"mountPath", kConfigMountPath}, {"readOnly", true}}});
  }
  if (native) c["restartPolicy"] = "Always";
  return c;
}

InjectionResult SidecarInjector::inject(const Json& podLike) const {
  InjectionResult result;
  result.object = podLike;
  const Json& ann = member(member(podLike, "metadata"), "annotations");
  auto annotation = [&](const char* key) -> std::optional<std::string> {
    const Json& v = member(ann, key);
    if (v.is_string()) return v.get<std::string>();
    return std::nullopt;
  };
  std::vector<std::string> errors;
  auto refuse = [&]() {
    result.outcome = InjectionResult::Outcome::Refused;
    for (size_t i = 0; i < errors.size(); ++i) result.message += (i ? "; " : "") + errors[i];
    return result;
  };

  const auto injectValue = annotation(a::kInject);
  if (!injectValue || *injectValue == "false") return result;  // NotRequested
  if (*injectValue != "true") {
    // A typo must not leave the pod silently without its sidecar.
    errors.push_back(std::string("annotation ") + a::kInject + ": must be \"true\" or \"false\", got \"" + *injectValue +
                     "\"");
    return refuse();
  }
  const Json& spec = member(podLike, "spec");
  if (hasContainerNamed(member(spec, "containers"), kSidecarContainerName) ||
      hasContainerNamed(member(spec, "initContainers"), kSidecarContainerName)) {
    result.outcome = InjectionResult::Outcome::AlreadyInjected;
    return result;
  }

  // ---- annotations, every problem at once
  if (ann.is_object()) {
    for (const auto& [key, value] : ann.items()) {
      if (key.rfind(a::kPrefix, 0) != 0) continue;
      if (!knownAnnotations().count(key)) {
        std::string known;
        for (const auto& k : knownAnnotations()) known += (known.empty() ? "" : ", ") + k;
        errors.push_back("annotation " + key + ": unknown tributary.dev annotation (known: " + known + ")");
      }
    }
  }
  bool native = settings_.nativeSidecars;
  if (auto v = annotation(a::kNativeSidecar)) {
    if (*v == "false") native = false;
    else if (*v != "true")
      errors.push_back(std::string("annotation ") + a::kNativeSidecar + ": must be \"true\" or \"false\", got \"" + *v +
                       "\"");
  }
  if (auto v = annotation(a::kLogLevel); v && *v != "debug" && *v != "info" && *v != "warn" && *v != "error")
    errors.push_back(std::string("annotation ") + a::kLogLevel + ": must be one of debug, info, warn, error, got \"" +
                     *v + "\"");
  for (const char* key : {a::kConfig, a::kApiTokenSecret})
    if (auto v = annotation(key); v && !isDnsSubdomain(*v))
      errors.push_back(std::string("annotation ") + key + ": \"" + *v +
                       "\" is not a valid object name (lowercase letters, digits, '-' and '.', at most 253)");
  std::map<std::string, long double> quantities;
  for (const char* key : {a::kCpuRequest, a::kMemoryRequest, a::kCpuLimit, a::kMemoryLimit}) {
    auto v = annotation(key);
    if (!v) continue;
    auto q = parseQuantity(*v);
    if (!q) errors.push_back(std::string("annotation ") + key + ": \"" + *v +
                             "\" is not a Kubernetes quantity (e.g. 250m or 0.5 for CPU, 128Mi or 1Gi for memory)");
    else if (*q < 0) errors.push_back(std::string("annotation ") + key + ": must not be negative, got \"" + *v + "\"");
    else quantities[key] = *q;
  }
  auto checkOrder = [&](const char* requestKey, const char* limitKey, long double defaultRequest) {
    auto limit = quantities.find(limitKey);
    if (limit == quantities.end()) return;
    auto request = quantities.find(requestKey);
    long double r = request == quantities.end() ? defaultRequest : request->second;
    if (r > limit->second)
      errors.push_back(std::string("annotation ") + limitKey + ": \"" + *annotation(limitKey) + "\" is below the request (" +
                       (request == quantities.end() ? std::string("the default ") + "request" : std::string(requestKey)) +
                       "); Kubernetes refuses a limit below its request");
  };
  checkOrder(a::kCpuRequest, a::kCpuLimit, *parseQuantity(kDefaultCpuRequest));
  checkOrder(a::kMemoryRequest, a::kMemoryLimit, *parseQuantity(kDefaultMemoryRequest));
  // A memory request above the default limit raises the limit with it.
  if (!annotation(a::kMemoryLimit) && quantities.count(a::kMemoryRequest) &&
      quantities[a::kMemoryRequest] > *parseQuantity(kDefaultMemoryLimit))
    errors.push_back(std::string("annotation ") + a::kMemoryRequest + ": above the default limit " +
                     kDefaultMemoryLimit + "; set " + a::kMemoryLimit + " too");

  // ---- the pod itself
  const Json& containers = member(spec, "containers");
  if (!containers.is_array() || containers.empty()) errors.push_back("spec.containers: the pod has no containers");
  const std::string configMap = annotation(a::kConfig).value_or("");
  for (const char* list : {"containers", "initContainers"}) {
    const Json& l = member(spec, list);
    if (!l.is_array()) continue;
    for (const auto& c : l)
      for (const auto& p : member(c, "ports").is_array() ? member(c, "ports") : Json::array())
        if (member(p, "containerPort") == kSidecarApiPort || member(p, "containerPort") == kSidecarAdminPort)
          errors.push_back("spec." + std::string(list) + "[" + member(c, "name").dump() + "]: port " +
                           member(p, "containerPort").dump() + " is the sidecar's (9191 API, 9192 health/metrics)");
  }
  if (!configMap.empty() && member(spec, "volumes").is_array())
    for (const auto& v : member(spec, "volumes"))
      if (member(v, "name") == kConfigVolumeName)
        errors.push_back(std::string("spec.volumes: the pod already has a volume named ") + kConfigVolumeName +
                         ", which the injector needs for " + a::kConfig);
  if (!errors.empty()) return refuse();

  // ---- the patch. App containers first, by their original indexes; then the
  // sidecar (an insertion at index 0 shifts the indexes after it).
  Json& ops = result.patch;
  for (size_t i = 0; i < containers.size(); ++i) {
    const Json& env = member(containers[i], "env");
    const std::string base = "/spec/containers/" + std::to_string(i) + "/env";
    const Json var{{"name", "TRIBUTARY_URL"}, {"value", kAppUrl}};
    if (!env.is_array()) {
      ops.push_back({{"op", "add"}, {"path", base}, {"value", Json::array({var})}});
      continue;
    }
    bool present = false;
    for (const auto& e : env) present = present || member(e, "name") == "TRIBUTARY_URL";
    if (!present) ops.push_back({{"op", "add"}, {"path", base + "/-"}, {"value", var}});
  }
  const Json sidecar = sidecarContainer(ann, native);
  if (native) {
    if (member(spec, "initContainers").is_array())
      ops.push_back({{"op", "add"}, {"path", "/spec/initContainers/0"}, {"value", sidecar}});
    else
      ops.push_back({{"op", "add"}, {"path", "/spec/initContainers"}, {"value", Json::array({sidecar})}});
  } else {
    ops.push_back({{"op", "add"}, {"path", "/spec/containers/0"}, {"value", sidecar}});
  }
  if (!configMap.empty()) {
    const Json volume{{"name", kConfigVolumeName},
                      {"configMap",
                       {{"name", configMap},
                        {"items", Json::array({{{"key", kConfigKey}, {"path", kConfigKey}}})}}}};
    if (member(spec, "volumes").is_array())
      ops.push_back({{"op", "add"}, {"path", "/spec/volumes/-"}, {"value", volume}});
    else
      ops.push_back({{"op", "add"}, {"path", "/spec/volumes"}, {"value", Json::array({volume})}});
  }
  // The annotations exist: tributary.dev/inject is one of them. "add" on an
  // existing member replaces it (RFC 6902 4.1).
  ops.push_back({{"op", "add"},
                 {"path", "/metadata/annotations/" + escapeJsonPointer(a::kInjected)},
                 {"value", settings_.version}});
  result.object = podLike.patch(ops);
  result.outcome = InjectionResult::Outcome::Injected;
  result.native = native;
  result.configMap = configMap;
  return result;
}

}  // namespace tributary::op::inject
