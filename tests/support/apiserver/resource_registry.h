#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tributary::apiserver {

// A column of `kubectl get`, from a CRD's additionalPrinterColumns.
struct PrinterColumn {
  std::string name, type, format, description, jsonPath;
  int priority = 0;
};

// Where a type with a `scale` subresource keeps its replicas (autoscaling/v1
// Scale): dotted paths, e.g. ".spec.replicas". Built-in workloads read the
// selector from .spec.selector (a LabelSelector, serialised as a string the
// way the real server does); CRDs name a string field (labelSelectorPath).
struct ScaleSubresource {
  std::string specReplicasPath = ".spec.replicas";
  std::string statusReplicasPath = ".status.replicas";
  std::string labelSelectorPath;  // "" = none (CRDs) / from .spec.selector (built-ins)
  // Built-in workloads: an absent .spec.replicas reads as 1 (the defaulting the
  // real server does on create); custom resources: as 0 (apiextensions does).
  int64_t absentReplicas = 0;
};

// One resource type the server stores and serves: a built-in one (pods,
// leases, ...) or one registered by a CustomResourceDefinition. Immutable once
// registered; a CRD update registers a new ResourceType replacing the old one.
struct ResourceType {
  std::string group;                  // "" is the core group (/api/v1)
  std::vector<std::string> versions;  // served, in priority order (first is preferred)
  std::string storageVersion;         // objects are kept in this version ("None" conversion)
  std::string plural, singular, kind, listKind;
  std::vector<std::string> shortNames, categories;
  bool namespaced = true;
  bool statusSubresource = false;
  std::optional<ScaleSubresource> scale;  // set: …/{name}/scale serves an autoscaling/v1 Scale
  bool builtin = true;
  // Pods answer DELETE with the deleted object; most types with a Status.
  bool returnDeletedObject = false;
  // Field selectors accepted beyond metadata.name / metadata.namespace:
  // dotted paths into the object (events: involvedObject.name, ...).
  std::vector<std::string> fieldSelectors;
  // Per served version (CRDs only; built-ins print Name and Age).
  std::map<std::string, std::vector<PrinterColumn>> printerColumns;
  // Per served version: spec.versions[].schema.openAPIV3Schema (CRDs only).
  std::map<std::string, nlohmann::json> schemas;

  bool serves(const std::string& version) const;
  std::string apiVersion(const std::string& version) const { return group.empty() ? version : group + "/" + version; }
  // The key of this type's objects in the store: "tributary.dev/kafkatopics".
  std::string storageKey() const { return group + "/" + plural; }
  // "kafkatopics.tributary.dev", "configmaps": how the real messages name it.
  std::string qualified() const;
};

using ResourceTypePtr = std::shared_ptr<const ResourceType>;

// Kubernetes version priority: GA before beta before alpha, higher numbers
// first (v2 > v1 > v1beta2 > v1beta1 > v1alpha1), then anything else by name.
bool versionHigherPriority(const std::string& a, const std::string& b);

// The resource types a fresh cluster serves: core/v1 (namespaces, configmaps,
// secrets, services, pods, events, ...), apps/v1, batch/v1, coordination/v1,
// events.k8s.io/v1, rbac/v1, apiextensions.k8s.io/v1.
std::vector<ResourceTypePtr> builtinResourceTypes();

// The resource type a CustomResourceDefinition object declares, after the
// validation the real server does on CRDs (name = plural.group, one storage
// version, a schema per version, ...). Throws ApiError (422) when invalid.
ResourceTypePtr resourceTypeFromCrd(const nlohmann::json& crd);
// Fills what the real server defaults in a CRD (names.singular, names.listKind).
void defaultCrd(nlohmann::json& crd);

// Which resource types exist. Not synchronised: ObjectStore owns one and
// guards it with its mutex.
class ResourceRegistry {
 public:
  ResourceRegistry();

  // Adds or replaces (same group and plural) a type.
  void put(ResourceTypePtr type);
  void remove(const std::string& group, const std::string& plural);

  // The type serving `plural` at group/version, or null.
  ResourceTypePtr find(const std::string& group, const std::string& version, const std::string& plural) const;
  ResourceTypePtr findGroupResource(const std::string& group, const std::string& plural) const;

  // Groups in discovery order (core group excluded): built-ins first, then
  // CRD groups alphabetically; each with its served versions by priority.
  std::vector<std::pair<std::string, std::vector<std::string>>> groups() const;
  // Types served at group/version, in registration order.
  std::vector<ResourceTypePtr> typesAt(const std::string& group, const std::string& version) const;
  const std::vector<ResourceTypePtr>& all() const { return types_; }

 private:
  std::vector<ResourceTypePtr> types_;
};

}  // namespace tributary::apiserver
