#pragma once
// Validation of built-in kinds where a real API server refuses an object that
// a client could easily get wrong — the checks that matter for installing a
// product (pods and workloads, PodDisruptionBudgets, admission webhook
// configurations). Each failure is a Cause with the real server's field path
// and message. Not the full validation of those kinds: see README.md.
// Pure functions, any thread.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/apiserver/api_error.h"

namespace tributary::apiserver {

// Problems of `object`, a `kind` of built-in group `group`; empty when valid
// (and for kinds without checks).
std::vector<Cause> validateBuiltin(const std::string& group, const std::string& kind, const nlohmann::json& object);

}  // namespace tributary::apiserver
