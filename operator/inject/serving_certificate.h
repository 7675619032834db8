#pragma once
// The webhook's current serving certificate, swapped while the server runs:
// every TLS handshake takes whatever is current (an SSL_CTX certificate
// callback), so a rotated Secret or a changed --webhook-cert-dir is served
// from the next connection on, without a restart and without dropping the
// connections that are open.
#include <memory>
#include <mutex>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;  // OpenSSL stays out of this header

namespace tributary::op::inject {

struct TlsCredentials;  // parsed X509 + key + chain (serving_certificate.cc)

// Threads: set() from any thread; the handshake callback reads on the
// server's worker threads.
class ServingCertificateStore {
 public:
  ServingCertificateStore();
  ~ServingCertificateStore();

  // `certPem` is the leaf, optionally followed by intermediates; `keyPem` its
  // key. Throws CertificateError (and keeps what it had) when they do not parse
  // or do not belong together. Returns true when this changed the certificate.
  bool set(const std::string& certPem, const std::string& keyPem);
  bool hasCertificate() const;
  // The PEM text being served ("" before the first set()).
  std::string certPem() const;

  // Makes `ctx` ask this store for the certificate on every handshake (TLS
  // 1.2 at least). Returns false when OpenSSL refuses.
  bool attachTo(SSL_CTX& ctx);

  std::shared_ptr<const TlsCredentials> current() const;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const TlsCredentials> current_;  // guarded by mutex_
};

}  // namespace tributary::op::inject
