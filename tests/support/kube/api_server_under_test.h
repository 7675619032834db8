#pragma once
// The API server an operator test talks to: the in-process test API server,
// or — when TRIBUTARY_TEST_KUBECONFIG names a kubeconfig — the real cluster
// it points at. Either way a test gets a connection and clients for it, a
// namespace of its own (created here, deleted afterwards), the CRDs from
// crds/ (installed idempotently, Established before use) and a log of the
// calls its clients made (for counting API requests on both kinds of server).
// See README.md in this folder.
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/registry.h>

#include "operator/kube/curl_kube_client.h"
#include "operator/kube/kube_client.h"
#include "tests/apiserver/api_client.h"
#include "tests/support/apiserver/test_api_server.h"

namespace tributary::test {

using Json = nlohmann::json;

// The environment variable that switches operator tests to a real API server.
inline const char* const kTestKubeconfigEnv = "TRIBUTARY_TEST_KUBECONFIG";

// One call a client made, as it went to the server: verb (get, list, watch,
// create, update, patch, delete), the path and query (as CurlKubeClient builds
// them), and the HTTP status (200 for success, the error's status otherwise,
// 0 without an answer). Counted on the client side, so the same assertions
// hold against a real server, which cannot be asked what it served.
struct ClientCall {
  std::string verb;
  std::string target;
  int status = 0;
};

// Thread-safe: clients on any thread append; tests read.
class CallLog {
 public:
  void add(ClientCall call);
  std::vector<ClientCall> calls() const;
  void clear();
  // Calls with this verb ("" = any) whose target contains `contains`.
  size_t count(const std::string& verb, const std::string& contains = "") const;

 private:
  mutable std::mutex mu_;
  std::vector<ClientCall> calls_;
};

// A KubeClient that forwards to another and logs every call in a CallLog.
// Thread-safe as the client it wraps.
class RecordingKubeClient final : public op::kube::KubeClient {
 public:
  RecordingKubeClient(std::shared_ptr<op::kube::KubeClient> inner, std::shared_ptr<CallLog> log);

  Json get(const op::kube::ResourceRef& r, const std::string& ns, const std::string& name) override;
  op::kube::ListResult list(const op::kube::ResourceRef& r, const std::string& ns,
                            const op::kube::ListOptions& options = {}) override;
  Json create(const op::kube::ResourceRef& r, const std::string& ns, const Json& object) override;
  Json update(const op::kube::ResourceRef& r, const std::string& ns, const Json& object) override;
  Json updateStatus(const op::kube::ResourceRef& r, const std::string& ns, const Json& object) override;
  Json patch(const op::kube::ResourceRef& r, const std::string& ns, const std::string& name, const Json& mergePatch,
             bool statusSubresource = false) override;
  std::optional<Json> remove(const op::kube::ResourceRef& r, const std::string& ns, const std::string& name,
                             const op::kube::DeleteOptions& options = {}) override;
  std::unique_ptr<op::kube::WatchStream> watch(const op::kube::ResourceRef& r, const std::string& ns,
                                               const op::kube::WatchOptions& options = {}) override;
  Json getNonResource(const std::string& path) override;
  Json getSubresource(const op::kube::ResourceRef& r, const std::string& ns, const std::string& name,
                      const std::string& subresource) override;
  Json updateSubresource(const op::kube::ResourceRef& r, const std::string& ns, const std::string& name,
                         const std::string& subresource, const Json& body) override;

 private:
  template <typename Fn>
  auto logged(const char* verb, std::string target, Fn&& fn) -> decltype(fn());

  std::shared_ptr<op::kube::KubeClient> inner_;
  std::shared_ptr<CallLog> log_;
};

// Paths and raw bodies, as tests/apiserver's ApiClient speaks them, but over
// CurlKubeClient: TLS, client certificates and tokens of a real kubeconfig work.
// Only the Accept header may be given (server-side Tables). Thread-safe.
class RestClient {
 public:
  explicit RestClient(const op::kube::ClusterConnection& connection);
  apiserver::test::Reply get(const std::string& path, const httplib::Headers& headers = {});
  apiserver::test::Reply post(const std::string& path, const Json& body);
  apiserver::test::Reply put(const std::string& path, const Json& body);
  apiserver::test::Reply patch(const std::string& path, const std::string& body,
                               const std::string& contentType = "application/merge-patch+json");
  apiserver::test::Reply del(const std::string& path, const Json& options = nullptr);

 private:
  apiserver::test::Reply send(const std::string& method, const std::string& path, const std::string& body,
                              const std::string& contentType, const httplib::Headers& headers = {});
  prometheus::Registry registry_;
  op::kube::CurlKubeClient client_;
};

// Threads: everything from the test's thread; newClient()'s clients and the
// call log from any.
class ApiServerUnderTest {
 public:
  // TRIBUTARY_TEST_KUBECONFIG set: that cluster (its kubeconfig is read here,
  // a bad one fails the test naming the problem). Otherwise a TestApiServer
  // with `options` is started here. Either way a fresh namespace is created
  // for the running test (ns()).
  explicit ApiServerUnderTest(apiserver::TestApiServerOptions options = {});
  // cleanup(), then stops the test server.
  ~ApiServerUnderTest();
  ApiServerUnderTest(const ApiServerUnderTest&) = delete;
  ApiServerUnderTest& operator=(const ApiServerUnderTest&) = delete;

  // The kubeconfig path from the environment, "" when unset.
  static std::string kubeconfigFromEnvironment();

  bool real() const { return !testServer_; }
  // The in-process server; nullptr against a real one (see SKIP_UNLESS_TEST_API_SERVER).
  apiserver::TestApiServer* testServer() { return testServer_.get(); }
  const op::kube::ClusterConnection& connection() const { return connection_; }
  // The test's namespace: unique per test and run, DNS-1123, created already.
  const std::string& ns() const { return ns_; }

  // A CurlKubeClient for the operator code under test, every call of which is
  // logged in calls() (with its own registry when none is given).
  std::unique_ptr<op::kube::KubeClient> newClient(prometheus::Registry& registry,
                                                  op::kube::CurlClientOptions options = {});
  std::shared_ptr<op::kube::KubeClient> newSharedClient(prometheus::Registry& registry,
                                                        op::kube::CurlClientOptions options = {});
  std::unique_ptr<RestClient> newRestClient() const { return std::make_unique<RestClient>(connection_); }
  // What this test's clients asked the server (both kinds of server).
  CallLog& calls() { return *calls_; }
  std::shared_ptr<CallLog> callLog() { return calls_; }

  // Another fresh namespace (deleted afterwards), named after the test and `hint`.
  std::string createNamespace(const std::string& hint);
  // Creates (or, when present, updates to this content) the CustomResourceDefinitions
  // in these files under the source tree's crds/ (e.g. "kafkatopic.yaml"), and waits
  // until each is Established. On a real server they are shared by every test
  // and never deleted; on the test server they go with it.
  void installCrds(const std::vector<std::string>& files);
  // A cluster-scoped object this test created, deleted by cleanup().
  void deleteAfterwards(const op::kube::ResourceRef& resource, const std::string& name);
  // A name for a cluster-scoped object that no other test (or run) uses.
  std::string uniqueName(const std::string& prefix) const;

  // The test server only (skip first): stop it, and start a new, empty one on
  // the same port (what a restarted API server looks like to a client).
  void stopTestServer();
  void restartTestServer();

  // Removes finalizers that would hold the test's namespaces (no operator is
  // left to remove them), deletes the cluster-scoped objects and the
  // namespaces (without waiting: a real server finishes that in the
  // background). Errors are ignored; idempotent.
  void cleanup();

 private:
  std::string freshNamespaceName(const std::string& hint) const;
  void createNamespaceNamed(const std::string& name);

  apiserver::TestApiServerOptions options_;
  std::unique_ptr<apiserver::TestApiServer> testServer_;
  op::kube::ClusterConnection connection_;
  prometheus::Registry adminRegistry_;
  // The fixture's own client (namespaces, CRDs, cleanup): no idle keep-alive
  // connections, which would hold the test server's stop().
  std::unique_ptr<op::kube::CurlKubeClient> admin_;
  std::shared_ptr<CallLog> calls_ = std::make_shared<CallLog>();
  std::string ns_;
  std::vector<std::string> namespaces_;
  std::vector<std::pair<op::kube::ResourceRef, std::string>> clusterObjects_;
  bool cleanedUp_ = false;
};

// The source tree's file at `relative` (e.g. "crds/kafkatopic.yaml"), as text.
std::string readSourceFile(const std::string& relative);

}  // namespace tributary::test

// For a test (or SetUp) that needs what only the in-process server can do —
// fault injection, compaction, dropping watches, short bookmark intervals,
// stopping the server. Skips, saying why, against a real server.
#define SKIP_UNLESS_TEST_API_SERVER(underTest, why)                                                      \
  if (!(underTest).real()) {                                                                             \
  } else                                                                                                 \
    GTEST_SKIP() << "needs the in-process test API server (" << (why) << "); "                           \
                 << ::tributary::test::kTestKubeconfigEnv << " points at a real one"
