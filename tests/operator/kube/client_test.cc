// CurlKubeClient against the test API server over real HTTP: every verb, the
// typed errors with the server's messages, pagination, selectors, the status
// subresource, deletion with preconditions and finalizers, and watches.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/operator/kube/kube_fixture.h"

namespace tributary::op::kube::test {
namespace {

using ::testing::HasSubstr;

// Runs `fn`, expecting an ApiError, and returns it.
template <typename Fn>
ApiError expectApiError(Fn&& fn) {
  try {
    fn();
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "no ApiError thrown";
  return ApiError(ApiError::Kind::ServerError, 0, "", "none");
}

// The names of the test's objects: a real cluster's root CA publisher puts
// kube-root-ca.crt into every namespace, which the tests did not create.
std::vector<std::string> names(const std::vector<Json>& items) {
  std::vector<std::string> out;
  for (const auto& i : items)
    if (i["metadata"]["name"] != "kube-root-ca.crt") out.push_back(i["metadata"]["name"].get<std::string>());
  return out;
}

class ClientTest : public KubeTest {};

TEST_F(ClientTest, CreateGetUpdateRoundTrip) {
  Json created = client->create(kConfigMapsRef, ns, configMap("a"));
  EXPECT_FALSE(created["metadata"]["uid"].get<std::string>().empty());
  EXPECT_EQ(created["data"]["k"], "v");

  Json got = client->get(kConfigMapsRef, ns, "a");
  EXPECT_EQ(got["metadata"]["uid"], created["metadata"]["uid"]);

  got["data"]["k"] = "w";
  Json updated = client->update(kConfigMapsRef, ns, got);
  EXPECT_EQ(updated["data"]["k"], "w");
  EXPECT_NE(updated["metadata"]["resourceVersion"], created["metadata"]["resourceVersion"]);
  EXPECT_EQ(client->get(kConfigMapsRef, ns, "a")["data"]["k"], "w");
}

TEST_F(ClientTest, GetMissingIsNotFoundWithTheServersMessage) {
  ApiError e = expectApiError([&] { client->get(kConfigMapsRef, ns, "nope"); });
  EXPECT_EQ(e.kind(), ApiError::Kind::NotFound);
  EXPECT_EQ(e.status(), 404);
  EXPECT_EQ(e.reason(), "NotFound");
  EXPECT_EQ(e.message(), "configmaps \"nope\" not found");
}

TEST_F(ClientTest, CreateTwiceIsAlreadyExists) {
  client->create(kConfigMapsRef, ns, configMap("a"));
  ApiError e = expectApiError([&] { client->create(kConfigMapsRef, ns, configMap("a")); });
  EXPECT_EQ(e.kind(), ApiError::Kind::AlreadyExists);
  EXPECT_EQ(e.status(), 409);
  EXPECT_THAT(e.message(), HasSubstr("already exists"));
}

TEST_F(ClientTest, UpdateWithStaleResourceVersionIsConflict) {
  Json first = client->create(kConfigMapsRef, ns, configMap("a"));
  Json second = first;
  first["data"]["k"] = "one";
  client->update(kConfigMapsRef, ns, first);
  second["data"]["k"] = "two";
  ApiError e = expectApiError([&] { client->update(kConfigMapsRef, ns, second); });
  EXPECT_EQ(e.kind(), ApiError::Kind::Conflict);
  EXPECT_EQ(e.status(), 409);
  EXPECT_THAT(e.message(), HasSubstr("the object has been modified"));
  EXPECT_EQ(client->get(kConfigMapsRef, ns, "a")["data"]["k"], "one");
}

TEST_F(ClientTest, InvalidNameIsInvalidWithCause) {
  ApiError e = expectApiError([&] { client->create(kConfigMapsRef, ns, configMap("Not_Valid")); });
  EXPECT_EQ(e.kind(), ApiError::Kind::Invalid);
  EXPECT_EQ(e.status(), 422);
  EXPECT_THAT(e.message(), HasSubstr("Not_Valid"));
}

TEST_F(ClientTest, SchemaViolationOnCustomResourceIsInvalid) {
  installKafkaTopicCrd();
  ApiError e = expectApiError(
      [&] { client->create(kTopicsRef, ns, apiserver::test::kafkaTopic("t", 0, ns)); });
  EXPECT_EQ(e.kind(), ApiError::Kind::Invalid);
  EXPECT_THAT(e.message(), HasSubstr("spec.partitions"));
}

TEST_F(ClientTest, MissingNamespaceIsNotFound) {
  ApiError e = expectApiError([&] { client->create(kConfigMapsRef, "nowhere", configMap("a", {}, "nowhere")); });
  EXPECT_EQ(e.kind(), ApiError::Kind::NotFound);
  EXPECT_THAT(e.message(), HasSubstr("nowhere"));
}

TEST_F(ClientTest, ListPagesWithLimitAndContinue) {
  for (int i = 0; i < 7; ++i) client->create(kConfigMapsRef, ns, configMap("cm-" + std::to_string(i)));
  ListOptions opts;
  opts.limit = 3;
  ListResult page1 = client->list(kConfigMapsRef, ns, opts);
  EXPECT_EQ(names(page1.items), (std::vector<std::string>{"cm-0", "cm-1", "cm-2"}));
  ASSERT_FALSE(page1.continueToken.empty());
  EXPECT_FALSE(page1.resourceVersion.empty());

  // Created after the first page: pages come from the first page's snapshot.
  client->create(kConfigMapsRef, ns, configMap("cm-9"));
  opts.continueToken = page1.continueToken;
  ListResult page2 = client->list(kConfigMapsRef, ns, opts);
  EXPECT_EQ(names(page2.items), (std::vector<std::string>{"cm-3", "cm-4", "cm-5"}));
  opts.continueToken = page2.continueToken;
  ListResult page3 = client->list(kConfigMapsRef, ns, opts);
  EXPECT_EQ(names(page3.items), (std::vector<std::string>{"cm-6"}));
  EXPECT_TRUE(page3.continueToken.empty());

  ListOptions all;
  all.limit = 2;
  ListResult everything = client->listAll(kConfigMapsRef, ns, all);
  EXPECT_EQ(names(everything.items).size(), 8u);
  EXPECT_TRUE(everything.continueToken.empty());
  EXPECT_EQ(countRequests("list", "limit=2"), (everything.items.size() + 1) / 2);
}

TEST_F(ClientTest, ContinueTokenAfterCompactionIsGone) {
  SKIP_UNLESS_TEST_SERVER("compact()");
  for (int i = 0; i < 4; ++i) client->create(kConfigMapsRef, ns, configMap("cm-" + std::to_string(i)));
  ListOptions opts;
  opts.limit = 2;
  ListResult page1 = client->list(kConfigMapsRef, ns, opts);
  client->create(kConfigMapsRef, ns, configMap("later"));
  server->compact();
  opts.continueToken = page1.continueToken;
  ApiError e = expectApiError([&] { client->list(kConfigMapsRef, ns, opts); });
  EXPECT_EQ(e.kind(), ApiError::Kind::Gone);
  EXPECT_EQ(e.status(), 410);
}

TEST_F(ClientTest, LabelAndFieldSelectors) {
  client->create(kConfigMapsRef, ns, configMap("a", {{"app", "x"}, {"tier", "web"}}));
  client->create(kConfigMapsRef, ns, configMap("b", {{"app", "x"}}));
  client->create(kConfigMapsRef, ns, configMap("c", {{"app", "y"}}));
  ListOptions opts;
  opts.labelSelector = "app=x";
  EXPECT_EQ(names(client->list(kConfigMapsRef, ns, opts).items), (std::vector<std::string>{"a", "b"}));
  opts.labelSelector = "app in (x,y),!tier";
  EXPECT_EQ(names(client->list(kConfigMapsRef, ns, opts).items), (std::vector<std::string>{"b", "c"}));
  opts.labelSelector = "";
  opts.fieldSelector = "metadata.name=c";
  EXPECT_EQ(names(client->list(kConfigMapsRef, ns, opts).items), (std::vector<std::string>{"c"}));
  opts.fieldSelector = "data.k=v";
  ApiError e = expectApiError([&] { client->list(kConfigMapsRef, ns, opts); });
  EXPECT_EQ(e.kind(), ApiError::Kind::BadRequest);
  EXPECT_THAT(e.message(), HasSubstr("field label not supported"));
}

TEST_F(ClientTest, AllNamespacesAndClusterScoped) {
  const std::string team = apiServer->uniqueName("team");
  apiServer->deleteAfterwards(resources::kNamespaces, team);
  client->create(resources::kNamespaces, "",
                 {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", team}}}});
  EXPECT_EQ(client->get(resources::kNamespaces, "", team)["metadata"]["name"], team);
  client->create(kConfigMapsRef, ns, configMap("a"));
  client->create(kConfigMapsRef, team, configMap("b", {}, team));
  ListResult all = client->list(kConfigMapsRef, "");
  std::vector<Json> ours;  // a real cluster has other namespaces
  for (const auto& item : all.items)
    if (item["metadata"]["namespace"] == ns || item["metadata"]["namespace"] == team) ours.push_back(item);
  EXPECT_EQ(names(ours), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(countRequests("list", "/api/v1/configmaps"), 1u);
}

TEST_F(ClientTest, MergePatchChangesOnlyWhatItNames) {
  client->create(kConfigMapsRef, ns, configMap("a", {{"keep", "1"}}));
  Json patched = client->patch(kConfigMapsRef, ns, "a",
                               {{"metadata", {{"labels", {{"added", "2"}}}}}, {"data", {{"k", nullptr}, {"n", "m"}}}});
  EXPECT_EQ(patched["metadata"]["labels"], (Json{{"keep", "1"}, {"added", "2"}}));
  EXPECT_EQ(patched["data"], (Json{{"n", "m"}}));
}

TEST_F(ClientTest, PatchWithStaleResourceVersionIsConflict) {
  Json created = client->create(kConfigMapsRef, ns, configMap("a"));
  client->patch(kConfigMapsRef, ns, "a", {{"data", {{"x", "1"}}}});
  ApiError e = expectApiError([&] {
    client->patch(kConfigMapsRef, ns, "a",
                  {{"metadata", {{"resourceVersion", created["metadata"]["resourceVersion"]}}}, {"data", {{"x", "2"}}}});
  });
  EXPECT_EQ(e.kind(), ApiError::Kind::Conflict);
}

TEST_F(ClientTest, StatusSubresource) {
  installKafkaTopicCrd();
  Json topic = client->create(kTopicsRef, ns, apiserver::test::kafkaTopic("orders", 3, ns));
  EXPECT_EQ(topic["metadata"]["generation"], 1);

  // updateStatus changes status only, even when the body carries a new spec.
  Json withStatus = topic;
  withStatus["status"] = {{"observedGeneration", 1}};
  withStatus["spec"]["partitions"] = 99;
  Json afterStatus = client->updateStatus(kTopicsRef, ns, withStatus);
  EXPECT_EQ(afterStatus["status"]["observedGeneration"], 1);
  EXPECT_EQ(afterStatus["spec"]["partitions"], 3);
  EXPECT_EQ(afterStatus["metadata"]["generation"], 1);

  // A status write with the old resourceVersion conflicts.
  ApiError e = expectApiError([&] { client->updateStatus(kTopicsRef, ns, withStatus); });
  EXPECT_EQ(e.kind(), ApiError::Kind::Conflict);

  Json patched = client->patch(kTopicsRef, ns, "orders", {{"status", {{"topicName", "orders-topic"}}}}, true);
  EXPECT_EQ(patched["status"]["topicName"], "orders-topic");
  EXPECT_EQ(patched["status"]["observedGeneration"], 1);

  // The main resource ignores status and bumps generation on spec changes.
  Json spec = client->patch(kTopicsRef, ns, "orders", {{"spec", {{"partitions", 6}}}, {"status", nullptr}});
  EXPECT_EQ(spec["spec"]["partitions"], 6);
  EXPECT_EQ(spec["metadata"]["generation"], 2);
  EXPECT_EQ(spec["status"]["topicName"], "orders-topic");
}

TEST_F(ClientTest, DeleteWithPreconditions) {
  Json created = client->create(kConfigMapsRef, ns, configMap("a"));
  DeleteOptions wrongUid;
  wrongUid.preconditionUid = "00000000-0000-0000-0000-000000000000";
  ApiError e = expectApiError([&] { client->remove(kConfigMapsRef, ns, "a", wrongUid); });
  EXPECT_EQ(e.kind(), ApiError::Kind::Conflict);
  EXPECT_THAT(e.message(), HasSubstr("Precondition failed"));

  DeleteOptions staleRv;
  staleRv.preconditionResourceVersion = "1";
  EXPECT_EQ(expectApiError([&] { client->remove(kConfigMapsRef, ns, "a", staleRv); }).kind(),
            ApiError::Kind::Conflict);

  DeleteOptions right;
  right.preconditionUid = created["metadata"]["uid"].get<std::string>();
  right.preconditionResourceVersion = created["metadata"]["resourceVersion"].get<std::string>();
  right.propagationPolicy = "Background";
  EXPECT_EQ(client->remove(kConfigMapsRef, ns, "a", right), std::nullopt);
  EXPECT_EQ(expectApiError([&] { client->get(kConfigMapsRef, ns, "a"); }).kind(), ApiError::Kind::NotFound);
  EXPECT_EQ(expectApiError([&] { client->remove(kConfigMapsRef, ns, "a"); }).kind(), ApiError::Kind::NotFound);
}

TEST_F(ClientTest, DeleteWithFinalizerReturnsTheTerminatingObject) {
  Json cm = configMap("held");
  cm["metadata"]["finalizers"] = {"tributary.dev/test"};
  client->create(kConfigMapsRef, ns, cm);
  std::optional<Json> answer = client->remove(kConfigMapsRef, ns, "held");
  ASSERT_TRUE(answer.has_value());
  EXPECT_TRUE((*answer)["metadata"].contains("deletionTimestamp"));
  EXPECT_TRUE(client->get(kConfigMapsRef, ns, "held")["metadata"].contains("deletionTimestamp"));

  client->patch(kConfigMapsRef, ns, "held", {{"metadata", {{"finalizers", nullptr}}}});
  EXPECT_EQ(expectApiError([&] { client->get(kConfigMapsRef, ns, "held"); }).kind(), ApiError::Kind::NotFound);
}

TEST_F(ClientTest, InjectedFaultsMapToKinds) {
  SKIP_UNLESS_TEST_SERVER("failNextRequests()");
  struct Case {
    int status;
    ApiError::Kind kind;
  };
  for (Case c : {Case{500, ApiError::Kind::ServerError}, Case{503, ApiError::Kind::ServerError},
                 Case{504, ApiError::Kind::Timeout}, Case{429, ApiError::Kind::TooManyRequests},
                 Case{401, ApiError::Kind::Unauthorized}, Case{403, ApiError::Kind::Forbidden}}) {
    server->failNextRequests(1, c.status);
    ApiError e = expectApiError([&] { client->list(kConfigMapsRef, ns); });
    EXPECT_EQ(e.kind(), c.kind) << c.status;
    EXPECT_EQ(e.status(), c.status);
    EXPECT_FALSE(e.message().empty());
    if (c.status == 429) {
      EXPECT_GT(e.retryAfterSeconds(), 0);
    }
  }
  // And the client keeps working.
  EXPECT_NO_THROW(client->list(kConfigMapsRef, ns));
}

TEST_F(ClientTest, NoServerIsUnavailableWithCurlsMessage) {
  // A port nobody listens on (any more): needs no API server, so runs in both modes.
  apiserver::TestApiServer gone;
  gone.start();
  int port = gone.port();
  gone.stop();
  prometheus::Registry reg;
  ClusterConnection c;
  c.server = "http://127.0.0.1:" + std::to_string(port);
  CurlKubeClient offline(c, reg);
  ApiError e = expectApiError([&] { offline.get(kConfigMapsRef, ns, "a"); });
  EXPECT_EQ(e.kind(), ApiError::Kind::Unavailable);
  EXPECT_EQ(e.status(), 0);
  EXPECT_THAT(e.message(), HasSubstr("onnect"));
  EXPECT_EQ(metricValue(reg, "tributary_operator_api_requests_total", {{"verb", "get"}, {"code", "error"}}), 1);
  EXPECT_THROW(offline.watch(kConfigMapsRef, ns), ApiError);
}

TEST_F(ClientTest, RequestsAreCountedByVerbAndCode) {
  client->create(kConfigMapsRef, ns, configMap("a"));
  client->get(kConfigMapsRef, ns, "a");
  client->get(kConfigMapsRef, ns, "a");
  EXPECT_THROW(client->get(kConfigMapsRef, ns, "b"), ApiError);
  auto v = [&](const char* verb, const char* code) {
    return metricValue(registry, "tributary_operator_api_requests_total", {{"verb", verb}, {"code", code}});
  };
  EXPECT_EQ(v("create", "201"), 1);
  EXPECT_EQ(v("get", "200"), 2);
  EXPECT_EQ(v("get", "404"), 1);
}

TEST_F(ClientTest, ConcurrentCallsFromManyThreads) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        try {
          std::string name = "t" + std::to_string(t) + "-" + std::to_string(i);
          client->create(kConfigMapsRef, ns, configMap(name));
          client->get(kConfigMapsRef, ns, name);
        } catch (const ApiError&) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(names(client->list(kConfigMapsRef, ns).items).size(), 80u);
}

// ---------------------------------------------------------------- watch

class WatchTest : public KubeTest {
 protected:
  apiserver::TestApiServerOptions serverOptions() override {
    apiserver::TestApiServerOptions o;
    o.bookmarkInterval = 100ms;
    return o;
  }
  // The next non-bookmark event within the bound.
  static std::optional<WatchEvent> nextChange(WatchStream& stream, std::chrono::milliseconds bound = 10s) {
    auto deadline = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < deadline) {
      WatchEvent ev;
      auto st = stream.next(100ms, ev);
      if (st == WatchStream::Status::Ended) return std::nullopt;
      if (st == WatchStream::Status::Event && ev.type != WatchEvent::Type::Bookmark &&
          ev.object["metadata"].value("name", "") != "kube-root-ca.crt")  // a real cluster's, in every namespace
        return ev;
    }
    return std::nullopt;
  }
};

TEST_F(WatchTest, SeesAddModifyDeleteFromTheListsResourceVersion) {
  client->create(kConfigMapsRef, ns, configMap("before"));
  ListResult list = client->list(kConfigMapsRef, ns);
  WatchOptions opts;
  opts.resourceVersion = list.resourceVersion;
  auto stream = client->watch(kConfigMapsRef, ns, opts);

  client->create(kConfigMapsRef, ns, configMap("a"));
  client->patch(kConfigMapsRef, ns, "a", {{"data", {{"k", "2"}}}});
  client->remove(kConfigMapsRef, ns, "a");

  auto e1 = nextChange(*stream), e2 = nextChange(*stream), e3 = nextChange(*stream);
  ASSERT_TRUE(e1 && e2 && e3);
  EXPECT_EQ(e1->type, WatchEvent::Type::Added);
  EXPECT_EQ(e1->object["metadata"]["name"], "a");
  EXPECT_EQ(e2->type, WatchEvent::Type::Modified);
  EXPECT_EQ(e2->object["data"]["k"], "2");
  EXPECT_EQ(e3->type, WatchEvent::Type::Deleted);
}

TEST_F(WatchTest, WithoutResourceVersionStartsWithTheCurrentObjects) {
  client->create(kConfigMapsRef, ns, configMap("x"));
  auto stream = client->watch(kConfigMapsRef, ns);
  auto e = nextChange(*stream);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, WatchEvent::Type::Added);
  EXPECT_EQ(e->object["metadata"]["name"], "x");
}

TEST_F(WatchTest, BookmarksCarryTheResourceVersion) {
  SKIP_UNLESS_TEST_SERVER("bookmarks every 100 ms; a real server sends one about a minute");
  client->create(kConfigMapsRef, ns, configMap("a"));
  std::string rv = client->list(kConfigMapsRef, ns).resourceVersion;
  WatchOptions opts;
  opts.resourceVersion = rv;
  auto stream = client->watch(kConfigMapsRef, ns, opts);
  WatchEvent ev;
  bool sawBookmark = false;
  for (int i = 0; i < 100 && !sawBookmark; ++i) {
    if (stream->next(100ms, ev) == WatchStream::Status::Event && ev.type == WatchEvent::Type::Bookmark) {
      sawBookmark = true;
      EXPECT_EQ(ev.object["metadata"]["resourceVersion"], rv);
    }
  }
  EXPECT_TRUE(sawBookmark);
}

TEST_F(WatchTest, LabelSelectorFiltersEvents) {
  WatchOptions opts;
  opts.labelSelector = "app=x";
  opts.resourceVersion = client->list(kConfigMapsRef, ns).resourceVersion;
  auto stream = client->watch(kConfigMapsRef, ns, opts);
  client->create(kConfigMapsRef, ns, configMap("other", {{"app", "y"}}));
  client->create(kConfigMapsRef, ns, configMap("mine", {{"app", "x"}}));
  auto e = nextChange(*stream);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->object["metadata"]["name"], "mine");
}

TEST_F(WatchTest, ResumesAfterDroppedWatchWithoutLossOrDuplicates) {
  WatchOptions opts;
  opts.resourceVersion = client->list(kConfigMapsRef, ns).resourceVersion;
  auto stream = client->watch(kConfigMapsRef, ns, opts);
  client->create(kConfigMapsRef, ns, configMap("a"));
  auto a = nextChange(*stream);
  ASSERT_TRUE(a);
  std::string lastRv = a->object["metadata"]["resourceVersion"];

  if (server)
    server->dropWatches();
  else
    stream->cancel();  // a real server cannot be told to end it: the client does
  WatchEvent ev;
  WatchStream::Status st;
  do {
    st = stream->next(10s, ev);
  } while (st == WatchStream::Status::Event);
  EXPECT_EQ(st, WatchStream::Status::Ended);

  client->create(kConfigMapsRef, ns, configMap("b"));  // while nobody watches
  opts.resourceVersion = lastRv;
  auto resumed = client->watch(kConfigMapsRef, ns, opts);
  auto b = nextChange(*resumed);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->type, WatchEvent::Type::Added);
  EXPECT_EQ(b->object["metadata"]["name"], "b");
}

TEST_F(WatchTest, FromCompactedResourceVersionIsAnErrorEventWith410) {
  SKIP_UNLESS_TEST_SERVER("compact()");
  std::string old = client->list(kConfigMapsRef, ns).resourceVersion;
  client->create(kConfigMapsRef, ns, configMap("a"));
  server->compact();
  WatchOptions opts;
  opts.resourceVersion = old;
  auto stream = client->watch(kConfigMapsRef, ns, opts);
  WatchEvent ev;
  ASSERT_EQ(stream->next(10s, ev), WatchStream::Status::Event);
  EXPECT_EQ(ev.type, WatchEvent::Type::Error);
  EXPECT_EQ(ev.object["code"], 410);
  EXPECT_EQ(stream->next(10s, ev), WatchStream::Status::Ended);
}

TEST_F(WatchTest, ErrorAnswerThrowsFromWatch) {
  SKIP_UNLESS_TEST_SERVER("failNextRequests()");
  server->failNextRequests(1, 503);
  try {
    client->watch(kConfigMapsRef, ns);
    FAIL() << "expected ApiError";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 503);
    EXPECT_EQ(e.kind(), ApiError::Kind::ServerError);
  }
  EXPECT_EQ(metricValue(registry, "tributary_operator_api_requests_total", {{"verb", "watch"}, {"code", "503"}}), 1);
}

TEST_F(WatchTest, CancelFromAnotherThreadEndsABlockedNext) {
  WatchOptions opts;
  opts.allowWatchBookmarks = false;
  auto stream = client->watch(kConfigMapsRef, ns, opts);
  std::atomic<bool> ended{false};
  std::thread reader([&] {
    WatchEvent ev;
    // Far longer than the test's bound: only cancel() can end it in time.
    while (stream->next(10min, ev) == WatchStream::Status::Event) {
    }
    ended = true;
  });
  stream->cancel();
  EXPECT_TRUE(eventually([&] { return ended.load(); }));
  reader.join();
}

TEST_F(WatchTest, ServerTimeoutEndsTheStreamCleanly) {
  WatchOptions opts;
  opts.allowWatchBookmarks = false;
  opts.timeoutSeconds = 1;
  opts.resourceVersion = client->list(kConfigMapsRef, ns).resourceVersion;
  auto stream = client->watch(kConfigMapsRef, ns, opts);
  WatchEvent ev;
  EXPECT_EQ(stream->next(30s, ev), WatchStream::Status::Ended);
}

class SilentWatchTest : public WatchTest {
 protected:
  apiserver::TestApiServerOptions serverOptions() override { return {}; }  // bookmarks once a minute
  CurlClientOptions clientOptions() override {
    CurlClientOptions o;
    o.watchSilenceTimeout = 300ms;
    return o;
  }
};

TEST_F(SilentWatchTest, ASilentWatchEndsSoTheCallerRewatches) {
  WatchOptions opts;
  opts.allowWatchBookmarks = false;
  opts.resourceVersion = client->list(kConfigMapsRef, ns).resourceVersion;
  auto stream = client->watch(kConfigMapsRef, ns, opts);
  WatchEvent ev;
  WatchStream::Status st = WatchStream::Status::Timeout;
  for (int i = 0; i < 100 && st == WatchStream::Status::Timeout; ++i) st = stream->next(100ms, ev);
  EXPECT_EQ(st, WatchStream::Status::Ended);
}

}  // namespace
}  // namespace tributary::op::kube::test
