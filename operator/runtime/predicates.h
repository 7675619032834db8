#pragma once
#include <nlohmann/json.hpp>

namespace tributary::op::runtime {

// Event filters for informer update events, pure functions of the old and new
// object. They let a controller skip the updates it causes itself: a status
// write does not bump metadata.generation (the status subresource), so it
// passes none of these, while a spec edit, a pause/unpause annotation, a
// delete or a periodic resync does. Threads: any (pure).

// metadata.generation differs (spec changed).
bool generationChanged(const nlohmann::json& oldObject, const nlohmann::json& newObject);

// metadata.annotations or metadata.labels differ (a missing map equals an empty one).
bool annotationsOrLabelsChanged(const nlohmann::json& oldObject, const nlohmann::json& newObject);

// metadata.deletionTimestamp appeared: deletion started, finalizers must run.
bool deletionStarted(const nlohmann::json& oldObject, const nlohmann::json& newObject);

// The same resourceVersion on both sides: not a change but an informer resync
// (client-go re-delivers every stored object as update(obj, obj)), which must
// pass so that drift made outside Kubernetes (in Kafka) is corrected.
bool isResync(const nlohmann::json& oldObject, const nlohmann::json& newObject);

// The filter for a controller's update events: any of the four above.
bool reconcileWorthyUpdate(const nlohmann::json& oldObject, const nlohmann::json& newObject);

}  // namespace tributary::op::runtime
