#pragma once
// metadata.managedFields as a real API server writes them for Update
// operations (create, PUT, PATCH; what kubectl apply client-side, kubectl
// edit/patch/replace and controllers do): one entry per (manager, operation,
// subresource) with apiVersion, time, fieldsType FieldsV1 and the fieldsV1
// tree of the fields that manager set. Server-side apply is 415 here, so
// there are no Apply entries.
#include <string>

#include <nlohmann/json.hpp>

#include "tests/support/apiserver/resource_registry.h"
#include "tests/support/apiserver/timestamps.h"

namespace tributary::apiserver {

// The manager of a request: `fieldManager` when given, else the User-Agent up
// to its first '/' ("kubectl", "tributary-operator"), at most 128 characters,
// as the real server derives it; "unknown" when there is neither.
std::string fieldManagerOf(const std::string& fieldManagerParam, const std::string& userAgent);

// Writes `next`'s metadata.managedFields after a write by `manager` that
// turns `current` (null for a create) into `next`. The starting entries are
// next's own metadata.managedFields (the server passes what the stored object
// had, or what the client sent when it set them: `[{}]` resets, an absent or
// empty list keeps the stored ones — the real rules). Fields this write set or
// changed move to the manager's entry (time = `now`); other entries lose them;
// fields gone from the object leave every entry; empty entries go. A write
// that changes nothing changes no entry. `statusWrite`: the entry carries
// `subresource: status`. Lists are atomic (one leaf) except
// metadata.finalizers (a set, `v:`), metadata.ownerReferences (keyed by uid)
// and, in built-in kinds, lists of objects that all have a name (keyed by it).
// Not recorded: apiVersion, kind, and the metadata the server owns (name,
// namespace, uid, resourceVersion, generation, creationTimestamp,
// deletionTimestamp, deletionGracePeriodSeconds, managedFields, selfLink).
void updateManagedFields(const ResourceType& type, const std::string& apiVersion, const nlohmann::json* current,
                         nlohmann::json& next, const std::string& manager, bool statusWrite, SystemTime now);

}  // namespace tributary::apiserver
