#include "tests/install/rbac_policy.h"

#include <algorithm>
#include <stdexcept>

namespace tributary::install::test {

namespace {

std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::vector<std::string> strings(const Json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key) && j[key].is_array())
    for (const auto& s : j[key]) out.push_back(s.get<std::string>());
  return out;
}

bool matches(const std::vector<std::string>& allowed, const std::string& value) {
  return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) { return a == "*" || a == value; });
}

}  // namespace

std::string ApiRequest::describe() const {
  std::string s =
      (group.empty() ? "core" : group) + "/" + resource + (subresource.empty() ? "" : "/" + subresource) + " " + verb;
  if (!ns.empty()) s += " in " + ns;
  if (!name.empty()) s += " name " + name;
  return s + " (" + path + ")";
}

std::optional<ApiRequest> parseApiRequest(const std::string& target, const std::string& verb) {
  const std::string path = target.substr(0, target.find('?'));
  auto segs = split(path);
  ApiRequest r;
  r.path = target;
  r.verb = verb;
  size_t i;
  if (segs.size() >= 3 && segs[0] == "api") {
    i = 2;  // /api/v1/...
  } else if (segs.size() >= 4 && segs[0] == "apis") {
    r.group = segs[1];
    i = 3;  // /apis/group/version/...
  } else {
    return std::nullopt;  // discovery, /version, /healthz, ...
  }
  if (i < segs.size() && segs[i] == "watch") ++i;  // the deprecated /watch/ prefix
  std::vector<std::string> rest(segs.begin() + static_cast<long>(i), segs.end());
  const bool namespaceSubresource =
      rest.size() == 3 && rest[0] == "namespaces" && (rest[2] == "status" || rest[2] == "finalize");
  if (rest.size() >= 3 && rest[0] == "namespaces" && !namespaceSubresource) {
    r.ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.empty()) return std::nullopt;
  r.resource = rest[0];
  if (rest.size() >= 2) r.name = rest[1];
  if (rest.size() >= 3) r.subresource = rest[2];
  if (r.resource == "namespaces" && !r.name.empty()) r.ns = "";  // a namespace object itself
  return r;
}

RbacPolicy::RbacPolicy(const Manifest& manifest, const std::string& ns, const std::string& serviceAccount) {
  auto boundHere = [&](const Json& binding) {
    for (const auto& s : binding.value("subjects", Json::array()))
      if (s.value("kind", "") == "ServiceAccount" && s.value("name", "") == serviceAccount &&
          s.value("namespace", "") == ns)
        return true;
    return false;
  };
  auto addRules = [&](const Json& role, const std::string& scope) {
    for (const auto& rule : role.value("rules", Json::array()))
      for (const auto& group : strings(rule, "apiGroups"))
        for (const auto& resource : strings(rule, "resources"))
          for (const auto& verb : strings(rule, "verbs"))
            grants_.push_back({group, resource, verb, strings(rule, "resourceNames"), scope});
  };
  for (const Json* b : manifest.ofKind("ClusterRoleBinding")) {
    if (!boundHere(*b)) continue;
    addRules(manifest.get("ClusterRole", (*b)["roleRef"].value("name", "")), "");
  }
  for (const Json* b : manifest.ofKind("RoleBinding")) {
    if (!boundHere(*b)) continue;
    const std::string bindingNs = (*b)["metadata"].value("namespace", "");
    const Json& ref = (*b)["roleRef"];
    if (ref.value("kind", "") == "ClusterRole") {
      addRules(manifest.get("ClusterRole", ref.value("name", "")), bindingNs);
    } else {
      const Json& role = manifest.get("Role", ref.value("name", ""));
      if (role["metadata"].value("namespace", "") != bindingNs)
        throw std::runtime_error("RoleBinding " + (*b)["metadata"].value("name", "") + " in " + bindingNs +
                                 " names a Role of another namespace");
      addRules(role, bindingNs);
    }
  }
}

bool RbacPolicy::allows(const ApiRequest& request) const {
  const std::string resource = request.resource + (request.subresource.empty() ? "" : "/" + request.subresource);
  for (const auto& g : grants_) {
    if (!g.ns.empty() && g.ns != request.ns) continue;
    if (g.group != "*" && g.group != request.group) continue;
    if (g.resource != "*" && g.resource != resource) continue;
    if (g.verb != "*" && g.verb != request.verb) continue;
    // resourceNames restrict requests that name one object; create, list
    // and watch without a name never match such a rule.
    if (!g.resourceNames.empty() && (request.name.empty() || !matches(g.resourceNames, request.name))) continue;
    return true;
  }
  return false;
}

}  // namespace tributary::install::test
