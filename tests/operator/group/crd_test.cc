// crds/kafkaconsumergroup.yaml in the test API server: the example is accepted
// with its defaults and passes the operator's own validation, bad resources are
// 422 naming the field, printer columns and the short name show.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "operator/app/yaml_json.h"
#include "operator/group/kafka_consumer_group.h"
#include "tests/apiserver/api_client.h"
#include "tests/support/kube/api_server_under_test.h"

namespace tributary::op::group {
namespace {

using tributary::test::RestClient;
using nlohmann::json;

std::string readSource(const std::string& relative) {
  std::ifstream in(std::string(TRIBUTARY_SOURCE_DIR) + "/" + relative);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class KafkaConsumerGroupCrdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    apiServer = std::make_unique<tributary::test::ApiServerUnderTest>();
    kGroups = "/apis/tributary.dev/v1alpha1/namespaces/" + apiServer->ns() + "/kafkaconsumergroups";
    client = apiServer->newRestClient();
    apiServer->installCrds({"kafkaconsumergroup.yaml"});
  }
  std::set<std::string> rejectedFields(const json& body) {
    auto r = client->post(kGroups, body);
    EXPECT_EQ(r.status, 422) << r.raw;
    std::set<std::string> fields;
    for (const auto& c : r.body["details"]["causes"]) fields.insert(c["field"].get<std::string>());
    return fields;
  }
  json withSpec(const json& spec) {
    return {{"apiVersion", "tributary.dev/v1alpha1"}, {"kind", "KafkaConsumerGroup"}, {"metadata", {{"name", "g"}}},
            {"spec", spec}};
  }
  std::unique_ptr<tributary::test::ApiServerUnderTest> apiServer;  // the test server or TRIBUTARY_TEST_KUBECONFIG's
  std::string kGroups;                                            // in the test's namespace
  std::unique_ptr<RestClient> client;
};

TEST_F(KafkaConsumerGroupCrdTest, ExampleIsAcceptedWithDefaultsAndPassesTheOperatorsValidation) {
  auto doc = app::yamlDocumentsToJson(readSource("manifests/examples/orders-consumers-group.yaml")).at(0);
  doc["metadata"].erase("namespace");  // the test's namespace (the URL's) instead of default
  auto r = client->post(kGroups, doc);
  ASSERT_EQ(r.status, 201) << r.raw;
  EXPECT_EQ(r.body["spec"]["deletionPolicy"], "Retain");
  EXPECT_EQ(r.body["spec"]["cluster"], "default");
  auto parsed = parseKafkaConsumerGroup(r.body);
  ASSERT_TRUE(parsed.group) << ::testing::PrintToString(parsed.errors);
  EXPECT_EQ(parsed.group->spec.groupId, "orders-service");
}

TEST_F(KafkaConsumerGroupCrdTest, ScaleTargetDefaults) {
  auto r = client->post(kGroups, withSpec({{"scaleTarget", {{"kind", "Deployment"}, {"name", "d"}, {"maxReplicas", 6},
                                                            {"lagPerReplica", 100}}}}));
  ASSERT_EQ(r.status, 201) << r.raw;
  const json& s = r.body["spec"]["scaleTarget"];
  EXPECT_EQ(s["apiVersion"], "apps/v1");
  EXPECT_EQ(s["minReplicas"], 1);
  EXPECT_EQ(s["activationLag"], 0);
  EXPECT_EQ(s["limitToPartitionsWithLag"], false);
  EXPECT_EQ(s["scaleDownStabilizationSeconds"], 300);
}

TEST_F(KafkaConsumerGroupCrdTest, BadOffsetResetIsRejectedNamingTheFields) {
  EXPECT_EQ(rejectedFields(withSpec({{"offsetReset", {{"to", "yesterday"}, {"shiftBy", "ten"}}}})),
            (std::set<std::string>{"spec.offsetReset.requestId", "spec.offsetReset.to", "spec.offsetReset.shiftBy"}));
  EXPECT_EQ(rejectedFields(withSpec({{"offsetReset", {{"requestId", "r"}, {"to", "offsets"},
                                                      {"offsets", {{{"topic", "t"}, {"partition", -1}, {"offset", -2}}}}}}})),
            (std::set<std::string>{"spec.offsetReset.offsets[0].partition", "spec.offsetReset.offsets[0].offset"}));
}

TEST_F(KafkaConsumerGroupCrdTest, BadScaleTargetAndTopicsAreRejected) {
  EXPECT_EQ(rejectedFields(withSpec({{"topics", {"no spaces"}},
                                     {"deletionPolicy", "Destroy"},
                                     {"scaleTarget", {{"kind", "Deployment"}, {"minReplicas", -1}, {"maxReplicas", 0},
                                                      {"lagPerReplica", 0}}}})),
            (std::set<std::string>{"spec.topics[0]", "spec.deletionPolicy", "spec.scaleTarget.name",
                                   "spec.scaleTarget.minReplicas", "spec.scaleTarget.maxReplicas",
                                   "spec.scaleTarget.lagPerReplica"}));
}

TEST_F(KafkaConsumerGroupCrdTest, PrinterColumnsAndShortName) {
  ASSERT_EQ(client->post(kGroups, withSpec(json::object())).status, 201);
  auto r = client->get(kGroups, {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io"}});
  ASSERT_EQ(r.status, 200) << r.raw;
  std::vector<std::string> columns;
  for (const auto& c : r.body["columnDefinitions"]) columns.push_back(c["name"].get<std::string>());
  EXPECT_THAT(columns, ::testing::ElementsAre("Name", "Group", "State", "Members", "Lag", "Ready", "Lag Seconds",
                                              "Reason", "Age"));
  auto d = client->get("/apis/tributary.dev/v1alpha1");
  bool found = false;
  for (const auto& res : d.body["resources"]) {
    if (res["name"] != "kafkaconsumergroups") continue;
    found = true;
    EXPECT_EQ(res["shortNames"], json({"kcg"}));
    EXPECT_EQ(res["categories"], json({"tributary"}));
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace tributary::op::group
