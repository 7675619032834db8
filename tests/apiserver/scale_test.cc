// The scale subresource (autoscaling/v1 Scale) of apps/v1 workloads and of
// custom resources whose CRD declares subresources.scale, and the autoscaling/v2
// HorizontalPodAutoscalers: what an autoscaler (the operator's scaleTarget,
// kubectl scale, the HPA) sees.
#include <set>

#include "tests/apiserver/api_client.h"

namespace tributary::apiserver::test {
namespace {

const std::string kDeployments = "/apis/apps/v1/namespaces/default/deployments";
const std::string kWorkers = "/apis/example.com/v1/namespaces/default/workers";

Json deployment(const std::string& name, std::optional<int> replicas) {
  Json d = Json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},
    "spec":{"selector":{"matchLabels":{"app":"consumer"},
                        "matchExpressions":[{"key":"tier","operator":"In","values":["b","a"]}]},
            "template":{"metadata":{"labels":{"app":"consumer","tier":"a"}},
                        "spec":{"containers":[{"name":"c","image":"consumer:1"}]}}}})");
  d["metadata"]["name"] = name;
  if (replicas) d["spec"]["replicas"] = *replicas;
  return d;
}

// A custom kind with a scale subresource at non-default paths.
Json workerCrd(bool withSelector = true) {
  Json scale = {{"specReplicasPath", ".spec.size"}, {"statusReplicasPath", ".status.running"}};
  if (withSelector) scale["labelSelectorPath"] = ".status.selector";
  Json crd = Json::parse(R"({
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "workers.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Worker", "plural": "workers"},
      "versions": [{"name": "v1", "served": true, "storage": true,
        "subresources": {"status": {}},
        "schema": {"openAPIV3Schema": {"type": "object", "properties": {
          "spec": {"type": "object", "properties": {"size": {"type": "integer", "minimum": 0}}},
          "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}})");
  crd["spec"]["versions"][0]["subresources"]["scale"] = scale;
  return crd;
}

class Scale : public ApiServerTest {};

TEST_F(Scale, DeploymentScaleReadsReplicasAndSelector) {
  ASSERT_EQ(client->post(kDeployments, deployment("consumers", 2)).status, 201);
  auto r = client->get(kDeployments + "/consumers/scale");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["kind"], "Scale");
  EXPECT_EQ(r.body["apiVersion"], "autoscaling/v1");
  EXPECT_EQ(r.body["metadata"]["name"], "consumers");
  EXPECT_EQ(r.body["metadata"]["namespace"], "default");
  EXPECT_EQ(r.body["spec"]["replicas"], 2);
  EXPECT_EQ(r.body["status"]["replicas"], 0);  // no controller runs pods here
  EXPECT_EQ(r.body["status"]["selector"], "app=consumer,tier in (a,b)");
  auto object = client->get(kDeployments + "/consumers");
  EXPECT_EQ(r.body["metadata"]["resourceVersion"], object.body["metadata"]["resourceVersion"]);
  EXPECT_EQ(r.body["metadata"]["uid"], object.body["metadata"]["uid"]);
}

TEST_F(Scale, AbsentReplicasOfADeploymentReadAsOne) {
  ASSERT_EQ(client->post(kDeployments, deployment("defaulted", std::nullopt)).status, 201);
  EXPECT_EQ(client->get(kDeployments + "/defaulted/scale").body["spec"]["replicas"], 1);
}

TEST_F(Scale, PutChangesOnlyTheReplicasAndBumpsGeneration) {
  ASSERT_EQ(client->post(kDeployments, deployment("consumers", 2)).status, 201);
  Json scale = client->get(kDeployments + "/consumers/scale").body;
  scale["spec"]["replicas"] = 5;
  auto r = client->put(kDeployments + "/consumers/scale", scale);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["kind"], "Scale");
  EXPECT_EQ(r.body["spec"]["replicas"], 5);
  EXPECT_NE(r.body["metadata"]["resourceVersion"], scale["metadata"]["resourceVersion"]);
  auto object = client->get(kDeployments + "/consumers").body;
  EXPECT_EQ(object["spec"]["replicas"], 5);
  EXPECT_EQ(object["metadata"]["generation"], 2);
  EXPECT_EQ(object["spec"]["template"]["spec"]["containers"][0]["image"], "consumer:1");

  // The same replicas again: nothing changes (no new resourceVersion).
  auto again = client->put(kDeployments + "/consumers/scale", r.body);
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(again.body["metadata"]["resourceVersion"], r.body["metadata"]["resourceVersion"]);
}

TEST_F(Scale, ZeroReplicasIsAnEmptySpecAsOnARealServer) {
  ASSERT_EQ(client->post(kDeployments, deployment("consumers", 2)).status, 201);
  auto r = client->patch(kDeployments + "/consumers/scale", R"({"spec":{"replicas":0}})");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["spec"], Json::object());  // autoscaling/v1 ScaleSpec.replicas is omitempty
  EXPECT_EQ(client->get(kDeployments + "/consumers").body["spec"]["replicas"], 0);
}

TEST_F(Scale, StaleResourceVersionIs409AndNegativeReplicas422) {
  ASSERT_EQ(client->post(kDeployments, deployment("consumers", 2)).status, 201);
  Json scale = client->get(kDeployments + "/consumers/scale").body;
  ASSERT_EQ(client->patch(kDeployments + "/consumers", R"({"metadata":{"labels":{"a":"b"}}})").status, 200);
  scale["spec"]["replicas"] = 3;
  auto stale = client->put(kDeployments + "/consumers/scale", scale);
  EXPECT_EQ(stale.status, 409) << stale.raw;
  EXPECT_EQ(stale.body["reason"], "Conflict");
  EXPECT_EQ(stale.body["message"],
            "Operation cannot be fulfilled on deployments.apps \"consumers\": the object has been modified; please "
            "apply your changes to the latest version and try again");
  EXPECT_EQ(client->get(kDeployments + "/consumers").body["spec"]["replicas"], 2);

  // Without a resourceVersion the write is unconditional.
  scale["metadata"].erase("resourceVersion");
  EXPECT_EQ(client->put(kDeployments + "/consumers/scale", scale).status, 200);

  auto negative = client->patch(kDeployments + "/consumers/scale", R"({"spec":{"replicas":-1}})");
  EXPECT_EQ(negative.status, 422) << negative.raw;
  EXPECT_EQ(negative.body["details"]["causes"][0]["field"], "spec.replicas");
  auto wrongKind = client->put(kDeployments + "/consumers/scale", deployment("consumers", 4));
  EXPECT_EQ(wrongKind.status, 400) << wrongKind.raw;
}

TEST_F(Scale, MissingObjectIs404AndOtherVerbs405) {
  auto r = client->get(kDeployments + "/nope/scale");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body["message"], "deployments.apps \"nope\" not found");
  ASSERT_EQ(client->post(kDeployments, deployment("consumers", 2)).status, 201);
  EXPECT_EQ(client->del(kDeployments + "/consumers/scale").status, 405);
  // Kinds without a scale subresource have no /scale.
  ASSERT_EQ(client->post(kConfigMaps, configMap("settings")).status, 201);
  EXPECT_EQ(client->get(kConfigMaps + "/settings/scale").status, 404);
}

TEST_F(Scale, StatefulSetsAndReplicaSetsToo) {
  for (const std::string plural : {"statefulsets", "replicasets"}) {
    Json obj = deployment("w", 1);
    obj["kind"] = plural == "statefulsets" ? "StatefulSet" : "ReplicaSet";
    const std::string base = "/apis/apps/v1/namespaces/default/" + plural;
    ASSERT_EQ(client->post(base, obj).status, 201) << plural;
    auto r = client->patch(base + "/w/scale", R"({"spec":{"replicas":4}})");
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(client->get(base + "/w").body["spec"]["replicas"], 4) << plural;
  }
}

TEST_F(Scale, DiscoveryListsScaleSubresources) {
  auto apps = client->get("/apis/apps/v1");
  ASSERT_EQ(apps.status, 200);
  Json found;
  for (const auto& r : apps.body["resources"])
    if (r["name"] == "deployments/scale") found = r;
  ASSERT_TRUE(found.is_object()) << apps.raw;
  EXPECT_EQ(found["kind"], "Scale");
  EXPECT_EQ(found["group"], "autoscaling");
  EXPECT_EQ(found["version"], "v1");
  EXPECT_EQ(found["verbs"], Json({"get", "patch", "update"}));
  for (const auto& r : apps.body["resources"]) EXPECT_NE(r["name"], "daemonsets/scale");
}

TEST_F(Scale, CustomResourceScaleUsesTheCrdsPaths) {
  auto crd = client->post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", workerCrd());
  ASSERT_EQ(crd.status, 201) << crd.raw;
  bool listed = false;
  const Json resources = client->get("/apis/example.com/v1").body["resources"];
  for (const auto& r : resources) listed = listed || r["name"] == "workers/scale";
  EXPECT_TRUE(listed);
  Json w = {{"apiVersion", "example.com/v1"}, {"kind", "Worker"}, {"metadata", {{"name", "pool"}}}, {"spec", {{"size", 3}}}};
  ASSERT_EQ(client->post(kWorkers, w).status, 201);
  ASSERT_EQ(client->patch(kWorkers + "/pool/status", R"({"status":{"running":2,"selector":"app=pool"}})").status, 200);

  auto scale = client->get(kWorkers + "/pool/scale");
  ASSERT_EQ(scale.status, 200) << scale.raw;
  EXPECT_EQ(scale.body["spec"]["replicas"], 3);
  EXPECT_EQ(scale.body["status"]["replicas"], 2);
  EXPECT_EQ(scale.body["status"]["selector"], "app=pool");

  // Strategic merge patches are 415 on custom resources, but the Scale is a built-in kind.
  auto r = client->patch(kWorkers + "/pool/scale", R"({"spec":{"replicas":6}})",
                         "application/strategic-merge-patch+json");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(client->get(kWorkers + "/pool").body["spec"]["size"], 6);

  // A CR without the field: 0 replicas (apiextensions' reading); setting it creates it.
  Json empty = {{"apiVersion", "example.com/v1"}, {"kind", "Worker"}, {"metadata", {{"name", "idle"}}}};
  ASSERT_EQ(client->post(kWorkers, empty).status, 201);
  EXPECT_EQ(client->get(kWorkers + "/idle/scale").body["spec"], Json::object());
  ASSERT_EQ(client->patch(kWorkers + "/idle/scale", R"({"spec":{"replicas":1}})").status, 200);
  EXPECT_EQ(client->get(kWorkers + "/idle").body["spec"]["size"], 1);
}

TEST_F(Scale, CrdScalePathsAreValidated) {
  Json crd = workerCrd();
  crd["spec"]["versions"][0]["subresources"]["scale"]["specReplicasPath"] = ".status.size";
  crd["spec"]["versions"][0]["subresources"]["scale"].erase("statusReplicasPath");
  auto r = client->post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd);
  ASSERT_EQ(r.status, 422) << r.raw;
  std::set<std::string> fields;
  for (const auto& c : r.body["details"]["causes"]) fields.insert(c["field"].get<std::string>());
  EXPECT_TRUE(fields.count("spec.versions[0].subresources.scale.specReplicasPath")) << r.raw;
  EXPECT_TRUE(fields.count("spec.versions[0].subresources.scale.statusReplicasPath")) << r.raw;
}

TEST_F(Scale, HorizontalPodAutoscalersAreServed) {
  Json hpa = Json::parse(R"({"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler",
    "metadata":{"name":"consumers"},
    "spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"consumers"},
            "minReplicas":1,"maxReplicas":5}})");
  const std::string hpas = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers";
  auto r = client->post(hpas, hpa);
  ASSERT_EQ(r.status, 201) << r.raw;
  auto list = client->get(hpas);
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["items"].size(), 1u);
  EXPECT_EQ(list.body["kind"], "HorizontalPodAutoscalerList");
  EXPECT_EQ(list.body["items"][0]["spec"]["scaleTargetRef"]["name"], "consumers");
  bool listed = false;
  const Json groups = client->get("/apis").body["groups"];
  for (const auto& g : groups) listed = listed || g["name"] == "autoscaling";
  EXPECT_TRUE(listed);
}

}  // namespace
}  // namespace tributary::apiserver::test
