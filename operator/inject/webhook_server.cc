#include "operator/inject/webhook_server.h"

#include <httplib.h>

namespace tributary::op::inject {

namespace {
// An AdmissionReview carries one pod; the API server caps requests at 3 MiB.
constexpr size_t kMaxBodyBytes = 8 * 1024 * 1024;
constexpr size_t kWorkers = 8;
}  // namespace

ListenerLimits WebhookServer::defaultLimits() {
  ListenerLimits limits;
  // The API server gives a webhook 10 s (install.yaml's timeoutSeconds) for
  // the whole call: a request that takes longer is of no use to it.
  limits.requestTimeout = std::chrono::seconds(10);
  // It keeps idle connections for 90 s; ours go after 30 s and it reconnects.
  limits.idleTimeout = std::chrono::seconds(30);
  limits.maxConnections = 1024;
  limits.priorityPaths = {};  // no probes on this listener (they are on :8081)
  return limits;
}

WebhookServer::WebhookServer(std::shared_ptr<ServingCertificateStore> certificates,
                             std::shared_ptr<AdmissionHandler> handler, ListenerLimits limits)
    : certificates_(std::move(certificates)), handler_(std::move(handler)) {
  ServingCertificateStore* store = certificates_.get();
  auto server = std::make_unique<ManagedServer>(kWorkers, std::move(limits),
                                                [store](SSL_CTX& ctx) { return store->attachTo(ctx); });
  http_ = std::make_unique<HttpServer>(std::move(server), kWorkers, kMaxBodyBytes);
  http_->routes().Post(kWebhookPath, [this](const httplib::Request& req, httplib::Response& res) {
    AdmissionAnswer answer = handler_->handle(req.body);
    res.status = answer.httpStatus;
    res.set_content(answer.body, "application/json");
  });
}

WebhookServer::~WebhookServer() { stop(); }

bool WebhookServer::bind(const ListenAddress& address, std::string& error) {
  if (!http_->routes().is_valid()) {
    error = "cannot set up TLS for the webhook listener";
    return false;
  }
  return http_->bind(address, error);
}

void WebhookServer::start() { http_->start(); }
void WebhookServer::stop() { http_->stop(); }

}  // namespace tributary::op::inject
