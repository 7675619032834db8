#include "operator/inject/serving_certificate.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "operator/inject/certificate_authority.h"

namespace tributary::op::inject {

struct TlsCredentials {
  std::string certPem, keyPem;
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
  STACK_OF(X509)* chain = nullptr;
  ~TlsCredentials() {
    X509_free(cert);
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
  }
};

namespace {

int certificateCallback(SSL* ssl, void* arg) {
  auto* store = static_cast<ServingCertificateStore*>(arg);
  auto creds = store->current();
  if (!creds) return 0;  // no certificate yet: the handshake fails
  if (SSL_use_certificate(ssl, creds->cert) != 1 || SSL_use_PrivateKey(ssl, creds->key) != 1) return 0;
  if (creds->chain && SSL_set1_chain(ssl, creds->chain) != 1) return 0;
  return 1;
}

}  // namespace

ServingCertificateStore::ServingCertificateStore() = default;
ServingCertificateStore::~ServingCertificateStore() = default;

bool ServingCertificateStore::set(const std::string& certPem, const std::string& keyPem) {
  {
    std::lock_guard lock(mutex_);
    if (current_ && current_->certPem == certPem && current_->keyPem == keyPem) return false;
  }
  auto creds = std::make_shared<TlsCredentials>();
  creds->certPem = certPem;
  creds->keyPem = keyPem;
  auto certs = splitPemCertificates(certPem);
  if (certs.empty()) throw CertificateError("no PEM certificate in the certificate file");
  for (size_t i = 0; i < certs.size(); ++i) {
    BIO* bio = BIO_new_mem_buf(certs[i].data(), static_cast<int>(certs[i].size()));
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (!x) {
      ERR_clear_error();
      throw CertificateError("certificate " + std::to_string(i + 1) + " of the certificate file does not parse");
    }
    if (i == 0) {
      creds->cert = x;
    } else {
      if (!creds->chain) creds->chain = sk_X509_new_null();
      sk_X509_push(creds->chain, x);
    }
  }
  BIO* bio = BIO_new_mem_buf(keyPem.data(), static_cast<int>(keyPem.size()));
  creds->key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ERR_clear_error();
  if (!creds->key) throw CertificateError("the private key does not parse (PEM expected)");
  if (X509_check_private_key(creds->cert, creds->key) != 1) {
    ERR_clear_error();
    throw CertificateError("the private key does not belong to the certificate");
  }
  std::lock_guard lock(mutex_);
  current_ = std::move(creds);
  return true;
}

bool ServingCertificateStore::hasCertificate() const { return current() != nullptr; }

std::string ServingCertificateStore::certPem() const {
  auto c = current();
  return c ? c->certPem : std::string();
}

std::shared_ptr<const TlsCredentials> ServingCertificateStore::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

bool ServingCertificateStore::attachTo(SSL_CTX& ctx) {
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
  SSL_CTX_set_cert_cb(&ctx, certificateCallback, this);
  return true;
}

}  // namespace tributary::op::inject
