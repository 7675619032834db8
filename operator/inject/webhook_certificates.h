#pragma once
// The webhook's self-managed TLS: a self-signed CA and a serving certificate
// kept in the Secret tributary-webhook-tls (tls.crt, tls.key, ca.crt and the
// CA's key ca.key, so that a renewed serving certificate chains to the CA the
// API server already trusts), the MutatingWebhookConfiguration's caBundle kept
// equal to ca.crt, rotation before expiry. Every replica runs it; replicas that
// race are settled by the API server's optimistic concurrency (the loser of a
// create or update re-reads and serves the winner's certificate).
//
// API calls (the RBAC in install.yaml covers exactly these): secrets get,
// create, update in the operator's namespace; mutatingwebhookconfigurations
// get, patch (a merge patch carrying the resourceVersion, so it fails with 409
// rather than overwrite a concurrent change).
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "operator/inject/certificate_authority.h"
#include "operator/inject/periodic_task.h"
#include "operator/inject/serving_certificate.h"
#include "operator/kube/kube_client.h"
#include "operator/runtime/clock.h"

namespace tributary::op::inject {

inline const kube::ResourceRef kSecrets{"", "v1", "secrets", true};
inline const kube::ResourceRef kMutatingWebhookConfigurations{"admissionregistration.k8s.io", "v1",
                                                              "mutatingwebhookconfigurations", false};

struct WebhookCertificateOptions {
  std::string namespace_ = "tributary-system";
  std::string secretName = "tributary-webhook-tls";
  std::string webhookConfigurationName = "tributary-sidecar-injector";
  std::string serviceName = "tributary-webhook";
  std::chrono::seconds caValidity{10LL * 365 * 24 * 3600};
  std::chrono::seconds servingValidity{365LL * 24 * 3600};
  std::chrono::milliseconds checkInterval{3600 * 1000};  // the periodic check
  std::chrono::milliseconds retryInterval{10 * 1000};    // after a failed check; doubling, at most 5 min
};

using WallClock = std::function<WallTime()>;

// Threads: reconcile() from one thread at a time (the periodic task's, or a
// test's); start()/stop() from the owning thread.
class WebhookCertificates {
 public:
  WebhookCertificates(WebhookCertificateOptions options, std::shared_ptr<kube::KubeClient> client,
                      std::shared_ptr<ServingCertificateStore> store, runtime::Clock& clock,
                      WallClock wallClock = [] { return std::chrono::system_clock::now(); });
  ~WebhookCertificates();

  // One check: the Secret created, repaired or rotated as needed, its
  // certificate served, the caBundle patched. Throws kube::ApiError or
  // CertificateError; the periodic task retries after retryInterval.
  void reconcile();
  // reconcile() now and every checkInterval on a thread of its own.
  void start();
  void stop();
  uint64_t passes() const { return task_.passes(); }
  bool awaitPasses(uint64_t n, std::chrono::milliseconds timeout) const { return task_.awaitPasses(n, timeout); }

  // The serving certificate's DNS names: <service>, <service>.<ns>.svc, <service>.<ns>.svc.cluster.local.
  std::vector<std::string> dnsNames() const;

 private:
  struct Material;
  Material fresh(WallTime now) const;
  std::optional<Material> renewed(const Material& current, WallTime now) const;
  void patchCaBundle(const std::string& caBundlePem);

  const WebhookCertificateOptions options_;
  std::shared_ptr<kube::KubeClient> client_;
  std::shared_ptr<ServingCertificateStore> store_;
  WallClock wallClock_;
  bool warnedNoWebhookConfiguration_ = false;
  int failures_ = 0;  // failed checks in a row (the task's thread)
  PeriodicTask task_;
};

}  // namespace tributary::op::inject
