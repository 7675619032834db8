#pragma once
// Small accessors for the metadata of objects held as JSON.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tributary::apiserver {

inline const nlohmann::json& metadataOf(const nlohmann::json& o) {
  static const nlohmann::json empty = nlohmann::json::object();
  auto it = o.find("metadata");
  return it != o.end() && it->is_object() ? *it : empty;
}

inline std::string metaString(const nlohmann::json& o, const char* field) {
  const auto& m = metadataOf(o);
  auto it = m.find(field);
  return it != m.end() && it->is_string() ? it->get<std::string>() : std::string();
}

inline std::string nameOf(const nlohmann::json& o) { return metaString(o, "name"); }
inline std::string namespaceOf(const nlohmann::json& o) { return metaString(o, "namespace"); }
inline std::string resourceVersionOf(const nlohmann::json& o) { return metaString(o, "resourceVersion"); }
inline bool isTerminating(const nlohmann::json& o) { return metadataOf(o).contains("deletionTimestamp"); }

inline std::vector<std::string> finalizersOf(const nlohmann::json& o) {
  std::vector<std::string> out;
  const auto& m = metadataOf(o);
  auto it = m.find("finalizers");
  if (it != m.end() && it->is_array())
    for (const auto& f : *it)
      if (f.is_string()) out.push_back(f.get<std::string>());
  return out;
}

// The store key of an object: "namespace/name", or "name" when cluster-scoped.
inline std::string objectKey(const std::string& ns, const std::string& name) { return ns.empty() ? name : ns + "/" + name; }

}  // namespace tributary::apiserver
