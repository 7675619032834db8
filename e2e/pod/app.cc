// tributary-e2e-app: the application container of the e2e pod scenario (see
// e2e/README.md). It is what a user's app does with the sidecar, and nothing
// more: it produces N records through $TRIBUTARY_URL, receives the records the
// sidecar pushes to it (the push subscription is declared in the sidecar's
// config, e2e/pod/sidecar.yaml) on 127.0.0.1:8080, and checks that every
// record it produced came back, by value. It prints one result line,
//
//   tributary-e2e-app: RESULT PASS produced=100 received=100 duplicates=0 uid=65532 gid=65532 rootfs=read-only
//   tributary-e2e-app: RESULT FAIL produced=100 received=97 ... missing=[3,17,42]
//
// then keeps serving until SIGTERM/SIGINT and exits 0 after a PASS, 1 after a
// FAIL (so both `podman logs` and the exit code tell the result).
//
// Environment: TRIBUTARY_URL (required, set by the injector), E2E_TOPIC
// (default e2e-roundtrip), E2E_RECORDS (default 100), E2E_TIMEOUT_SECONDS
// (default 120: how long it waits for the sidecar and for the records).
//
// Threads: main produces and waits; httplib's pool runs the push handler.
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>

using Json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kPrefix = "tributary-e2e-app: ";
constexpr int kRecordsPerRequest = 10;

void say(const std::string& line) { std::cout << kPrefix << line << std::endl; }

std::string env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

long positiveEnv(const char* name, long fallback) {
  const std::string text = env(name, std::to_string(fallback));
  char* end = nullptr;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (*end != '\0' || v <= 0) {
    say(std::string("invalid ") + name + " '" + text + "': must be a positive integer");
    std::exit(2);
  }
  return v;
}

// Whether "/" can be written to, as the app would find out.
std::string rootfsState() {
  const char* probe = "/.tributary-e2e-write-probe";
  int fd = open(probe, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd >= 0) {
    close(fd);
    unlink(probe);
    return "writable";
  }
  return errno == EROFS ? "read-only" : std::string("unwritable(") + std::strerror(errno) + ")";
}

// What came back through the push subscription, by sequence number.
class Received {
 public:
  explicit Received(std::string run) : run_(std::move(run)) {}

  // Called from httplib's workers with a pushed record's value.
  void add(const std::string& body) {
    Json v = Json::parse(body, nullptr, false);
    if (!v.is_object() || v.value("run", "") != run_ || !v.contains("seq") || !v["seq"].is_number_integer()) {
      std::lock_guard<std::mutex> lock(mutex_);
      ++foreign_;
      return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (!seqs_.insert(v["seq"].get<int>()).second) ++duplicates_;
    changed_.notify_all();
  }
  bool waitForAll(int n, std::chrono::steady_clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_until(lock, deadline, [&] { return static_cast<int>(seqs_.size()) >= n; });
  }
  std::string summary(int n) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::ostringstream out;
    out << "received=" << seqs_.size() << " duplicates=" << duplicates_ << " foreign=" << foreign_;
    if (static_cast<int>(seqs_.size()) < n) {
      out << " missing=[";
      int shown = 0;
      for (int i = 0; i < n && shown < 20; ++i)
        if (!seqs_.count(i)) out << (shown++ ? "," : "") << i;
      out << "]";
    }
    return out.str();
  }

 private:
  const std::string run_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::set<int> seqs_;  // guarded by mutex_
  int duplicates_ = 0;  // guarded by mutex_
  int foreign_ = 0;     // guarded by mutex_
};

// Produces records [0, n) in requests of kRecordsPerRequest, retrying a request
// the sidecar could not take yet (it may start after the app). A retried
// request may duplicate records; the check counts values, not deliveries.
bool produce(httplib::Client& sidecar, const std::string& topic, const std::string& run, int n,
             std::chrono::steady_clock::time_point deadline) {
  for (int first = 0; first < n; first += kRecordsPerRequest) {
    Json records = Json::array();
    for (int i = first; i < std::min(n, first + kRecordsPerRequest); ++i)
      records.push_back({{"key", "k" + std::to_string(i)}, {"value", {{"run", run}, {"seq", i}}}});
    const std::string body = Json{{"records", records}}.dump();
    auto backoff = 100ms;
    while (true) {
      auto res = sidecar.Post("/v1/topics/" + topic + "/records", body, "application/json");
      if (res && res->status == 200) break;
      const std::string why = res ? std::to_string(res->status) + " " + res->body : httplib::to_string(res.error());
      if (std::chrono::steady_clock::now() + backoff > deadline) {
        say("producing records " + std::to_string(first) + "+ failed: " + why);
        return false;
      }
      say("sidecar not ready (" + why + "), retrying");
      std::this_thread::sleep_for(backoff);  // an app's retry backoff, not test synchronisation
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--version") {
    std::cout << "tributary-e2e-app " << TRIBUTARY_VERSION << std::endl;
    return 0;
  }
  if (argc > 1) {
    std::cerr << "usage: tributary-e2e-app [--version]  (configured by TRIBUTARY_URL, E2E_TOPIC, E2E_RECORDS, "
                 "E2E_TIMEOUT_SECONDS)\n";
    return 2;
  }
  const std::string url = env("TRIBUTARY_URL", "");
  if (url.empty()) {
    say("TRIBUTARY_URL is not set (the sidecar injector sets it to http://127.0.0.1:9191)");
    return 2;
  }
  const std::string topic = env("E2E_TOPIC", "e2e-roundtrip");
  const int n = static_cast<int>(positiveEnv("E2E_RECORDS", 100));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(positiveEnv("E2E_TIMEOUT_SECONDS", 120));

  // SIGTERM/SIGINT are taken by sigwait at the end (as PID 1 in its container
  // the app would otherwise ignore SIGTERM).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::random_device random;
  std::ostringstream runId;
  runId << std::hex << random() << random();
  Received received(runId.str());

  httplib::Server app;
  app.Post(".*", [&](const httplib::Request& req, httplib::Response& res) {
    received.add(req.body);
    res.status = 200;
  });
  if (!app.bind_to_port("127.0.0.1", 8080)) {
    say("cannot listen on 127.0.0.1:8080");
    return 1;
  }
  std::thread server([&] { app.listen_after_bind(); });
  say("listening on 127.0.0.1:8080; producing " + std::to_string(n) + " records to topic " + topic + " through " +
      url + " (run " + runId.str() + ")");

  httplib::Client sidecar(url);
  sidecar.set_connection_timeout(5s);
  sidecar.set_read_timeout(60s);
  bool pass = produce(sidecar, topic, runId.str(), n, deadline);
  if (pass) {
    say("produced " + std::to_string(n) + " records; waiting for them to come back");
    pass = received.waitForAll(n, deadline);
  }
  say(std::string("RESULT ") + (pass ? "PASS" : "FAIL") + " produced=" + std::to_string(n) + " " +
      received.summary(n) + " uid=" + std::to_string(getuid()) + " gid=" + std::to_string(getgid()) +
      " rootfs=" + rootfsState());

  int sig = 0;
  sigwait(&signals, &sig);
  say(std::string("signal received (") + strsignal(sig) + "), exiting");
  app.stop();
  server.join();
  return pass ? 0 : 1;
}
