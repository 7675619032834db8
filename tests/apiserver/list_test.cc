// Lists: kinds, resourceVersions, selectors, pagination over a consistent
// snapshot, 410 for continue tokens older than a compaction, server-side Tables.
#include <set>

#include "tests/apiserver/api_client.h"

namespace tributary::apiserver::test {
namespace {

class List : public ApiServerTest {
 protected:
  void SetUp() override {
    ApiServerTest::SetUp();
    installKafkaTopicCrd();
  }
  std::vector<std::string> names(const Json& list) {
    std::vector<std::string> out;
    for (const auto& item : list["items"]) out.push_back(item["metadata"]["name"]);
    return out;
  }
  std::vector<std::string> select(const std::string& selector) {
    auto r = client->get(kConfigMaps + "?labelSelector=" + urlEncode(selector));
    EXPECT_EQ(r.status, 200) << selector << ": " << r.raw;
    return names(r.body);
  }
};

using Names = std::vector<std::string>;

TEST_F(List, ListHasItsKindAndTheCurrentResourceVersion) {
  client->post(kTopics, kafkaTopic("b", 1));
  auto last = client->post(kTopics, kafkaTopic("a", 1));
  auto r = client->get(kTopics);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["kind"], "KafkaTopicList");
  EXPECT_EQ(r.body["apiVersion"], "tributary.dev/v1alpha1");
  EXPECT_EQ(r.body["metadata"]["resourceVersion"], last.body["metadata"]["resourceVersion"]);
  EXPECT_EQ(names(r.body), (Names{"a", "b"})) << "ordered by namespace and name, like etcd keys";
  EXPECT_EQ(r.body["items"][0]["kind"], "KafkaTopic") << "custom resource list items carry their kind";

  client->post(kConfigMaps, configMap("c"));
  auto cms = client->get(kConfigMaps);
  EXPECT_EQ(cms.body["kind"], "ConfigMapList");
  EXPECT_FALSE(cms.body["items"][0].contains("kind")) << "typed list items do not";
}

TEST_F(List, AllNamespacesAndOneNamespace) {
  ASSERT_EQ(client->post("/api/v1/namespaces", {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "other"}}}}).status, 201);
  client->post(kTopics, kafkaTopic("here", 1));
  ASSERT_EQ(client->post("/apis/tributary.dev/v1alpha1/namespaces/other/kafkatopics", kafkaTopic("there", 1, "other")).status, 201);
  EXPECT_EQ(names(client->get(kTopics).body), (Names{"here"}));
  EXPECT_EQ(names(client->get("/apis/tributary.dev/v1alpha1/namespaces/other/kafkatopics").body), (Names{"there"}));
  EXPECT_EQ(names(client->get("/apis/tributary.dev/v1alpha1/kafkatopics").body), (Names{"here", "there"}));
}

TEST_F(List, LabelSelectors) {
  client->post(kConfigMaps, configMap("web", {{"app", "web"}, {"tier", "front"}}));
  client->post(kConfigMaps, configMap("api", {{"app", "api"}, {"tier", "back"}}));
  client->post(kConfigMaps, configMap("db", {{"app", "db"}}));
  client->post(kConfigMaps, configMap("bare"));
  EXPECT_EQ(select("app=web"), (Names{"web"}));
  EXPECT_EQ(select("app==api"), (Names{"api"}));
  EXPECT_EQ(select("app!=web"), (Names{"api", "bare", "db"})) << "!= matches objects without the label";
  EXPECT_EQ(select("tier"), (Names{"api", "web"}));
  EXPECT_EQ(select("!tier"), (Names{"bare", "db"}));
  EXPECT_EQ(select("app in (web, db)"), (Names{"db", "web"}));
  EXPECT_EQ(select("app notin (web,db)"), (Names{"api", "bare"})) << "notin matches objects without the label";
  EXPECT_EQ(select("app,tier=back"), (Names{"api"}));
  EXPECT_EQ(select("app in (web,api),tier notin (front)"), (Names{"api"}));
  EXPECT_EQ(select(""), (Names{"api", "bare", "db", "web"}));

  auto bad = client->get(kConfigMaps + "?labelSelector=" + urlEncode("app in (web"));
  EXPECT_EQ(bad.status, 400) << bad.raw;
  EXPECT_EQ(bad.body["reason"], "BadRequest");
}

TEST_F(List, FieldSelectorsOnNameAndNamespace) {
  client->post(kTopics, kafkaTopic("a", 1));
  client->post(kTopics, kafkaTopic("b", 1));
  EXPECT_EQ(names(client->get(kTopics + "?fieldSelector=metadata.name%3Da").body), (Names{"a"}));
  EXPECT_EQ(names(client->get(kTopics + "?fieldSelector=metadata.name!%3Da").body), (Names{"b"}));
  EXPECT_EQ(names(client->get("/apis/tributary.dev/v1alpha1/kafkatopics?fieldSelector=metadata.namespace%3Ddefault").body),
            (Names{"a", "b"}));
  auto bad = client->get(kTopics + "?fieldSelector=spec.partitions%3D1");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body["message"], "field label not supported: spec.partitions");
}

TEST_F(List, PagesWithLimitAndContinue) {
  for (const char* n : {"a", "b", "c", "d", "e", "f", "g"}) client->post(kTopics, kafkaTopic(n, 1));
  auto p1 = client->get(kTopics + "?limit=3");
  ASSERT_EQ(p1.status, 200);
  EXPECT_EQ(names(p1.body), (Names{"a", "b", "c"}));
  EXPECT_EQ(p1.body["metadata"]["remainingItemCount"], 4);
  const std::string token = p1.body["metadata"]["continue"];
  ASSERT_FALSE(token.empty());

  auto p2 = client->get(kTopics + "?limit=3&continue=" + urlEncode(token));
  ASSERT_EQ(p2.status, 200) << p2.raw;
  EXPECT_EQ(names(p2.body), (Names{"d", "e", "f"}));
  EXPECT_EQ(p2.body["metadata"]["resourceVersion"], p1.body["metadata"]["resourceVersion"]);
  auto p3 = client->get(kTopics + "?limit=3&continue=" + urlEncode(p2.body["metadata"]["continue"].get<std::string>()));
  EXPECT_EQ(names(p3.body), (Names{"g"}));
  EXPECT_FALSE(p3.body["metadata"].contains("continue"));
}

TEST_F(List, LaterPagesShowTheFirstPagesSnapshot) {
  for (const char* n : {"a", "b", "c", "d"}) client->post(kTopics, kafkaTopic(n, 1));
  auto p1 = client->get(kTopics + "?limit=2");
  ASSERT_EQ(names(p1.body), (Names{"a", "b"}));
  // Changes after the first page: none of them may show in the rest of this list.
  client->post(kTopics, kafkaTopic("bb", 1));
  client->del(kTopics + "/d");
  client->patch(kTopics + "/c", R"({"spec":{"partitions":99}})");
  auto p2 = client->get(kTopics + "?limit=10&continue=" + urlEncode(p1.body["metadata"]["continue"].get<std::string>()));
  ASSERT_EQ(p2.status, 200) << p2.raw;
  EXPECT_EQ(names(p2.body), (Names{"c", "d"}));
  EXPECT_EQ(p2.body["items"][0]["spec"]["partitions"], 1);
  // A fresh list sees them.
  EXPECT_EQ(names(client->get(kTopics).body), (Names{"a", "b", "bb", "c"}));
}

TEST_F(List, PagesWithASelectorMayComeBackShortButNeverMissItems) {
  for (int i = 0; i < 10; ++i) client->post(kConfigMaps, configMap("cm" + std::to_string(i), {{"even", i % 2 ? "no" : "yes"}}));
  Names all;
  std::string token;
  int pages = 0;
  do {
    auto r = client->get(kConfigMaps + "?limit=2&labelSelector=even%3Dyes" +
                         (token.empty() ? "" : "&continue=" + urlEncode(token)));
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_FALSE(r.body["metadata"].contains("remainingItemCount")) << "unknown with a selector";
    for (const auto& n : names(r.body)) all.push_back(n);
    token = r.body["metadata"].value("continue", "");
    ASSERT_LT(++pages, 20);
  } while (!token.empty());
  EXPECT_EQ(all, (Names{"cm0", "cm2", "cm4", "cm6", "cm8"}));
}

TEST_F(List, ContinueTokenOlderThanACompactionIs410Expired) {
  for (const char* n : {"a", "b", "c"}) client->post(kTopics, kafkaTopic(n, 1));
  auto p1 = client->get(kTopics + "?limit=1");
  client->post(kTopics, kafkaTopic("d", 1));
  server->compact();
  auto r = client->get(kTopics + "?limit=1&continue=" + urlEncode(p1.body["metadata"]["continue"].get<std::string>()));
  EXPECT_EQ(r.status, 410) << r.raw;
  EXPECT_EQ(r.body["kind"], "Status");
  EXPECT_EQ(r.body["reason"], "Expired");
  EXPECT_EQ(r.body["code"], 410);
  // The Status offers a token to carry on inconsistently, as the real one does.
  const std::string inconsistent = r.body["metadata"]["continue"];
  auto rest = client->get(kTopics + "?continue=" + urlEncode(inconsistent));
  ASSERT_EQ(rest.status, 200) << rest.raw;
  EXPECT_EQ(names(rest.body), (Names{"b", "c", "d"}));
}

TEST_F(List, BadContinueAndResourceVersionParameters) {
  EXPECT_EQ(client->get(kTopics + "?continue=garbage").status, 400);
  auto future = client->get(kTopics + "?resourceVersion=999999");
  EXPECT_EQ(future.status, 504) << future.raw;
  EXPECT_EQ(future.body["reason"], "Timeout");
  EXPECT_EQ(client->get(kTopics + "?limit=x").status, 400);
}

TEST_F(List, ExactResourceVersionReadsThePast) {
  client->post(kTopics, kafkaTopic("a", 1));
  const std::string before = listResourceVersion(kTopics);
  client->patch(kTopics + "/a", R"({"spec":{"partitions":5}})");
  client->post(kTopics, kafkaTopic("b", 1));
  auto past = client->get(kTopics + "?resourceVersion=" + before + "&resourceVersionMatch=Exact");
  ASSERT_EQ(past.status, 200) << past.raw;
  EXPECT_EQ(names(past.body), (Names{"a"}));
  EXPECT_EQ(past.body["items"][0]["spec"]["partitions"], 1);
  EXPECT_EQ(past.body["metadata"]["resourceVersion"], before);
  // NotOlderThan (the default) may answer with newer state: this server answers the latest.
  EXPECT_EQ(names(client->get(kTopics + "?resourceVersion=" + before).body), (Names{"a", "b"}));
  server->compact();
  EXPECT_EQ(client->get(kTopics + "?resourceVersion=" + before + "&resourceVersionMatch=Exact").status, 410);
}

TEST_F(List, TableUsesThePrinterColumns) {
  client->post(kTopics, kafkaTopic("orders", 6));
  client->patch(kTopics + "/orders/status",
                R"({"status":{"conditions":[{"type":"Synced","status":"False"},{"type":"Ready","status":"True"}]}})");
  client->post(kTopics, kafkaTopic("payments", 3));
  const httplib::Headers kubectlAccept{
      {"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"}};
  auto r = client->get(kTopics, kubectlAccept);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["kind"], "Table");
  EXPECT_EQ(r.body["apiVersion"], "meta.k8s.io/v1");
  std::vector<std::string> columns;
  for (const auto& c : r.body["columnDefinitions"]) columns.push_back(c["name"]);
  EXPECT_EQ(columns, (Names{"Name", "Topic", "Partitions", "Ready", "Age"}));
  EXPECT_EQ(r.body["columnDefinitions"][2]["type"], "integer");
  ASSERT_EQ(r.body["rows"].size(), 2u);
  const Json& orders = r.body["rows"][0]["cells"];
  EXPECT_EQ(orders[0], "orders");
  EXPECT_EQ(orders[1], "orders-topic");
  EXPECT_EQ(orders[2], 6);
  EXPECT_EQ(orders[3], "True");
  EXPECT_TRUE(orders[4].is_string());  // an age such as "0s"
  EXPECT_TRUE(r.body["rows"][1]["cells"][3].is_null()) << "no Ready condition yet";
  EXPECT_EQ(r.body["rows"][0]["object"]["kind"], "PartialObjectMetadata");
  EXPECT_EQ(r.body["rows"][0]["object"]["metadata"]["name"], "orders");
  EXPECT_FALSE(r.body["metadata"]["resourceVersion"].get<std::string>().empty());

  auto one = client->get(kTopics + "/orders?includeObject=Object", kubectlAccept);
  ASSERT_EQ(one.status, 200);
  ASSERT_EQ(one.body["rows"].size(), 1u);
  EXPECT_EQ(one.body["rows"][0]["object"]["spec"]["partitions"], 6);

  client->post(kConfigMaps, configMap("c"));
  auto builtin = client->get(kConfigMaps, kubectlAccept);
  columns.clear();
  for (const auto& c : builtin.body["columnDefinitions"]) columns.push_back(c["name"]);
  EXPECT_EQ(columns, (Names{"Name", "Age"}));

  auto unacceptable = client->get(kTopics, {{"Accept", "application/vnd.kubernetes.protobuf"}});
  EXPECT_EQ(unacceptable.status, 406);
}

TEST_F(List, MetadataOnlyLists) {
  client->post(kTopics, kafkaTopic("orders", 6));
  auto r = client->get(kTopics, {{"Accept", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["kind"], "PartialObjectMetadataList");
  EXPECT_EQ(r.body["items"][0]["metadata"]["name"], "orders");
  EXPECT_FALSE(r.body["items"][0].contains("spec"));
}

}  // namespace
}  // namespace tributary::apiserver::test
