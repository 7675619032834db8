#pragma once
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <httplib.h>

#include "common/http/http_server.h"
#include "tests/support/apiserver/object_store.h"

namespace tributary::apiserver {

struct TestApiServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: the kernel picks a free port
  // Each open connection holds a worker, and each watch holds its connection.
  size_t workerThreads = 64;
  // How often a watch with allowWatchBookmarks=true gets a BOOKMARK (the
  // real server: about a minute; tests want it short).
  std::chrono::milliseconds bookmarkInterval{60'000};
  // How long a watch without timeoutSeconds lasts before the server ends it
  // (the real server: --min-request-timeout 1800s, randomised up to twice).
  std::chrono::seconds defaultWatchTimeout{1800};
  // Events kept for watch resumption and list continuation; 0 keeps all until compact().
  size_t maxRetainedEvents = 0;
  // What /version reports (kubectl warns beyond one minor version of skew).
  std::string gitVersion = "v1.32.0";
};

// A request as the server saw it (tests count API calls with this).
struct RecordedRequest {
  std::string method;  // HTTP method
  std::string target;  // path and query, as sent
  std::string verb;    // get, list, watch, create, update, patch, delete, deletecollection, or "" (discovery, other)
  int status = 0;
  std::string userAgent;  // the User-Agent header (tells the operator's calls from a test's own)
};

// A test double of the Kubernetes API server over plain HTTP on loopback:
// discovery, storage of any resource type (built-in, or registered by
// creating a CustomResourceDefinition), list and watch, the status
// subresource, finalizers, merge patch, server-side Tables. See README.md
// for what it implements and where it differs from a real API server.
//
// Threads: construct, start(), port()/url() and stop() from the owning (test)
// thread. The fault-injection hooks, compact(), resourceVersion(),
// requests() and store() may be called from any thread while it runs.
// Requests are served on a pool of `workerThreads` threads.
class TestApiServer {
 public:
  explicit TestApiServer(TestApiServerOptions options = {});
  ~TestApiServer();
  TestApiServer(const TestApiServer&) = delete;
  TestApiServer& operator=(const TestApiServer&) = delete;

  // Binds and starts serving; throws std::runtime_error when the port is taken.
  void start();
  // Ends open watches, stops accepting, waits for running requests. Idempotent.
  void stop();
  int port() const { return http_.port(); }
  std::string url() const { return "http://" + options_.host + ":" + std::to_string(port()); }

  // ---- fault injection (any thread)
  // The next `n` requests whose path contains `pathContains` ("" = any) are
  // answered with `status` and a matching Status (500 InternalError, 503
  // ServiceUnavailable, 429 TooManyRequests with Retry-After, 504 Timeout, ...)
  // without being served. n = 0 cancels.
  void failNextRequests(int n, int status, const std::string& pathContains = "");
  // Ends every open watch stream (cleanly, as a server restart or a load
  // balancer timeout does); clients must re-watch from their last resourceVersion.
  void dropWatches();
  // Every request waits this long before being served (0 = none).
  void setDelay(std::chrono::milliseconds delay);
  // Forgets history: watches and continue tokens from any resourceVersion
  // before now get 410 Gone (Expired), as after an etcd compaction.
  void compact();

  // ---- observation (any thread)
  uint64_t resourceVersion() const { return store_.resourceVersion(); }
  size_t openWatches() const { return store_.openWatches(); }
  std::vector<RecordedRequest> requests() const;
  void clearRequests();
  // Direct access for seeding state without HTTP (benchmarks).
  ObjectStore& store() { return store_; }

 private:
  void handle(const httplib::Request& req, httplib::Response& res);
  void route(const httplib::Request& req, httplib::Response& res, RecordedRequest& record);
  void serveResource(const httplib::Request& req, httplib::Response& res, RecordedRequest& record,
                     const std::string& group, const std::string& version, std::vector<std::string> rest);
  std::optional<int> takeFault(const std::string& path);

  const TestApiServerOptions options_;
  ObjectStore store_;
  HttpServer http_;
  bool running_ = false;

  struct Fault {
    int remaining = 0;
    int status = 0;
    std::string pathContains;
  };
  std::mutex faultMu_;
  Fault fault_;
  std::atomic<int64_t> delayMs_{0};

  mutable std::mutex requestsMu_;
  std::vector<RecordedRequest> requests_;
};

}  // namespace tributary::apiserver
