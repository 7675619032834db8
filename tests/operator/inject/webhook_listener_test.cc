// The webhook's HTTPS listener (:9443) against clients that try to exhaust
// it (issue 14 §6): TCP connections that never start a handshake, handshakes
// sent a byte at a time, and TLS clients that drip a request head a line at a
// time. The API server must still get its AdmissionReviews answered — with
// failurePolicy: Fail, a webhook that does not answer stops every pod creation
// in the selected namespaces.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <prometheus/registry.h>

#include "operator/inject/admission_handler.h"
#include "operator/inject/certificate_authority.h"
#include "operator/inject/serving_certificate.h"
#include "operator/inject/sidecar_injector.h"
#include "operator/inject/webhook_server.h"
#include "tests/operator/inject/https_client.h"
#include "tests/support/raw_socket.h"

namespace tributary::op::inject {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;
using tributary::test::RawSocket;

const std::string kHost = "tributary-webhook.tributary-system.svc";

std::string podReview(const std::string& uid) {
  return Json{{"apiVersion", "admission.k8s.io/v1"},
              {"kind", "AdmissionReview"},
              {"request",
               {{"uid", uid},
                {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
                {"namespace", "shop"},
                {"operation", "CREATE"},
                {"object",
                 {{"metadata", {{"name", "p"}, {"annotations", {{"tributary.dev/inject", "true"}}}}},
                  {"spec", {{"containers", Json::array({{{"name", "app"}}})}}}}}}}}
      .dump();
}

// A TLS client that completes its handshake (no verification: it only has to
// get in) and then sends whatever it is told, a piece at a time.
class TlsDripper {
 public:
  TlsDripper(SSL_CTX* ctx, int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    // A hang guard for the blocking handshake and reads, not a measurement.
    timeval guard{30, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof guard);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &guard, sizeof guard);
    ssl_ = SSL_new(ctx);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, kHost.c_str());
    connected_ = SSL_connect(ssl_) == 1;
    ERR_clear_error();
  }
  ~TlsDripper() {
    if (ssl_) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }
  TlsDripper(const TlsDripper&) = delete;
  TlsDripper& operator=(const TlsDripper&) = delete;
  bool connected() const { return connected_; }
  void send(const std::string& text) {
    if (connected_ && SSL_write(ssl_, text.data(), static_cast<int>(text.size())) <= 0) connected_ = false;
    ERR_clear_error();
  }
  // True once the server closed the connection (waits up to `guard`).
  bool awaitClosed(std::chrono::milliseconds guard) {
    char byte;
    pollfd p{fd_, POLLIN, 0};
    if (SSL_pending(ssl_) == 0 && ::poll(&p, 1, static_cast<int>(guard.count())) <= 0) return false;
    const int n = SSL_read(ssl_, &byte, 1);
    ERR_clear_error();
    return n <= 0;
  }
  // The next HTTP response on this connection (head and Content-Length body);
  // "" when the connection ends first.
  std::string readResponse() {
    while (true) {
      const size_t head = in_.find("\r\n\r\n");
      if (head != std::string::npos) {
        const size_t cl = in_.find("Content-Length: ");
        const size_t length = cl < head ? std::stoul(in_.substr(cl + 16)) : 0;
        if (in_.size() >= head + 4 + length) {
          std::string response = in_.substr(0, head + 4 + length);
          in_.erase(0, head + 4 + length);
          return response;
        }
      }
      char buf[4096];
      const int n = SSL_read(ssl_, buf, sizeof buf);
      ERR_clear_error();
      if (n <= 0) return "";
      in_.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool connected_ = false;
  std::string in_;
};

std::string reviewRequest(const std::string& uid) {
  const std::string body = podReview(uid);
  return "POST /inject HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// The start of a TLS ClientHello record that announces 16 KiB: a server
// reading it waits for the rest, which comes one byte per round.
const std::string kHandshakeStart("\x16\x03\x01\x40\x00\x01", 6);

class WebhookListener : public ::testing::Test {
 protected:
  void SetUp() override {
    // This process's TLS clients write to connections the server may have
    // closed (the connection bound): EPIPE, not the end of the test.
    std::signal(SIGPIPE, SIG_IGN);
    const auto now = std::chrono::system_clock::now();
    ca = issueCa("webhook-test-ca", now - 1h, 24h);
    CertificatePair leaf = issueServing(ca, {kHost}, now - 1h, 24h);
    store = std::make_shared<ServingCertificateStore>();
    store->set(leaf.certPem, leaf.keyPem);
    auto injector = std::make_shared<const SidecarInjector>(InjectorSettings{});
    // No API server: the reviews here name no ConfigMap.
    handler = std::make_shared<AdmissionHandler>([injector] { return injector; }, nullptr, metrics);
    clientCtx = SSL_CTX_new(TLS_client_method());
  }
  void TearDown() override {
    if (webhook) webhook->stop();
    SSL_CTX_free(clientCtx);
  }
  void start(ListenerLimits limits = WebhookServer::defaultLimits()) {
    webhook = std::make_unique<WebhookServer>(store, handler, limits);
    std::string error;
    ASSERT_TRUE(webhook->bind({"127.0.0.1", 0}, error)) << error;
    webhook->start();
  }
  // One AdmissionReview as the API server sends it: a fresh TLS connection,
  // the CA verified. True when the pod's review came back with its patch.
  // (The client's 30 s timeout only guards against a hang.)
  bool reviewAnswered(const std::string& uid) {
    auto reply = test::postHttps(kHost, webhook->port(), "/inject", podReview(uid), ca.certPem);
    if (reply.curlCode != 0 || reply.status != 200) {
      ADD_FAILURE() << "review " << uid << ": curl " << reply.curlCode << " " << reply.curlError << ", HTTP "
                    << reply.status << " " << reply.body;
      return false;
    }
    Json out = Json::parse(reply.body);
    return out["response"]["uid"] == uid && out["response"]["allowed"] == true &&
           out["response"]["patchType"] == "JSONPatch";
  }

  CertificatePair ca;
  prometheus::Registry metrics;
  std::shared_ptr<ServingCertificateStore> store;
  std::shared_ptr<AdmissionHandler> handler;
  std::unique_ptr<WebhookServer> webhook;
  SSL_CTX* clientCtx = nullptr;
};

TEST_F(WebhookListener, AnswersReviewsThroughIdleDrippingAndStalledHandshakeClients) {
  start();
  ASSERT_GE(tributary::test::raiseFdLimit(8192), 4096u) << "1120 client and up to 1120 server sockets live in this process";
  ASSERT_TRUE(reviewAnswered("before"));
  const size_t fdsBefore = tributary::test::openFdCount(), threadsBefore = tributary::test::threadCount();
  {
    // 1000 connections that never send a byte (not even a ClientHello).
    std::vector<RawSocket> idle;
    for (int i = 0; i < 1000; ++i) {
      idle.emplace_back(webhook->port());
      ASSERT_TRUE(idle.back().ok());
    }
    // 20 handshakes that never end, a byte per round.
    std::vector<RawSocket> stalled;
    for (int i = 0; i < 20; ++i) {
      stalled.emplace_back(webhook->port());
      ASSERT_TRUE(stalled.back().send(kHandshakeStart));
    }
    // 100 TLS clients past the handshake that send a request head a line per round.
    std::vector<std::unique_ptr<TlsDripper>> drippers;
    for (int i = 0; i < 100; ++i) {
      drippers.push_back(std::make_unique<TlsDripper>(clientCtx, webhook->port()));
      ASSERT_TRUE(drippers.back()->connected()) << "dripper " << i << " got no handshake";
      drippers.back()->send("POST /inject HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n");
    }
    std::mutex mutex;
    std::condition_variable cv;
    bool stop = false;
    std::thread drip([&] {
      std::unique_lock lock(mutex);
      for (int round = 0; !stop; ++round) {  // pacing, not synchronisation
        for (auto& d : drippers) d->send("X-Drip-" + std::to_string(round) + ": 1\r\n");
        for (auto& s : stalled) s.send(std::string(1, '\0'));
        cv.wait_for(lock, 200ms, [&] { return stop; });
      }
    });
    for (int i = 0; i < 20; ++i) EXPECT_TRUE(reviewAnswered("during-" + std::to_string(i))) << "review " << i;
    EXPECT_LE(webhook->openConnections(), WebhookServer::defaultLimits().maxConnections);
    {
      std::lock_guard lock(mutex);
      stop = true;
    }
    cv.notify_all();
    drip.join();
  }
  // The server notices the closed connections and closes its ends: awaited,
  // with a bound that only guards against a hang.
  const auto guard = std::chrono::steady_clock::now() + 60s;
  while ((tributary::test::openFdCount() > fdsBefore || tributary::test::threadCount() > threadsBefore) &&
         std::chrono::steady_clock::now() < guard)
    std::this_thread::sleep_for(20ms);
  EXPECT_LE(tributary::test::openFdCount(), fdsBefore) << "file descriptors left open after the slow clients closed";
  EXPECT_LE(tributary::test::threadCount(), threadsBefore) << "threads left after the slow clients closed";
  EXPECT_EQ(webhook->openConnections(), 0u);
  EXPECT_TRUE(reviewAnswered("after"));
}

// A handshake that never completes is closed at the request deadline
// although its bytes keep coming; so is a TLS request head that never ends.
TEST_F(WebhookListener, AHandshakeOrAHeadThatNeverCompletesIsClosedAtTheRequestDeadline) {
  ListenerLimits limits = WebhookServer::defaultLimits();
  limits.requestTimeout = 1s;  // the deadline itself is not measured, only that it comes
  start(limits);
  RawSocket handshake(webhook->port());
  ASSERT_TRUE(handshake.send(kHandshakeStart));
  TlsDripper head(clientCtx, webhook->port());
  ASSERT_TRUE(head.connected());
  head.send("POST /inject HTTP/1.1\r\n");
  bool closed = false;
  // A byte (a header line) per round until the server closes; the bound is a hang guard.
  for (int i = 0; i < 600 && !closed; ++i) {
    handshake.send(std::string(1, '\0'));
    head.send("X-Drip-" + std::to_string(i) + ": 1\r\n");
    closed = handshake.awaitClosed(100ms);
  }
  EXPECT_TRUE(closed) << "the server kept a never-ending handshake open";
  closed = false;
  for (int i = 0; i < 600 && !closed; ++i) {
    head.send("X-Drip-more-" + std::to_string(i) + ": 1\r\n");
    closed = head.awaitClosed(100ms);
  }
  EXPECT_TRUE(closed) << "the server kept a never-ending TLS head open";
  EXPECT_TRUE(reviewAnswered("after"));
}

// Connections past the bound close the oldest unfinished ones (here: the
// handshakes that never started), never the listener.
TEST_F(WebhookListener, TheConnectionBoundClosesTheOldestUnfinishedConnectionsFirst) {
  ListenerLimits limits = WebhookServer::defaultLimits();
  limits.maxConnections = 8;
  start(limits);
  std::vector<RawSocket> idle;
  for (int i = 0; i < 8; ++i) idle.emplace_back(webhook->port());
  ASSERT_TRUE(reviewAnswered("at-the-bound"));
  EXPECT_TRUE(idle.front().awaitClosed(30s)) << "the oldest connection should have made room";
  EXPECT_LE(webhook->openConnections(), 8u);
}

// Keep-alive: one TLS connection carries many reviews, one after the other
// (the API server reuses its connections) and pipelined in one write (the
// second request then sits decrypted in OpenSSL, where poll() cannot see it).
TEST_F(WebhookListener, OneConnectionCarriesManyReviewsInOrder) {
  start();
  TlsDripper conn(clientCtx, webhook->port());
  ASSERT_TRUE(conn.connected());
  for (int i = 0; i < 5; ++i) {
    conn.send(reviewRequest("seq-" + std::to_string(i)));
    const std::string response = conn.readResponse();
    ASSERT_NE(response.find("200 OK"), std::string::npos) << response;
    EXPECT_NE(response.find("\"seq-" + std::to_string(i) + "\""), std::string::npos) << response;
  }
  conn.send(reviewRequest("piped-1") + reviewRequest("piped-2"));
  for (const std::string uid : {"piped-1", "piped-2"}) {
    const std::string response = conn.readResponse();
    ASSERT_NE(response.find("200 OK"), std::string::npos) << uid << ": " << response;
    EXPECT_NE(response.find("\"" + uid + "\""), std::string::npos) << response;
  }
}

// Plain HTTP on the HTTPS port is never answered in plain text.
TEST_F(WebhookListener, PlainHttpIsNotServed) {
  start();
  const std::string answer =
      tributary::test::rawRequest(webhook->port(), "POST /inject HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 30s);
  EXPECT_EQ(answer.find("HTTP/1.1"), std::string::npos) << answer;
}

}  // namespace
}  // namespace tributary::op::inject
