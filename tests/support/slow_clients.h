#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "tests/support/raw_socket.h"

namespace tributary::test {

// Clients that try to exhaust a listener: `idle` connections that never send a
// byte, and `drippers` that send a request line and then one header line per
// round, never finishing the head. The drip thread paces its rounds (pacing,
// not synchronisation). Everything is closed when the object goes.
class SlowClients {
 public:
  SlowClients(int port, size_t idle, size_t drippers);
  ~SlowClients();
  size_t connected() const { return connected_; }

 private:
  std::vector<RawSocket> idle_, drippers_;
  size_t connected_ = 0;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread drip_;
};

// The whole check for one listener: with 1000 idle and 100 dripping clients
// connected, `probe` (one request on a fresh connection; true when answered
// as expected) answers 20 times in a row and `work` (the listener's real work:
// a produce, a scrape) succeeds; after they close, this process is back to its
// open file descriptors and threads of before (awaited, with a hang guard).
void expectListenerServesThroughSlowClients(int port, const std::function<bool()>& probe,
                                            const std::function<void()>& work);

}  // namespace tributary::test
