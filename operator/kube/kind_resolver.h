#pragma once
// apiVersion + kind → the resource that serves it, as a scaleTarget (or any
// reference by kind) names an object. apps/v1 Deployment, StatefulSet and
// ReplicaSet are known without a call; every other kind is looked up in the
// legacy discovery document of its group-version (GET /apis/{group}/{version},
// /api/v1 for the core group), which also says whether it has a `scale`
// subresource (a "<plural>/scale" entry).
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "operator/kube/kube_client.h"

namespace tributary::op::kube {

struct ResolvedKind {
  std::string kind;
  ResourceRef resource;
  bool scalable = false;  // has a `scale` subresource
};

// "apps/v1" → {"apps", "v1"}; "v1" → {"", "v1"}.
std::pair<std::string, std::string> splitApiVersion(const std::string& apiVersion);

// Threads: any thread (a mutex guards the cache). Discovery documents are
// cached per group-version; a kind missing from a cached document is looked up
// once more (a CRD installed since), so a miss costs one GET per resolve().
class KindResolver {
 public:
  explicit KindResolver(KubeClient& client) : client_(client) {}

  // nullopt: the group-version is not served (404) or does not have this
  // kind. Throws ApiError for other failures (the API server unreachable, ...).
  std::optional<ResolvedKind> resolve(const std::string& apiVersion, const std::string& kind);

 private:
  std::optional<ResolvedKind> lookupLocked(const std::string& apiVersion, const std::string& kind) const;

  KubeClient& client_;
  std::mutex mu_;
  std::map<std::string, std::vector<ResolvedKind>> byGroupVersion_;
};

}  // namespace tributary::op::kube
