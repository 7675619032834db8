#pragma once
// Self-signed CA and serving certificates for the webhook (OpenSSL 3; ECDSA
// P-256 keys, SHA-256 signatures), and what the rest of the injector needs to
// know about a PEM certificate. The only files here that include OpenSSL are
// this one's .cc and serving_certificate.cc.
//
// Threads: pure functions, any thread.
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tributary::op::inject {

// The injector's one error type for certificates: OpenSSL failures and
// unusable PEM, with OpenSSL's own reason appended.
class CertificateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using WallTime = std::chrono::system_clock::time_point;

struct CertificatePair {
  std::string certPem;
  std::string keyPem;  // PKCS#8
};

struct CertificateInfo {
  WallTime notBefore;
  WallTime notAfter;
  bool isCa = false;
  std::vector<std::string> dnsNames;
  std::string fingerprint;  // SHA-256 of the DER, hex: tells two certificates apart
};

// A CA valid from `notBefore` for `validity`.
CertificatePair issueCa(const std::string& commonName, WallTime notBefore, std::chrono::seconds validity);
// A serving (leaf) certificate for `dnsNames` (the first is the common name;
// IP addresses among them become IP SANs),
// signed by `ca`. Throws CertificateError when `ca` is unusable.
CertificatePair issueServing(const CertificatePair& ca, const std::vector<std::string>& dnsNames, WallTime notBefore,
                             std::chrono::seconds validity);

// The PEM certificates of a bundle, in order ("" items never).
std::vector<std::string> splitPemCertificates(const std::string& bundle);
// The first certificate of `pem`; nullopt when there is none or it does not parse.
std::optional<CertificateInfo> inspectCertificate(const std::string& pem);
// Whether `keyPem` is the private key of the first certificate of `certPem`.
bool keyMatchesCertificate(const std::string& certPem, const std::string& keyPem);
// Whether the first certificate of `certPem` carries a valid signature by `caPem`'s key.
bool signedBy(const std::string& certPem, const std::string& caPem);

}  // namespace tributary::op::inject
