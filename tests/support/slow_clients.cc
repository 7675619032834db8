#include "tests/support/slow_clients.h"

#include <gtest/gtest.h>

namespace tributary::test {

using namespace std::chrono_literals;

SlowClients::SlowClients(int port, size_t idle, size_t drippers) {
  for (size_t i = 0; i < drippers; ++i) {
    RawSocket s(port);
    if (!s.ok()) continue;
    ++connected_;
    s.send("GET /slow HTTP/1.1\r\nHost: x\r\n");
    drippers_.push_back(std::move(s));
  }
  for (size_t i = 0; i < idle; ++i) {
    RawSocket s(port);
    if (!s.ok()) continue;
    ++connected_;
    idle_.push_back(std::move(s));
  }
  drip_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    for (int round = 0; !stop_; ++round) {
      for (auto& s : drippers_) s.send("X-Drip-" + std::to_string(round) + ": 1\r\n");
      cv_.wait_for(lock, 200ms, [this] { return stop_; });
    }
  });
}

SlowClients::~SlowClients() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  drip_.join();
}

void expectListenerServesThroughSlowClients(int port, const std::function<bool()>& probe,
                                            const std::function<void()>& work) {
  ASSERT_GE(raiseFdLimit(8192), 4096u) << "1100 client and up to 1100 server sockets live in this process";
  ASSERT_TRUE(probe()) << "the listener answers before the slow clients come";
  const size_t fdsBefore = openFdCount(), threadsBefore = threadCount();
  {
    SlowClients slow(port, 1000, 100);
    ASSERT_EQ(slow.connected(), 1100u);
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(probe()) << "probe " << i << " with 1000 idle and 100 dripping clients";
    work();
  }
  // The server notices the closed connections and closes its ends: awaited,
  // with a bound that only guards against a hang.
  const auto guard = std::chrono::steady_clock::now() + 60s;
  // Slack for the Kafka clients' own sockets (a reconnect meanwhile); a leak
  // per connection would be hundreds.
  const size_t fdSlack = 16;
  while ((openFdCount() > fdsBefore + fdSlack || threadCount() > threadsBefore) &&
         std::chrono::steady_clock::now() < guard)
    std::this_thread::sleep_for(20ms);
  EXPECT_LE(openFdCount(), fdsBefore + fdSlack) << "file descriptors left open after the slow clients closed";
  EXPECT_LE(threadCount(), threadsBefore) << "threads left after the slow clients closed";
  EXPECT_TRUE(probe()) << "the listener still answers afterwards";
}

}  // namespace tributary::test
