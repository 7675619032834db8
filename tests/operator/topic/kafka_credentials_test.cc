// Kafka credentials from mounted Secrets in the operator: clusters.*.properties
// with ${file:...} / ${env:...} references, resolved at start-up, and re-read
// when a file changes: the next admin call goes through a new client made with
// the new values (ReloadingClusterAdmin), as a rotated Secret needs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/temp_dir.h"
#include "operator/app/operator_config.h"
#include "operator/kafka/reloading_cluster_admin.h"
#include "fake_cluster_admin.h"

using namespace tributary;
using namespace tributary::op;
using testing::ElementsAre;
using testing::HasSubstr;
using testing::IsEmpty;
using testing::Not;

namespace {

using tributary::test::TempDir;

// Makes FakeClusterAdmins and remembers the properties each was made with.
struct RecordingFactory {
  std::vector<std::map<std::string, std::string>> made;
  std::vector<op::test::FakeClusterAdmin*> admins;
  bool refuse = false;
  kafka::ReloadingClusterAdmin::Factory factory() {
    return [this](const kafka::ClusterConnection& c, std::string& error) -> std::unique_ptr<kafka::ClusterAdmin> {
      if (refuse) {
        error = "refused";
        return nullptr;
      }
      made.push_back(c.properties);
      auto a = std::make_unique<op::test::FakeClusterAdmin>();
      admins.push_back(a.get());
      return a;
    };
  }
};

kafka::ClusterConnection connection(const std::map<std::string, std::string>& props) {
  kafka::ClusterConnection c;
  c.bootstrapServers = "kafka:9093";
  c.properties = props;
  return c;
}

}  // namespace

TEST(OperatorKafkaCredentials, ARotatedSecretFileReachesTheNextClient) {
  TempDir dir;
  const auto creds = dir.replace("creds.properties", "username=app\npassword=first\n");
  RecordingFactory f;
  std::string error;
  auto admin = kafka::ReloadingClusterAdmin::create(
      connection({{"sasl.username", "${file:" + creds + ":username}"}, {"sasl.password", "${file:" + creds + ":password}"},
                  {"security.protocol", "SASL_SSL"}}),
      "clusters.default.properties", f.factory(), error);
  ASSERT_TRUE(admin) << error;
  ASSERT_EQ(f.made.size(), 1u);
  EXPECT_EQ(f.made[0].at("sasl.password"), "first");
  EXPECT_EQ(f.made[0].at("security.protocol"), "SASL_SSL");
  admin->describeTopics({"orders"});
  EXPECT_EQ(f.made.size(), 1u);  // nothing changed: same client

  dir.replace("creds.properties", "username=app\npassword=second\n");
  admin->describeTopics({"orders"});
  ASSERT_EQ(f.made.size(), 2u);
  EXPECT_EQ(f.made[1].at("sasl.password"), "second");
  EXPECT_EQ(f.admins[1]->calls("describeTopics"), 1);  // the call went to the new client
  EXPECT_EQ(dynamic_cast<kafka::ReloadingClusterAdmin&>(*admin).reloads(), 1u);

  // Rewritten with the same contents: no new client.
  dir.replace("creds.properties", "username=app\npassword=second\n");
  admin->describeTopics({"orders"});
  EXPECT_EQ(f.made.size(), 2u);
}

TEST(OperatorKafkaCredentials, AChangeThatDoesNotResolveKeepsThePreviousClient) {
  TempDir dir;
  const auto pw = dir.replace("password", "first\n");
  RecordingFactory f;
  std::string error;
  auto admin = kafka::ReloadingClusterAdmin::create(connection({{"sasl.password", "${file:" + pw + "}"}}),
                                                    "clusters.default.properties", f.factory(), error);
  ASSERT_TRUE(admin) << error;
  std::filesystem::remove(pw);  // mid-rotation
  admin->describeTopics({"orders"});
  EXPECT_EQ(f.made.size(), 1u);
  EXPECT_EQ(f.admins[0]->calls("describeTopics"), 1);

  f.refuse = true;  // back, but the client refuses the new values
  dir.replace("password", "second\n");
  admin->describeTopics({"orders"});
  EXPECT_EQ(f.admins[0]->calls("describeTopics"), 2);

  f.refuse = false;
  dir.replace("password", "third\n");
  admin->describeTopics({"orders"});
  ASSERT_EQ(f.made.size(), 2u);
  EXPECT_EQ(f.made[1].at("sasl.password"), "third");
}

TEST(OperatorKafkaCredentials, WithoutFileReferencesTheClientIsUsedAsItIs) {
  RecordingFactory f;
  std::string error;
  auto admin = kafka::ReloadingClusterAdmin::create(connection({{"security.protocol", "SSL"}}),
                                                    "clusters.default.properties", f.factory(), error);
  ASSERT_TRUE(admin);
  EXPECT_EQ(admin.get(), f.admins[0]);
}

TEST(OperatorKafkaCredentials, AMissingSecretStopsTheStartNamingPropertyAndPath) {
  TempDir dir;
  RecordingFactory f;
  std::string error;
  const std::string absent = dir.path() + "/user.key";
  auto admin = kafka::ReloadingClusterAdmin::create(connection({{"ssl.key.pem", "${file:" + absent + "}"}}),
                                                    "clusters.prod.properties", f.factory(), error);
  EXPECT_FALSE(admin);
  EXPECT_THAT(error, HasSubstr("clusters.prod.properties.ssl.key.pem: ${file:" + absent + "}: cannot read " + absent +
                               ": No such file or directory"));
  EXPECT_TRUE(f.made.empty());
}

TEST(OperatorKafkaCredentials, TheConfigFileReportsUnresolvedReferencesAndKeepsThem) {
  TempDir dir;
  const auto pw = dir.replace("password", "CANARY-operator-secret\n");
  auto ok = app::parseOperatorConfig("clusters:\n  default:\n    bootstrapServers: k:9093\n    properties:\n"
                                     "      sasl.password: ${file:" + pw + "}\n");
  ASSERT_TRUE(ok.config) << (ok.errors.empty() ? "" : ok.errors[0]);
  // References stay in the config: the admin client resolves (and re-resolves) them.
  EXPECT_EQ(ok.config->clusters.at("default").properties.at("sasl.password"), "${file:" + pw + "}");

  auto bad = app::parseOperatorConfig("clusters:\n  default:\n    bootstrapServers: k:9093\n    properties:\n"
                                      "      sasl.password: ${file:" + dir.path() + "/absent}\n"
                                      "      security.protocol: ${file:" + pw + "}\n");
  EXPECT_FALSE(bad.config);
  ASSERT_EQ(bad.errors.size(), 2u);
  EXPECT_THAT(bad.errors[0], HasSubstr("clusters.default.properties.sasl.password: ${file:" + dir.path() +
                                       "/absent}: cannot read"));
  // librdkafka refuses the value and would echo it: redacted.
  EXPECT_THAT(bad.errors[1], HasSubstr("clusters.default.properties.security.protocol: "));
  for (const auto& e : bad.errors) EXPECT_THAT(e, Not(HasSubstr("CANARY")));
}
