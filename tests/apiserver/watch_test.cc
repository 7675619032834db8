// Watches: event streams a client reads, resumption from a resourceVersion,
// 410 for compacted ones, bookmarks, timeouts, selectors, dropped streams.
#include "tests/apiserver/api_client.h"

namespace tributary::apiserver::test {
namespace {

class Watch : public ApiServerTest {
 protected:
  TestApiServerOptions serverOptions() override {
    TestApiServerOptions o;
    o.bookmarkInterval = 50ms;  // only streams that ask for bookmarks get them
    return o;
  }
  void SetUp() override {
    ApiServerTest::SetUp();
    installKafkaTopicCrd();
  }
  std::unique_ptr<WatchReader> watch(const std::string& query) {
    auto w = std::make_unique<WatchReader>(server->port(), kTopics + "?watch=1&" + query);
    EXPECT_EQ(w->status(), 200);
    return w;
  }
  // The next event that is not a BOOKMARK.
  Json nextChange(WatchReader& w) {
    while (auto e = w.next()) {
      if ((*e)["type"] != "BOOKMARK") return *e;
    }
    ADD_FAILURE() << "no event";
    return Json::object();
  }
};

std::string rvOf(const Json& object) { return object["metadata"]["resourceVersion"]; }

TEST_F(Watch, StreamsChangesAfterTheListsResourceVersionInOrder) {
  client->post(kTopics, kafkaTopic("before", 1));
  const std::string rv = listResourceVersion(kTopics);
  auto w = watch("resourceVersion=" + rv);

  auto created = client->post(kTopics, kafkaTopic("orders", 3));
  auto patched = client->patch(kTopics + "/orders", R"({"spec":{"partitions":6}})");
  client->del(kTopics + "/orders");

  auto e1 = w->next();
  ASSERT_TRUE(e1);
  EXPECT_EQ((*e1)["type"], "ADDED");
  EXPECT_EQ((*e1)["object"], created.body);
  auto e2 = w->next();
  ASSERT_TRUE(e2);
  EXPECT_EQ((*e2)["type"], "MODIFIED");
  EXPECT_EQ((*e2)["object"]["spec"]["partitions"], 6);
  EXPECT_EQ(rvOf((*e2)["object"]), rvOf(patched.body));
  auto e3 = w->next();
  ASSERT_TRUE(e3);
  EXPECT_EQ((*e3)["type"], "DELETED");
  EXPECT_EQ((*e3)["object"]["metadata"]["name"], "orders");
  EXPECT_GT(std::stoull(rvOf((*e3)["object"])), std::stoull(rvOf(patched.body)))
      << "a DELETED event carries the deletion's resourceVersion";
  EXPECT_FALSE(w->next(100ms)) << "nothing else happened";
}

TEST_F(Watch, WithoutResourceVersionStartsWithTheCurrentObjectsAsAdded) {
  client->post(kTopics, kafkaTopic("a", 1));
  client->post(kTopics, kafkaTopic("b", 1));
  auto w = watch("");
  auto e1 = w->next(), e2 = w->next();
  ASSERT_TRUE(e1 && e2);
  EXPECT_EQ((*e1)["type"], "ADDED");
  EXPECT_EQ((*e1)["object"]["metadata"]["name"], "a");
  EXPECT_EQ((*e2)["object"]["metadata"]["name"], "b");
  client->post(kTopics, kafkaTopic("c", 1));
  auto e3 = w->next();
  ASSERT_TRUE(e3);
  EXPECT_EQ((*e3)["object"]["metadata"]["name"], "c");
}

TEST_F(Watch, ResumesFromAnyResourceVersionInTheMiddle) {
  auto a = client->post(kTopics, kafkaTopic("a", 1));
  client->post(kTopics, kafkaTopic("b", 1));
  client->patch(kTopics + "/a", R"({"spec":{"partitions":2}})");
  auto w = watch("resourceVersion=" + rvOf(a.body));
  auto e1 = w->next(), e2 = w->next();
  ASSERT_TRUE(e1 && e2);
  EXPECT_EQ((*e1)["type"], "ADDED");
  EXPECT_EQ((*e1)["object"]["metadata"]["name"], "b");
  EXPECT_EQ((*e2)["type"], "MODIFIED");
  EXPECT_EQ((*e2)["object"]["metadata"]["name"], "a");
}

TEST_F(Watch, FromACompactedResourceVersionIsAnErrorEventWith410) {
  auto a = client->post(kTopics, kafkaTopic("a", 1));
  client->post(kTopics, kafkaTopic("b", 1));
  server->compact();
  auto w = watch("resourceVersion=" + rvOf(a.body));  // HTTP 200, as the real server answers
  auto e = w->next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "ERROR");
  EXPECT_EQ((*e)["object"]["kind"], "Status");
  EXPECT_EQ((*e)["object"]["code"], 410);
  EXPECT_EQ((*e)["object"]["reason"], "Expired");
  EXPECT_TRUE(w->waitEnded()) << "the stream ends after the error";

  // From the current resourceVersion (a fresh list) all is well again.
  auto fresh = watch("resourceVersion=" + listResourceVersion(kTopics));
  client->post(kTopics, kafkaTopic("c", 1));
  auto added = fresh->next();
  ASSERT_TRUE(added);
  EXPECT_EQ((*added)["type"], "ADDED");
}

TEST_F(Watch, FromAFutureResourceVersionIsAnErrorEvent) {
  auto w = watch("resourceVersion=999999");
  auto e = w->next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "ERROR");
  EXPECT_EQ((*e)["object"]["code"], 504);
}

TEST_F(Watch, BookmarksCarryOnlyTheResourceVersion) {
  const std::string rv = listResourceVersion(kTopics);
  auto w = watch("allowWatchBookmarks=true&resourceVersion=" + rv);
  auto created = client->post(kTopics, kafkaTopic("a", 1));
  // Another type's write moves the global resourceVersion too.
  auto other = client->post(kConfigMaps, configMap("c"));
  std::optional<Json> bookmark;
  for (int i = 0; i < 100 && !bookmark; ++i) {
    auto e = w->next();
    ASSERT_TRUE(e);
    if ((*e)["type"] == "BOOKMARK" &&
        std::stoull(rvOf((*e)["object"])) >= std::stoull(rvOf(other.body)))
      bookmark = e;
  }
  ASSERT_TRUE(bookmark);
  const Json& obj = (*bookmark)["object"];
  EXPECT_EQ(obj["kind"], "KafkaTopic");
  EXPECT_EQ(obj["apiVersion"], "tributary.dev/v1alpha1");
  EXPECT_EQ(obj["metadata"], (Json{{"resourceVersion", rvOf(other.body)}}));
}

TEST_F(Watch, NoBookmarksUnlessAskedFor) {
  auto w = watch("resourceVersion=" + listResourceVersion(kTopics));
  client->post(kConfigMaps, configMap("c"));
  auto created = client->post(kTopics, kafkaTopic("a", 1));
  auto e = w->next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "ADDED") << "the first event is the object, no bookmark before it";
}

TEST_F(Watch, TimeoutSecondsEndsTheStream) {
  auto w = watch("timeoutSeconds=1&resourceVersion=" + listResourceVersion(kTopics));
  EXPECT_TRUE(w->waitEnded(30s));
}

TEST_F(Watch, DropWatchesEndsEveryStreamAndResumingMissesNothing) {
  const std::string rv = listResourceVersion(kTopics);
  auto w1 = watch("resourceVersion=" + rv);
  auto w2 = std::make_unique<WatchReader>(server->port(), kConfigMaps + "?watch=true&resourceVersion=" + rv);
  ASSERT_TRUE(eventually([&] { return server->openWatches() == 2; }));
  auto a = client->post(kTopics, kafkaTopic("a", 1));
  auto e = w1->next();
  ASSERT_TRUE(e);
  const std::string lastSeen = rvOf((*e)["object"]);

  server->dropWatches();
  EXPECT_TRUE(w1->waitEnded());
  EXPECT_TRUE(w2->waitEnded());
  EXPECT_TRUE(eventually([&] { return server->openWatches() == 0; }));

  client->post(kTopics, kafkaTopic("b", 1));  // while nobody watches
  auto resumed = watch("resourceVersion=" + lastSeen);
  auto missed = resumed->next();
  ASSERT_TRUE(missed);
  EXPECT_EQ((*missed)["object"]["metadata"]["name"], "b");
}

TEST_F(Watch, LabelSelectorTurnsMatchChangesIntoAddedAndDeleted) {
  client->post(kTopics, kafkaTopic("a", 1));
  auto w = watch("labelSelector=" + urlEncode("team=payments") + "&resourceVersion=" + listResourceVersion(kTopics));
  client->patch(kTopics + "/a", R"({"spec":{"partitions":2}})");  // not matching: invisible
  auto labelled = client->patch(kTopics + "/a", R"({"metadata":{"labels":{"team":"payments"}}})");
  client->patch(kTopics + "/a", R"({"spec":{"partitions":3}})");
  auto unlabelled = client->patch(kTopics + "/a", R"({"metadata":{"labels":{"team":"orders"}}})");

  auto e1 = nextChange(*w);
  EXPECT_EQ(e1["type"], "ADDED");
  EXPECT_EQ(rvOf(e1["object"]), rvOf(labelled.body));
  auto e2 = nextChange(*w);
  EXPECT_EQ(e2["type"], "MODIFIED");
  EXPECT_EQ(e2["object"]["spec"]["partitions"], 3);
  auto e3 = nextChange(*w);
  EXPECT_EQ(e3["type"], "DELETED");
  EXPECT_EQ(e3["object"]["metadata"]["labels"]["team"], "payments") << "the last state that matched";
  EXPECT_EQ(rvOf(e3["object"]), rvOf(unlabelled.body)) << "at the change's resourceVersion";
}

TEST_F(Watch, FieldSelectorWatchesOneObject) {
  auto w = watch("fieldSelector=" + urlEncode("metadata.name=b") + "&resourceVersion=" + listResourceVersion(kTopics));
  client->post(kTopics, kafkaTopic("a", 1));
  client->post(kTopics, kafkaTopic("b", 1));
  auto e = w->next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["object"]["metadata"]["name"], "b");
}

TEST_F(Watch, NamespacedWatchSeesOnlyItsNamespace) {
  ASSERT_EQ(client->post("/api/v1/namespaces", {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "other"}}}}).status, 201);
  const std::string rv = listResourceVersion(kTopics);
  auto here = watch("resourceVersion=" + rv);
  WatchReader everywhere(server->port(), "/apis/tributary.dev/v1alpha1/kafkatopics?watch=1&resourceVersion=" + rv);
  client->post("/apis/tributary.dev/v1alpha1/namespaces/other/kafkatopics", kafkaTopic("there", 1, "other"));
  client->post(kTopics, kafkaTopic("here", 1));
  auto e = here->next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["object"]["metadata"]["name"], "here");
  auto a1 = everywhere.next(), a2 = everywhere.next();
  ASSERT_TRUE(a1 && a2);
  EXPECT_EQ((*a1)["object"]["metadata"]["name"], "there");
  EXPECT_EQ((*a2)["object"]["metadata"]["name"], "here");
}

TEST_F(Watch, RemovingTheLastFinalizerIsADeletedEvent) {
  Json t = kafkaTopic("a", 1);
  t["metadata"]["finalizers"] = {"tributary.dev/topic"};
  client->post(kTopics, t);
  auto w = watch("resourceVersion=" + listResourceVersion(kTopics));
  client->del(kTopics + "/a");
  auto marked = w->next();
  ASSERT_TRUE(marked);
  EXPECT_EQ((*marked)["type"], "MODIFIED");
  EXPECT_TRUE((*marked)["object"]["metadata"].contains("deletionTimestamp"));
  client->patch(kTopics + "/a", R"({"metadata":{"finalizers":null}})");
  auto gone = w->next();
  ASSERT_TRUE(gone);
  EXPECT_EQ((*gone)["type"], "DELETED");
}

TEST_F(Watch, WritesThatChangeNothingAreNotEvents) {
  auto a = client->post(kTopics, kafkaTopic("a", 1));
  auto w = watch("resourceVersion=" + rvOf(a.body));
  client->put(kTopics + "/a", a.body);                                  // the same object
  client->patch(kTopics + "/a", R"({"spec":{"partitions":1}})");         // the same value
  client->patch(kTopics + "/a", R"({"status":null})");                   // no status to remove
  client->patch(kTopics + "/a", R"({"spec":{"partitions":2}})");         // a change
  auto e = w->next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["object"]["spec"]["partitions"], 2);
}

TEST_F(Watch, StatusUpdatesAreModifiedEventsWithTheSameGeneration) {
  auto a = client->post(kTopics, kafkaTopic("a", 1));
  auto w = watch("resourceVersion=" + rvOf(a.body));
  client->patch(kTopics + "/a/status", R"({"status":{"observedGeneration":1}})");
  auto e = w->next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "MODIFIED");
  EXPECT_EQ((*e)["object"]["metadata"]["generation"], 1);
  EXPECT_EQ((*e)["object"]["status"]["observedGeneration"], 1);
}

TEST_F(Watch, DeletingTheCrdEndsItsWatchesAndDeletesItsObjects) {
  client->post(kTopics, kafkaTopic("a", 1));
  auto w = watch("resourceVersion=" + listResourceVersion(kTopics));
  ASSERT_EQ(client->del("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/kafkatopics.tributary.dev").status, 200);
  auto e = w->next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "DELETED");
  EXPECT_TRUE(w->waitEnded());
  EXPECT_EQ(client->get(kTopics).status, 404);
}

TEST_F(Watch, SendInitialEventsEndsTheInitialStateWithAnAnnotatedBookmark) {
  client->post(kTopics, kafkaTopic("a", 1));
  auto w = watch("sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true");
  auto added = w->next();
  ASSERT_TRUE(added);
  EXPECT_EQ((*added)["type"], "ADDED");
  auto end = w->next();
  ASSERT_TRUE(end);
  EXPECT_EQ((*end)["type"], "BOOKMARK");
  EXPECT_EQ((*end)["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");

  auto invalid = client->get(kTopics + "?watch=1&sendInitialEvents=true");
  EXPECT_EQ(invalid.status, 422) << invalid.raw;
}

TEST_F(Watch, TableWatchSendsRowsWithColumnsInTheFirstEvent) {
  client->post(kTopics, kafkaTopic("a", 4));
  WatchReader w(server->port(), kTopics + "?watch=1",
                {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}});
  auto first = w.next();
  ASSERT_TRUE(first);
  EXPECT_EQ((*first)["object"]["kind"], "Table");
  EXPECT_EQ((*first)["object"]["columnDefinitions"].size(), 5u);
  EXPECT_EQ((*first)["object"]["rows"][0]["cells"][2], 4);
  client->patch(kTopics + "/a", R"({"spec":{"partitions":5}})");
  auto second = w.next();
  ASSERT_TRUE(second);
  EXPECT_EQ((*second)["type"], "MODIFIED");
  EXPECT_EQ((*second)["object"]["rows"][0]["cells"][2], 5);
}

TEST_F(Watch, DeprecatedWatchPathPrefix) {
  WatchReader w(server->port(),
                "/apis/tributary.dev/v1alpha1/watch/namespaces/default/kafkatopics?resourceVersion=" +
                    listResourceVersion(kTopics));
  ASSERT_EQ(w.status(), 200);
  client->post(kTopics, kafkaTopic("a", 1));
  auto e = w.next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "ADDED");
}

TEST_F(Watch, RequestsAreRecordedAsWatches) {
  server->clearRequests();
  auto w = watch("resourceVersion=" + listResourceVersion(kTopics));
  ASSERT_TRUE(eventually([&] { return server->requests().size() == 2; }));
  EXPECT_EQ(server->requests()[1].verb, "watch");
}

TEST_F(Watch, StopEndsOpenWatches) {
  auto w = watch("resourceVersion=" + listResourceVersion(kTopics));
  client.reset();  // an idle keep-alive connection would hold stop() for its timeout
  server->stop();  // returns only once every worker is done: the stream must end
  EXPECT_TRUE(w->waitEnded());
}

// With a bounded event log, history older than what is kept is gone, as
// after an etcd compaction, without anyone calling compact().
class BoundedHistory : public ApiServerTest {
 protected:
  TestApiServerOptions serverOptions() override {
    TestApiServerOptions o;
    o.maxRetainedEvents = 3;
    return o;
  }
};

TEST_F(BoundedHistory, OldResourceVersionsExpire) {
  installKafkaTopicCrd();
  auto first = client->post(kTopics, kafkaTopic("a", 1));
  for (int i = 2; i <= 6; ++i) client->patch(kTopics + "/a", "{\"spec\":{\"partitions\":" + std::to_string(i) + "}}");
  WatchReader old(server->port(), kTopics + "?watch=1&resourceVersion=" + rvOf(first.body));
  auto e = old.next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "ERROR");
  EXPECT_EQ((*e)["object"]["code"], 410);

  // The last three changes are still there.
  const auto now = std::stoull(listResourceVersion(kTopics));
  WatchReader recent(server->port(), kTopics + "?watch=1&resourceVersion=" + std::to_string(now - 3));
  auto r1 = recent.next();
  ASSERT_TRUE(r1);
  EXPECT_EQ((*r1)["type"], "MODIFIED");
  EXPECT_EQ((*r1)["object"]["spec"]["partitions"], 4);
}

}  // namespace
}  // namespace tributary::apiserver::test
