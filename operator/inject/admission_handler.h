#pragma once
// The admission webhook's request → response logic, without HTTP or TLS:
// an AdmissionReview (admission.k8s.io/v1) in, an AdmissionReview out.
#include <functional>
#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include "operator/inject/sidecar_injector.h"
#include "operator/kube/kube_client.h"

namespace tributary::op::inject {

struct AdmissionAnswer {
  int httpStatus = 200;  // 400 for a request that is not an AdmissionReview
  std::string body;      // JSON: an AdmissionReview, or {"error","errorCode"} with a 400
};

// The injector as of now (the default sidecar config may have changed on disk).
using InjectorSource = std::function<std::shared_ptr<const SidecarInjector>()>;

// Pod CREATE requests annotated tributary.dev/inject: "true" get the sidecar
// (a JSONPatch); every other request is allowed unchanged. A pod that cannot be
// injected is denied — never created without its sidecar:
//   - its own fault (bad annotation, unknown ConfigMap): code 400 BadRequest;
//     users read `admission webhook "inject.tributary.dev" denied the request: <message>`
//     under "Error from server (BadRequest)", which says "fix your pod", where
//     403 Forbidden would send them looking at RBAC;
//   - the API server cannot be asked about the ConfigMap: code 503
//     ServiceUnavailable (transient; the pod's controller retries).
// The ConfigMap named by tributary.dev/config is read (GET) in the pod's
// namespace — the request's `namespace`, since a pod on CREATE may not carry one.
//
// Threads: handle() from any thread, concurrently (the KubeClient is thread-safe).
class AdmissionHandler {
 public:
  AdmissionHandler(InjectorSource injector, std::shared_ptr<kube::KubeClient> client, prometheus::Registry& registry);

  AdmissionAnswer handle(const std::string& requestBody);

 private:
  void count(const std::string& result);

  InjectorSource injector_;
  std::shared_ptr<kube::KubeClient> client_;
  // tributary_operator_admissions_total{result}: injected, already_injected,
  // not_requested, refused, api_error, malformed.
  prometheus::Family<prometheus::Counter>& admissions_;
};

}  // namespace tributary::op::inject
