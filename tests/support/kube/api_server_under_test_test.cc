// ApiServerUnderTest itself, on whichever server it runs against: a fresh
// namespace per instance, CRDs installed idempotently and Established, the
// clients' calls counted, and cleanup that releases finalizers and deletes
// what the test made.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "operator/kube/api_error.h"
#include "tests/support/kube/api_server_under_test.h"

namespace tributary::test {
namespace {

namespace kube = op::kube;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const kube::ResourceRef kCrds{"apiextensions.k8s.io", "v1", "customresourcedefinitions", false};
const kube::ResourceRef kTopics{"tributary.dev", "v1alpha1", "kafkatopics", true};

// Gone, or (a real server deletes namespaces in the background) on its way.
bool goneOrTerminating(kube::KubeClient& client, const kube::ResourceRef& ref, const std::string& name) {
  try {
    return client.get(ref, "", name)["metadata"].contains("deletionTimestamp");
  } catch (const kube::ApiError& e) {
    return kube::isNotFound(e);
  }
}

TEST(ApiServerUnderTestTest, EachInstanceHasAFreshNamespaceNamedAfterTheTest) {
  ApiServerUnderTest a, b;
  EXPECT_NE(a.ns(), b.ns());
  EXPECT_THAT(a.ns(), StartsWith("t-apiserverundertesttest-eachinstance"));
  EXPECT_LE(a.ns().size(), 63u);
  EXPECT_TRUE(std::regex_match(a.ns(), std::regex("[a-z0-9]([-a-z0-9]*[a-z0-9])?"))) << a.ns();
  prometheus::Registry registry;
  auto client = a.newClient(registry);
  Json ns = client->get(kube::resources::kNamespaces, "", a.ns());
  EXPECT_EQ(ns["metadata"]["labels"]["tributary.dev/test"], "true");
  EXPECT_EQ(a.real(), a.testServer() == nullptr);
}

TEST(ApiServerUnderTestTest, CrdsAreInstalledIdempotentlyAndEstablished) {
  ApiServerUnderTest server;
  server.installCrds({"kafkatopic.yaml"});
  server.installCrds({"kafkatopic.yaml"});  // present: updated to the same content, no error
  prometheus::Registry registry;
  auto client = server.newClient(registry);
  Json crd = client->get(kCrds, "", "kafkatopics.tributary.dev");
  bool established = false;
  for (const auto& c : crd["status"]["conditions"])
    established = established || (c["type"] == "Established" && c["status"] == "True");
  EXPECT_TRUE(established);
  // Served at once: a KafkaTopic can be created in the test's namespace.
  client->create(kTopics, server.ns(),
                 {{"apiVersion", "tributary.dev/v1alpha1"},
                  {"kind", "KafkaTopic"},
                  {"metadata", {{"name", "t"}}},
                  {"spec", {{"partitions", 1}}}});
}

TEST(ApiServerUnderTestTest, ClientCallsAreCountedWithVerbPathAndStatus) {
  ApiServerUnderTest server;
  prometheus::Registry registry;
  auto client = server.newClient(registry);
  client->create(kube::resources::kConfigMaps, server.ns(),
                 {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "a"}}}});
  kube::ListOptions paged;
  paged.limit = 5;
  client->list(kube::resources::kConfigMaps, server.ns(), paged);
  EXPECT_THROW(client->get(kube::resources::kConfigMaps, server.ns(), "missing"), kube::ApiError);
  EXPECT_EQ(server.calls().count("create", "/namespaces/" + server.ns() + "/configmaps"), 1u);
  EXPECT_EQ(server.calls().count("list", "limit=5"), 1u);
  auto calls = server.calls().calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[2].verb, "get");
  EXPECT_EQ(calls[2].status, 404);
  EXPECT_THAT(calls[2].target, HasSubstr("/configmaps/missing"));
  server.calls().clear();
  EXPECT_EQ(server.calls().count(""), 0u);
}

TEST(ApiServerUnderTestTest, CleanupReleasesFinalizersAndDeletesWhatTheTestMade) {
  ApiServerUnderTest server;
  server.installCrds({"kafkatopic.yaml"});
  const std::string other = server.createNamespace("other");
  const std::string clusterScoped = server.uniqueName("cleanup");
  server.deleteAfterwards(kube::resources::kNamespaces, clusterScoped);
  prometheus::Registry registry;
  auto client = server.newClient(registry);
  client->create(kube::resources::kNamespaces, "",
                 {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", clusterScoped}}}});
  // Held by a finalizer no operator is left to remove.
  client->create(kTopics, other,
                 {{"apiVersion", "tributary.dev/v1alpha1"},
                  {"kind", "KafkaTopic"},
                  {"metadata", {{"name", "held"}, {"finalizers", {"tributary.dev/topic"}}}},
                  {"spec", {{"partitions", 1}}}});
  server.cleanup();
  for (const auto& ns : {server.ns(), other, clusterScoped})
    EXPECT_TRUE(goneOrTerminating(*client, kube::resources::kNamespaces, ns)) << ns;
  try {
    Json held = client->get(kTopics, other, "held");
    EXPECT_FALSE(held["metadata"].contains("finalizers") && !held["metadata"]["finalizers"].empty())
        << "the finalizer would hold the namespace forever";
  } catch (const kube::ApiError& e) {
    EXPECT_TRUE(kube::isNotFound(e)) << e.what();
  }
}

}  // namespace
}  // namespace tributary::test
