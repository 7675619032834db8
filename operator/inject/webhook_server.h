#pragma once
// The HTTPS admission endpoint: POST /inject (AdmissionReview in and out),
// on a TLS ManagedServer (common/http/managed_server.h): handshakes and
// request heads are read by one epoll thread under a deadline, so idle,
// dripping or half-handshaken clients hold no worker, and connections are
// bounded (README.md, "The listener"). The certificate comes from a
// ServingCertificateStore on every handshake, so rotations need no restart.
// Every replica serves it, leader or not.
#include <memory>
#include <string>

#include "common/config/listen_address.h"
#include "common/http/http_server.h"
#include "operator/inject/admission_handler.h"
#include "operator/inject/serving_certificate.h"

namespace tributary::op::inject {

inline constexpr const char* kWebhookPath = "/inject";

// Threads: bind(), start() and stop() from the owning thread; requests are
// served on the server's worker pool.
class WebhookServer {
 public:
  // The webhook's bounds: 10 s per handshake and per request, 30 s idle,
  // 1024 connections.
  static ListenerLimits defaultLimits();

  WebhookServer(std::shared_ptr<ServingCertificateStore> certificates, std::shared_ptr<AdmissionHandler> handler,
                ListenerLimits limits = defaultLimits());
  ~WebhookServer();
  WebhookServer(const WebhookServer&) = delete;
  WebhookServer& operator=(const WebhookServer&) = delete;

  bool bind(const ListenAddress& address, std::string& error);
  void start();
  void stop();
  int port() const { return http_->port(); }
  size_t openConnections() const { return http_->openConnections(); }

 private:
  std::shared_ptr<ServingCertificateStore> certificates_;
  std::shared_ptr<AdmissionHandler> handler_;
  std::unique_ptr<HttpServer> http_;
};

}  // namespace tributary::op::inject
