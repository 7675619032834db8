#include "operator/runtime/finalizers.h"

#include <string>

namespace tributary::op::runtime {

namespace {

bool matches(const nlohmann::json& entry, std::string_view finalizer) {
  return entry.is_string() && entry.get_ref<const std::string&>() == finalizer;
}

}  // namespace

bool hasFinalizer(const nlohmann::json& object, std::string_view finalizer) {
  if (!object.is_object()) return false;
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return false;
  auto finalizers = metadata->find("finalizers");
  if (finalizers == metadata->end() || !finalizers->is_array()) return false;
  for (const auto& f : *finalizers) {
    if (matches(f, finalizer)) return true;
  }
  return false;
}

bool addFinalizer(nlohmann::json& object, std::string_view finalizer) {
  if (hasFinalizer(object, finalizer)) return false;
  if (!object.is_object()) object = nlohmann::json::object();
  auto& metadata = object["metadata"];
  if (!metadata.is_object()) metadata = nlohmann::json::object();
  auto& finalizers = metadata["finalizers"];
  if (!finalizers.is_array()) finalizers = nlohmann::json::array();
  finalizers.push_back(std::string(finalizer));
  return true;
}

bool removeFinalizer(nlohmann::json& object, std::string_view finalizer) {
  if (!hasFinalizer(object, finalizer)) return false;
  auto& finalizers = object["metadata"]["finalizers"];
  nlohmann::json kept = nlohmann::json::array();
  for (const auto& f : finalizers) {
    if (!matches(f, finalizer)) kept.push_back(f);
  }
  finalizers = std::move(kept);
  return true;
}

nlohmann::json finalizerPatch(const nlohmann::json& object) {
  const nlohmann::json meta = object.is_object() ? object.value("metadata", nlohmann::json::object())
                                                 : nlohmann::json::object();
  nlohmann::json finalizers = meta.value("finalizers", nlohmann::json::array());
  nlohmann::json patchMeta = nlohmann::json::object();
  // An empty list is sent as null: the field goes, as on objects that never had one.
  patchMeta["finalizers"] = finalizers.empty() ? nlohmann::json(nullptr) : finalizers;
  if (meta.contains("resourceVersion")) patchMeta["resourceVersion"] = meta["resourceVersion"];
  return {{"metadata", patchMeta}};
}

}  // namespace tributary::op::runtime
