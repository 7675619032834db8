// Discovery documents, and CustomResourceDefinitions: registration, status,
// validation, versions, scope, deletion.
#include "tests/apiserver/api_client.h"

namespace tributary::apiserver::test {
namespace {

const std::string kCrds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

class Discovery : public ApiServerTest {
 protected:
  const Json* resource(const Json& list, const std::string& name) {
    for (const auto& r : list["resources"])
      if (r["name"] == name) return &r;
    return nullptr;
  }
  std::vector<std::string> groupNames() {
    std::vector<std::string> out;
    auto apis = client->get("/apis");  // named: the loop must not walk a destroyed temporary
    for (const auto& g : apis.body["groups"]) out.push_back(g["name"]);
    return out;
  }
  bool hasGroup(const std::string& name) {
    auto g = groupNames();
    return std::find(g.begin(), g.end(), name) != g.end();
  }
};

TEST_F(Discovery, VersionAndCoreApi) {
  auto v = client->get("/version");
  ASSERT_EQ(v.status, 200);
  EXPECT_EQ(v.body["major"], "1");
  EXPECT_EQ(v.body["gitVersion"], "v1.32.0");

  auto api = client->get("/api");
  ASSERT_EQ(api.status, 200);
  EXPECT_EQ(api.body["kind"], "APIVersions");
  EXPECT_EQ(api.body["versions"], (Json{"v1"}));

  auto core = client->get("/api/v1");
  ASSERT_EQ(core.status, 200);
  EXPECT_EQ(core.body["kind"], "APIResourceList");
  EXPECT_EQ(core.body["groupVersion"], "v1");
  for (const char* name : {"namespaces", "configmaps", "events", "services", "pods", "secrets"})
    EXPECT_TRUE(resource(core.body, name)) << name;
  const Json* ns = resource(core.body, "namespaces");
  ASSERT_TRUE(ns);
  EXPECT_EQ((*ns)["namespaced"], false);
  EXPECT_EQ((*ns)["kind"], "Namespace");
  EXPECT_EQ((*ns)["shortNames"], (Json{"ns"}));
  const Json* pods = resource(core.body, "pods");
  EXPECT_EQ((*pods)["namespaced"], true);
  EXPECT_EQ((*pods)["verbs"], (Json{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}));
  const Json* podStatus = resource(core.body, "pods/status");
  ASSERT_TRUE(podStatus);
  EXPECT_EQ((*podStatus)["verbs"], (Json{"get", "patch", "update"}));
  EXPECT_FALSE(resource(core.body, "configmaps/status"));
}

TEST_F(Discovery, BuiltInGroups) {
  auto apis = client->get("/apis");
  ASSERT_EQ(apis.status, 200);
  EXPECT_EQ(apis.body["kind"], "APIGroupList");
  for (const char* g : {"apps", "coordination.k8s.io", "events.k8s.io", "apiextensions.k8s.io"})
    EXPECT_TRUE(hasGroup(g)) << g;
  auto leases = client->get("/apis/coordination.k8s.io/v1");
  ASSERT_EQ(leases.status, 200);
  const Json* lease = resource(leases.body, "leases");
  ASSERT_TRUE(lease);
  EXPECT_EQ((*lease)["kind"], "Lease");
  EXPECT_EQ((*lease)["singularName"], "lease");
  auto apps = client->get("/apis/apps/v1");
  EXPECT_TRUE(resource(apps.body, "deployments"));
  EXPECT_TRUE(resource(apps.body, "deployments/status"));
  auto group = client->get("/apis/apps");
  EXPECT_EQ(group.body["kind"], "APIGroup");
  EXPECT_EQ(group.body["preferredVersion"]["groupVersion"], "apps/v1");
  EXPECT_EQ(client->get("/apis/nothing.example").status, 404);
  EXPECT_EQ(client->get("/apis/apps/v7").status, 404);
}

TEST_F(Discovery, NoOpenApiDocuments) {
  EXPECT_EQ(client->get("/openapi/v2").status, 404);
  EXPECT_EQ(client->get("/openapi/v3").status, 404);
}

TEST_F(Discovery, CreatingACrdRegistersItsGroupAndResource) {
  EXPECT_FALSE(hasGroup("tributary.dev"));
  EXPECT_EQ(client->get("/apis/tributary.dev/v1alpha1").status, 404);
  installKafkaTopicCrd();
  EXPECT_TRUE(hasGroup("tributary.dev"));
  auto list = client->get("/apis/tributary.dev/v1alpha1");
  ASSERT_EQ(list.status, 200);
  const Json* kt = resource(list.body, "kafkatopics");
  ASSERT_TRUE(kt);
  EXPECT_EQ((*kt)["singularName"], "kafkatopic");
  EXPECT_EQ((*kt)["namespaced"], true);
  EXPECT_EQ((*kt)["kind"], "KafkaTopic");
  EXPECT_EQ((*kt)["shortNames"], (Json{"kt"}));
  const Json* status = resource(list.body, "kafkatopics/status");
  ASSERT_TRUE(status);
  EXPECT_EQ((*status)["verbs"], (Json{"get", "patch", "update"}));
  EXPECT_EQ(client->get(kTopics).status, 200);
}

TEST_F(Discovery, CrdBecomesEstablished) {
  const std::string rv = listResourceVersion(kCrds);
  WatchReader w(server->port(), kCrds + "?watch=1&resourceVersion=" + rv);
  installKafkaTopicCrd();
  auto added = w.next();
  ASSERT_TRUE(added);
  EXPECT_EQ((*added)["type"], "ADDED");
  auto established = w.next();
  ASSERT_TRUE(established);
  EXPECT_EQ((*established)["type"], "MODIFIED") << "the controllers write status after the create, as in a cluster";

  auto crd = client->get(kCrds + "/kafkatopics.tributary.dev");
  ASSERT_EQ(crd.status, 200);
  bool isEstablished = false;
  for (const auto& c : crd.body["status"]["conditions"])
    if (c["type"] == "Established" && c["status"] == "True") isEstablished = true;
  EXPECT_TRUE(isEstablished) << crd.raw;
  EXPECT_EQ(crd.body["status"]["acceptedNames"]["kind"], "KafkaTopic");
  EXPECT_EQ(crd.body["status"]["storedVersions"], (Json{"v1alpha1"}));
}

TEST_F(Discovery, InvalidCrdsAre422) {
  Json wrongName = kafkaTopicCrd();
  wrongName["metadata"]["name"] = "topics.tributary.dev";
  auto r = client->post(kCrds, wrongName);
  EXPECT_EQ(r.status, 422) << r.raw;
  EXPECT_EQ(r.body["details"]["causes"][0]["field"], "metadata.name");

  Json noStorage = kafkaTopicCrd();
  noStorage["spec"]["versions"][0]["storage"] = false;
  EXPECT_EQ(client->post(kCrds, noStorage).status, 422);

  Json noSchema = kafkaTopicCrd();
  noSchema["spec"]["versions"][0].erase("schema");
  EXPECT_EQ(client->post(kCrds, noSchema).status, 422);

  Json badScope = kafkaTopicCrd();
  badScope["spec"]["scope"] = "Global";
  EXPECT_EQ(client->post(kCrds, badScope).status, 422);
  EXPECT_FALSE(hasGroup("tributary.dev"));
}

TEST_F(Discovery, EveryServedVersionServesTheSameObjects) {
  Json crd = kafkaTopicCrd();
  Json v1beta1 = crd["spec"]["versions"][0];
  v1beta1["name"] = "v1beta1";
  v1beta1["storage"] = false;
  crd["spec"]["versions"].push_back(v1beta1);
  ASSERT_EQ(client->post(kCrds, crd).status, 201);
  auto group = client->get("/apis/tributary.dev");
  EXPECT_EQ(group.body["preferredVersion"]["version"], "v1beta1") << "beta outranks alpha";
  ASSERT_EQ(client->post(kTopics, kafkaTopic("a", 1)).status, 201);
  auto viaBeta = client->get("/apis/tributary.dev/v1beta1/namespaces/default/kafkatopics/a");
  ASSERT_EQ(viaBeta.status, 200) << viaBeta.raw;
  EXPECT_EQ(viaBeta.body["apiVersion"], "tributary.dev/v1beta1");
  EXPECT_EQ(client->get(kTopics + "/a").body["apiVersion"], "tributary.dev/v1alpha1");
}

TEST_F(Discovery, ClusterScopedCustomResources) {
  Json crd = kafkaTopicCrd();
  crd["metadata"]["name"] = "kafkaclusters.tributary.dev";
  crd["spec"]["scope"] = "Cluster";
  crd["spec"]["names"] = {{"kind", "KafkaCluster"}, {"plural", "kafkaclusters"}};
  ASSERT_EQ(client->post(kCrds, crd).status, 201);
  Json kc{{"apiVersion", "tributary.dev/v1alpha1"},
          {"kind", "KafkaCluster"},
          {"metadata", {{"name", "main"}}},
          {"spec", {{"partitions", 1}}}};
  auto r = client->post("/apis/tributary.dev/v1alpha1/kafkaclusters", kc);
  ASSERT_EQ(r.status, 201) << r.raw;
  EXPECT_FALSE(r.body["metadata"].contains("namespace"));
  EXPECT_EQ(client->get("/apis/tributary.dev/v1alpha1/kafkaclusters/main").status, 200);
  EXPECT_EQ(client->get("/apis/tributary.dev/v1alpha1/namespaces/default/kafkaclusters/main").status, 404);
  auto discovery = client->get("/apis/tributary.dev/v1alpha1");
  EXPECT_EQ((*resource(discovery.body, "kafkaclusters"))["singularName"], "kafkacluster") << "defaulted from the kind";
}

TEST_F(Discovery, DeletingACrdWaitsForItsObjectsFinalizers) {
  installKafkaTopicCrd();
  Json held = kafkaTopic("held", 1);
  held["metadata"]["finalizers"] = {"tributary.dev/topic"};
  ASSERT_EQ(client->post(kTopics, held).status, 201);
  ASSERT_EQ(client->post(kTopics, kafkaTopic("free", 1)).status, 201);

  ASSERT_EQ(client->del(kCrds + "/kafkatopics.tributary.dev").status, 200);
  auto crd = client->get(kCrds + "/kafkatopics.tributary.dev");
  ASSERT_EQ(crd.status, 200) << "held by an object with a finalizer";
  EXPECT_TRUE(crd.body["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(client->get(kTopics + "/free").status, 404);
  EXPECT_TRUE(client->get(kTopics + "/held").body["metadata"].contains("deletionTimestamp"));
  auto refused = client->post(kTopics, kafkaTopic("new", 1));
  EXPECT_EQ(refused.status, 405) << refused.raw;

  ASSERT_EQ(client->patch(kTopics + "/held", R"({"metadata":{"finalizers":null}})").status, 200);
  EXPECT_EQ(client->get(kCrds + "/kafkatopics.tributary.dev").status, 404);
  EXPECT_EQ(client->get(kTopics).status, 404);
  EXPECT_FALSE(hasGroup("tributary.dev"));

  // And it can come back, empty.
  installKafkaTopicCrd();
  EXPECT_EQ(client->get(kTopics).body["items"].size(), 0u);
}

TEST_F(Discovery, UpdatingACrdChangesWhatIsServed) {
  installKafkaTopicCrd();
  auto crd = client->get(kCrds + "/kafkatopics.tributary.dev").body;
  crd["spec"]["names"]["shortNames"] = {"kt", "topic"};
  crd["spec"]["versions"][0]["additionalPrinterColumns"] = Json::array();
  auto r = client->put(kCrds + "/kafkatopics.tributary.dev", crd);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["metadata"]["generation"], 2);
  auto list = client->get("/apis/tributary.dev/v1alpha1");
  EXPECT_EQ((*resource(list.body, "kafkatopics"))["shortNames"], (Json{"kt", "topic"}));
  client->post(kTopics, kafkaTopic("a", 1));
  auto table = client->get(kTopics, {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io"}});
  std::vector<std::string> columns;
  for (const auto& c : table.body["columnDefinitions"]) columns.push_back(c["name"]);
  EXPECT_EQ(columns, (std::vector<std::string>{"Name", "Age"})) << "without printer columns: Name and Age";
}

}  // namespace
}  // namespace tributary::apiserver::test
