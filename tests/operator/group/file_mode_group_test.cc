// `tributary-operator apply -f` with KafkaConsumerGroup documents, in-process
// over the ClusterAdmin double: --dry-run prints the reset plan per partition
// (before → after) and commits nothing; apply commits it; a group with members
// is not touched; groups without a reset are observed (state, lag).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "operator/app/file_mode.h"
#include "operator/app/operator_config.h"
#include "tests/operator/topic/fake_cluster_admin.h"

namespace tributary::op::app {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class ForwardingAdmin final : public kafka::ClusterAdmin {
 public:
  explicit ForwardingAdmin(kafka::ClusterAdmin& target) : t_(target) {}
  std::vector<kafka::DescribeResult> describeTopics(const std::vector<std::string>& n) override { return t_.describeTopics(n); }
  std::vector<kafka::ItemResult> createTopics(const std::vector<kafka::NewTopic>& t, bool v) override { return t_.createTopics(t, v); }
  std::vector<kafka::ItemResult> createPartitions(const std::vector<kafka::PartitionIncrease>& p, bool v) override {
    return t_.createPartitions(p, v);
  }
  std::vector<kafka::ItemResult> alterConfigs(const std::vector<kafka::TopicConfigs>& c, bool v) override { return t_.alterConfigs(c, v); }
  std::vector<kafka::ItemResult> deleteTopics(const std::vector<std::string>& n) override { return t_.deleteTopics(n); }
  std::vector<kafka::GroupDescribeResult> describeGroups(const std::vector<std::string>& g) override { return t_.describeGroups(g); }
  std::vector<kafka::GroupOffsets> listGroupOffsets(const std::vector<std::string>& g,
      const kafka::GroupPartitions& only = {}) override { return t_.listGroupOffsets(g, only); }
  std::vector<kafka::GroupOffsets> alterGroupOffsets(const std::vector<kafka::GroupOffsets>& c) override {
    return t_.alterGroupOffsets(c);
  }
  std::vector<kafka::GroupResult> deleteGroups(const std::vector<std::string>& g) override { return t_.deleteGroups(g); }
  std::vector<kafka::PartitionOffset> listOffsets(const std::vector<kafka::OffsetQuery>& q) override { return t_.listOffsets(q); }

 private:
  kafka::ClusterAdmin& t_;
};

class GroupFileModeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tributary-kcg-apply-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    admin.putTopic("orders", {2, 3, {}});
    admin.produce("orders", 0, 120, 1'000);
    admin.produce("orders", 1, 80, 1'000);
    admin.commit("orders-service", "orders", 0, 100);
    admin.commit("orders-service", "orders", 1, 80);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& text) {
    const std::string p = dir_ + "/groups.yaml";
    std::ofstream(p) << text;
    return p;
  }
  struct Run {
    int code;
    std::string out, err;
  };
  Run apply(std::vector<std::string> args) {
    std::ostringstream out, err;
    AdminFactory factory = [this](const std::string&, const kafka::ClusterConnection&, std::string&) {
      return std::make_unique<ForwardingAdmin>(admin);
    };
    args.insert(args.end(), {"--bootstrap-servers", "k:1"});
    int code = runApply(args, out, err, factory);
    return {code, out.str(), err.str()};
  }
  static std::string groupYaml(const std::string& extra) {
    return "apiVersion: tributary.dev/v1alpha1\nkind: KafkaConsumerGroup\nmetadata: {name: orders-consumers}\n"
           "spec:\n  groupId: orders-service\n" + extra;
  }
  test::FakeClusterAdmin admin;
  std::string dir_;
};

TEST_F(GroupFileModeTest, DryRunPrintsTheResetPlanPerPartitionAndCommitsNothing) {
  auto file = write(groupYaml("  offsetReset: {requestId: r1, to: earliest}\n"));
  auto r = apply({"-f", file, "--dry-run"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("resetOffsets KafkaConsumerGroup default/orders-consumers (group orders-service)\n"
                               "    orders-0: 100 → 0\n"
                               "    orders-1: 80 → 0\n"));
  EXPECT_THAT(r.out, HasSubstr("Groups: 1 to reset, 0 observed, 0 refused, 0 failed"));
  EXPECT_EQ(admin.committed("orders-service").at({"orders", 0}), 100);
  EXPECT_EQ(admin.calls("alterGroupOffsets"), 0);
}

TEST_F(GroupFileModeTest, ApplyCommitsTheReset) {
  auto file = write(groupYaml("  offsetReset: {requestId: r1, to: shift, shiftBy: -30}\n"));
  auto r = apply({"-f", file});
  EXPECT_EQ(r.code, 0) << r.err << r.out;
  EXPECT_THAT(r.out, HasSubstr("    orders-0: 100 → 70\n    orders-1: 80 → 50\n"));
  EXPECT_THAT(r.out, HasSubstr("Groups: 1 reset, 0 observed"));
  EXPECT_EQ(admin.committed("orders-service").at({"orders", 0}), 70);
}

TEST_F(GroupFileModeTest, AGroupWithMembersIsNotResetAndExitsOne) {
  admin.join("orders-service", {"m-1", "orders-7f9c", "/10.1.2.3", {{"orders", 0}}});
  auto file = write(groupYaml("  offsetReset: {requestId: r1, to: latest}\n"));
  auto r = apply({"-f", file});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("GroupNotEmpty: group orders-service has 1 active member(s)"));
  EXPECT_EQ(admin.committed("orders-service").at({"orders", 0}), 100);
}

TEST_F(GroupFileModeTest, OutOfRangeOffsetsAreRefusedWithTheRange) {
  auto file = write(groupYaml("  offsetReset:\n    requestId: r1\n    to: offsets\n"
                              "    offsets: [{topic: orders, partition: 1, offset: 500}]\n"));
  auto r = apply({"-f", file, "--output", "json"});
  EXPECT_EQ(r.code, 1);
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["actions"].size(), 1u);
  EXPECT_EQ(j["actions"][0]["action"], "rejected");
  EXPECT_EQ(j["actions"][0]["reason"], "OffsetOutOfRange");
  EXPECT_THAT(j["actions"][0]["message"].get<std::string>(), HasSubstr("orders-1: offset 500 is out of range [0, 80]"));
}

TEST_F(GroupFileModeTest, WithoutAResetTheGroupIsObserved) {
  auto file = write(groupYaml("  topics: [orders]\n"));
  auto r = apply({"-f", file});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("observe KafkaConsumerGroup default/orders-consumers (group orders-service)\n"
                               "    state Empty, 0 member(s), lag 20\n"
                               "    orders-0: committed 100, log end 120, lag 20\n"));
}

TEST_F(GroupFileModeTest, AnInvalidGroupIsReportedNamingTheFieldAndOthersGoAhead) {
  auto file = write(groupYaml("  offsetReset: {requestId: r1, to: timestamp}\n") +
                    "---\napiVersion: tributary.dev/v1alpha1\nkind: KafkaConsumerGroup\nmetadata: {name: other}\n");
  auto r = apply({"-f", file});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("groups.yaml: document 1: spec.offsetReset.timestamp: required when to is timestamp"));
  EXPECT_THAT(r.out, HasSubstr("observe KafkaConsumerGroup default/other (group other)"));
}

TEST(OperatorConfigConsumerGroups, DefaultsAndValues) {
  auto defaults = parseOperatorConfig("clusters: {default: {bootstrapServers: k:1}}\n");
  ASSERT_TRUE(defaults.config) << ::testing::PrintToString(defaults.errors);
  EXPECT_EQ(defaults.config->consumerGroups.lagInterval, std::chrono::seconds(30));
  EXPECT_EQ(defaults.config->consumerGroups.statusInterval, std::chrono::minutes(5));
  EXPECT_DOUBLE_EQ(defaults.config->consumerGroups.lagChangeFraction, 0.1);
  EXPECT_FALSE(defaults.config->consumerGroups.partitionLagMetrics);
  auto set = parseOperatorConfig(
      "consumerGroups: {lagInterval: 10s, statusInterval: 1m, lagChangeFraction: 0.25, partitionLagMetrics: true}\n");
  ASSERT_TRUE(set.config) << ::testing::PrintToString(set.errors);
  EXPECT_EQ(set.config->consumerGroups.lagInterval, std::chrono::seconds(10));
  EXPECT_EQ(set.config->consumerGroups.statusInterval, std::chrono::minutes(1));
  EXPECT_DOUBLE_EQ(set.config->consumerGroups.lagChangeFraction, 0.25);
  EXPECT_TRUE(set.config->consumerGroups.partitionLagMetrics);
}

TEST(OperatorConfigConsumerGroups, BadValuesAreNamed) {
  auto r = parseOperatorConfig(
      "consumerGroups: {lagInterval: 10ms, statusInterval: soon, lagChangeFraction: 2, lag: 1, partitionLagMetrics: yes}\n");
  EXPECT_FALSE(r.config);
  EXPECT_THAT(r.errors, ::testing::UnorderedElementsAre(HasSubstr("consumerGroups.lagInterval: must be a duration of at least 1s"),
                                                        HasSubstr("consumerGroups.statusInterval: must be a duration"),
                                                        HasSubstr("consumerGroups.lagChangeFraction: must be a number from 0 to 1"),
                                                        HasSubstr("consumerGroups.lag: unknown key"),
                                                        HasSubstr("consumerGroups.partitionLagMetrics: must be true or false")));
}

}  // namespace
}  // namespace tributary::op::app
