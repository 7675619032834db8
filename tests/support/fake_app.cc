#include "tests/support/fake_app.h"

#include <algorithm>

#include "tests/support/loopback_server.h"

namespace tributary::test {

FakeApp::FakeApp() {
  behaviour_ = [](const Received&, int) { return 200; };
  // One worker per sidecar connection, so that no request waits for a thread
  // (a waiting request times out in the sidecar and is delivered twice).
  server_.new_task_queue = [] { return new httplib::ThreadPool(32); };
  server_.set_tcp_nodelay(true);
  server_.set_keep_alive_max_count(1'000'000);
  server_.Post("/events", [this](const httplib::Request& req, httplib::Response& res) {
    Received r;
    for (const auto& [k, v] : req.headers) {
      std::string lower = k;
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
      r.headers[lower] = v;
    }
    r.body = req.body;
    r.remotePort = req.remote_port;
    int status;
    {
      std::lock_guard lock(mutex_);
      int& n = attempts_[r.header("ce-id")];
      status = behaviour_(r, n);
      ++n;
      r.answered = status;
      requests_.push_back(r);
    }
    changed_.notify_all();
    res.status = status;
    res.set_content(status >= 400 ? "app says no (" + std::to_string(status) + ")" : "ok", "text/plain");
  });
  port_ = tributary::test::bindLoopback(server_);
  thread_ = std::thread([this] { server_.listen_after_bind(); });
}

FakeApp::~FakeApp() {
  server_.stop();
  thread_.join();
}

std::string FakeApp::endpoint() const { return "http://127.0.0.1:" + std::to_string(port_) + "/events"; }

void FakeApp::setBehaviour(Behaviour b) {
  std::lock_guard lock(mutex_);
  behaviour_ = std::move(b);
}

bool FakeApp::waitFor(const std::function<bool(const std::vector<Received>&)>& pred,
                      std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return pred(requests_); });
}

std::vector<FakeApp::Received> FakeApp::requests() {
  std::lock_guard lock(mutex_);
  return requests_;
}

}  // namespace tributary::test
