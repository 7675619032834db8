#include "operator/kube/kube_client.h"

namespace tributary::op::kube {

std::string ResourceRef::collectionPath(const std::string& ns) const {
  std::string path = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) path += "/namespaces/" + ns;
  return path + "/" + plural;
}

std::string ResourceRef::objectPath(const std::string& ns, const std::string& name,
                                    const std::string& subresource) const {
  std::string path = collectionPath(ns) + "/" + name;
  if (!subresource.empty()) path += "/" + subresource;
  return path;
}

std::string ResourceRef::displayName() const { return group.empty() ? plural : plural + "." + group; }

const char* watchEventTypeName(WatchEvent::Type type) {
  switch (type) {
    case WatchEvent::Type::Added: return "ADDED";
    case WatchEvent::Type::Modified: return "MODIFIED";
    case WatchEvent::Type::Deleted: return "DELETED";
    case WatchEvent::Type::Bookmark: return "BOOKMARK";
    case WatchEvent::Type::Error: return "ERROR";
  }
  return "UNKNOWN";
}

ListResult KubeClient::listAll(const ResourceRef& resource, const std::string& ns, ListOptions options) {
  ListResult all = list(resource, ns, options);
  std::string token = all.continueToken;
  while (!token.empty()) {
    // A continue token carries the snapshot; a resourceVersion alongside it is an error.
    options.continueToken = token;
    options.resourceVersion.clear();
    ListResult page = list(resource, ns, options);
    for (auto& item : page.items) all.items.push_back(std::move(item));
    token = page.continueToken;
  }
  all.continueToken.clear();
  return all;
}

Json KubeClient::getNonResource(const std::string& path) {
  throw ApiError(ApiError::Kind::BadRequest, 0, "BadRequest", "this client cannot GET " + path);
}

}  // namespace tributary::op::kube
