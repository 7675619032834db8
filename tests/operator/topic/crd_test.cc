// crds/kafkatopic.yaml in the test API server: the examples are accepted with
// their defaults, bad resources are 422 naming the field, printer columns show.
// The same examples also pass the operator's own spec validation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "operator/app/yaml_json.h"
#include "operator/topic/kafka_topic.h"
#include "tests/apiserver/api_client.h"
#include "tests/support/kube/api_server_under_test.h"

namespace tributary::op::topic {
namespace {

using tributary::test::RestClient;
using nlohmann::json;

std::string readSource(const std::string& relative) {
  std::ifstream in(std::string(TRIBUTARY_SOURCE_DIR) + "/" + relative);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json exampleTopic(const std::string& file) {
  auto docs = app::yamlDocumentsToJson(readSource("manifests/examples/" + file));
  docs.at(0)["metadata"].erase("namespace");  // the test's namespace (the URL's) instead of default
  return docs.at(0);
}

class KafkaTopicCrdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Read before the server starts: a broken file fails here, alone.
    ASSERT_FALSE(app::yamlDocumentsToJson(readSource("crds/kafkatopic.yaml")).empty());
    apiServer = std::make_unique<tributary::test::ApiServerUnderTest>();
    kTopics = "/apis/tributary.dev/v1alpha1/namespaces/" + apiServer->ns() + "/kafkatopics";
    client = apiServer->newRestClient();
    apiServer->installCrds({"kafkatopic.yaml"});
  }
  // The fields of a 422's causes.
  std::set<std::string> rejectedFields(const json& body) {
    auto r = client->post(kTopics, body);
    EXPECT_EQ(r.status, 422) << r.raw;
    std::set<std::string> fields;
    for (const auto& c : r.body["details"]["causes"]) fields.insert(c["field"].get<std::string>());
    return fields;
  }
  json withSpec(const json& spec) {
    return {{"apiVersion", "tributary.dev/v1alpha1"}, {"kind", "KafkaTopic"}, {"metadata", {{"name", "t"}}}, {"spec", spec}};
  }
  std::unique_ptr<tributary::test::ApiServerUnderTest> apiServer;  // the test server or TRIBUTARY_TEST_KUBECONFIG's
  std::string kTopics;                                            // in the test's namespace
  std::unique_ptr<RestClient> client;
};

TEST_F(KafkaTopicCrdTest, ExamplesAreAcceptedWithDefaults) {
  auto orders = client->post(kTopics, exampleTopic("orders-topic.yaml"));
  ASSERT_EQ(orders.status, 201) << orders.raw;
  EXPECT_EQ(orders.body["spec"]["deletionPolicy"], "Retain");
  EXPECT_EQ(orders.body["spec"]["cluster"], "default");
  EXPECT_EQ(orders.body["spec"]["partitions"], 12);
  EXPECT_EQ(orders.body["spec"]["config"]["retention.ms"], "604800000");
  auto profiles = client->post(kTopics, exampleTopic("customer-profiles-topic.yaml"));
  ASSERT_EQ(profiles.status, 201) << profiles.raw;
  EXPECT_EQ(profiles.body["spec"]["deletionPolicy"], "Delete");
  EXPECT_EQ(profiles.body["spec"]["replicationFactor"], 3);

  // What the server stored (defaults included) passes the operator's validation too.
  for (const auto& stored : {orders.body, profiles.body}) {
    auto parsed = parseKafkaTopic(stored);
    EXPECT_TRUE(parsed.topic) << ::testing::PrintToString(parsed.errors);
  }
}

TEST_F(KafkaTopicCrdTest, ReplicationFactorDefaultsToTheBrokerDefault) {
  auto r = client->post(kTopics, withSpec({{"partitions", 3}}));
  ASSERT_EQ(r.status, 201) << r.raw;
  EXPECT_EQ(r.body["spec"]["replicationFactor"], -1);
}

TEST_F(KafkaTopicCrdTest, NegativePartitionsAreRejected) {
  EXPECT_EQ(rejectedFields(withSpec({{"partitions", -3}})), std::set<std::string>{"spec.partitions"});
}

TEST_F(KafkaTopicCrdTest, MissingPartitionsAreRejected) {
  EXPECT_EQ(rejectedFields(withSpec({{"replicationFactor", 3}})), std::set<std::string>{"spec.partitions"});
}

TEST_F(KafkaTopicCrdTest, WrongTypesAreRejected) {
  EXPECT_EQ(rejectedFields(withSpec({{"partitions", "6"}, {"config", {{"retention.ms", 3600000}}}})),
            (std::set<std::string>{"spec.partitions", "spec.config.retention.ms"}));
}

TEST_F(KafkaTopicCrdTest, UnknownDeletionPolicyIsRejected) {
  EXPECT_EQ(rejectedFields(withSpec({{"partitions", 1}, {"deletionPolicy", "Destroy"}})),
            std::set<std::string>{"spec.deletionPolicy"});
}

TEST_F(KafkaTopicCrdTest, ReplicationFactorBelowMinusOneAndBadTopicNamesAreRejected) {
  EXPECT_EQ(rejectedFields(withSpec({{"partitions", 1}, {"replicationFactor", -2}, {"topicName", "no spaces"}})),
            (std::set<std::string>{"spec.replicationFactor", "spec.topicName"}));
}

TEST_F(KafkaTopicCrdTest, PrinterColumnsShowTopicPartitionsReplicasReady) {
  ASSERT_EQ(client->post(kTopics, exampleTopic("orders-topic.yaml")).status, 201);
  auto r = client->get(kTopics, {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io"}});
  ASSERT_EQ(r.status, 200) << r.raw;
  std::vector<std::string> columns;
  for (const auto& c : r.body["columnDefinitions"]) columns.push_back(c["name"].get<std::string>());
  EXPECT_THAT(columns, ::testing::ElementsAre("Name", "Topic", "Partitions", "Replicas", "Ready", "Reason", "Age"));
}

TEST_F(KafkaTopicCrdTest, ShortNameAndCategoryAreDiscoverable) {
  auto r = client->get("/apis/tributary.dev/v1alpha1");
  ASSERT_EQ(r.status, 200) << r.raw;
  bool found = false;
  for (const auto& res : r.body["resources"]) {
    if (res["name"] != "kafkatopics") continue;
    found = true;
    EXPECT_EQ(res["shortNames"], json({"kt"}));
    EXPECT_EQ(res["categories"], json({"tributary"}));
    EXPECT_EQ(res["namespaced"], true);
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace tributary::op::topic
