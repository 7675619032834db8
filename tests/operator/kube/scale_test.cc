// The scale subresource through KubeClient (getScale / updateScale over
// CurlKubeClient) and KindResolver: apiVersion + kind → the resource, and
// whether it can be scaled, against the test API server.
#include <gtest/gtest.h>

#include "operator/kube/kind_resolver.h"
#include "tests/operator/kube/kube_fixture.h"

namespace tributary::op::kube::test {
namespace {

const ResourceRef kDeploymentsRef{"apps", "v1", "deployments", true};
const ResourceRef kCrdsRef{"apiextensions.k8s.io", "v1", "customresourcedefinitions", false};

Json deployment(const std::string& name, int replicas) {
  Json d = Json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},
    "spec":{"selector":{"matchLabels":{"app":"consumer"}},
            "template":{"metadata":{"labels":{"app":"consumer"}},
                        "spec":{"containers":[{"name":"c","image":"consumer:1"}]}}}})");
  d["metadata"]["name"] = name;
  d["spec"]["replicas"] = replicas;
  return d;
}

// example.com/v1 Worker (scale at .spec.size) and Pool (no scale subresource).
Json crd(const std::string& kind, const std::string& plural, bool scale) {
  Json c = Json::parse(R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
    "metadata":{"name":"x"},"spec":{"group":"example.com","scope":"Namespaced","names":{},
    "versions":[{"name":"v1","served":true,"storage":true,"subresources":{"status":{}},
      "schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}})");
  c["metadata"]["name"] = plural + ".example.com";
  c["spec"]["names"] = {{"kind", kind}, {"plural", plural}};
  if (scale)
    c["spec"]["versions"][0]["subresources"]["scale"] = {{"specReplicasPath", ".spec.size"},
                                                         {"statusReplicasPath", ".status.size"}};
  return c;
}

class ScaleClientTest : public KubeTest {};

TEST_F(ScaleClientTest, GetAndUpdateTheScaleOfADeployment) {
  client->create(kDeploymentsRef, ns, deployment("consumers", 2));
  Scale s = client->getScale(kDeploymentsRef, ns, "consumers");
  EXPECT_EQ(s.specReplicas, 2);
  EXPECT_EQ(s.selector, "app=consumer");
  EXPECT_FALSE(s.resourceVersion.empty());

  Scale updated = client->updateScale(kDeploymentsRef, ns, "consumers", 5, s.resourceVersion);
  EXPECT_EQ(updated.specReplicas, 5);
  EXPECT_EQ(client->get(kDeploymentsRef, ns, "consumers")["spec"]["replicas"], 5);

  // To zero: the Scale's spec.replicas is omitted on the wire and reads as 0.
  EXPECT_EQ(client->updateScale(kDeploymentsRef, ns, "consumers", 0).specReplicas, 0);
  EXPECT_EQ(client->getScale(kDeploymentsRef, ns, "consumers").specReplicas, 0);
  EXPECT_EQ(countRequests("update", "/deployments/consumers/scale"), 2u);
}

TEST_F(ScaleClientTest, StaleResourceVersionIsConflictAndMissingIsNotFound) {
  client->create(kDeploymentsRef, ns, deployment("consumers", 2));
  Scale s = client->getScale(kDeploymentsRef, ns, "consumers");
  client->updateScale(kDeploymentsRef, ns, "consumers", 3);  // someone else scales
  try {
    client->updateScale(kDeploymentsRef, ns, "consumers", 7, s.resourceVersion);
    ADD_FAILURE() << "a stale resourceVersion was accepted";
  } catch (const ApiError& e) {
    EXPECT_TRUE(isConflict(e)) << e.what();
  }
  EXPECT_EQ(client->getScale(kDeploymentsRef, ns, "consumers").specReplicas, 3);
  try {
    client->getScale(kDeploymentsRef, ns, "nope");
    ADD_FAILURE() << "no error for a missing object";
  } catch (const ApiError& e) {
    EXPECT_TRUE(isNotFound(e)) << e.what();
    EXPECT_EQ(e.message(), "deployments.apps \"nope\" not found");
  }
}

TEST_F(ScaleClientTest, ResolverKnowsAppsWorkloadsWithoutAsking) {
  SKIP_UNLESS_TEST_SERVER("the server-side request log");
  KindResolver resolver(*client);
  server->clearRequests();
  for (const std::string kind : {"Deployment", "StatefulSet", "ReplicaSet"}) {
    auto k = resolver.resolve("apps/v1", kind);
    ASSERT_TRUE(k) << kind;
    EXPECT_TRUE(k->scalable);
    EXPECT_EQ(k->resource.group, "apps");
  }
  EXPECT_EQ(resolver.resolve("apps/v1", "Deployment")->resource.plural, "deployments");
  EXPECT_TRUE(server->requests().empty());
}

TEST_F(ScaleClientTest, ResolverFindsCustomKindsThroughDiscoveryAndCachesThem) {
  SKIP_UNLESS_TEST_SERVER("the server-side request log, and a CRD of its own");
  client->create(kCrdsRef, "", crd("Worker", "workers", true));
  client->create(kCrdsRef, "", crd("Pool", "pools", false));
  KindResolver resolver(*client);
  server->clearRequests();
  auto worker = resolver.resolve("example.com/v1", "Worker");
  ASSERT_TRUE(worker);
  EXPECT_EQ(worker->resource.plural, "workers");
  EXPECT_TRUE(worker->resource.namespaced);
  EXPECT_TRUE(worker->scalable);
  auto pool = resolver.resolve("example.com/v1", "Pool");
  ASSERT_TRUE(pool);
  EXPECT_FALSE(pool->scalable);
  size_t discovery = 0;
  for (const auto& r : server->requests()) discovery += r.target == "/apis/example.com/v1";
  EXPECT_EQ(discovery, 1u);  // the second came from the cache

  EXPECT_FALSE(resolver.resolve("example.com/v1", "Nothing"));
  EXPECT_FALSE(resolver.resolve("nowhere.example.com/v1", "Worker"));  // 404: not served
  // Core kinds come from /api/v1.
  auto cm = resolver.resolve("v1", "ConfigMap");
  ASSERT_TRUE(cm);
  EXPECT_EQ(cm->resource.plural, "configmaps");
  EXPECT_FALSE(cm->scalable);

  // A kind installed after its group-version was cached is found.
  client->create(kCrdsRef, "", crd("Shard", "shards", true));
  auto shard = resolver.resolve("example.com/v1", "Shard");
  ASSERT_TRUE(shard);
  EXPECT_TRUE(shard->scalable);

  // And its scale works through the resolved resource.
  client->create(shard->resource, ns,
                 {{"apiVersion", "example.com/v1"}, {"kind", "Shard"}, {"metadata", {{"name", "s"}}},
                  {"spec", {{"size", 2}}}});
  EXPECT_EQ(client->getScale(shard->resource, ns, "s").specReplicas, 2);
  client->updateScale(shard->resource, ns, "s", 4);
  EXPECT_EQ(client->get(shard->resource, ns, "s")["spec"]["size"], 4);
}

TEST_F(ScaleClientTest, ResolverPassesOnFailuresOtherThanNotFound) {
  SKIP_UNLESS_TEST_SERVER("failNextRequests()");
  KindResolver resolver(*client);
  server->failNextRequests(1, 503);
  EXPECT_THROW(resolver.resolve("example.com/v1", "Worker"), ApiError);
}

}  // namespace
}  // namespace tributary::op::kube::test
