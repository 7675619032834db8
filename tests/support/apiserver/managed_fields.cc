#include "tests/support/apiserver/managed_fields.h"

#include <map>
#include <set>
#include <vector>

namespace tributary::apiserver {

using Json = nlohmann::json;

namespace {

// A field path is its FieldsV1 keys ("f:spec", "k:{\"name\":\"a\"}", "v:\"x\"")
// joined by this separator, which no key contains.
constexpr char kSep = '\x1f';

struct Node {
  const Json* value = nullptr;
  bool leaf = true;  // compared by value (scalars, empty objects, atomic lists)
};
using Fields = std::map<std::string, Node>;
using PathSet = std::set<std::string>;

std::string join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + kSep + key;
}

bool namedItems(const Json& list) {
  if (list.empty()) return false;
  for (const auto& item : list)
    if (!item.is_object() || !item.contains("name") || !item["name"].is_string()) return false;
  return true;
}

void walk(const ResourceType& type, const Json& value, const std::string& path, const std::string& field, Fields& out);

void walkChildren(const ResourceType& type, const Json& value, const std::string& path, const std::string& field,
                  Fields& out, Node& self) {
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) walk(type, it.value(), join(path, "f:" + it.key()), it.key(), out);
    self.leaf = value.empty();
    return;
  }
  if (!value.is_array() || value.empty()) return;
  if (field == "finalizers") {  // metadata.finalizers: a set of strings
    for (const auto& v : value) out[join(path, "v:" + v.dump())] = Node{&v, true};
    self.leaf = false;
  } else if (field == "ownerReferences" || (type.builtin && namedItems(value))) {
    const char* key = field == "ownerReferences" ? "uid" : "name";
    for (const auto& item : value) {
      if (!item.is_object() || !item.contains(key)) continue;
      const std::string itemPath = join(path, "k:" + Json{{key, item[key]}}.dump());
      Node& n = out[itemPath];
      n.value = &item;
      walkChildren(type, item, itemPath, "", out, n);
    }
    self.leaf = false;
  }
  // Anything else is an atomic list: one leaf, compared whole.
}

void walk(const ResourceType& type, const Json& value, const std::string& path, const std::string& field, Fields& out) {
  Node& n = out[path];
  n.value = &value;
  walkChildren(type, value, path, field, out, n);
}

// Every field of `object` a manager can own.
Fields fieldsOf(const ResourceType& type, const Json& object) {
  static const std::set<std::string> kServerMetadata{
      "name",         "namespace",         "uid",
      "resourceVersion", "generation",     "creationTimestamp",
      "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields",
      "selfLink"};
  Fields out;
  if (!object.is_object()) return out;
  for (auto it = object.begin(); it != object.end(); ++it) {
    const std::string& key = it.key();
    if (key == "apiVersion" || key == "kind") continue;
    if (key == "metadata" && it->is_object()) {
      // metadata itself is never a member (no "."), only what is in it.
      for (auto m = it->begin(); m != it->end(); ++m)
        if (!kServerMetadata.count(m.key())) walk(type, m.value(), join("f:metadata", "f:" + m.key()), m.key(), out);
      continue;
    }
    walk(type, it.value(), "f:" + key, key, out);
  }
  return out;
}

void parseTree(const Json& tree, const std::string& path, PathSet& out) {
  if (!tree.is_object()) return;
  for (auto it = tree.begin(); it != tree.end(); ++it) {
    if (it.key() == ".") {
      if (!path.empty()) out.insert(path);
      continue;
    }
    const std::string child = join(path, it.key());
    if (it->is_object() && it->empty())
      out.insert(child);
    else
      parseTree(it.value(), child, out);
  }
}

Json toTree(const PathSet& paths) {
  Json tree = Json::object();
  for (const auto& p : paths) {
    Json* node = &tree;
    size_t start = 0;
    for (;;) {
      const size_t end = p.find(kSep, start);
      node = &(*node)[p.substr(start, end == std::string::npos ? std::string::npos : end - start)];
      if (end == std::string::npos) break;
      start = end + 1;
    }
    (*node)["."] = Json::object();  // a member; collapsed to {} below when it has no children
  }
  // A member without children is written {}; with children it keeps ".".
  std::vector<Json*> stack{&tree};
  while (!stack.empty()) {
    Json* node = stack.back();
    stack.pop_back();
    for (auto it = node->begin(); it != node->end(); ++it) {
      if (it.key() == ".") continue;
      if (it->size() == 1 && it->contains(".")) *it = Json::object();
      else stack.push_back(&it.value());
    }
  }
  return tree;
}

}  // namespace

std::string fieldManagerOf(const std::string& fieldManagerParam, const std::string& userAgent) {
  if (!fieldManagerParam.empty()) return fieldManagerParam;
  std::string prefix = userAgent.substr(0, userAgent.find('/'));
  if (prefix.size() > 128) prefix.resize(128);
  return prefix.empty() ? "unknown" : prefix;
}

void updateManagedFields(const ResourceType& type, const std::string& apiVersion, const Json* current, Json& next,
                         const std::string& manager, bool statusWrite, SystemTime now) {
  Json& meta = next["metadata"];
  const Json entries = meta.contains("managedFields") && meta["managedFields"].is_array() ? meta["managedFields"]
                                                                                           : Json::array();
  const Fields after = fieldsOf(type, next);
  const Fields before = current ? fieldsOf(type, *current) : Fields{};
  PathSet changed;
  for (const auto& [path, node] : after) {
    auto was = before.find(path);
    if (was == before.end() || was->second.leaf != node.leaf || (node.leaf && *was->second.value != *node.value))
      changed.insert(path);
  }
  bool removed = false;
  for (const auto& [path, node] : before) removed = removed || !after.count(path);
  if (changed.empty() && !removed) {
    if (entries.empty()) meta.erase("managedFields");
    return;  // nothing changed: no entry changes (a no-op write stays a no-op)
  }

  const std::string subresource = statusWrite ? "status" : "";
  Json result = Json::array();
  bool ours = false;
  for (const auto& e : entries) {
    if (!e.is_object()) continue;
    PathSet owned;
    parseTree(e.value("fieldsV1", Json::object()), "", owned);
    const bool isOurs = e.value("manager", "") == manager && e.value("operation", "") == "Update" &&
                        e.value("subresource", "") == subresource;
    PathSet kept;
    for (const auto& p : owned)
      if (after.count(p) && (isOurs || !changed.count(p))) kept.insert(p);
    Json entry = e;
    if (isOurs) {
      ours = true;
      kept.insert(changed.begin(), changed.end());
      entry["apiVersion"] = apiVersion;
      entry["time"] = formatTimestamp(now);
    }
    if (kept.empty()) continue;
    entry["fieldsType"] = "FieldsV1";
    entry["fieldsV1"] = toTree(kept);
    result.push_back(std::move(entry));
  }
  if (!ours && !changed.empty()) {
    Json entry{{"manager", manager}, {"operation", "Update"}, {"apiVersion", apiVersion},
               {"time", formatTimestamp(now)}, {"fieldsType", "FieldsV1"}, {"fieldsV1", toTree(changed)}};
    if (statusWrite) entry["subresource"] = "status";
    result.push_back(std::move(entry));
  }
  if (result.empty())
    meta.erase("managedFields");
  else
    meta["managedFields"] = std::move(result);
}

}  // namespace tributary::apiserver
