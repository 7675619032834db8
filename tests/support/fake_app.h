#pragma once
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tributary::test {

// The app behind a push subscription: a real HTTP server on a loopback port
// chosen by the kernel, answering with a programmable status and recording
// every request it got.
class FakeApp {
 public:
  struct Received {
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
    int answered = 0;
    int remotePort = 0;  // tells the sidecar's connections apart
    std::string header(const std::string& name) const {
      auto it = headers.find(name);
      return it == headers.end() ? "" : it->second;
    }
  };
  // Decides the status for a request, given how many requests with the same
  // ce-id came before it (0 for the first attempt).
  using Behaviour = std::function<int(const Received& request, int earlierAttempts)>;

  FakeApp();
  ~FakeApp();

  std::string endpoint() const;  // http://127.0.0.1:port/events
  void setBehaviour(Behaviour b);
  // Waits until `pred(requests)` holds or the timeout; returns whether it held.
  bool waitFor(const std::function<bool(const std::vector<Received>&)>& pred, std::chrono::milliseconds timeout);
  std::vector<Received> requests();

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Received> requests_;     // guarded by mutex_
  std::map<std::string, int> attempts_;  // by ce-id, guarded by mutex_
  Behaviour behaviour_;                // guarded by mutex_
};

}  // namespace tributary::test
