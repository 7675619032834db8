#include "tests/support/tls_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace tributary::test {
namespace {

// Runs a shell command; false with its output in `error` when it fails.
bool run(const std::string& command, std::string& error) {
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) {
    error = "cannot run: " + command;
    return false;
  }
  std::string out;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  if (::pclose(p) != 0) {
    error = command + ": " + out;
    return false;
  }
  return true;
}

}  // namespace

std::optional<TestCertificates> makeTestCertificates(const std::string& dir, const std::string& passphrase,
                                                     std::string& error) {
  TestCertificates c;
  c.dir = dir;
  c.caCrt = dir + "/ca.crt";
  c.serverCrt = dir + "/server.crt";
  c.serverKey = dir + "/server.key";
  c.userCrt = dir + "/user.crt";
  c.userKey = dir + "/user.key";
  c.userKeyEncrypted = dir + "/user-encrypted.key";
  std::ofstream(dir + "/san.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  std::ofstream(dir + "/pass") << passphrase;
  const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -noenc";
  const std::string d = "'" + dir + "'";
  const bool ok =
      run("openssl req -x509 " + ec + " -keyout " + d + "/ca.key -out " + d + "/ca.crt -days 2 -subj /CN=test-cluster-ca",
          error) &&
      run("openssl req " + ec + " -keyout " + d + "/server.key -out " + d + "/server.csr -subj /CN=localhost", error) &&
      run("openssl x509 -req -in " + d + "/server.csr -CA " + d + "/ca.crt -CAkey " + d + "/ca.key -CAcreateserial -out " +
              d + "/server.crt -days 2 -extfile " + d + "/san.ext",
          error) &&
      run("openssl req " + ec + " -keyout " + d + "/user.key -out " + d + "/user.csr -subj /CN=" + c.userSubject, error) &&
      run("openssl x509 -req -in " + d + "/user.csr -CA " + d + "/ca.crt -CAkey " + d + "/ca.key -CAcreateserial -out " +
              d + "/user.crt -days 2",
          error) &&
      run("openssl pkcs8 -topk8 -v2 aes-256-cbc -in " + d + "/user.key -out " + d + "/user-encrypted.key -passout file:" +
              d + "/pass",
          error);
  ::unlink((dir + "/pass").c_str());
  if (!ok) return std::nullopt;
  return c;
}

TlsListener::TlsListener(const TestCertificates& certs) {
  // OpenSSL writes to the socket with write(): a client that hung up first (as
  // librdkafka does when it gives up on a connection) must not kill the test
  // process with SIGPIPE. Servers ignore it; so does this one.
  ::signal(SIGPIPE, SIG_IGN);
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, certs.serverCrt.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, certs.serverKey.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_load_verify_locations(ctx, certs.caCrt.c_str(), nullptr) != 1) {
    if (ctx) SSL_CTX_free(ctx);
    throw std::runtime_error("TlsListener: cannot load the test certificates");
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  ctx_ = ctx;
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 64) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("TlsListener: cannot listen");
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { loop(); });
}

TlsListener::~TlsListener() {
  stop_ = true;
  thread_.join();
  ::close(fd_);
  SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
}

void TlsListener::loop() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    // A bounded wait so that the destructor's stop is seen: this is the
    // server's accept loop, not a test waiting for a condition.
    if (::poll(&p, 1, 50) <= 0) continue;
    const int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    timeval tv{5, 0};
    ::setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    SSL* ssl = SSL_new(static_cast<SSL_CTX*>(ctx_));
    SSL_set_fd(ssl, conn);
    if (SSL_accept(ssl) == 1) {
      Handshake h;
      if (X509* peer = SSL_get1_peer_certificate(ssl)) {
        char cn[256] = {0};
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
        h.clientSubject = cn;
        X509_free(peer);
      }
      // Kafka request: int32 size, int16 api key, ...
      unsigned char header[6];
      int got = 0;
      while (got < 6) {
        const int n = SSL_read(ssl, header + got, 6 - got);
        if (n <= 0) break;
        got += n;
      }
      if (got == 6) h.apiKey = (header[4] << 8) | header[5];
      {
        std::lock_guard lock(mutex_);
        handshakes_.push_back(h);
      }
      cv_.notify_all();
      SSL_shutdown(ssl);
    } else {
      ERR_clear_error();
      ++failed_;
    }
    SSL_free(ssl);
    ::close(conn);
  }
}

std::optional<TlsListener::Handshake> TlsListener::awaitHandshake(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (!cv_.wait_for(lock, timeout, [&] { return !handshakes_.empty(); })) return std::nullopt;
  return handshakes_.front();
}

}  // namespace tributary::test
