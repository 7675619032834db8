#pragma once
// The API server's version (GET /version) and what it means for injection.
// Pure functions, any thread.
#include <optional>

#include <nlohmann/json.hpp>

namespace tributary::op::inject {

struct ServerVersion {
  int major = 0;
  int minor = 0;
};

// From a /version document: "major"/"minor" (minor may carry a suffix, "29+"),
// else gitVersion ("v1.29.3-eks-a1b2c3"). nullopt when neither parses.
std::optional<ServerVersion> parseServerVersion(const nlohmann::json& versionDocument);

// Native sidecars (init containers with restartPolicy: Always) are on by
// default from Kubernetes 1.29 (beta, SidecarContainers feature gate).
bool supportsNativeSidecars(const ServerVersion& version);

}  // namespace tributary::op::inject
