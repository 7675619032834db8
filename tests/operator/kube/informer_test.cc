// Informer against the test API server: initial list (paginated), events,
// watch resume, 410 → relist, resync, and an API server that is down at start
// or fails mid-run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>
#include <set>

#include "operator/kube/informer.h"
#include "tests/operator/kube/kube_fixture.h"

namespace tributary::op::kube::test {
namespace {

// What the handlers saw, in order: "add a", "update a", "delete a".
class Recorder {
 public:
  InformerHandlers handlers() {
    return {[this](const Json& o) { push("add " + name(o)); },
            [this](const Json& oldO, const Json& newO) {
              push((oldO == newO ? "resync " : "update ") + name(newO));
            },
            [this](const Json& o) { push("delete " + name(o)); }};
  }
  std::vector<std::string> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  bool saw(const std::string& entry) {
    auto s = seen();
    return std::find(s.begin(), s.end(), entry) != s.end();
  }
  size_t count(const std::string& entry) {
    auto s = seen();
    return static_cast<size_t>(std::count(s.begin(), s.end(), entry));
  }

 private:
  static std::string name(const Json& o) { return o["metadata"]["name"].get<std::string>(); }
  void push(std::string s) {
    std::lock_guard lock(mu_);
    seen_.push_back(std::move(s));
  }
  std::mutex mu_;
  std::vector<std::string> seen_;
};

std::set<std::string> keys(const Informer& informer) {
  std::set<std::string> out;
  for (const auto& o : informer.list())  // not the root CA a real cluster publishes into every namespace
    if (o["metadata"]["name"] != "kube-root-ca.crt") out.insert(Informer::keyOf(o));
  return out;
}

InformerOptions fastOptions() {
  InformerOptions o;
  o.initialBackoff = 20ms;
  o.maxBackoff = 200ms;
  return o;
}

class InformerTest : public KubeTest {
 protected:
  apiserver::TestApiServerOptions serverOptions() override {
    apiserver::TestApiServerOptions o;
    o.bookmarkInterval = 50ms;
    return o;
  }
};

TEST_F(InformerTest, ListsPaginatedThenSeesAddUpdateDelete) {
  for (int i = 0; i < 5; ++i) client->create(kConfigMapsRef, ns, configMap("cm-" + std::to_string(i)));
  Recorder rec;
  InformerOptions opts = fastOptions();
  opts.ns = ns;
  opts.pageSize = 2;
  Informer informer(*client, kConfigMapsRef, opts, rec.handlers());
  EXPECT_FALSE(informer.hasSynced());
  informer.start();
  ASSERT_TRUE(eventually([&] { return informer.hasSynced(); }));
  EXPECT_EQ(keys(informer).size(), 5u);
  EXPECT_EQ(countRequests("list", "limit=2"), (informer.list().size() + 1) / 2);  // pages of 2
  EXPECT_TRUE(rec.saw("add cm-4"));

  client->create(kConfigMapsRef, ns, configMap("new"));
  client->patch(kConfigMapsRef, ns, "cm-0", {{"data", {{"k", "changed"}}}});
  client->remove(kConfigMapsRef, ns, "cm-1");
  ASSERT_TRUE(eventually([&] { return rec.saw("delete cm-1"); }));
  EXPECT_TRUE(rec.saw("add new"));
  EXPECT_TRUE(rec.saw("update cm-0"));
  EXPECT_EQ(informer.get(ns + "/cm-0")->at("data").at("k"), "changed");
  EXPECT_FALSE(informer.get(ns + "/cm-1").has_value());
  EXPECT_EQ(keys(informer), (std::set<std::string>{ns + "/cm-0", ns + "/cm-2", ns + "/cm-3", ns + "/cm-4",
                                                   ns + "/new"}));
  informer.stop();
}

TEST_F(InformerTest, LabelSelectorLimitsTheStore) {
  client->create(kConfigMapsRef, ns, configMap("mine", {{"owner", "tributary"}}));
  client->create(kConfigMapsRef, ns, configMap("theirs"));
  Recorder rec;
  InformerOptions opts = fastOptions();
  opts.labelSelector = "owner=tributary";
  opts.ns = ns;  // on a real cluster other tests' objects live in other namespaces
  Informer informer(*client, kConfigMapsRef, opts, rec.handlers());
  informer.start();
  ASSERT_TRUE(eventually([&] { return informer.hasSynced(); }));
  client->create(kConfigMapsRef, ns, configMap("mine-too", {{"owner", "tributary"}}));
  client->create(kConfigMapsRef, ns, configMap("theirs-too"));
  ASSERT_TRUE(eventually([&] { return rec.saw("add mine-too"); }));
  EXPECT_EQ(keys(informer), (std::set<std::string>{ns + "/mine", ns + "/mine-too"}));
}

TEST_F(InformerTest, BookmarksAdvanceTheResourceVersionAndResumeAfterDroppedWatch) {
  SKIP_UNLESS_TEST_SERVER("bookmarks every 50 ms, dropWatches()");
  Recorder rec;
  InformerOptions opts = fastOptions();
  opts.ns = ns;
  Informer informer(*client, kConfigMapsRef, opts, rec.handlers());
  informer.start();
  ASSERT_TRUE(eventually([&] { return informer.hasSynced(); }));
  // Writes in another namespace move the server's resourceVersion; only a bookmark tells the informer.
  client->create(kConfigMapsRef, "kube-system", configMap("elsewhere", {}, "kube-system"));
  std::string serverRv = std::to_string(server->resourceVersion());
  ASSERT_TRUE(eventually([&] { return informer.lastResourceVersion() == serverRv; }));

  size_t listsBefore = countRequests("list");
  server->dropWatches();
  client->create(kConfigMapsRef, ns, configMap("after-drop"));
  ASSERT_TRUE(eventually([&] { return rec.saw("add after-drop"); }));
  EXPECT_EQ(rec.count("add after-drop"), 1u);
  EXPECT_EQ(countRequests("list"), listsBefore) << "a dropped watch resumes, it does not relist";
  EXPECT_GE(countRequests("watch"), 2u);
}

TEST_F(InformerTest, RelistsAfter410AndEndsWithTheRightStore) {
  SKIP_UNLESS_TEST_SERVER("compact(), failNextRequests(), dropWatches()");
  for (auto n : {"a", "b", "c"}) client->create(kConfigMapsRef, ns, configMap(n));
  Recorder rec;
  Informer informer(*client, kConfigMapsRef, fastOptions(), rec.handlers());  // all namespaces
  informer.start();
  ASSERT_TRUE(eventually([&] { return informer.hasSynced(); }));

  // Keep the informer from re-watching (its requests use the all-namespaces
  // path, ours the namespaced one) while history it has not seen is compacted.
  // 429 makes it retry the watch (not relist), so only the 410 can relist.
  server->failNextRequests(1'000'000, 429, "/api/v1/configmaps");
  server->dropWatches();
  ASSERT_TRUE(eventually([&] { return server->openWatches() == 0; }));
  client->remove(kConfigMapsRef, ns, "a");
  client->patch(kConfigMapsRef, ns, "b", {{"data", {{"k", "b2"}}}});
  client->create(kConfigMapsRef, ns, configMap("d"));
  server->compact();
  size_t listsBefore = countRequests("list", "/api/v1/configmaps");
  EXPECT_EQ(listsBefore, 1u);
  server->failNextRequests(0, 503);

  ASSERT_TRUE(eventually([&] { return rec.saw("delete a") && rec.saw("add d"); }));
  EXPECT_TRUE(rec.saw("update b"));
  EXPECT_EQ(keys(informer), (std::set<std::string>{ns + "/b", ns + "/c", ns + "/d"}));
  EXPECT_EQ(informer.get(ns + "/b")->at("data").at("k"), "b2");
  EXPECT_EQ(countRequests("list", "/api/v1/configmaps"), 2u);
}

TEST_F(InformerTest, ResyncRedeliversEveryObjectWithoutCallingTheServer) {
  client->create(kConfigMapsRef, ns, configMap("a"));
  client->create(kConfigMapsRef, ns, configMap("b"));
  Recorder rec;
  InformerOptions opts = fastOptions();
  opts.ns = ns;
  opts.resyncPeriod = 100ms;
  Informer informer(*client, kConfigMapsRef, opts, rec.handlers());
  informer.start();
  ASSERT_TRUE(eventually([&] { return informer.hasSynced(); }));
  size_t requestsAfterSync = countRequests("list") + countRequests("get");
  ASSERT_TRUE(eventually([&] { return rec.count("resync a") >= 2 && rec.count("resync b") >= 2; }));
  EXPECT_EQ(countRequests("list") + countRequests("get"), requestsAfterSync);
}

TEST_F(InformerTest, ServerDownAtStartIsWaitedFor) {
  SKIP_UNLESS_TEST_SERVER("stopping and restarting the API server");
  int port = server->port();
  client.reset();
  apiServer->stopTestServer();

  prometheus::Registry reg;
  ClusterConnection c;
  c.server = "http://127.0.0.1:" + std::to_string(port);
  CurlKubeClient offline(c, reg);
  Recorder rec;
  Informer informer(offline, kConfigMapsRef, fastOptions(), rec.handlers());
  informer.start();
  ASSERT_TRUE(eventually([&] {
    return metricValue(reg, "tributary_operator_api_requests_total", {{"verb", "list"}, {"code", "error"}}) >= 3;
  }));
  EXPECT_FALSE(informer.hasSynced());

  apiServer->restartTestServer();  // on the same port
  server = apiServer->testServer();
  ASSERT_TRUE(eventually([&] { return informer.hasSynced(); }));
  client = newClient(registry);
  client->create(kConfigMapsRef, ns, configMap("late"));
  EXPECT_TRUE(eventually([&] { return informer.get(ns + "/late").has_value(); }));
  informer.stop();
}

TEST_F(InformerTest, FailuresMidRunAreRetried) {
  SKIP_UNLESS_TEST_SERVER("failNextRequests(), dropWatches()");
  Recorder rec;
  InformerOptions opts = fastOptions();
  opts.ns = ns;
  Informer informer(*client, kConfigMapsRef, opts, rec.handlers());
  informer.start();
  ASSERT_TRUE(eventually([&] { return informer.hasSynced(); }));
  server->failNextRequests(5, 503, "/configmaps");
  server->dropWatches();
  // Wait until the informer has burnt through the injected failures (on its
  // watches and the relists that follow them).
  auto count503 = [&](const char* verb) {
    return metricValue(registry, "tributary_operator_api_requests_total", {{"verb", verb}, {"code", "503"}});
  };
  ASSERT_TRUE(eventually([&] { return count503("watch") + count503("list") >= 5; }));
  client->create(kConfigMapsRef, ns, configMap("after-outage"));
  EXPECT_TRUE(eventually([&] { return rec.saw("add after-outage"); }));
}

TEST_F(InformerTest, StopEndsAnOpenWatchPromptly) {
  Recorder rec;
  InformerOptions opts = fastOptions();
  opts.watchTimeoutSeconds = 3600;
  auto informer = std::make_unique<Informer>(*client, kConfigMapsRef, opts, rec.handlers());
  informer->start();
  ASSERT_TRUE(eventually([&] { return informer->hasSynced() && (!server || server->openWatches() == 1); }));
  informer->stop();  // joins: returns only once the watch was cancelled
  if (server) {
    EXPECT_TRUE(eventually([&] { return server->openWatches() == 0; }));
  }
}

// What a real server sends with every object and no reconciler reads: the
// store keeps neither, so 10 000 resources cost what their content costs.
TEST_F(InformerTest, StoresObjectsWithoutManagedFieldsOrTheLastAppliedAnnotation) {
  const char* kLastApplied = "kubectl.kubernetes.io/last-applied-configuration";
  Json cm = configMap("applied");
  cm["metadata"]["annotations"] = {{kLastApplied, R"({"apiVersion":"v1","kind":"ConfigMap"})"}, {"team", "payments"}};
  client->create(kConfigMapsRef, ns, cm);
  // The server really sends both (it writes managedFields as a real one does).
  const Json sent = client->get(kConfigMapsRef, ns, "applied");
  ASSERT_TRUE(sent["metadata"].contains("managedFields")) << sent.dump();
  ASSERT_TRUE(sent["metadata"]["annotations"].contains(kLastApplied));

  std::mutex mu;
  std::vector<Json> delivered;
  auto keep = [&](const Json& o) {
    std::lock_guard lock(mu);
    delivered.push_back(o);
  };
  InformerHandlers handlers{keep, [&](const Json&, const Json& now) { keep(now); }, keep};
  InformerOptions opts = fastOptions();
  opts.ns = ns;
  Informer informer(*client, kConfigMapsRef, opts, handlers);
  informer.start();
  ASSERT_TRUE(eventually([&] { return informer.hasSynced(); }));
  // Listed, then changed through the watch: both paths strip.
  client->patch(kConfigMapsRef, ns, "applied", {{"data", {{"k", "v2"}}}});
  ASSERT_TRUE(eventually([&] {
    auto o = informer.get(ns + "/applied");
    return o && o->value("data", Json::object()).value("k", "") == "v2";
  }));
  const Json stored = *informer.get(ns + "/applied");
  EXPECT_FALSE(stored["metadata"].contains("managedFields"));
  EXPECT_EQ(stored["metadata"]["annotations"], (Json{{"team", "payments"}}));
  EXPECT_EQ(stored["data"]["k"], "v2");
  std::lock_guard lock(mu);
  ASSERT_EQ(delivered.size(), 2u);
  for (const auto& o : delivered) {
    EXPECT_FALSE(o["metadata"].contains("managedFields"));
    EXPECT_FALSE(o["metadata"]["annotations"].contains(kLastApplied));
    EXPECT_EQ(o["metadata"]["annotations"]["team"], "payments");
  }
}

TEST_F(InformerTest, WithoutATransformObjectsAreStoredAsSent) {
  Json cm = configMap("applied");
  cm["metadata"]["annotations"] = {{"kubectl.kubernetes.io/last-applied-configuration", "{}"}};
  client->create(kConfigMapsRef, ns, cm);
  InformerOptions opts = fastOptions();
  opts.ns = ns;
  opts.transform = nullptr;
  Informer informer(*client, kConfigMapsRef, opts, {});
  informer.start();
  ASSERT_TRUE(eventually([&] { return informer.hasSynced(); }));
  // (A typed list leaves out its items' kind and apiVersion: compare what the server wrote.)
  EXPECT_EQ(informer.get(ns + "/applied")->at("metadata"), client->get(kConfigMapsRef, ns, "applied")["metadata"]);
}

}  // namespace
}  // namespace tributary::op::kube::test
