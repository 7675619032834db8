#include "tests/support/apiserver/builtin_validation.h"

#include <algorithm>
#include <set>

namespace tributary::apiserver {

using Json = nlohmann::json;

namespace {

const Json& at(const Json& j, const char* key) {
  static const Json null;
  if (!j.is_object()) return null;
  auto it = j.find(key);
  return it == j.end() ? null : *it;
}

bool emptyValue(const Json& j) {
  return j.is_null() || ((j.is_object() || j.is_array() || j.is_string()) && j.empty());
}

// Go's fmt of a map[string]string, as the real messages print label maps.
std::string goMap(const Json& labels) {
  std::string s = "map[string]string{";
  bool first = true;
  for (const auto& [k, v] : labels.items()) {
    s += (first ? "" : ", ") + ("\"" + k + "\":") + v.dump();
    first = false;
  }
  return s + "}";
}

// A pod spec: containers (and initContainers) with names and images, unique names.
void podSpec(const Json& spec, const std::string& path, std::vector<Cause>& causes) {
  const Json& containers = at(spec, "containers");
  if (!containers.is_array() || containers.empty())
    causes.push_back({"FieldValueRequired", path + ".containers", "Required value"});
  std::set<std::string> names;
  for (const char* list : {"initContainers", "containers"}) {
    const Json& cs = at(spec, list);
    if (!cs.is_array()) continue;
    for (size_t i = 0; i < cs.size(); ++i) {
      const std::string p = path + "." + list + "[" + std::to_string(i) + "]";
      const Json& name = at(cs[i], "name");
      if (emptyValue(name))
        causes.push_back({"FieldValueRequired", p + ".name", "Required value"});
      else if (name.is_string() && !names.insert(name.get<std::string>()).second)
        causes.push_back({"FieldValueDuplicate", p + ".name", "Duplicate value: " + name.dump()});
      if (emptyValue(at(cs[i], "image"))) causes.push_back({"FieldValueRequired", p + ".image", "Required value"});
    }
  }
}

// apps/v1 workloads: a selector that matches the template's labels, and a valid pod template.
void workload(const Json& object, const std::string& kind, std::vector<Cause>& causes) {
  const Json& spec = at(object, "spec");
  const Json& selector = at(spec, "selector");
  const Json& labels = at(at(at(spec, "template"), "metadata"), "labels");
  if (selector.is_null()) {
    causes.push_back({"FieldValueRequired", "spec.selector", "Required value"});
  } else if (emptyValue(at(selector, "matchLabels")) && emptyValue(at(selector, "matchExpressions"))) {
    std::string lower = kind;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    causes.push_back(
        {"FieldValueInvalid", "spec.selector", "Invalid value: \"null\": empty selector is invalid for " + lower});
  } else {
    // matchLabels only; matchExpressions are not evaluated here.
    bool matches = true;
    for (const auto& [k, v] : at(selector, "matchLabels").items())
      if (!labels.is_object() || !labels.contains(k) || labels[k] != v) matches = false;
    if (!matches)
      causes.push_back({"FieldValueInvalid", "spec.template.metadata.labels",
                        "Invalid value: " + goMap(labels.is_object() ? labels : Json::object()) +
                            ": `selector` does not match template `labels`"});
  }
  podSpec(at(at(spec, "template"), "spec"), "spec.template.spec", causes);
}

void podDisruptionBudget(const Json& object, std::vector<Cause>& causes) {
  const Json& spec = at(object, "spec");
  if (!at(spec, "minAvailable").is_null() && !at(spec, "maxUnavailable").is_null())
    causes.push_back(
        {"FieldValueInvalid", "spec", "Invalid value: minAvailable and maxUnavailable cannot be both set"});
}

// admissionregistration.k8s.io/v1 webhooks (mutating and validating).
void webhooks(const Json& object, bool mutating, std::vector<Cause>& causes) {
  const Json& hooks = at(object, "webhooks");
  if (!hooks.is_array()) return;
  std::set<std::string> names;
  for (size_t i = 0; i < hooks.size(); ++i) {
    const Json& h = hooks[i];
    const std::string p = "webhooks[" + std::to_string(i) + "]";
    const Json& name = at(h, "name");
    if (emptyValue(name)) {
      causes.push_back({"FieldValueRequired", p + ".name", "Required value"});
    } else if (name.is_string()) {
      const std::string n = name.get<std::string>();
      if (std::count(n.begin(), n.end(), '.') < 2)
        causes.push_back({"FieldValueInvalid", p + ".name",
                          "Invalid value: \"" + n +
                              "\": should be a domain with at least three segments separated "
                              "by dots"});
      if (!names.insert(n).second)
        causes.push_back({"FieldValueDuplicate", p + ".name", "Duplicate value: \"" + n + "\""});
    }
    const Json& cc = at(h, "clientConfig");
    const bool url = !emptyValue(at(cc, "url")), service = !emptyValue(at(cc, "service"));
    if (url == service)
      causes.push_back(
          {"FieldValueRequired", p + ".clientConfig", "Required value: exactly one of url or service is required"});
    if (service) {
      const Json& svc = at(cc, "service");
      if (emptyValue(at(svc, "name")))
        causes.push_back(
            {"FieldValueRequired", p + ".clientConfig.service.name", "Required value: service name is required"});
      if (emptyValue(at(svc, "namespace")))
        causes.push_back({"FieldValueRequired", p + ".clientConfig.service.namespace",
                          "Required value: service namespace is required"});
      const Json& port = at(svc, "port");
      if (port.is_number_integer() && (port.get<int64_t>() < 1 || port.get<int64_t>() > 65535))
        causes.push_back(
            {"FieldValueInvalid", p + ".clientConfig.service.port",
             "Invalid value: " + port.dump() + ": port is not valid: must be between 1 and 65535, inclusive"});
    }
    const Json& sideEffects = at(h, "sideEffects");
    if (emptyValue(sideEffects))
      causes.push_back(
          {"FieldValueRequired", p + ".sideEffects", "Required value: must specify one of None, NoneOnDryRun"});
    else if (sideEffects != "None" && sideEffects != "NoneOnDryRun")
      causes.push_back({"FieldValueNotSupported", p + ".sideEffects",
                        "Unsupported value: " + sideEffects.dump() + ": supported values: \"None\", \"NoneOnDryRun\""});
    const Json& reviews = at(h, "admissionReviewVersions");
    bool knownReview = false;
    if (reviews.is_array())
      for (const auto& v : reviews) knownReview = knownReview || v == "v1" || v == "v1beta1";
    if (!knownReview)
      causes.push_back(
          {"FieldValueRequired", p + ".admissionReviewVersions", "Required value: must specify one of v1, v1beta1"});
    const Json& failure = at(h, "failurePolicy");
    if (!failure.is_null() && failure != "Fail" && failure != "Ignore")
      causes.push_back({"FieldValueNotSupported", p + ".failurePolicy",
                        "Unsupported value: " + failure.dump() + ": supported values: \"Fail\", \"Ignore\""});
    const Json& timeout = at(h, "timeoutSeconds");
    if (timeout.is_number_integer() && (timeout.get<int64_t>() < 1 || timeout.get<int64_t>() > 30))
      causes.push_back({"FieldValueInvalid", p + ".timeoutSeconds",
                        "Invalid value: " + timeout.dump() + ": the timeout value must be between 1 and 30 seconds"});
    const Json& reinvocation = at(h, "reinvocationPolicy");
    if (mutating && !reinvocation.is_null() && reinvocation != "Never" && reinvocation != "IfNeeded")
      causes.push_back({"FieldValueNotSupported", p + ".reinvocationPolicy",
                        "Unsupported value: " + reinvocation.dump() + ": supported values: \"IfNeeded\", \"Never\""});
  }
}

}  // namespace

std::vector<Cause> validateBuiltin(const std::string& group, const std::string& kind, const Json& object) {
  std::vector<Cause> causes;
  if (group.empty() && kind == "Pod") podSpec(at(object, "spec"), "spec", causes);
  if (group == "apps" && (kind == "Deployment" || kind == "StatefulSet" || kind == "ReplicaSet" || kind == "DaemonSet"))
    workload(object, kind, causes);
  if (group == "policy" && kind == "PodDisruptionBudget") podDisruptionBudget(object, causes);
  if (group == "admissionregistration.k8s.io" && kind == "MutatingWebhookConfiguration") webhooks(object, true, causes);
  if (group == "admissionregistration.k8s.io" && kind == "ValidatingWebhookConfiguration")
    webhooks(object, false, causes);
  return causes;
}

}  // namespace tributary::apiserver
