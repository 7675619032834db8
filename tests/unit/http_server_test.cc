// common/http's HttpServer on loopback: what a listener guarantees against
// idle, slow and greedy clients (the connection bound, the idle timeout, the
// byte budget), and HTTP details httplib alone gets wrong (a bodiless POST).
#include <gtest/gtest.h>
#include <httplib.h>

#include <condition_variable>
#include <future>
#include <mutex>

#include "common/http/http_server.h"
#include "tests/support/raw_socket.h"

using namespace std::chrono_literals;
using tributary::HttpServer;
using tributary::ListenerLimits;
using tributary::test::RawSocket;

namespace {

// A hang guard for answers that arrive at once.
constexpr auto kGuard = 60s;

struct Listener {
  explicit Listener(ListenerLimits limits, size_t workers = 2) : http(workers, 64 * 1024, std::move(limits)) {
    http.routes().Get("/hello", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("hello", "text/plain");
    });
    http.routes().Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content("got " + std::to_string(req.body.size()), "text/plain");
    });
    std::string error;
    EXPECT_TRUE(http.bind({"127.0.0.1", 0}, error)) << error;
    http.start();
  }
  std::string get(const std::string& path) {
    return tributary::test::rawRequest(http.port(),
                                       "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", kGuard);
  }
  HttpServer http;
};

bool answered200(const std::string& answer) { return answer.rfind("HTTP/1.1 200", 0) == 0; }

TEST(HttpServer, ABodilessPostIsARequestWithAnEmptyBodyAndTheConnectionStaysUsable) {
  Listener l{ListenerLimits{}};
  RawSocket s(l.http.port());
  ASSERT_TRUE(s.send("POST /echo HTTP/1.1\r\nHost: x\r\n\r\n"
                     "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"));
  const std::string answer = s.readUntilClosed(kGuard);
  ASSERT_TRUE(answered200(answer)) << answer;
  EXPECT_NE(answer.find("got 0"), std::string::npos) << answer;
  EXPECT_NE(answer.find("got 3"), std::string::npos) << "the pipelined second request: " << answer;
}

TEST(HttpServer, AtTheConnectionBoundTheOldestIdleConnectionIsClosedFirst) {
  ListenerLimits limits;
  limits.maxConnections = 4;
  Listener l{limits};
  std::vector<RawSocket> idle;
  for (int i = 0; i < 4; ++i) {
    idle.emplace_back(l.http.port());
    ASSERT_TRUE(idle.back().ok());
  }
  // Await the server holding all four (the acceptor adopts them one by one).
  for (auto until = std::chrono::steady_clock::now() + kGuard;
       l.http.openConnections() < 4 && std::chrono::steady_clock::now() < until;)
    std::this_thread::sleep_for(5ms);
  ASSERT_EQ(l.http.openConnections(), 4u);
  // A fifth client is served; the oldest idle connection made room.
  EXPECT_TRUE(answered200(l.get("/hello")));
  EXPECT_TRUE(idle[0].awaitClosed(kGuard)) << "the oldest idle connection was closed";
  // The others are still open: a request on the newest one is answered.
  ASSERT_TRUE(idle[3].send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  EXPECT_TRUE(answered200(idle[3].readUntilClosed(kGuard)));
}

TEST(HttpServer, AnIdleConnectionIsClosedAfterTheIdleTimeoutAndStopClosesTheRestAtOnce) {
  ListenerLimits limits;
  limits.idleTimeout = 50ms;
  Listener l{limits};
  RawSocket idle(l.http.port());
  EXPECT_TRUE(idle.awaitClosed(kGuard));
  ListenerLimits longIdle;
  longIdle.idleTimeout = std::chrono::hours(1);
  Listener other{longIdle};
  RawSocket kept(other.http.port());
  ASSERT_TRUE(kept.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));  // served, then idle
  other.http.stop();
  EXPECT_TRUE(kept.awaitClosed(kGuard)) << "stop() does not wait for idle keep-alive connections";
}

// Requests in flight hold the byte budget: one that does not fit is answered
// 503 with Retry-After before its body is read, and its connection stays usable.
TEST(HttpServer, ARequestPastTheByteBudgetIs503WithRetryAfterAndItsConnectionStaysUsable) {
  ListenerLimits limits;
  limits.maxInflightBytes = 1000;
  Listener l{limits, 4};
  std::mutex mutex;
  std::condition_variable cv;
  bool holding = false, release = false;
  l.http.routes().Post("/hold", [&](const httplib::Request&, httplib::Response& res) {
    std::unique_lock lock(mutex);
    holding = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    res.set_content("held", "text/plain");
  });
  auto held = std::async(std::launch::async, [&] {
    return tributary::test::rawRequest(
        l.http.port(), "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 600\r\nConnection: close\r\n\r\n" +
                           std::string(600, 'a'),
        kGuard);
  });
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, kGuard, [&] { return holding; }));
  }
  RawSocket s(l.http.port());
  ASSERT_TRUE(s.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 600\r\n\r\n" + std::string(600, 'b') +
                     "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 300\r\nConnection: close\r\n\r\n" +
                     std::string(300, 'c')));
  const std::string answers = s.readUntilClosed(kGuard);
  EXPECT_EQ(answers.rfind("HTTP/1.1 503", 0), 0u) << answers;
  EXPECT_NE(answers.find("Retry-After: 1"), std::string::npos) << answers;
  EXPECT_NE(answers.find("\"errorCode\":\"OVERLOADED\""), std::string::npos) << answers;
  EXPECT_NE(answers.find("got 300"), std::string::npos) << "a request that fits, on the same connection: " << answers;
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  cv.notify_all();
  EXPECT_TRUE(answered200(held.get()));
}

TEST(HttpServer, AChunkedBodyIsCountedAsItArrivesAndCutOffPastTheBudget) {
  ListenerLimits limits;
  limits.maxInflightBytes = 1000;
  Listener l{limits};
  auto chunked = [&](size_t bytes) {
    std::string body;
    for (size_t sent = 0; sent < bytes; sent += 100) body += "64\r\n" + std::string(100, 'z') + "\r\n";
    return tributary::test::rawRequest(l.http.port(),
                                       "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                       "Connection: close\r\n\r\n" + body + "0\r\n\r\n",
                                       kGuard);
  };
  const std::string small = chunked(500);
  EXPECT_TRUE(answered200(small)) << small;
  EXPECT_NE(small.find("got 500"), std::string::npos) << small;
  const std::string large = chunked(5000);
  EXPECT_EQ(large.rfind("HTTP/1.1 503", 0), 0u) << large;
  EXPECT_NE(large.find("Retry-After: 1"), std::string::npos) << large;
  EXPECT_TRUE(answered200(l.get("/hello"))) << "the budget is given back";
}

TEST(HttpServer, AChunkedBodyPastTheBodyLimitIsCutOffWith413NotReadToTheEnd) {
  ListenerLimits limits;
  limits.maxInflightBytes = 1 << 20;
  Listener l{limits};  // a body limit of 64 KiB
  std::string body;
  for (int i = 0; i < 1000; ++i) body += "3e8\r\n" + std::string(1000, 'z') + "\r\n";  // 1000 chunks of 1000 bytes
  const std::string answer = tributary::test::rawRequest(
      l.http.port(),
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body + "0\r\n\r\n",
      kGuard);
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer;
  EXPECT_NE(answer.find("PAYLOAD_TOO_LARGE"), std::string::npos) << answer;
}

}  // namespace
