#include "operator/inject/injection_webhook.h"

#include "common/log/log.h"
#include "operator/inject/certificate_directory.h"
#include "operator/inject/reloading_injector.h"
#include "operator/inject/server_version.h"
#include "operator/inject/webhook_certificates.h"
#include "operator/inject/webhook_server.h"

namespace tributary::op::inject {

InjectionWebhook::InjectionWebhook(InjectionWebhookOptions options, std::shared_ptr<kube::KubeClient> client,
                                   std::shared_ptr<prometheus::Registry> registry)
    : options_(std::move(options)), client_(std::move(client)), registry_(std::move(registry)) {}

InjectionWebhook::~InjectionWebhook() { stop(); }

bool InjectionWebhook::start(std::string& error) {
  std::string serverVersion = "unknown";
  try {
    Json v = client_->getNonResource("/version");
    serverVersion = v.value("gitVersion", "");
    if (auto parsed = parseServerVersion(v)) native_ = supportsNativeSidecars(*parsed);
    else log::warn("cannot parse the API server's /version; injecting classic sidecars", {{"version", v.dump()}});
  } catch (const std::exception& e) {
    log::warn("cannot read the API server's /version; injecting classic sidecars", {{"error", e.what()}});
  }
  InjectorSettings settings;
  settings.sidecarImage = options_.sidecarImage;
  settings.nativeSidecars = native_;
  try {
    injector_ = std::make_shared<ReloadingInjector>(settings, options_.sidecarConfigPath);
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
  store_ = std::make_shared<ServingCertificateStore>();
  auto injector = injector_;
  auto handler = std::make_shared<AdmissionHandler>([injector] { return injector->current(); }, client_, *registry_);
  server_ = std::make_unique<WebhookServer>(store_, handler);
  if (!options_.certDir.empty()) {
    directory_ = std::make_unique<CertificateDirectory>(options_.certDir, store_, clock_);
    std::string why;
    if (!directory_->load(why)) {
      error = "--webhook-cert-dir: " + why;
      return false;
    }
  }
  if (!server_->bind(options_.listen, error)) {
    error = "webhook: " + error;
    return false;
  }
  server_->start();
  if (directory_) {
    directory_->start();
  } else {
    WebhookCertificateOptions co;
    co.namespace_ = options_.namespace_;
    certificates_ = std::make_unique<WebhookCertificates>(co, client_, store_, clock_);
    certificates_->start();
  }
  log::info("sidecar injector webhook serving",
            {{"port", std::to_string(server_->port())},
             {"path", kWebhookPath},
             {"apiServer", serverVersion},
             {"sidecar", native_ ? "native" : "classic"},
             {"certificates", options_.certDir.empty() ? "secret " + options_.namespace_ + "/tributary-webhook-tls"
                                                       : "dir " + options_.certDir}});
  return true;
}

void InjectionWebhook::stop() {
  if (certificates_) certificates_->stop();
  if (directory_) directory_->stop();
  if (server_) server_->stop();
}

bool InjectionWebhook::ready() const { return store_ && store_->hasCertificate(); }

int InjectionWebhook::port() const { return server_ ? server_->port() : 0; }

}  // namespace tributary::op::inject
