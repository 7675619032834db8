// What a user types: the real kubectl applies crds/ and manifests/examples/ to
// the test API server and reads the printer columns. Skipped, saying so, when
// kubectl is not on PATH.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "tests/apiserver/api_client.h"
#include "tests/apiserver/command.h"

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
    server.start();
    std::string tmpl = (std::filesystem::temp_directory_path() / "tributary-kt-kubectl-XXXXXX").string();
    ASSERT_TRUE(mkdtemp(tmpl.data()));
    dir_ = tmpl;
    std::ofstream(dir_ + "/kubeconfig") << "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: "
                                        << server.url()
                                        << "\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n"
                                           "    namespace: default\ncurrent-context: test\nusers:\n- name: test\n  user: {}\n";
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  CommandResult kubectl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--kubeconfig", dir_ + "/kubeconfig", "--cache-dir", dir_ + "/cache"});
    return run(kubectl_, args, {{"HOME", dir_}, {"KUBECONFIG", dir_ + "/kubeconfig"}});
  }

  apiserver::TestApiServer server;
  std::string kubectl_;
  std::string dir_;
};

TEST_F(KafkaTopicCrdKubectlTest, ApplyCrdAndExamplesThenGet) {
  const std::string src = TRIBUTARY_SOURCE_DIR;
  auto crd = kubectl({"apply", "--validate=false", "-f", src + "/crds/"});
  ASSERT_EQ(crd.exitCode, 0) << crd.err;
  EXPECT_THAT(crd.out, HasSubstr("customresourcedefinition.apiextensions.k8s.io/kafkatopics.tributary.dev created"));
  auto examples = kubectl({"apply", "--validate=false", "-f", src + "/manifests/examples/"});
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
