#pragma once
// Controller mode's webhook: the injector (with the default sidecar config
// reloaded from disk), the AdmissionHandler, the HTTPS server and its
// certificates (self-managed in a Secret, or --webhook-cert-dir). Runs on
// every replica, independent of leader election.
#include <memory>
#include <optional>
#include <string>

#include <prometheus/registry.h>

#include "common/config/listen_address.h"
#include "operator/inject/sidecar_injector.h"
#include "operator/kube/kube_client.h"
#include "operator/runtime/clock.h"

namespace tributary::op::inject {

struct InjectionWebhookOptions {
  ListenAddress listen{"0.0.0.0", 9443};
  std::string certDir;            // "": self-managed certificates in the Secret
  std::string namespace_ = "tributary-system";  // of the Secret (POD_NAMESPACE)
  std::string sidecarImage = std::string("tributary/sidecar:") + TRIBUTARY_VERSION;
  std::string sidecarConfigPath;  // --sidecar-config
};

class ServingCertificateStore;
class WebhookServer;
class WebhookCertificates;
class CertificateDirectory;
class ReloadingInjector;

// Threads: start() and stop() from the owning thread; ready() from any.
class InjectionWebhook {
 public:
  InjectionWebhook(InjectionWebhookOptions options, std::shared_ptr<kube::KubeClient> client,
                   std::shared_ptr<prometheus::Registry> registry);
  ~InjectionWebhook();

  // Reads /version (native sidecars from 1.29), loads the default sidecar
  // config, binds the listener, starts the certificate upkeep. False with
  // `error` when the config is invalid, the port is taken or --webhook-cert-dir
  // does not load. An unreachable API server is not an error here: /version
  // then means classic sidecars (they work everywhere), and the certificate
  // check retries.
  bool start(std::string& error);
  void stop();
  // A serving certificate is loaded (a replica without one must get no traffic).
  bool ready() const;
  int port() const;
  bool nativeSidecars() const { return native_; }

 private:
  const InjectionWebhookOptions options_;
  std::shared_ptr<kube::KubeClient> client_;
  std::shared_ptr<prometheus::Registry> registry_;
  runtime::SystemClock clock_;
  bool native_ = false;
  std::shared_ptr<ServingCertificateStore> store_;
  std::shared_ptr<ReloadingInjector> injector_;
  std::unique_ptr<WebhookServer> server_;
  std::unique_ptr<WebhookCertificates> certificates_;
  std::unique_ptr<CertificateDirectory> directory_;
};

}  // namespace tributary::op::inject
