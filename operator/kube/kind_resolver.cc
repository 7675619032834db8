#include "operator/kube/kind_resolver.h"

namespace tributary::op::kube {

std::pair<std::string, std::string> splitApiVersion(const std::string& apiVersion) {
  auto slash = apiVersion.find('/');
  if (slash == std::string::npos) return {"", apiVersion};
  return {apiVersion.substr(0, slash), apiVersion.substr(slash + 1)};
}

namespace {

// The kinds of an APIResourceList: "<plural>" entries, and "<plural>/scale"
// entries marking the scalable ones.
std::vector<ResolvedKind> kindsOf(const Json& list, const std::string& group, const std::string& version) {
  std::vector<ResolvedKind> out;
  if (!list.is_object() || !list.contains("resources") || !list["resources"].is_array()) return out;
  for (const auto& r : list["resources"]) {
    const std::string name = r.value("name", "");
    if (name.empty() || name.find('/') != std::string::npos) continue;
    out.push_back({r.value("kind", ""), ResourceRef{group, version, name, r.value("namespaced", true)}, false});
  }
  for (const auto& r : list["resources"]) {
    const std::string name = r.value("name", "");
    auto slash = name.find('/');
    if (slash == std::string::npos || name.substr(slash + 1) != "scale") continue;
    for (auto& k : out)
      if (k.resource.plural == name.substr(0, slash)) k.scalable = true;
  }
  return out;
}

}  // namespace

std::optional<ResolvedKind> KindResolver::lookupLocked(const std::string& apiVersion, const std::string& kind) const {
  auto it = byGroupVersion_.find(apiVersion);
  if (it == byGroupVersion_.end()) return std::nullopt;
  for (const auto& k : it->second)
    if (k.kind == kind) return k;
  return std::nullopt;
}

std::optional<ResolvedKind> KindResolver::resolve(const std::string& apiVersion, const std::string& kind) {
  if (apiVersion == "apps/v1") {
    // The workloads an HPA usually targets: no discovery needed.
    if (kind == "Deployment") return ResolvedKind{kind, {"apps", "v1", "deployments", true}, true};
    if (kind == "StatefulSet") return ResolvedKind{kind, {"apps", "v1", "statefulsets", true}, true};
    if (kind == "ReplicaSet") return ResolvedKind{kind, {"apps", "v1", "replicasets", true}, true};
  }
  {
    std::lock_guard lock(mu_);
    if (auto k = lookupLocked(apiVersion, kind)) return k;
  }
  const auto [group, version] = splitApiVersion(apiVersion);
  if (version.empty()) return std::nullopt;
  Json list;
  try {
    list = client_.getNonResource(group.empty() ? "/api/" + version : "/apis/" + group + "/" + version);
  } catch (const ApiError& e) {
    if (isNotFound(e)) return std::nullopt;
    throw;
  }
  std::lock_guard lock(mu_);
  byGroupVersion_[apiVersion] = kindsOf(list, group, version);
  return lookupLocked(apiVersion, kind);
}

}  // namespace tributary::op::kube
