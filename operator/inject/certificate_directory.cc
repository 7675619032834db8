#include "operator/inject/certificate_directory.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/log/log.h"
#include "operator/inject/certificate_authority.h"

namespace tributary::op::inject {
namespace {

bool readFile(const std::string& path, std::string& out, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  std::ostringstream s;
  s << in.rdbuf();
  out = s.str();
  return true;
}

}  // namespace

CertificateDirectory::CertificateDirectory(std::string dir, std::shared_ptr<ServingCertificateStore> store,
                                           runtime::Clock& clock, std::chrono::milliseconds interval)
    : dir_(std::move(dir)), store_(std::move(store)), task_(clock, [this, interval] {
        std::string error;
        if (!load(error)) {
          if (error != lastError_) log::error("webhook certificate not reloaded", {{"error", error}});
          lastError_ = error;
        } else {
          lastError_.clear();
        }
        return interval;
      }) {}

CertificateDirectory::~CertificateDirectory() { stop(); }

bool CertificateDirectory::load(std::string& error) {
  std::string cert, key;
  const std::string certPath = dir_ + "/tls.crt", keyPath = dir_ + "/tls.key";
  if (!readFile(certPath, cert, error) || !readFile(keyPath, key, error)) return false;
  try {
    if (store_->set(cert, key)) log::info("webhook serving certificate loaded", {{"file", certPath}});
    return true;
  } catch (const CertificateError& e) {
    error = certPath + " / " + keyPath + ": " + e.what();
    return false;
  }
}

void CertificateDirectory::start() { task_.start(); }
void CertificateDirectory::stop() { task_.stop(); }

}  // namespace tributary::op::inject
