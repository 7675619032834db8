// The librdkafka ClusterAdmin. Against a real broker only when
// TRIBUTARY_TEST_BOOTSTRAP names one (librdkafka's mock cluster has no admin
// API); the dead-broker and configuration cases run everywhere.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <random>
#include <thread>

#include "operator/kafka/rdkafka_cluster_admin.h"

namespace tributary::op::kafka {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

// Polls until `condition` holds or `timeout` passes: topic metadata spreads
// to every broker asynchronously after a create or delete.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(200ms);
  }
  return condition();
}

TEST(RdKafkaClusterAdminOffline, DeadBrokersAreUnavailableForEveryItem) {
  std::string error;
  auto admin = RdKafkaClusterAdmin::create({"127.0.0.1:1", {}, 1s}, error);
  ASSERT_TRUE(admin) << error;
  auto described = admin->describeTopics({"a", "b"});
  ASSERT_EQ(described.size(), 2u);
  for (const auto& d : described) {
    ASSERT_TRUE(d.error);
    EXPECT_EQ(d.error->code, AdminErrorCode::Unavailable) << d.error->message;
  }
  auto created = admin->createTopics({{"a", 1, 1, {}}}, false);
  ASSERT_EQ(created.size(), 1u);
  ASSERT_TRUE(created[0].error);
  EXPECT_EQ(created[0].error->code, AdminErrorCode::Unavailable) << created[0].error->message;
}

TEST(RdKafkaClusterAdminOffline, PropertiesAreValidatedNamingTheKey) {
  auto errors = validateAdminProperties({{"no.such.thing", "1"}, {"bootstrap.servers", "x"}, {"client.id", "ok"}},
                                        "clusters.default.properties");
  EXPECT_THAT(errors, ::testing::UnorderedElementsAre(HasSubstr("clusters.default.properties.no.such.thing: "),
                                                      HasSubstr("clusters.default.properties.bootstrap.servers: may not be set")));
  std::string error;
  EXPECT_FALSE(RdKafkaClusterAdmin::create({"k:1", {{"security.protocol", "carrier-pigeon"}}, 1s}, error));
  EXPECT_THAT(error, HasSubstr("security.protocol"));
}

class RdKafkaClusterAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bootstrap = std::getenv("TRIBUTARY_TEST_BOOTSTRAP");
    if (!bootstrap || !*bootstrap)
      GTEST_SKIP() << "set TRIBUTARY_TEST_BOOTSTRAP=host:port to run against a real broker; the embedded mock cluster has no admin API";
    std::string error;
    admin = RdKafkaClusterAdmin::create({bootstrap, {}, 30s}, error);
    ASSERT_TRUE(admin) << error;
    std::random_device rd;
    prefix = "tributary-admin-test-" + std::to_string(rd()) + "-";
  }
  void TearDown() override {
    if (admin && !created.empty()) admin->deleteTopics(created);
  }
  std::string newTopic(const std::string& suffix) {
    created.push_back(prefix + suffix);
    return created.back();
  }
  std::optional<TopicDescription> describe(const std::string& topic) {
    auto r = admin->describeTopics({topic});
    if (r.size() != 1 || !r[0].description) return std::nullopt;
    return r[0].description;
  }

  std::unique_ptr<RdKafkaClusterAdmin> admin;
  std::string prefix;
  std::vector<std::string> created;
};

TEST_F(RdKafkaClusterAdminTest, CreateDescribeAddPartitionsAlterResetDelete) {
  const std::string t = newTopic("lifecycle");
  auto c = admin->createTopics({{t, 2, 1, {{"retention.ms", "3600000"}}}}, false);
  ASSERT_EQ(c.size(), 1u);
  ASSERT_TRUE(c[0].ok()) << c[0].error->message;
  ASSERT_TRUE(eventually([&] { return describe(t).has_value(); }));
  auto d = *describe(t);
  EXPECT_EQ(d.partitions, 2);
  EXPECT_EQ(d.replicationFactor, 1);
  EXPECT_EQ(d.dynamicConfigs, (std::map<std::string, std::string>{{"retention.ms", "3600000"}}));
  EXPECT_TRUE(d.effectiveConfigs.count("cleanup.policy"));

  auto p = admin->createPartitions({{t, 4}}, false);
  ASSERT_TRUE(p[0].ok()) << p[0].error->message;
  EXPECT_TRUE(eventually([&] { auto x = describe(t); return x && x->partitions == 4; }));

  // Whole-set replace: retention.ms goes back to the default, cleanup.policy is set.
  auto a = admin->alterConfigs({{t, {{"cleanup.policy", "compact"}}}}, false);
  ASSERT_TRUE(a[0].ok()) << a[0].error->message;
  EXPECT_TRUE(eventually([&] {
    auto x = describe(t);
    return x && x->dynamicConfigs == std::map<std::string, std::string>{{"cleanup.policy", "compact"}};
  }));
  auto reset = admin->alterConfigs({{t, {}}}, false);
  ASSERT_TRUE(reset[0].ok()) << reset[0].error->message;
  EXPECT_TRUE(eventually([&] { auto x = describe(t); return x && x->dynamicConfigs.empty(); }));

  auto del = admin->deleteTopics({t});
  ASSERT_TRUE(del[0].ok()) << del[0].error->message;
  EXPECT_TRUE(eventually([&] {
    auto r = admin->describeTopics({t});
    return r[0].error && r[0].error->code == AdminErrorCode::TopicNotFound;
  }));
}

TEST_F(RdKafkaClusterAdminTest, ErrorsArePerItem) {
  const std::string t = newTopic("errors");
  ASSERT_TRUE(admin->createTopics({{t, 3, 1, {}}}, false)[0].ok());
  ASSERT_TRUE(eventually([&] { return describe(t).has_value(); }));
  const std::string ok = newTopic("ok");
  auto c = admin->createTopics({{t, 3, 1, {}}, {ok, 1, 1, {}}, {newTopic("badcfg"), 1, 1, {{"retention.ms", "soon"}}}}, false);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].error->code, AdminErrorCode::TopicAlreadyExists);
  EXPECT_TRUE(c[1].ok());
  EXPECT_EQ(c[2].error->code, AdminErrorCode::InvalidConfig);
  auto p = admin->createPartitions({{t, 2}}, false);
  EXPECT_EQ(p[0].error->code, AdminErrorCode::InvalidPartitions);
  auto a = admin->alterConfigs({{t, {{"no.such.config", "1"}}}}, false);
  EXPECT_EQ(a[0].error->code, AdminErrorCode::InvalidConfig);
  auto missing = admin->describeTopics({prefix + "missing"});
  EXPECT_EQ(missing[0].error->code, AdminErrorCode::TopicNotFound);
}

TEST_F(RdKafkaClusterAdminTest, ValidateOnlyChangesNothing) {
  const std::string t = newTopic("validate");
  ASSERT_TRUE(admin->createTopics({{t, 1, 1, {}}}, true)[0].ok());
  auto r = admin->describeTopics({t});
  EXPECT_EQ(r[0].error->code, AdminErrorCode::TopicNotFound);
}

}  // namespace
}  // namespace tributary::op::kafka
