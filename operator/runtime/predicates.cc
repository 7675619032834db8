#include "operator/runtime/predicates.h"

#include <string>

namespace tributary::op::runtime {

namespace {

const nlohmann::json& metadataField(const nlohmann::json& object, const char* field) {
  static const nlohmann::json kNull;
  if (!object.is_object()) return kNull;
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return kNull;
  auto value = metadata->find(field);
  return value == metadata->end() ? kNull : *value;
}

// An absent or null map and {} mean the same to the API server.
bool sameMap(const nlohmann::json& a, const nlohmann::json& b) {
  const bool aEmpty = a.is_null() || (a.is_object() && a.empty());
  const bool bEmpty = b.is_null() || (b.is_object() && b.empty());
  if (aEmpty || bEmpty) return aEmpty == bEmpty;
  return a == b;
}

}  // namespace

bool generationChanged(const nlohmann::json& oldObject, const nlohmann::json& newObject) {
  return metadataField(oldObject, "generation") != metadataField(newObject, "generation");
}

bool annotationsOrLabelsChanged(const nlohmann::json& oldObject, const nlohmann::json& newObject) {
  return !sameMap(metadataField(oldObject, "annotations"), metadataField(newObject, "annotations")) ||
         !sameMap(metadataField(oldObject, "labels"), metadataField(newObject, "labels"));
}

bool deletionStarted(const nlohmann::json& oldObject, const nlohmann::json& newObject) {
  return metadataField(oldObject, "deletionTimestamp").is_null() &&
         !metadataField(newObject, "deletionTimestamp").is_null();
}

bool isResync(const nlohmann::json& oldObject, const nlohmann::json& newObject) {
  const auto& oldVersion = metadataField(oldObject, "resourceVersion");
  return oldVersion.is_string() && !oldVersion.get_ref<const std::string&>().empty() &&
         oldVersion == metadataField(newObject, "resourceVersion");
}

bool reconcileWorthyUpdate(const nlohmann::json& oldObject, const nlohmann::json& newObject) {
  return isResync(oldObject, newObject) || generationChanged(oldObject, newObject) || annotationsOrLabelsChanged(oldObject, newObject) ||
         deletionStarted(oldObject, newObject);
}

}  // namespace tributary::op::runtime
