// The sidecar's listeners against clients that try to exhaust them: idle
// connections, heads sent a line at a time (issue 14 §6).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/raw_socket.h"
#include "tests/support/sidecar_fixture.h"
#include "tests/support/slow_clients.h"

using Json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

class Listeners : public tributary::test::SidecarTest {
 protected:
  void configure(tributary::sidecar::SidecarConfig&) override { kafka->createTopic("orders", 3, 3); }

  // A readiness probe as the kubelet sends it: a fresh connection, one GET.
  // The client timeout (60 s) only guards against a hang.
  bool readyzAnswers() {
    httplib::Client c("127.0.0.1", sidecar->adminPort());
    c.set_read_timeout(60);
    auto res = c.Get("/readyz");
    return res && res->status == 200;
  }
  void awaitReady() {
    for (auto until = std::chrono::steady_clock::now() + 60s; !readyzAnswers() && std::chrono::steady_clock::now() < until;)
      std::this_thread::sleep_for(50ms);
  }
  void produceWorks() {
    auto c = apiClient();
    auto res = c->Post("/v1/topics/orders/records", R"({"records":[{"value":{"n":1}}]})", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
  }
};

TEST_F(Listeners, TheApiListenerServesThroughIdleAndDrippingClients) {
  awaitReady();
  tributary::test::expectListenerServesThroughSlowClients(
      sidecar->apiPort(),
      [&] {
        httplib::Client c("127.0.0.1", sidecar->apiPort());
        c.set_read_timeout(60);
        auto res = c.Get("/v1/info");
        return res && res->status == 200 && readyzAnswers();
      },
      [&] { produceWorks(); });
}

TEST_F(Listeners, TheAdminListenerServesProbesAndMetricsThroughIdleAndDrippingClients) {
  awaitReady();
  tributary::test::expectListenerServesThroughSlowClients(sidecar->adminPort(), [&] { return readyzAnswers(); },
                                                          [&] {
                                                            produceWorks();
                                                            httplib::Client c("127.0.0.1", sidecar->adminPort());
                                                            c.set_read_timeout(60);
                                                            auto res = c.Get("/metrics");
                                                            ASSERT_TRUE(res);
                                                            EXPECT_EQ(res->status, 200);
                                                          });
}

// Clients that send a complete head and then drip the body hold a worker each
// (until the request deadline): with every admin worker held that way, the
// probes still answer, on workers of their own.
TEST_F(Listeners, ProbesAnswerWhileEveryAdminWorkerIsHeldBySlowBodies) {
  awaitReady();
  std::vector<tributary::test::RawSocket> slow;
  for (int i = 0; i < 16; ++i) {  // the admin listener has 4 workers
    slow.emplace_back(sidecar->adminPort());
    ASSERT_TRUE(slow.back().send("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"));
  }
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(readyzAnswers()) << "probe " << i;
  httplib::Client c("127.0.0.1", sidecar->adminPort());
  c.set_read_timeout(60);
  auto health = c.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

// A head that never completes is closed at the request deadline, not kept by
// a client that keeps sending: the connection ends although bytes still come.
TEST_F(Listeners, AHeadThatNeverCompletesIsClosedAtTheRequestDeadline) {
  tributary::test::RawSocket s(sidecar->adminPort());
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(s.send("GET /readyz HTTP/1.1\r\n"));
  bool closed = false;
  // One header line per round until the server closes; the bound is a hang guard.
  for (int i = 0; i < 600 && !closed; ++i) {
    s.send("X-Drip-" + std::to_string(i) + ": 1\r\n");
    closed = s.awaitClosed(200ms);
  }
  EXPECT_TRUE(closed) << "the server kept a never-ending head open";
}

}  // namespace
