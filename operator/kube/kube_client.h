#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/kube/api_error.h"

namespace tributary::op::kube {

using Json = nlohmann::json;

// Which collection a call addresses. group "" is the core group (/api/v1);
// anything else is /apis/{group}/{version}.
struct ResourceRef {
  std::string group;
  std::string version;
  std::string plural;
  bool namespaced = true;

  // The collection path: namespace "" on a namespaced resource means all
  // namespaces (valid for list and watch only).
  std::string collectionPath(const std::string& ns) const;
  // The object path; `subresource` "" or e.g. "status".
  std::string objectPath(const std::string& ns, const std::string& name, const std::string& subresource = "") const;
  // "kafkatopics.tributary.dev" / "configmaps": for logs and metrics.
  std::string displayName() const;
};

// Well-known resources the operator itself uses.
namespace resources {
inline const ResourceRef kLeases{"coordination.k8s.io", "v1", "leases", true};
inline const ResourceRef kEvents{"", "v1", "events", true};
inline const ResourceRef kConfigMaps{"", "v1", "configmaps", true};
inline const ResourceRef kNamespaces{"", "v1", "namespaces", false};
}  // namespace resources

struct ListOptions {
  std::string labelSelector;
  std::string fieldSelector;
  int64_t limit = 0;  // 0: no paging
  std::string continueToken;
  std::string resourceVersion;  // "" = most recent (quorum read)
};

struct ListResult {
  std::vector<Json> items;
  std::string resourceVersion;  // of the list: where a watch continues from
  std::string continueToken;    // "" on the last page
};

struct DeleteOptions {
  std::optional<std::string> preconditionUid;
  std::optional<std::string> preconditionResourceVersion;
  std::string propagationPolicy;  // "" (server default), "Orphan", "Background", "Foreground"
};

struct WatchOptions {
  std::string resourceVersion;  // "" = current state as ADDED events first, then changes
  bool allowWatchBookmarks = true;
  std::string labelSelector;
  std::string fieldSelector;
  int timeoutSeconds = 0;  // 0: the server's default
};

// The query strings ("?key=value&…", percent-encoded; "" when nothing is set)
// of a list, and of a watch ("?watch=true&…"), with these options: what a
// client sends, and what a recording of its calls shows.
std::string listQuery(const ListOptions& options);
std::string watchQuery(const WatchOptions& options);

struct WatchEvent {
  enum class Type { Added, Modified, Deleted, Bookmark, Error };
  Type type = Type::Added;
  Json object;  // for Error: the Status object (code 410 = resourceVersion too old)
};
const char* watchEventTypeName(WatchEvent::Type type);

// An autoscaling/v1 Scale, as a `scale` subresource serves it (Deployment,
// StatefulSet, ReplicaSet, or a custom kind declaring subresources.scale).
struct Scale {
  int32_t specReplicas = 0;    // spec.replicas (omitempty on the wire: absent = 0)
  int32_t statusReplicas = 0;  // status.replicas
  std::string selector;        // status.selector, "" when the kind has none
  std::string resourceVersion; // the object's; makes an update conditional
};
// Throws ApiError (Invalid) when `scale` is not a Scale object.
Scale scaleFromJson(const Json& scale);

// One open watch response. next() and the destructor belong to the thread that
// opened it; cancel() may be called from any thread (it wakes a blocked next()).
class WatchStream {
 public:
  enum class Status { Event, Timeout, Ended };
  virtual ~WatchStream() = default;
  // Waits up to `timeout` for the next event. Event: `out` holds it. Timeout:
  // nothing yet, the stream is still open. Ended: the server closed the stream,
  // it went silent past the client's silence limit, or it was cancelled — the
  // caller re-watches from the last resourceVersion it saw. A stream that could
  // not be read (transport error mid-stream) also ends; one whose HTTP answer was
  // an error throws ApiError from the first next().
  virtual Status next(std::chrono::milliseconds timeout, WatchEvent& out) = 0;
  virtual void cancel() = 0;
};

// A Kubernetes API client over JSON. Every verb throws ApiError on an error
// answer or a transport failure. Implementations are thread-safe: any thread
// may call any verb concurrently.
class KubeClient {
 public:
  virtual ~KubeClient() = default;

  virtual Json get(const ResourceRef& resource, const std::string& ns, const std::string& name) = 0;
  virtual ListResult list(const ResourceRef& resource, const std::string& ns, const ListOptions& options = {}) = 0;
  virtual Json create(const ResourceRef& resource, const std::string& ns, const Json& object) = 0;
  // PUT; `object.metadata.resourceVersion` makes it conditional (409 Conflict when stale).
  virtual Json update(const ResourceRef& resource, const std::string& ns, const Json& object) = 0;
  // PUT …/status: only .status changes.
  virtual Json updateStatus(const ResourceRef& resource, const std::string& ns, const Json& object) = 0;
  // RFC 7386 merge patch, on the object or (statusSubresource) on …/status.
  virtual Json patch(const ResourceRef& resource, const std::string& ns, const std::string& name,
                     const Json& mergePatch, bool statusSubresource = false) = 0;
  // Returns the object when the server answers with it (finalizers hold it, it
  // is now terminating), nullopt when it answered a Status (the object is gone).
  virtual std::optional<Json> remove(const ResourceRef& resource, const std::string& ns, const std::string& name,
                                     const DeleteOptions& options = {}) = 0;
  virtual std::unique_ptr<WatchStream> watch(const ResourceRef& resource, const std::string& ns,
                                             const WatchOptions& options = {}) = 0;

  // GET / PUT of an object's subresource other than status (e.g. "scale").
  // Not pure virtual, like getNonResource: the defaults throw ApiError (BadRequest).
  virtual Json getSubresource(const ResourceRef& resource, const std::string& ns, const std::string& name,
                              const std::string& subresource);
  virtual Json updateSubresource(const ResourceRef& resource, const std::string& ns, const std::string& name,
                                 const std::string& subresource, const Json& body);

  // The `scale` subresource through getSubresource / updateSubresource.
  // updateScale sets spec.replicas; a non-empty resourceVersion makes it
  // conditional (Conflict when the object changed since it was read).
  Scale getScale(const ResourceRef& resource, const std::string& ns, const std::string& name);
  Scale updateScale(const ResourceRef& resource, const std::string& ns, const std::string& name, int32_t replicas,
                    const std::string& resourceVersion = "");

  // GET of a non-resource path, e.g. "/version". Not pure virtual so that
  // test doubles need not care; this default throws ApiError (BadRequest).
  virtual Json getNonResource(const std::string& path);

  // list() page after page, following `continue`; the result's resourceVersion
  // is the first page's (pages are served from that snapshot).
  ListResult listAll(const ResourceRef& resource, const std::string& ns, ListOptions options = {});
};

}  // namespace tributary::op::kube
