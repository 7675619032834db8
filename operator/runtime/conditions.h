#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tributary::op::runtime {

// One entry of status.conditions, as Kubernetes' metav1.Condition.
struct Condition {
  std::string type;                  // e.g. "Ready"
  std::string status;                // "True" | "False" | "Unknown"
  std::string reason;                // CamelCase, e.g. "PartitionDecreaseNotAllowed"
  std::string message;               // human readable
  std::int64_t observedGeneration = 0;  // metadata.generation the condition was computed from
  std::string lastTransitionTime;    // RFC 3339 UTC; set by setCondition, read by findCondition
};

// Sets (adds or updates) the condition of `condition.type` in `status`
// (the object's .status, created as {} / conditions [] as needed).
// lastTransitionTime becomes `now` only when the condition is new or its
// status value flips; a change of reason, message or observedGeneration keeps
// it, so "Ready since" stays meaningful. Returns whether `status` changed.
// Throws ControllerRuntimeError for an empty type, a status other than
// True/False/Unknown, or a reason that is not CamelCase (the API server
// rejects those in metav1.Condition).
bool setCondition(nlohmann::json& status, const Condition& condition, std::chrono::system_clock::time_point now);

// The condition of this type, if present and well-formed.
std::optional<Condition> findCondition(const nlohmann::json& status, std::string_view type);

// Whether writing `newStatus` over `oldStatus` would change anything a user
// can see: compares semantically (object key order, null/absent/{} for the
// whole status, and the order of conditions — a list keyed by type — do not
// matter; every field value does). Lets a reconciler write status only when
// it changed, which keeps steady state at zero API writes.
bool statusChanged(const nlohmann::json& oldStatus, const nlohmann::json& newStatus);

// "2026-11-30T12:00:00Z": RFC 3339, UTC, whole seconds (the API's metav1.Time).
std::string formatRfc3339(std::chrono::system_clock::time_point time);

// Threads: every function here is pure and may be called from any thread.

}  // namespace tributary::op::runtime
