#pragma once
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include "operator/kube/kube_client.h"
#include "operator/kube/kube_config.h"

struct curl_slist;  // libcurl stays out of this header

namespace tributary::op::kube {

struct CurlClientOptions {
  std::chrono::milliseconds connectTimeout{5'000};
  // Whole-request bound for everything but watches.
  std::chrono::milliseconds requestTimeout{30'000};
  // A watch that delivers no byte at all (not even a bookmark) for this long is
  // considered dead (a half-open connection, a stuck proxy) and ends, so the
  // caller re-watches. Real servers send bookmarks about once a minute.
  std::chrono::milliseconds watchSilenceTimeout{120'000};
  // Idle keep-alive handles kept for reuse; more concurrent calls still work,
  // their handles are just not kept.
  size_t poolSize = 4;
  std::string userAgent = std::string("tributary-operator/") + TRIBUTARY_VERSION;
};

// Counters registered once, at construction, in the caller's registry.
struct KubeClientMetrics {
  explicit KubeClientMetrics(prometheus::Registry& registry);
  // tributary_operator_api_requests_total{verb, code}; code "error" = no HTTP answer.
  prometheus::Family<prometheus::Counter>& requests;
};

// KubeClient over libcurl (the only file that includes curl is the .cc).
// Thread-safe: any thread may call any verb concurrently; easy handles (and
// with them keep-alive connections) are pooled. Watch streams each own a
// connection of their own; see WatchStream for their threading.
class CurlKubeClient : public KubeClient {
 public:
  CurlKubeClient(ClusterConnection connection, prometheus::Registry& registry, CurlClientOptions options = {});
  ~CurlKubeClient() override;
  CurlKubeClient(const CurlKubeClient&) = delete;
  CurlKubeClient& operator=(const CurlKubeClient&) = delete;

  Json get(const ResourceRef& resource, const std::string& ns, const std::string& name) override;
  ListResult list(const ResourceRef& resource, const std::string& ns, const ListOptions& options = {}) override;
  Json create(const ResourceRef& resource, const std::string& ns, const Json& object) override;
  Json update(const ResourceRef& resource, const std::string& ns, const Json& object) override;
  Json updateStatus(const ResourceRef& resource, const std::string& ns, const Json& object) override;
  Json patch(const ResourceRef& resource, const std::string& ns, const std::string& name, const Json& mergePatch,
             bool statusSubresource = false) override;
  std::optional<Json> remove(const ResourceRef& resource, const std::string& ns, const std::string& name,
                             const DeleteOptions& options = {}) override;
  std::unique_ptr<WatchStream> watch(const ResourceRef& resource, const std::string& ns,
                                     const WatchOptions& options = {}) override;

  Json getSubresource(const ResourceRef& resource, const std::string& ns, const std::string& name,
                      const std::string& subresource) override;
  Json updateSubresource(const ResourceRef& resource, const std::string& ns, const std::string& name,
                         const std::string& subresource, const Json& body) override;
  Json getNonResource(const std::string& path) override;

  const ClusterConnection& connection() const { return connection_; }

  // Implementation details shared with the watch stream (defined in the .cc).
  struct Request;
  struct Answer {
    long status = 0;
    std::string body;
    int retryAfterSeconds = 0;
  };

  // A request the typed verbs do not cover: a raw body, another Accept (a
  // server-side Table), a path of its own. Same connection, TLS and auth as
  // the verbs; counted with verb "raw". Returns the answer whatever its
  // status; throws ApiError (Unavailable) only when there is no HTTP answer.
  Answer send(const std::string& method, const std::string& target, const std::string& body = "",
              const std::string& contentType = "", const std::string& accept = "application/json");

 private:
  Answer perform(const Request& request);
  Json call(const Request& request);
  // Applies URL, TLS, auth and User-Agent to an easy handle.
  void configure(void* easy, const std::string& target, ::curl_slist** headers,
                 const std::string& contentType, const std::string& accept = "application/json");
  std::string bearerToken();
  void* acquireHandle();
  void releaseHandle(void* easy);

  const ClusterConnection connection_;
  const CurlClientOptions options_;
  KubeClientMetrics metrics_;

  std::mutex poolMu_;
  std::vector<void*> idle_;

  // The token file is stat()ed before each request and re-read when its
  // modification time or size changed, as kubelet rotates projected tokens.
  std::mutex tokenMu_;
  std::string token_;
  int64_t tokenMtimeNs_ = -1;
  int64_t tokenSize_ = -1;
};

}  // namespace tributary::op::kube
