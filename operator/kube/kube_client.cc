#include "operator/kube/kube_client.h"

#include <cctype>

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

namespace {

std::string percentEncode(const std::string& value) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

void addParam(std::string& query, const char* key, const std::string& value) {
  if (value.empty()) return;
  query += query.empty() ? '?' : '&';
  query += key;
  query += '=';
  query += percentEncode(value);
}

}  // namespace

std::string listQuery(const ListOptions& options) {
  std::string query;
  addParam(query, "labelSelector", options.labelSelector);
  addParam(query, "fieldSelector", options.fieldSelector);
  if (options.limit > 0) addParam(query, "limit", std::to_string(options.limit));
  addParam(query, "continue", options.continueToken);
  addParam(query, "resourceVersion", options.resourceVersion);
  return query;
}

std::string watchQuery(const WatchOptions& options) {
  std::string query = "?watch=true";
  addParam(query, "resourceVersion", options.resourceVersion);
  if (options.allowWatchBookmarks) addParam(query, "allowWatchBookmarks", "true");
  addParam(query, "labelSelector", options.labelSelector);
  addParam(query, "fieldSelector", options.fieldSelector);
  if (options.timeoutSeconds > 0) addParam(query, "timeoutSeconds", std::to_string(options.timeoutSeconds));
  return query;
}

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

Scale scaleFromJson(const Json& scale) {
  if (!scale.is_object() || scale.value("kind", "") != "Scale")
    throw ApiError(ApiError::Kind::Invalid, 0, "", "the answer is not an autoscaling/v1 Scale: " + scale.dump().substr(0, 200));
  auto int32At = [&](const char* section, const char* field) -> int32_t {
    auto s = scale.find(section);
    if (s == scale.end() || !s->is_object()) return 0;
    auto f = s->find(field);
    return f != s->end() && f->is_number_integer() ? f->get<int32_t>() : 0;
  };
  Scale out;
  out.specReplicas = int32At("spec", "replicas");
  out.statusReplicas = int32At("status", "replicas");
  if (auto st = scale.find("status"); st != scale.end() && st->is_object())
    if (auto sel = st->find("selector"); sel != st->end() && sel->is_string()) out.selector = sel->get<std::string>();
  if (auto m = scale.find("metadata"); m != scale.end() && m->is_object())
    if (auto rv = m->find("resourceVersion"); rv != m->end() && rv->is_string()) out.resourceVersion = rv->get<std::string>();
  return out;
}

Json KubeClient::getSubresource(const ResourceRef& resource, const std::string& ns, const std::string& name,
                                const std::string& subresource) {
  throw ApiError(ApiError::Kind::BadRequest, 0, "BadRequest",
                 "this client cannot GET " + resource.objectPath(ns, name, subresource));
}

Json KubeClient::updateSubresource(const ResourceRef& resource, const std::string& ns, const std::string& name,
                                   const std::string& subresource, const Json&) {
  throw ApiError(ApiError::Kind::BadRequest, 0, "BadRequest",
                 "this client cannot PUT " + resource.objectPath(ns, name, subresource));
}

Scale KubeClient::getScale(const ResourceRef& resource, const std::string& ns, const std::string& name) {
  return scaleFromJson(getSubresource(resource, ns, name, "scale"));
}

Scale KubeClient::updateScale(const ResourceRef& resource, const std::string& ns, const std::string& name,
                              int32_t replicas, const std::string& resourceVersion) {
  Json body = {{"apiVersion", "autoscaling/v1"},
               {"kind", "Scale"},
               {"metadata", {{"name", name}}},
               {"spec", {{"replicas", replicas}}}};
  if (resource.namespaced && !ns.empty()) body["metadata"]["namespace"] = ns;
  if (!resourceVersion.empty()) body["metadata"]["resourceVersion"] = resourceVersion;
  return scaleFromJson(updateSubresource(resource, ns, name, "scale", body));
}

Json KubeClient::getNonResource(const std::string& path) {
  throw ApiError(ApiError::Kind::BadRequest, 0, "BadRequest", "this client cannot GET " + path);
}

}  // namespace tributary::op::kube
