#include "tests/support/apiserver/discovery.h"

#include <cctype>

namespace tributary::apiserver {

using Json = nlohmann::json;

Json versionInfo(const std::string& gitVersion) {
  // "v1.32.0" → major "1", minor "32".
  std::string major = "1", minor = "0";
  size_t i = gitVersion.rfind('v', 0) == 0 ? 1 : 0;
  auto digits = [&] {
    std::string d;
    while (i < gitVersion.size() && std::isdigit(static_cast<unsigned char>(gitVersion[i]))) d += gitVersion[i++];
    return d;
  };
  std::string a = digits();
  if (!a.empty() && i < gitVersion.size() && gitVersion[i] == '.') {
    ++i;
    std::string b = digits();
    if (!b.empty()) {
      major = a;
      minor = b;
    }
  }
  return {{"major", major},
          {"minor", minor},
          {"gitVersion", gitVersion},
          {"gitCommit", "0000000000000000000000000000000000000000"},
          {"gitTreeState", "clean"},
          {"buildDate", "2025-01-01T00:00:00Z"},
          {"goVersion", "go1.23.0"},
          {"compiler", "gc"},
          {"platform", "linux/amd64"}};
}

Json apiVersions(const std::string& serverAddress) {
  return {{"kind", "APIVersions"},
          {"versions", {"v1"}},
          {"serverAddressByClientCIDRs", {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", serverAddress}}}}};
}

namespace {
Json groupJson(const std::string& name, const std::vector<std::string>& versions) {
  Json vs = Json::array();
  for (const auto& v : versions) vs.push_back({{"groupVersion", name + "/" + v}, {"version", v}});
  return {{"name", name}, {"versions", vs}, {"preferredVersion", vs.empty() ? Json::object() : vs[0]}};
}
}  // namespace

Json apiGroupList(const ResourceRegistry& registry) {
  Json groups = Json::array();
  for (const auto& [name, versions] : registry.groups()) groups.push_back(groupJson(name, versions));
  return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
}

std::optional<Json> apiGroup(const ResourceRegistry& registry, const std::string& group) {
  for (const auto& [name, versions] : registry.groups()) {
    if (name != group) continue;
    Json g = groupJson(name, versions);
    g["kind"] = "APIGroup";
    g["apiVersion"] = "v1";
    return g;
  }
  return std::nullopt;
}

std::optional<Json> apiResourceList(const ResourceRegistry& registry, const std::string& group,
                                    const std::string& version) {
  auto types = registry.typesAt(group, version);
  if (types.empty()) return std::nullopt;
  Json resources = Json::array();
  const Json verbs = {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"};
  for (const auto& t : types) {
    Json r{{"name", t->plural},
           {"singularName", t->singular},
           {"namespaced", t->namespaced},
           {"kind", t->kind},
           {"verbs", verbs}};
    if (!t->shortNames.empty()) r["shortNames"] = t->shortNames;
    if (!t->categories.empty()) r["categories"] = t->categories;
    resources.push_back(r);
    if (t->statusSubresource)
      resources.push_back({{"name", t->plural + "/status"},
                           {"singularName", ""},
                           {"namespaced", t->namespaced},
                           {"kind", t->kind},
                           {"verbs", {"get", "patch", "update"}}});
    if (t->scale)
      resources.push_back({{"name", t->plural + "/scale"},
                           {"singularName", ""},
                           {"namespaced", t->namespaced},
                           {"group", "autoscaling"},
                           {"version", "v1"},
                           {"kind", "Scale"},
                           {"verbs", {"get", "patch", "update"}}});
  }
  return Json{{"kind", "APIResourceList"},
              {"apiVersion", "v1"},
              {"groupVersion", group.empty() ? version : group + "/" + version},
              {"resources", resources}};
}

}  // namespace tributary::apiserver
