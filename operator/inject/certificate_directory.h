#pragma once
// --webhook-cert-dir DIR: the serving certificate comes from DIR/tls.crt and
// DIR/tls.key (as controller-runtime; a mounted Secret, cert-manager's), read
// again whenever they change (checked every `interval`; the kubelet swaps a
// mounted Secret's files atomically). A change that does not load (a key that
// does not match, a half-written file) keeps the previous certificate and is
// logged; the next check tries again.
#include <chrono>
#include <memory>
#include <string>

#include "operator/inject/periodic_task.h"
#include "operator/inject/serving_certificate.h"
#include "operator/runtime/clock.h"

namespace tributary::op::inject {

// Threads: load() from one thread at a time; start()/stop() from the owner.
class CertificateDirectory {
 public:
  CertificateDirectory(std::string dir, std::shared_ptr<ServingCertificateStore> store, runtime::Clock& clock,
                       std::chrono::milliseconds interval = std::chrono::seconds(10));
  ~CertificateDirectory();

  // Reads both files; false with `error` (naming the file) when they cannot be
  // read or do not load. True when the store holds them (changed or not).
  bool load(std::string& error);
  void start();
  void stop();
  uint64_t passes() const { return task_.passes(); }
  bool awaitPasses(uint64_t n, std::chrono::milliseconds timeout) const { return task_.awaitPasses(n, timeout); }

 private:
  const std::string dir_;
  std::shared_ptr<ServingCertificateStore> store_;
  std::string lastError_;
  PeriodicTask task_;
};

}  // namespace tributary::op::inject
