#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/support/apiserver/resource_registry.h"

namespace tributary::apiserver {

// The legacy (unaggregated) discovery documents, which every client falls
// back to when the server does not answer with the aggregated
// apidiscovery.k8s.io format (this one never does).

// GET /version
nlohmann::json versionInfo(const std::string& gitVersion);
// GET /api: APIVersions
nlohmann::json apiVersions(const std::string& serverAddress);
// GET /apis: APIGroupList
nlohmann::json apiGroupList(const ResourceRegistry& registry);
// GET /apis/{group}: APIGroup, or nullopt when no such group
std::optional<nlohmann::json> apiGroup(const ResourceRegistry& registry, const std::string& group);
// GET /api/v1, /apis/{group}/{version}: APIResourceList, or nullopt
std::optional<nlohmann::json> apiResourceList(const ResourceRegistry& registry, const std::string& group,
                                              const std::string& version);

}  // namespace tributary::apiserver
