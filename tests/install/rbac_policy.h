#pragma once
// RBAC as the API server evaluates it, for the rules a manifest binds to one
// ServiceAccount: which API request (group, resource, subresource, namespace,
// name, verb) they allow. Covers what Tributary's roles use — apiGroups,
// resources (with subresources), verbs, resourceNames, "*" — not aggregation
// or nonResourceURLs. Immutable after construction; any thread.
#include <optional>
#include <string>
#include <vector>

#include "tests/install/manifest.h"

namespace tributary::install::test {

// One API request, as RBAC sees it.
struct ApiRequest {
  std::string group, resource, subresource, ns, name, verb;
  std::string path;  // as sent, for messages
  // "group/resource[/subresource] verb [in ns] [name]"
  std::string describe() const;
};

// Maps a request the test API server recorded (path and query; its verb) to
// an ApiRequest; nullopt for non-resource URLs (/version, /api, /apis, ...).
std::optional<ApiRequest> parseApiRequest(const std::string& target, const std::string& verb);

// One verb a rule grants on one resource: what the "every verb is used" check counts.
struct Grant {
  std::string group, resource;  // resource may be "plural/subresource"
  std::string verb;
  std::vector<std::string> resourceNames;
  std::string ns;  // "" for a ClusterRole
  std::string key() const { return (group.empty() ? "core" : group) + "/" + resource + ":" + verb; }
};

class RbacPolicy {
 public:
  // The Roles and ClusterRoles bound to ServiceAccount `ns`/`serviceAccount` by the
  // manifest's RoleBindings and ClusterRoleBindings. Throws std::runtime_error
  // when a binding names a role the manifest does not hold.
  RbacPolicy(const Manifest& manifest, const std::string& ns, const std::string& serviceAccount);

  bool allows(const ApiRequest& request) const;
  const std::vector<Grant>& grants() const { return grants_; }

 private:
  std::vector<Grant> grants_;
};

}  // namespace tributary::install::test
