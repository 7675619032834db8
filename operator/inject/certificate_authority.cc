#include "operator/inject/certificate_authority.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <cstdio>
#include <ctime>
#include <memory>

namespace tributary::op::inject {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;

[[noreturn]] void fail(const std::string& what) {
  std::string reason;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    reason += std::string(reason.empty() ? ": " : "; ") + buf;
  }
  throw CertificateError(what + reason);
}

BioPtr memoryBio(const std::string& text) { return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size()))); }

std::string bioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

X509Ptr readCert(const std::string& pem) {
  auto bio = memoryBio(pem);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  return cert;
}

KeyPtr readKey(const std::string& pem) {
  auto bio = memoryBio(pem);
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  return key;
}

std::string certPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(bio.get(), cert)) fail("cannot write a certificate");
  return bioText(bio.get());
}

std::string keyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) fail("cannot write a key");
  return bioText(bio.get());
}

KeyPtr newKey() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) fail("cannot generate an ECDSA P-256 key");
  return key;
}

void addExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) fail("cannot build the certificate extension " + std::string(OBJ_nid2sn(nid)) + "=" + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate with subject CN=`commonName`, a random 127-bit serial and the validity window.
X509Ptr newCert(const std::string& commonName, EVP_PKEY* publicKey, WallTime notBefore, std::chrono::seconds validity) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);  // v3
  BnPtr serial(BN_new());
  BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()));
  const time_t from = std::chrono::system_clock::to_time_t(notBefore);
  const time_t to = std::chrono::system_clock::to_time_t(notBefore + validity);
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), from);
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), to);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(commonName.c_str()), -1,
                             -1, 0);
  X509_set_pubkey(cert.get(), publicKey);
  return cert;
}

WallTime toWallTime(const ASN1_TIME* t) {
  struct tm tm {};
  ASN1_TIME_to_tm(t, &tm);
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

CertificatePair issueCa(const std::string& commonName, WallTime notBefore, std::chrono::seconds validity) {
  KeyPtr key = newKey();
  X509Ptr cert = newCert(commonName, key.get(), notBefore, validity);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  addExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  addExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  addExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  if (!X509_sign(cert.get(), key.get(), EVP_sha256())) fail("cannot sign the CA certificate");
  return {certPem(cert.get()), keyPem(key.get())};
}

CertificatePair issueServing(const CertificatePair& ca, const std::vector<std::string>& dnsNames, WallTime notBefore,
                             std::chrono::seconds validity) {
  X509Ptr caCert = readCert(ca.certPem);
  KeyPtr caKey = readKey(ca.keyPem);
  if (!caCert || !caKey) throw CertificateError("the CA certificate or key does not parse");
  if (dnsNames.empty()) throw CertificateError("a serving certificate needs at least one DNS name");
  KeyPtr key = newKey();
  X509Ptr cert = newCert(dnsNames[0], key.get(), notBefore, validity);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(caCert.get()));
  std::string san;
  for (const auto& n : dnsNames) {
    // An IP address (a webhook registered by URL, in tests) is an IP SAN.
    unsigned char buf[16];
    const bool ip = inet_pton(AF_INET, n.c_str(), buf) == 1 || inet_pton(AF_INET6, n.c_str(), buf) == 1;
    san += (san.empty() ? "" : ",") + std::string(ip ? "IP:" : "DNS:") + n;
  }
  addExtension(cert.get(), caCert.get(), NID_basic_constraints, "critical,CA:FALSE");
  addExtension(cert.get(), caCert.get(), NID_key_usage, "critical,digitalSignature");
  addExtension(cert.get(), caCert.get(), NID_ext_key_usage, "serverAuth");
  addExtension(cert.get(), caCert.get(), NID_subject_alt_name, san);
  addExtension(cert.get(), caCert.get(), NID_authority_key_identifier, "keyid:always");
  if (!X509_sign(cert.get(), caKey.get(), EVP_sha256())) fail("cannot sign the serving certificate");
  return {certPem(cert.get()), keyPem(key.get())};
}

std::vector<std::string> splitPemCertificates(const std::string& bundle) {
  static const std::string kBegin = "-----BEGIN CERTIFICATE-----", kEnd = "-----END CERTIFICATE-----";
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = bundle.find(kBegin, pos)) != std::string::npos) {
    size_t end = bundle.find(kEnd, pos);
    if (end == std::string::npos) break;
    end += kEnd.size();
    out.push_back(bundle.substr(pos, end - pos) + "\n");
    pos = end;
  }
  return out;
}

std::optional<CertificateInfo> inspectCertificate(const std::string& pem) {
  X509Ptr cert = readCert(pem);
  if (!cert) return std::nullopt;
  CertificateInfo info;
  info.notBefore = toWallTime(X509_get0_notBefore(cert.get()));
  info.notAfter = toWallTime(X509_get0_notAfter(cert.get()));
  info.isCa = X509_check_ca(cert.get()) != 0;
  if (auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr))) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
      if (n->type != GEN_DNS) continue;
      const ASN1_IA5STRING* s = n->d.dNSName;
      info.dnsNames.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                 static_cast<size_t>(ASN1_STRING_length(s)));
    }
    GENERAL_NAMES_free(names);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert.get(), EVP_sha256(), md, &len);
  for (unsigned int i = 0; i < len; ++i) {
    char hex[3];
    std::snprintf(hex, sizeof hex, "%02x", md[i]);
    info.fingerprint += hex;
  }
  return info;
}

bool keyMatchesCertificate(const std::string& certPemText, const std::string& keyPemText) {
  X509Ptr cert = readCert(certPemText);
  KeyPtr key = readKey(keyPemText);
  if (!cert || !key) return false;
  bool ok = X509_check_private_key(cert.get(), key.get()) == 1;
  ERR_clear_error();
  return ok;
}

bool signedBy(const std::string& certPemText, const std::string& caPemText) {
  X509Ptr cert = readCert(certPemText), ca = readCert(caPemText);
  if (!cert || !ca) return false;
  EVP_PKEY* caKey = X509_get0_pubkey(ca.get());
  bool ok = caKey && X509_verify(cert.get(), caKey) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace tributary::op::inject
