// metadata.managedFields: every write is recorded per manager as a real API
// server records it, so that clients (and the operator's benchmark) see the
// objects a real server sends.
#include <gtest/gtest.h>

#include "tests/apiserver/api_client.h"
#include "tests/support/apiserver/timestamps.h"

namespace tributary::apiserver::test {
namespace {

class ManagedFields : public ApiServerTest {
 protected:
  Reply send(const std::string& method, const std::string& path, const Json& body, const std::string& userAgent,
             const std::string& contentType = "application/json") {
    return client->send(method, path, body.dump(), contentType, {{"User-Agent", userAgent}});
  }
  static const Json* entry(const Json& object, const std::string& manager, const std::string& subresource = "") {
    const Json& meta = object.at("metadata");
    if (!meta.contains("managedFields")) return nullptr;
    for (const auto& e : meta.at("managedFields"))
      if (e.value("manager", "") == manager && e.value("subresource", "") == subresource) return &e;
    return nullptr;
  }
  static constexpr const char* kKubectl = "kubectl-client-side-apply/v1.32.0 (linux/amd64) kubernetes/70d3cc9";
  static constexpr const char* kOperator = "tributary-operator/0.1.0";
};

TEST_F(ManagedFields, CreateRecordsTheManagerAndEveryFieldItSet) {
  Json cm = configMap("app", {{"app", "shop"}});
  cm["metadata"]["annotations"] = {{"kubectl.kubernetes.io/last-applied-configuration", "{}"}};
  cm["data"] = {{"a", "1"}, {"b", "2"}};
  const Reply r = send("POST", kConfigMaps, cm, kKubectl);
  ASSERT_EQ(r.status, 201) << r.raw;
  ASSERT_EQ(r.body["metadata"]["managedFields"].size(), 1u);
  const Json& e = r.body["metadata"]["managedFields"][0];
  EXPECT_EQ(e["manager"], "kubectl-client-side-apply");  // the User-Agent up to its first '/'
  EXPECT_EQ(e["operation"], "Update");
  EXPECT_EQ(e["apiVersion"], "v1");
  EXPECT_EQ(e["fieldsType"], "FieldsV1");
  EXPECT_TRUE(parseTimestamp(e.value("time", "")).has_value()) << e.dump();
  EXPECT_FALSE(e.contains("subresource"));
  const Json expected = Json::parse(R"({
    "f:data": {".": {}, "f:a": {}, "f:b": {}},
    "f:metadata": {
      "f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}},
      "f:labels": {".": {}, "f:app": {}}}})");
  EXPECT_EQ(e["fieldsV1"], expected);
  EXPECT_EQ(client->get(kConfigMaps + "/app").body["metadata"]["managedFields"], r.body["metadata"]["managedFields"]);
}

TEST_F(ManagedFields, AnotherManagersChangeMovesOnlyTheFieldsItChanged) {
  Json cm = configMap("app");
  cm["data"] = {{"a", "1"}, {"b", "2"}};
  ASSERT_EQ(send("POST", kConfigMaps, cm, kKubectl).status, 201);
  const Reply r = send("PATCH", kConfigMaps + "/app", {{"data", {{"a", "changed"}, {"c", "3"}}}}, kOperator,
                       "application/merge-patch+json");
  ASSERT_EQ(r.status, 200) << r.raw;
  const Json* kubectl = entry(r.body, "kubectl-client-side-apply");
  const Json* op = entry(r.body, "tributary-operator");
  ASSERT_TRUE(kubectl && op) << r.body["metadata"].dump();
  EXPECT_EQ((*kubectl)["fieldsV1"]["f:data"], Json::parse(R"({".": {}, "f:b": {}})"));
  EXPECT_EQ((*op)["fieldsV1"], Json::parse(R"({"f:data": {"f:a": {}, "f:c": {}}})"));

  // Removing a field takes it out of every entry; an entry left with nothing goes.
  const Reply removed = send("PATCH", kConfigMaps + "/app", {{"data", {{"a", nullptr}, {"c", nullptr}}}}, kKubectl,
                             "application/merge-patch+json");
  ASSERT_EQ(removed.status, 200);
  EXPECT_EQ(entry(removed.body, "tributary-operator"), nullptr) << removed.body["metadata"].dump();
}

TEST_F(ManagedFields, StatusWritesAreAnEntryOfTheirOwn) {
  installKafkaTopicCrd();
  ASSERT_EQ(send("POST", kTopics, kafkaTopic("orders", 3), "kubectl/v1.32.0").status, 201);
  const Reply r = send("PATCH", kTopics + "/orders/status", {{"status", {{"partitions", 3}}}}, kOperator,
                       "application/merge-patch+json");
  ASSERT_EQ(r.status, 200) << r.raw;
  const Json* status = entry(r.body, "tributary-operator", "status");
  ASSERT_NE(status, nullptr) << r.body["metadata"].dump();
  EXPECT_EQ((*status)["apiVersion"], "tributary.dev/v1alpha1");
  EXPECT_EQ((*status)["fieldsV1"], Json::parse(R"({"f:status": {".": {}, "f:partitions": {}}})"));
  const Json* spec = entry(r.body, "kubectl");
  ASSERT_NE(spec, nullptr);
  EXPECT_TRUE((*spec)["fieldsV1"].contains("f:spec"));
  EXPECT_FALSE((*spec)["fieldsV1"].contains("f:status"));
}

TEST_F(ManagedFields, APutWithoutManagedFieldsKeepsThemAndOneEmptyEntryResetsThem) {
  ASSERT_EQ(send("POST", kConfigMaps, configMap("app"), kKubectl).status, 201);
  // What a client whose cache dropped managedFields sends back: the server keeps them.
  Json read = client->get(kConfigMaps + "/app").body;
  read["metadata"].erase("managedFields");
  read["data"]["key"] = "new";
  const Reply put = send("PUT", kConfigMaps + "/app", read, kOperator);
  ASSERT_EQ(put.status, 200) << put.raw;
  ASSERT_NE(entry(put.body, "kubectl-client-side-apply"), nullptr) << put.body["metadata"].dump();
  EXPECT_EQ((*entry(put.body, "tributary-operator"))["fieldsV1"], Json::parse(R"({"f:data": {"f:key": {}}})"));

  Json reset = put.body;
  reset["metadata"]["managedFields"] = Json::array({Json::object()});
  reset["data"]["key"] = "newer";
  const Reply afterReset = send("PUT", kConfigMaps + "/app", reset, kOperator);
  ASSERT_EQ(afterReset.status, 200);
  ASSERT_EQ(afterReset.body["metadata"]["managedFields"].size(), 1u) << afterReset.body["metadata"].dump();
  EXPECT_EQ(afterReset.body["metadata"]["managedFields"][0]["manager"], "tributary-operator");
}

TEST_F(ManagedFields, AWriteThatChangesNothingChangesNoEntry) {
  const Reply created = send("POST", kConfigMaps, configMap("app"), kKubectl);
  ASSERT_EQ(created.status, 201);
  const Reply same = send("PUT", kConfigMaps + "/app", created.body, kOperator);
  ASSERT_EQ(same.status, 200);
  EXPECT_EQ(same.body["metadata"]["resourceVersion"], created.body["metadata"]["resourceVersion"]);
  EXPECT_EQ(same.body["metadata"]["managedFields"], created.body["metadata"]["managedFields"]);
}

TEST_F(ManagedFields, TheFieldManagerParameterNamesTheManager) {
  const Reply r = send("POST", kConfigMaps + "?fieldManager=my-controller", configMap("app"), kKubectl);
  ASSERT_EQ(r.status, 201) << r.raw;
  EXPECT_EQ(r.body["metadata"]["managedFields"][0]["manager"], "my-controller");
}

}  // namespace
}  // namespace tributary::apiserver::test
