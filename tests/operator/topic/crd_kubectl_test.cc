// What a user types: the real kubectl applies crds/ and manifests/examples/ to
// the test API server (or the real one TRIBUTARY_TEST_KUBECONFIG names), in
// the test's namespace, and reads the printer columns. Skipped, saying so,
// when kubectl is not on PATH.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "operator/app/yaml_json.h"
#include "tests/apiserver/api_client.h"
#include "tests/apiserver/command.h"
#include "tests/support/kube/api_server_under_test.h"

namespace tributary::op::topic {
namespace {

using ::testing::HasSubstr;
using namespace apiserver::test;

class KafkaTopicCrdKubectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto path = findOnPath("kubectl");
    if (!path) GTEST_SKIP() << "kubectl is not on PATH; these tests drive the real kubectl binary";
    kubectl_ = *path;
    apiServer = std::make_unique<tributary::test::ApiServerUnderTest>();
    std::string tmpl = (std::filesystem::temp_directory_path() / "tributary-kt-kubectl-XXXXXX").string();
    ASSERT_TRUE(mkdtemp(tmpl.data()));
    dir_ = tmpl;
    kubeconfig_ = tributary::test::ApiServerUnderTest::kubeconfigFromEnvironment();
    if (kubeconfig_.empty()) {
      kubeconfig_ = dir_ + "/kubeconfig";
      tributary::apiserver::test::writeKubeconfig(kubeconfig_, apiServer->connection().server);
    }
    // The examples name namespace default; kubectl -n refuses that, so they are
    // applied as they are but for the namespace (JSON documents are YAML).
    std::filesystem::create_directory(dir_ + "/examples");
    const std::string examples = std::string(TRIBUTARY_SOURCE_DIR) + "/manifests/examples";
    for (const auto& entry : std::filesystem::directory_iterator(examples)) {
      if (entry.path().extension() != ".yaml") continue;
      std::ifstream in(entry.path());
      std::stringstream text;
      text << in.rdbuf();
      std::ofstream out(dir_ + "/examples/" + entry.path().stem().string() + ".json");
      for (auto doc : op::app::yamlDocumentsToJson(text.str())) {
        if (doc.is_object() && doc.contains("metadata")) doc["metadata"].erase("namespace");
        out << doc.dump(2) << "\n";
      }
    }
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
    apiServer.reset();
  }
  CommandResult kubectl(std::vector<std::string> args) {
    args.insert(args.begin(),
                {"--kubeconfig", kubeconfig_, "--cache-dir", dir_ + "/cache", "--namespace", apiServer->ns()});
    return run(kubectl_, args, {{"HOME", dir_}, {"KUBECONFIG", kubeconfig_}});
  }

  std::unique_ptr<tributary::test::ApiServerUnderTest> apiServer;
  std::string kubectl_;
  std::string dir_;
  std::string kubeconfig_;
};

TEST_F(KafkaTopicCrdKubectlTest, ApplyCrdAndExamplesThenGet) {
  const std::string src = TRIBUTARY_SOURCE_DIR;
  auto crd = kubectl({"apply", "--validate=false", "-f", src + "/crds/"});
  ASSERT_EQ(crd.exitCode, 0) << crd.err;
  // created on a fresh server; a real cluster may have them from earlier runs
  EXPECT_THAT(crd.out, ::testing::ContainsRegex(
                           "customresourcedefinition.apiextensions.k8s.io/kafkatopics.tributary.dev "
                           "(created|configured|unchanged)"));
  auto examples = kubectl({"apply", "--validate=false", "-f", dir_ + "/examples/"});
  ASSERT_EQ(examples.exitCode, 0) << examples.err;
  EXPECT_THAT(examples.out, HasSubstr("kafkatopic.tributary.dev/orders created"));
  EXPECT_THAT(examples.out, HasSubstr("kafkatopic.tributary.dev/customer-profiles created"));

  auto get = kubectl({"get", "kt"});
  ASSERT_EQ(get.exitCode, 0) << get.err;
  EXPECT_THAT(get.out, ::testing::StartsWith("NAME"));
  EXPECT_THAT(get.out, HasSubstr("TOPIC"));
  EXPECT_THAT(get.out, HasSubstr("PARTITIONS"));
  EXPECT_THAT(get.out, HasSubstr("REPLICAS"));
  EXPECT_THAT(get.out, HasSubstr("READY"));
  EXPECT_THAT(get.out, HasSubstr("orders"));
  auto category = kubectl({"get", "tributary", "-o", "name"});
  EXPECT_THAT(category.out, HasSubstr("kafkatopic.tributary.dev/orders"));
}

TEST_F(KafkaTopicCrdKubectlTest, InvalidResourceIsRefusedNamingTheFields) {
  ASSERT_EQ(kubectl({"apply", "--validate=false", "-f", std::string(TRIBUTARY_SOURCE_DIR) + "/crds/"}).exitCode, 0);
  std::ofstream(dir_ + "/bad.yaml") << "apiVersion: tributary.dev/v1alpha1\nkind: KafkaTopic\nmetadata: {name: bad}\n"
                                       "spec: {partitions: -1, deletionPolicy: Nope, config: {retention.ms: 1000}}\n";
  auto r = kubectl({"apply", "--validate=false", "-f", dir_ + "/bad.yaml"});
  EXPECT_NE(r.exitCode, 0);
  EXPECT_THAT(r.err, HasSubstr("spec.partitions"));
  EXPECT_THAT(r.err, HasSubstr("spec.deletionPolicy"));
  EXPECT_THAT(r.err, HasSubstr("spec.config.retention.ms"));
}

}  // namespace
}  // namespace tributary::op::topic
