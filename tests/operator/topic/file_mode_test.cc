// File mode (`tributary-operator apply`): in-process with the ClusterAdmin
// double (what a user reads in the plan, and what reaches Kafka), and the real
// binary as a child process (exit codes, errors naming the field, dead brokers).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "operator/app/file_mode.h"
#include "operator/app/operator_config.h"
#include "operator/app/yaml_json.h"
#include "tests/operator/topic/fake_cluster_admin.h"
#include "tests/support/subprocess.h"

namespace tributary::op::app {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

// Every factory call hands out a view of one shared double, as every run of
// the binary would see the same cluster.
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

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "tributary-apply-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    const fs::path p = fs::path(path_) / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string kafkaTopicYaml(const std::string& name, int partitions, const std::string& extra = "") {
  return "apiVersion: tributary.dev/v1alpha1\nkind: KafkaTopic\nmetadata:\n  name: " + name +
         "\nspec:\n  partitions: " + std::to_string(partitions) + "\n" + extra;
}

class FileModeTest : public ::testing::Test {
 protected:
  struct Run {
    int code;
    std::string out;
    std::string err;
  };
  Run apply(std::vector<std::string> args) {
    std::ostringstream out, err;
    AdminFactory factory = [this](const std::string& cluster, const kafka::ClusterConnection& c, std::string&) {
      factoryCalls.push_back(cluster + "=" + c.bootstrapServers);
      return std::make_unique<ForwardingAdmin>(cluster == "analytics" ? analytics : admin);
    };
    int code = runApply(args, out, err, factory);
    return {code, out.str(), err.str()};
  }
  test::FakeClusterAdmin admin;
  test::FakeClusterAdmin analytics;
  std::vector<std::string> factoryCalls;
  TempDir dir;
};

TEST_F(FileModeTest, DryRunPrintsThePlanAndChangesNothing) {
  admin.putTopic("payments", {6, 3, {{"cleanup.policy", "compact"}}});
  const auto file = dir.write("topics.yaml",
                              kafkaTopicYaml("orders", 12, "  config:\n    retention.ms: \"3600000\"\n") + "---\n" +
                                  kafkaTopicYaml("payments", 8, "  config:\n    retention.ms: \"1000\"\n"));
  auto r = apply({"-f", file, "--dry-run", "--bootstrap-servers", "kafka:9092"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("create KafkaTopic default/orders (topic orders)\n    partitions 12\n"));
  EXPECT_THAT(r.out, HasSubstr("    retention.ms: 3600000\n"));
  EXPECT_THAT(r.out, HasSubstr("addPartitions+alterConfig KafkaTopic default/payments (topic payments)\n"
                               "    partitions 6 → 8\n"
                               "    retention.ms: 604800000 (default) → 1000\n"
                               "    cleanup.policy: compact → (default)\n"));
  EXPECT_THAT(r.out, HasSubstr("Plan: 1 to create, 1 to change, 0 unchanged, 0 refused, 0 failed (dry run: nothing was changed)"));
  EXPECT_EQ(admin.mutations(), 0);
  EXPECT_FALSE(admin.topic("orders"));
  EXPECT_EQ(factoryCalls, std::vector<std::string>{"default=kafka:9092"});
}

TEST_F(FileModeTest, ApplyConvergesThenASecondApplyChangesNothing) {
  const auto file = dir.write("orders.yaml", kafkaTopicYaml("orders", 3, "  config:\n    cleanup.policy: compact\n"));
  auto r = apply({"-f", file, "--bootstrap-servers", "k:1"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("Applied: 1 created, 0 changed, 0 unchanged, 0 refused, 0 failed"));
  ASSERT_TRUE(admin.topic("orders"));
  EXPECT_EQ(admin.topic("orders")->dynamicConfigs.at("cleanup.policy"), "compact");

  const int mutations = admin.mutations();
  r = apply({"-f", file, "--bootstrap-servers", "k:1"});
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("none KafkaTopic default/orders (topic orders)\n"));
  EXPECT_THAT(r.out, HasSubstr("Applied: 0 created, 0 changed, 1 unchanged"));
  EXPECT_EQ(admin.mutations(), mutations);
}

TEST_F(FileModeTest, RefusalExitsOneAndSaysWhy) {
  admin.putTopic("orders", {12, 3, {}});
  const auto file = dir.write("orders.yaml", kafkaTopicYaml("orders", 6));
  auto r = apply({"-f", file, "--bootstrap-servers", "k:1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("rejected KafkaTopic default/orders (topic orders)\n    partitions 12 → 6\n"
                               "    PartitionDecreaseNotAllowed: the topic has 12 partitions"));
  EXPECT_EQ(admin.topic("orders")->partitions, 12);
}

TEST_F(FileModeTest, JsonOutputHasOneActionPerResource) {
  admin.putTopic("orders", {6, 3, {{"retention.ms", "604800000"}}});
  const auto file = dir.write("t.yaml", kafkaTopicYaml("orders", 8, "  config:\n    retention.ms: \"3600000\"\n"));
  auto r = apply({"-f", file, "--bootstrap-servers", "k:1", "--output", "json"});
  EXPECT_EQ(r.code, 0);
  const json j = json::parse(r.out);
  ASSERT_EQ(j["actions"].size(), 1u);
  const json& a = j["actions"][0];
  EXPECT_EQ(a["kind"], "KafkaTopic");
  EXPECT_EQ(a["namespace"], "default");
  EXPECT_EQ(a["name"], "orders");
  EXPECT_EQ(a["topic"], "orders");
  EXPECT_EQ(a["action"], "addPartitions+alterConfig");
  EXPECT_EQ(a["details"], json({"partitions 6 → 8", "retention.ms: 604800000 → 3600000"}));
  EXPECT_EQ(a["reason"], "Updated");
  EXPECT_TRUE(a["message"].is_string());
  EXPECT_EQ(j.size(), 1u);  // {"actions": [...]} and nothing else
}

TEST_F(FileModeTest, InvalidDocumentsNameFileDocumentAndFieldAndTheRestIsApplied) {
  const auto file = dir.write("mixed.yaml", kafkaTopicYaml("good", 1) + "---\n" +
                                                kafkaTopicYaml("bad", -3, "  config:\n    retention.ms: 3600000\n  deletionPolicy: Sometimes\n"));
  auto r = apply({"-f", file, "--bootstrap-servers", "k:1", "-o", "json"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr(file + ": document 2: spec.partitions: must be >= 1, got -3"));
  EXPECT_THAT(r.err, HasSubstr(file + ": document 2: spec.config.retention.ms: must be a string"));
  EXPECT_THAT(r.err, HasSubstr(file + ": document 2: spec.deletionPolicy: must be one of Retain, Delete"));
  const json j = json::parse(r.out);
  EXPECT_EQ(j["actions"][0]["action"], "create");
  EXPECT_EQ(j["actions"][1]["action"], "rejected");
  EXPECT_EQ(j["actions"][1]["reason"], "InvalidSpec");
  EXPECT_EQ(j["actions"][1]["name"], "bad");
  EXPECT_TRUE(admin.topic("good"));
  EXPECT_FALSE(admin.topic("bad"));
}

TEST_F(FileModeTest, YamlSyntaxErrorStopsEverythingBeforeKafka) {
  dir.write("a.yaml", kafkaTopicYaml("fine", 1));
  dir.write("b.yaml", "apiVersion: tributary.dev/v1alpha1\nkind: KafkaTopic\nmetadata: {name: [oops\n");
  auto r = apply({"-f", dir.path(), "--bootstrap-servers", "k:1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("b.yaml: not valid YAML"));
  EXPECT_THAT(r.err, HasSubstr("nothing was applied"));
  EXPECT_EQ(admin.totalCalls(), 0);
}

TEST_F(FileModeTest, DirectoriesAreReadInNameOrderAndOtherKindsAreSkippedWithANote) {
  dir.write("topics/b.yml", kafkaTopicYaml("second", 1));
  dir.write("topics/a.yaml", kafkaTopicYaml("first", 1) + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n");
  dir.write("topics/README.md", "not yaml: [");
  auto r = apply({"-f", dir.path() + "/topics", "--bootstrap-servers", "k:1", "-o", "json"});
  EXPECT_EQ(r.code, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_EQ(j["actions"].size(), 2u);
  EXPECT_EQ(j["actions"][0]["name"], "first");
  EXPECT_EQ(j["actions"][1]["name"], "second");
  EXPECT_THAT(r.err, HasSubstr("a.yaml: document 2: skipping v1 ConfigMap"));
}

TEST_F(FileModeTest, TwoDocumentsClaimingOneTopicTheFirstKeepsIt) {
  dir.write("a.yaml", kafkaTopicYaml("orders", 3));
  dir.write("b.yaml", kafkaTopicYaml("orders-copy", 6, "  topicName: orders\n"));
  auto r = apply({"-f", dir.path(), "--bootstrap-servers", "k:1", "-o", "json"});
  EXPECT_EQ(r.code, 1);
  const json j = json::parse(r.out);
  EXPECT_EQ(j["actions"][0]["reason"], "Created");
  EXPECT_EQ(j["actions"][1]["reason"], "TopicNameConflict");
  EXPECT_EQ(admin.topic("orders")->partitions, 3);
}

TEST_F(FileModeTest, DuplicateResourceNameIsAnError) {
  const auto file = dir.write("dup.yaml", kafkaTopicYaml("orders", 3) + "---\n" + kafkaTopicYaml("orders", 4));
  auto r = apply({"-f", file, "--bootstrap-servers", "k:1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("document 2: metadata.name: KafkaTopic default/orders is already declared in " + file + ": document 1"));
}

TEST_F(FileModeTest, ClustersComeFromTheConfigFile) {
  const auto config = dir.write("operator.yaml",
                                "clusters:\n  default: {bootstrapServers: 'main:9092'}\n"
                                "  analytics:\n    bootstrapServers: an:9092\n    properties: {client.id: tributary}\n");
  const auto file = dir.write("t.yaml", kafkaTopicYaml("clicks", 2, "  cluster: analytics\n") + "---\n" +
                                            kafkaTopicYaml("orders", 1) + "---\n" + kafkaTopicYaml("lost", 1, "  cluster: nowhere\n"));
  auto r = apply({"-f", file, "--config", config, "-o", "json"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(analytics.topic("clicks"));
  EXPECT_FALSE(admin.topic("clicks"));
  EXPECT_TRUE(admin.topic("orders"));
  const json j = json::parse(r.out);
  EXPECT_EQ(j["actions"][2]["reason"], "UnknownCluster");
  EXPECT_THAT(j["actions"][2]["message"].get<std::string>(), HasSubstr("no cluster \"nowhere\""));
  EXPECT_THAT(factoryCalls, ::testing::UnorderedElementsAre("analytics=an:9092", "default=main:9092"));
}

TEST_F(FileModeTest, BootstrapServersFlagOverridesTheDefaultCluster) {
  const auto config = dir.write("operator.yaml", "clusters:\n  default: {bootstrapServers: 'main:9092'}\n");
  const auto file = dir.write("t.yaml", kafkaTopicYaml("orders", 1));
  auto r = apply({"-f", file, "--config", config, "--bootstrap-servers", "other:9092"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(factoryCalls, std::vector<std::string>{"default=other:9092"});
}

TEST_F(FileModeTest, InvalidConfigFileIsAUsageErrorListingEveryKey) {
  const auto config = dir.write("operator.yaml",
                                "clusters:\n  default: {properties: {no.such.property: 1}}\n  other: {bootstrapServers: ''}\n"
                                "resyncPeriod: 300\nwatchNamespace: [a]\n");
  const auto file = dir.write("t.yaml", kafkaTopicYaml("orders", 1));
  auto r = apply({"-f", file, "--config", config});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("clusters.default.bootstrapServers: required"));
  EXPECT_THAT(r.err, HasSubstr("clusters.default.properties.no.such.property: "));
  EXPECT_THAT(r.err, HasSubstr("clusters.other.bootstrapServers: must not be empty"));
  EXPECT_THAT(r.err, HasSubstr("resyncPeriod: must be a positive duration"));
  EXPECT_THAT(r.err, HasSubstr("watchNamespace: unknown key"));
  EXPECT_EQ(admin.totalCalls(), 0);
}

TEST_F(FileModeTest, UsageErrorsExitTwo) {
  EXPECT_EQ(apply({}).code, 2);
  EXPECT_EQ(apply({"-f"}).code, 2);
  EXPECT_EQ(apply({"-f", "x.yaml"}).code, 2);  // no cluster
  EXPECT_EQ(apply({"-f", "x.yaml", "--bootstrap-servers", "k:1", "--output", "yaml"}).code, 2);
  EXPECT_EQ(apply({"-f", "x.yaml", "--bootstrap-servers", "k:1", "--timeout", "5"}).code, 2);
  auto r = apply({"-f", "x.yaml", "--bootstrap-servers", "k:1", "--force"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown argument --force"));
  EXPECT_THAT(r.err, HasSubstr("usage: tributary-operator apply"));
}

TEST_F(FileModeTest, ExamplesPlanAsTheReadmeShows) {
  auto r = apply({"-f", std::string(TRIBUTARY_SOURCE_DIR) + "/manifests/examples", "--dry-run", "--bootstrap-servers", "k:1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("create KafkaTopic default/customer-profiles (topic crm.customer-profiles.v1)\n"
                               "    partitions 6\n"
                               "    replicationFactor 3\n"
                               "    cleanup.policy: compact\n"
                               "    min.compaction.lag.ms: 3600000\n"
                               "create KafkaTopic default/orders (topic orders)\n"));
  EXPECT_THAT(r.out, HasSubstr("Plan: 2 to create, 0 to change, 0 unchanged, 0 refused, 0 failed (dry run: nothing was changed)"));
  EXPECT_EQ(admin.mutations(), 0);
}

TEST(YamlToJsonTest, ResolvesScalarsLikeKubectl) {
  auto docs = yamlDocumentsToJson(
      "a: 12\nb: \"12\"\nc: true\nd: 'yes'\ne: 1.5\nf: ~\ng: text\nh: [1, x]\ni: {j: -3}\nk: 0x10\nl: yes\n---\n---\nz: 1\n");
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0], json::parse(R"({"a":12,"b":"12","c":true,"d":"yes","e":1.5,"f":null,"g":"text",
                                      "h":[1,"x"],"i":{"j":-3},"k":16,"l":true})"));
  EXPECT_TRUE(docs[1].is_null());
  EXPECT_EQ(docs[2], json::parse(R"({"z":1})"));
}

// ---- the real binary

class FileModeProcessTest : public ::testing::Test {
 protected:
  struct Run {
    int code;
    std::string out;
    std::string err;
  };
  // Runs the binary with stdout in a file (Subprocess captures stderr).
  Run run(const std::vector<std::string>& args) {
    const std::string bin = tributary::test::binDir() + "/tributary-operator";
    const std::string outPath = dir.path() + "/stdout";
    std::vector<std::string> shArgs = {"-c", "exec \"$0\" \"$@\" > '" + outPath + "'", bin};
    shArgs.insert(shArgs.end(), args.begin(), args.end());
    tributary::test::Subprocess p("/bin/sh", shArgs);
    const int code = p.wait(60s);
    std::ifstream in(outPath);
    std::stringstream ss;
    ss << in.rdbuf();
    return {code, ss.str(), p.output()};
  }
  TempDir dir;
};

TEST_F(FileModeProcessTest, VersionAndHelpExitZero) {
  auto v = run({"--version"});
  EXPECT_EQ(v.code, 0);
  EXPECT_THAT(v.out, HasSubstr("tributary-operator "));
  auto h = run({"apply", "--help"});
  EXPECT_EQ(h.code, 0);
  EXPECT_THAT(h.out, HasSubstr("usage: tributary-operator apply -f PATH"));
}

TEST_F(FileModeProcessTest, UsageErrorsExitTwo) {
  auto r = run({"apply"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("no input: give -f PATH"));
  EXPECT_EQ(run({"apply", "-f", "x.yaml", "--bootstrap-servers", "k:1", "--output", "xml"}).code, 2);
  EXPECT_EQ(run({"frobnicate"}).code, 2);
  // No subcommand is controller mode: without a Kafka cluster it is a usage error too.
  auto c = run({});
  EXPECT_EQ(c.code, 2);
  EXPECT_THAT(c.err, HasSubstr("no Kafka cluster"));
}

TEST_F(FileModeProcessTest, InvalidFileExitsOneNamingTheField) {
  const auto file = dir.write("bad.yaml", kafkaTopicYaml("orders", 0, "  replicationFactor: \"3\"\n"));
  // Nothing valid to send: the brokers (none here) are never asked.
  auto r = run({"apply", "-f", file, "--bootstrap-servers", "127.0.0.1:1", "--timeout", "1s"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr(file + ": document 1: spec.partitions: must be >= 1, got 0"));
  EXPECT_THAT(r.err, HasSubstr(file + ": document 1: spec.replicationFactor: must be an integer, got string \"3\""));
  EXPECT_THAT(r.out, HasSubstr("rejected KafkaTopic default/orders"));
}

TEST_F(FileModeProcessTest, MissingFileExitsOne) {
  auto r = run({"apply", "-f", dir.path() + "/nope.yaml", "--bootstrap-servers", "127.0.0.1:1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("nope.yaml: no such file or directory"));
}

TEST_F(FileModeProcessTest, DeadBrokersExitOneWithKafkaUnavailable) {
  const auto file = dir.write("t.yaml", kafkaTopicYaml("orders", 3));
  auto r = run({"apply", "-f", file, "--bootstrap-servers", "127.0.0.1:1", "--timeout", "1s", "--output", "json"});
  EXPECT_EQ(r.code, 1) << r.err;
  const json j = json::parse(r.out);
  ASSERT_EQ(j["actions"].size(), 1u);
  EXPECT_EQ(j["actions"][0]["reason"], "KafkaUnavailable");
  EXPECT_EQ(j["actions"][0]["name"], "orders");
  EXPECT_NE(j["actions"][0]["action"], "rejected");
}

}  // namespace
}  // namespace tributary::op::app
