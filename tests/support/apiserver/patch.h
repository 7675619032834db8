#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace tributary::apiserver {

enum class PatchType {
  Merge,      // application/merge-patch+json (RFC 7386)
  Json,       // application/json-patch+json (RFC 6902)
  Strategic,  // application/strategic-merge-patch+json (built-in kinds only)
};

// The patch type a PATCH request's Content-Type names. Throws ApiError 415 for
// anything else, server-side apply (application/apply-patch+yaml) included.
PatchType patchTypeFor(const std::string& contentType);

// `current` patched with `patchBody`. Throws ApiError: 400 when the patch is
// not JSON of the right shape, 422 when a JSON patch cannot be applied, 415
// for a strategic merge patch on a custom resource (as the real server does:
// custom resources have no patch strategies to merge by).
//
// Strategic merge patch on built-in kinds is served as a JSON merge patch that
// honours `$patch: delete|replace` on maps and drops the other `$` directives;
// unlike the real one it replaces lists instead of merging them by key.
nlohmann::json applyPatch(PatchType type, const nlohmann::json& current, const std::string& patchBody,
                          bool customResource);

}  // namespace tributary::apiserver
