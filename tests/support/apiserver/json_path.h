#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tributary::apiserver {

// The subset of Kubernetes JSONPath that printer columns use:
//   .a.b            fields (also ['a.b'] for keys with dots)
//   [0] [-1] [*]    array index, wildcard
//   [?(@.type=="Ready")]   filter by a field (==, !=; "..." or '...'), or [?(@.x)] presence
// e.g. `.status.conditions[?(@.type=="Ready")].status`. Returns every match in
// order; nullopt when the expression is outside the subset.
std::optional<std::vector<nlohmann::json>> evaluateJsonPath(const std::string& expression, const nlohmann::json& root);

}  // namespace tributary::apiserver
