#pragma once
// TLS for Kafka clients without a Kafka broker: certificates made at test time
// with the openssl CLI, and a loopback TLS listener that plays a broker's SSL
// listener far enough to prove that librdkafka accepted the client's TLS
// properties (CA, certificate, private key and its passphrase).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tributary::test {

// A cluster CA, a server certificate for 127.0.0.1 / localhost, and a client
// certificate laid out as Strimzi's KafkaUser Secret holds it: ca.crt,
// user.crt, user.key (PKCS#8, unencrypted) — plus user-encrypted.key, the same
// key encrypted with `passphrase` (for ssl.key.password).
struct TestCertificates {
  std::string dir;
  std::string caCrt, serverCrt, serverKey;
  std::string userCrt, userKey, userKeyEncrypted;
  std::string userSubject = "tributary-test-user";
};
// Writes the files under `dir` (which must exist); nullopt with `error` (the
// openssl command's output) on failure.
std::optional<TestCertificates> makeTestCertificates(const std::string& dir, const std::string& passphrase,
                                                     std::string& error);

// Accepts TLS connections on a kernel-chosen loopback port, requiring a client
// certificate signed by the CA; after a completed handshake reads the client's
// first Kafka request header (librdkafka sends ApiVersions, or SaslHandshake)
// and closes the connection. Threads: one accept thread of its own; the
// accessors from any thread.
class TlsListener {
 public:
  explicit TlsListener(const TestCertificates& certs);
  ~TlsListener();
  TlsListener(const TlsListener&) = delete;
  TlsListener& operator=(const TlsListener&) = delete;

  int port() const { return port_; }
  std::string bootstrap() const { return "127.0.0.1:" + std::to_string(port_); }

  struct Handshake {
    std::string clientSubject;  // the client certificate's CN
    int apiKey = -1;            // the first request's Kafka API key (18: ApiVersions), -1 if none came
  };
  // The first completed handshake, waiting up to `timeout` for one.
  std::optional<Handshake> awaitHandshake(std::chrono::milliseconds timeout);
  int failedHandshakes() const { return failed_.load(); }

 private:
  void loop();
  void* ctx_ = nullptr;  // SSL_CTX
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> failed_{0};
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Handshake> handshakes_;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace tributary::test
