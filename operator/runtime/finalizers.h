#pragma once
#include <string_view>

#include <nlohmann/json.hpp>

namespace tributary::op::runtime {

// Helpers on an object's metadata.finalizers (e.g. "tributary.dev/topic").
// They edit the object in memory only; the caller writes it back (update or
// merge patch) when they return true, so an unchanged object costs no API call.
// Threads: pure, any thread.

bool hasFinalizer(const nlohmann::json& object, std::string_view finalizer);

// Appends the finalizer if absent. Returns whether the object changed.
bool addFinalizer(nlohmann::json& object, std::string_view finalizer);

// Removes every occurrence. Returns whether the object changed. Leaves an
// empty list rather than deleting the field, so a merge patch of the result
// clears the list on the server too.
bool removeFinalizer(nlohmann::json& object, std::string_view finalizer);

// The merge patch that writes `object`'s finalizers and nothing else, guarded
// by the resourceVersion it carries (a stale one is a 409, as with
// controller-runtime's MergeFromWithOptimisticLock). Used instead of a PUT of
// the object: the informers store objects without managedFields and the
// last-applied annotation, and a PUT of such a copy would delete the
// annotation on the server (managedFields would survive: an absent field is kept).
nlohmann::json finalizerPatch(const nlohmann::json& object);

}  // namespace tributary::op::runtime
