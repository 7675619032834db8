#include "tests/support/apiserver/resource_registry.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "tests/support/apiserver/api_error.h"
#include "tests/support/apiserver/names.h"

namespace tributary::apiserver {

using Json = nlohmann::json;

bool ResourceType::serves(const std::string& version) const {
  return std::find(versions.begin(), versions.end(), version) != versions.end();
}

std::string ResourceType::qualified() const { return qualifiedResource(group, plural); }

namespace {

// "v1beta2" → {major 1, stage beta (1), minor 2}; nullopt for non-kube names.
struct KubeVersion {
  int major = 0;
  int stage = 2;  // 2 GA, 1 beta, 0 alpha
  int minor = 0;
};

std::optional<KubeVersion> parseKubeVersion(const std::string& v) {
  // v<major>[(alpha|beta)<minor>], numbers without leading zeros.
  size_t i = 1;
  auto number = [&](int& out) {
    size_t start = i;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
    if (i == start || v[start] == '0' || i - start > 9) return false;
    out = std::stoi(v.substr(start, i - start));
    return true;
  };
  KubeVersion k;
  if (v.empty() || v[0] != 'v' || !number(k.major)) return std::nullopt;
  if (i == v.size()) return k;
  if (v.compare(i, 4, "beta") == 0) {
    k.stage = 1;
    i += 4;
  } else if (v.compare(i, 5, "alpha") == 0) {
    k.stage = 0;
    i += 5;
  } else {
    return std::nullopt;
  }
  if (!number(k.minor) || i != v.size()) return std::nullopt;
  return k;
}

ResourceTypePtr builtin(std::string group, std::string version, std::string plural, std::string kind, bool namespaced,
                        std::vector<std::string> shortNames = {}, bool status = false,
                        std::vector<std::string> fieldSelectors = {}) {
  auto t = std::make_shared<ResourceType>();
  t->group = std::move(group);
  t->storageVersion = version;
  t->versions = {std::move(version)};
  t->plural = std::move(plural);
  t->kind = std::move(kind);
  t->singular = t->kind;
  std::transform(t->singular.begin(), t->singular.end(), t->singular.begin(), ::tolower);
  t->listKind = t->kind + "List";
  t->namespaced = namespaced;
  t->shortNames = std::move(shortNames);
  t->statusSubresource = status;
  t->fieldSelectors = std::move(fieldSelectors);
  return t;
}

// apps/v1 workloads: replicas at .spec.replicas (1 when absent), the selector from .spec.selector.
ResourceTypePtr scalable(ResourceTypePtr type) {
  auto t = std::const_pointer_cast<ResourceType>(type);
  ScaleSubresource s;
  s.absentReplicas = 1;
  t->scale = s;
  return t;
}

const Json* find(const Json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

std::string str(const Json& j, const char* key) {
  auto* v = find(j, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

}  // namespace

bool versionHigherPriority(const std::string& a, const std::string& b) {
  auto ka = parseKubeVersion(a), kb = parseKubeVersion(b);
  if (ka && kb) {
    if (ka->stage != kb->stage) return ka->stage > kb->stage;
    if (ka->major != kb->major) return ka->major > kb->major;
    return ka->minor > kb->minor;
  }
  if (ka || kb) return ka.has_value();  // kube-like names before others
  return a < b;
}

std::vector<ResourceTypePtr> builtinResourceTypes() {
  auto pods = std::const_pointer_cast<ResourceType>(
      builtin("", "v1", "pods", "Pod", true, {"po"}, true, {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                                                            "spec.serviceAccountName", "status.phase", "status.podIP"}));
  pods->returnDeletedObject = true;
  const std::vector<std::string> coreEventFields{
      "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
      "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
      "reason", "reportingComponent", "source", "type"};
  return {
      builtin("", "v1", "namespaces", "Namespace", false, {"ns"}, true, {"status.phase"}),
      builtin("", "v1", "configmaps", "ConfigMap", true, {"cm"}),
      builtin("", "v1", "secrets", "Secret", true, {}, false, {"type"}),
      builtin("", "v1", "services", "Service", true, {"svc"}, true),
      builtin("", "v1", "endpoints", "Endpoints", true, {"ep"}),
      pods,
      builtin("", "v1", "events", "Event", true, {"ev"}, false, coreEventFields),
      builtin("", "v1", "serviceaccounts", "ServiceAccount", true, {"sa"}),
      builtin("", "v1", "nodes", "Node", false, {"no"}, true),
      builtin("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true, {"pvc"}, true),
      scalable(builtin("apps", "v1", "deployments", "Deployment", true, {"deploy"}, true)),
      scalable(builtin("apps", "v1", "statefulsets", "StatefulSet", true, {"sts"}, true)),
      scalable(builtin("apps", "v1", "replicasets", "ReplicaSet", true, {"rs"}, true)),
      builtin("apps", "v1", "daemonsets", "DaemonSet", true, {"ds"}, true),
      builtin("batch", "v1", "jobs", "Job", true, {}, true),
      builtin("batch", "v1", "cronjobs", "CronJob", true, {"cj"}, true),
      builtin("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true, {"hpa"}, true),
      builtin("coordination.k8s.io", "v1", "leases", "Lease", true),
      builtin("events.k8s.io", "v1", "events", "Event", true, {"ev"}, false,
              {"regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid", "reason",
               "reportingController", "type"}),
      builtin("rbac.authorization.k8s.io", "v1", "roles", "Role", true),
      builtin("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true),
      builtin("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false),
      builtin("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false),
      builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false,
              {"crd", "crds"}, true),
      builtin("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, {"pdb"}, true),
      builtin("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", false),
      builtin("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration",
              false),
  };
}

void defaultCrd(Json& crd) {
  if (!crd.contains("spec") || !crd["spec"].is_object()) return;
  Json& names = crd["spec"]["names"];
  if (!names.is_object()) return;
  std::string kind = str(names, "kind");
  if (str(names, "singular").empty() && !kind.empty()) {
    std::string s = kind;
    std::transform(s.begin(), s.end(), s.begin(), ::tolower);
    names["singular"] = s;
  }
  if (str(names, "listKind").empty() && !kind.empty()) names["listKind"] = kind + "List";
}

ResourceTypePtr resourceTypeFromCrd(const Json& crd) {
  std::vector<Cause> causes;
  const std::string name = crd.contains("metadata") ? str(crd["metadata"], "name") : "";
  const Json empty = Json::object();
  const Json& spec = find(crd, "spec") ? crd["spec"] : empty;
  const Json& names = find(spec, "names") ? spec["names"] : empty;

  auto t = std::make_shared<ResourceType>();
  t->builtin = false;
  t->group = str(spec, "group");
  t->plural = str(names, "plural");
  t->singular = str(names, "singular");
  t->kind = str(names, "kind");
  t->listKind = str(names, "listKind");
  if (auto* sn = find(names, "shortNames"); sn && sn->is_array())
    for (auto& s : *sn)
      if (s.is_string()) t->shortNames.push_back(s.get<std::string>());
  if (auto* cats = find(names, "categories"); cats && cats->is_array())
    for (auto& s : *cats)
      if (s.is_string()) t->categories.push_back(s.get<std::string>());

  if (t->group.empty())
    causes.push_back({"FieldValueRequired", "spec.group", "Required value"});
  else if (t->group.find('.') == std::string::npos)
    causes.push_back({"FieldValueInvalid", "spec.group",
                      "Invalid value: \"" + t->group + "\": should be a domain with at least one dot"});
  if (t->plural.empty())
    causes.push_back({"FieldValueRequired", "spec.names.plural", "Required value"});
  else if (!isDnsLabel(t->plural))
    causes.push_back({"FieldValueInvalid", "spec.names.plural",
                      "Invalid value: \"" + t->plural + "\": a lowercase RFC 1123 label must consist of lower case "
                                                        "alphanumeric characters or '-'"});
  if (t->kind.empty()) causes.push_back({"FieldValueRequired", "spec.names.kind", "Required value"});
  if (!t->plural.empty() && !t->group.empty() && name != t->plural + "." + t->group)
    causes.push_back({"FieldValueInvalid", "metadata.name",
                      "Invalid value: \"" + name + "\": must be spec.names.plural+\".\"+spec.group"});
  const std::string scope = str(spec, "scope");
  if (scope == "Namespaced")
    t->namespaced = true;
  else if (scope == "Cluster")
    t->namespaced = false;
  else
    causes.push_back({"FieldValueNotSupported", "spec.scope",
                      "Unsupported value: \"" + scope + "\": supported values: \"Cluster\", \"Namespaced\""});

  int storageCount = 0;
  std::string storageVersion;
  std::set<std::string> seen;
  std::map<std::string, bool> statusByVersion;
  std::map<std::string, ScaleSubresource> scaleByVersion;
  const Json* versions = find(spec, "versions");
  if (!versions || !versions->is_array() || versions->empty()) {
    causes.push_back({"FieldValueRequired", "spec.versions", "Required value: must have at least one version"});
  } else {
    for (size_t i = 0; i < versions->size(); ++i) {
      const Json& v = (*versions)[i];
      const std::string path = "spec.versions[" + std::to_string(i) + "]";
      const std::string vname = str(v, "name");
      if (vname.empty()) {
        causes.push_back({"FieldValueRequired", path + ".name", "Required value"});
        continue;
      }
      if (!seen.insert(vname).second)
        causes.push_back({"FieldValueInvalid", "spec.versions", "Invalid value: must contain unique version names"});
      const Json* schema = find(v, "schema");
      if (!schema || !find(*schema, "openAPIV3Schema"))
        causes.push_back({"FieldValueRequired", path + ".schema.openAPIV3Schema", "Required value: schemas are required"});
      else
        t->schemas[vname] = (*schema)["openAPIV3Schema"];
      if (auto* st = find(v, "storage"); st && st->is_boolean() && st->get<bool>()) {
        ++storageCount;
        storageVersion = vname;
      }
      if (auto* served = find(v, "served"); !served || !served->is_boolean() || served->get<bool>())
        t->versions.push_back(vname);
      std::vector<PrinterColumn> columns;
      if (auto* cols = find(v, "additionalPrinterColumns"); cols && cols->is_array()) {
        for (size_t c = 0; c < cols->size(); ++c) {
          const Json& col = (*cols)[c];
          PrinterColumn pc{str(col, "name"), str(col, "type"), str(col, "format"), str(col, "description"),
                           str(col, "jsonPath"), col.value("priority", 0)};
          const std::string cpath = path + ".additionalPrinterColumns[" + std::to_string(c) + "]";
          static const std::set<std::string> types{"integer", "number", "string", "boolean", "date"};
          if (pc.name.empty()) causes.push_back({"FieldValueRequired", cpath + ".name", "Required value"});
          if (pc.jsonPath.empty()) causes.push_back({"FieldValueRequired", cpath + ".jsonPath", "Required value"});
          if (!types.count(pc.type))
            causes.push_back({"FieldValueNotSupported", cpath + ".type",
                              "Unsupported value: \"" + pc.type +
                                  "\": supported values: \"boolean\", \"date\", \"integer\", \"number\", \"string\""});
          columns.push_back(pc);
        }
      }
      // Without printer columns the real server shows Name and Age.
      if (columns.empty()) columns.push_back({"Age", "date", "", "", ".metadata.creationTimestamp", 0});
      t->printerColumns[vname] = columns;
      // Subresources may differ per version in apiextensions/v1; this server
      // applies the storage version's to every version.
      if (const Json* sub = find(v, "subresources")) {
        statusByVersion[vname] = find(*sub, "status") != nullptr;
        if (const Json* sc = find(*sub, "scale")) {
          // What apiextensions validates: specReplicasPath under .spec,
          // statusReplicasPath under .status, labelSelectorPath under either;
          // dotted field paths only (no array indices).
          const std::string spath = path + ".subresources.scale";
          ScaleSubresource scale;
          scale.specReplicasPath = str(*sc, "specReplicasPath");
          scale.statusReplicasPath = str(*sc, "statusReplicasPath");
          scale.labelSelectorPath = str(*sc, "labelSelectorPath");
          auto checkPath = [&](const std::string& field, const std::string& value, bool required,
                               std::vector<std::string> roots) {
            if (value.empty()) {
              if (required) causes.push_back({"FieldValueRequired", spath + "." + field, "Required value"});
              return;
            }
            bool under = false;
            for (const auto& r : roots) under = under || (value.rfind(r, 0) == 0 && value.size() > r.size());
            const bool simple = value.find_first_of("[]* ") == std::string::npos && value.find("..") == std::string::npos &&
                                value.back() != '.';
            if (!under || !simple) {
              std::string where = roots.size() == 1 ? roots[0].substr(0, roots[0].size() - 1)
                                                    : ".spec or .status";
              causes.push_back({"FieldValueInvalid", spath + "." + field,
                                "Invalid value: \"" + value + "\": should be a json path under " + where});
            }
          };
          checkPath("specReplicasPath", scale.specReplicasPath, true, {".spec."});
          checkPath("statusReplicasPath", scale.statusReplicasPath, true, {".status."});
          checkPath("labelSelectorPath", scale.labelSelectorPath, false, {".spec.", ".status."});
          scaleByVersion[vname] = scale;
        }
      }
    }
    if (storageCount != 1)
      causes.push_back({"FieldValueInvalid", "spec.versions",
                        "Invalid value: must have exactly one version marked as storage version"});
  }
  if (!causes.empty()) throw invalid("apiextensions.k8s.io", "CustomResourceDefinition", name, causes);
  t->statusSubresource = statusByVersion[storageVersion];
  if (auto sc = scaleByVersion.find(storageVersion); sc != scaleByVersion.end()) t->scale = sc->second;
  t->storageVersion = storageVersion;

  if (t->singular.empty()) {
    t->singular = t->kind;
    std::transform(t->singular.begin(), t->singular.end(), t->singular.begin(), ::tolower);
  }
  if (t->listKind.empty()) t->listKind = t->kind + "List";
  std::stable_sort(t->versions.begin(), t->versions.end(), versionHigherPriority);
  return t;
}

ResourceRegistry::ResourceRegistry() { types_ = builtinResourceTypes(); }

void ResourceRegistry::put(ResourceTypePtr type) {
  for (auto& t : types_) {
    if (t->group == type->group && t->plural == type->plural) {
      t = std::move(type);
      return;
    }
  }
  types_.push_back(std::move(type));
}

void ResourceRegistry::remove(const std::string& group, const std::string& plural) {
  std::erase_if(types_, [&](const ResourceTypePtr& t) { return t->group == group && t->plural == plural; });
}

ResourceTypePtr ResourceRegistry::find(const std::string& group, const std::string& version,
                                       const std::string& plural) const {
  for (const auto& t : types_)
    if (t->group == group && t->plural == plural && t->serves(version)) return t;
  return nullptr;
}

ResourceTypePtr ResourceRegistry::findGroupResource(const std::string& group, const std::string& plural) const {
  for (const auto& t : types_)
    if (t->group == group && t->plural == plural) return t;
  return nullptr;
}

std::vector<std::pair<std::string, std::vector<std::string>>> ResourceRegistry::groups() const {
  std::vector<std::pair<std::string, std::vector<std::string>>> builtins, crds;
  auto add = [](auto& list, const ResourceType& t) {
    auto it = std::find_if(list.begin(), list.end(), [&](auto& g) { return g.first == t.group; });
    if (it == list.end()) {
      list.push_back({t.group, {}});
      it = std::prev(list.end());
    }
    for (const auto& v : t.versions)
      if (std::find(it->second.begin(), it->second.end(), v) == it->second.end()) it->second.push_back(v);
    std::stable_sort(it->second.begin(), it->second.end(), versionHigherPriority);
  };
  for (const auto& t : types_) {
    if (t->group.empty()) continue;
    bool builtinGroup = std::any_of(types_.begin(), types_.end(),
                                    [&](const ResourceTypePtr& o) { return o->builtin && o->group == t->group; });
    add(builtinGroup ? builtins : crds, *t);
  }
  std::sort(crds.begin(), crds.end());
  builtins.insert(builtins.end(), crds.begin(), crds.end());
  return builtins;
}

std::vector<ResourceTypePtr> ResourceRegistry::typesAt(const std::string& group, const std::string& version) const {
  std::vector<ResourceTypePtr> out;
  for (const auto& t : types_)
    if (t->group == group && t->serves(version)) out.push_back(t);
  return out;
}

}  // namespace tributary::apiserver
