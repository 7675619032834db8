// Kubeconfig and in-cluster configuration from files in a temp dir: the
// good shapes, and every malformed case naming the key and the file. Also the
// pure parts of the client: resource paths and error kinds.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/codec/base64.h"
#include "operator/kube/api_error.h"
#include "operator/kube/kube_client.h"
#include "operator/kube/kube_config.h"

namespace tributary::op::kube {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "kube-config-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string write(const std::string& name, const std::string& content) const {
    fs::path p = fs::path(path_) / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
    return p.string();
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string kubeconfig(const std::string& cluster, const std::string& user, const std::string& contextExtra = "") {
  return "apiVersion: v1\nkind: Config\ncurrent-context: dev\n"
         "contexts:\n- name: other\n  context: {cluster: nope, user: nope}\n"
         "- name: dev\n  context:\n    cluster: c1\n    user: u1\n" +
         contextExtra +
         "clusters:\n- name: c1\n  cluster:\n" + cluster +
         "users:\n- name: u1\n  user:\n" + user;
}

// The problems of a config that must not load.
std::vector<std::string> problemsOf(const std::string& path) {
  try {
    loadKubeconfig(path);
  } catch (const KubeConfigError& e) {
    return e.problems();
  }
  ADD_FAILURE() << "loaded without error";
  return {};
}

TEST(KubeconfigTest, CurrentContextWithDataFields) {
  TempDir dir;
  std::string path = dir.write(
      "config", kubeconfig("    server: https://10.0.0.1:6443\n    certificate-authority-data: " +
                               base64Encode("CA PEM") + "\n",
                           "    client-certificate-data: " + base64Encode("CERT PEM") +
                               "\n    client-key-data: " + base64Encode("KEY PEM") + "\n",
                           "    namespace: team-a\n"));
  ClusterConnection c = loadKubeconfig(path);
  EXPECT_EQ(c.server, "https://10.0.0.1:6443");
  EXPECT_EQ(c.caData, "CA PEM");
  EXPECT_EQ(c.clientCertData, "CERT PEM");
  EXPECT_EQ(c.clientKeyData, "KEY PEM");
  EXPECT_EQ(c.defaultNamespace, "team-a");
  EXPECT_FALSE(c.insecureSkipTlsVerify);
  EXPECT_THAT(c.source, HasSubstr("context dev"));
}

TEST(KubeconfigTest, RelativeFilesResolveAgainstTheKubeconfigsDirectory) {
  TempDir dir;
  dir.write("pki/ca.crt", "ca");
  dir.write("pki/client.crt", "cert");
  dir.write("pki/client.key", "key");
  dir.write("token", "abc\n");
  std::string path = dir.write(
      "sub/../config",
      kubeconfig("    server: https://k8s.example:443\n    certificate-authority: pki/ca.crt\n",
                 "    client-certificate: pki/client.crt\n    client-key: " + dir.path() +
                     "/pki/client.key\n    tokenFile: token\n"));
  ClusterConnection c = loadKubeconfig(path);
  EXPECT_EQ(fs::path(c.caFile), fs::path(dir.path()) / "sub/../pki/ca.crt");
  EXPECT_TRUE(fs::exists(c.caFile));
  EXPECT_TRUE(fs::exists(c.clientCertFile));
  EXPECT_EQ(c.clientKeyFile, dir.path() + "/pki/client.key");
  EXPECT_TRUE(fs::exists(c.tokenFile));
  EXPECT_EQ(c.defaultNamespace, "default");
}

TEST(KubeconfigTest, TokenAndInsecure) {
  TempDir dir;
  std::string path = dir.write(
      "config", kubeconfig("    server: https://127.0.0.1:6443\n    insecure-skip-tls-verify: true\n",
                           "    token: s3cr3t\n"));
  ClusterConnection c = loadKubeconfig(path);
  EXPECT_TRUE(c.insecureSkipTlsVerify);
  EXPECT_EQ(c.token, "s3cr3t");
}

struct BadCase {
  const char* name;
  std::string content;
  const char* key;
};

TEST(KubeconfigTest, EveryMalformedCaseNamesTheKeyAndTheFile) {
  const std::string okServer = "    server: https://127.0.0.1:6443\n";
  std::vector<BadCase> cases = {
      {"no current-context", "apiVersion: v1\nkind: Config\nclusters: []\n", "current-context"},
      {"unknown context", "current-context: ghost\ncontexts: []\n", "contexts"},
      {"context without cluster",
       "current-context: dev\ncontexts:\n- name: dev\n  context: {user: u1}\nusers:\n- name: u1\n  user: {}\n",
       "contexts[dev].context.cluster"},
      {"unknown cluster",
       "current-context: dev\ncontexts:\n- name: dev\n  context: {cluster: c9, user: u1}\nclusters: []\n"
       "users:\n- name: u1\n  user: {}\n",
       "clusters"},
      {"missing server", kubeconfig("    insecure-skip-tls-verify: false\n", "    token: x\n"),
       "clusters[c1].cluster.server"},
      {"server not a URL", kubeconfig("    server: 10.0.0.1:6443\n", "    token: x\n"), "clusters[c1].cluster.server"},
      {"bad base64 CA", kubeconfig(okServer + "    certificate-authority-data: '%%%'\n", "    token: x\n"),
       "clusters[c1].cluster.certificate-authority-data"},
      {"missing CA file", kubeconfig(okServer + "    certificate-authority: missing.crt\n", "    token: x\n"),
       "clusters[c1].cluster.certificate-authority"},
      {"insecure not a bool", kubeconfig(okServer + "    insecure-skip-tls-verify: perhaps\n", "    token: x\n"),
       "clusters[c1].cluster.insecure-skip-tls-verify"},
      {"cert without key", kubeconfig(okServer, "    client-certificate-data: " + base64Encode("c") + "\n"),
       "users[u1].user.client-key"},
      {"bad base64 key",
       kubeconfig(okServer, "    client-certificate-data: " + base64Encode("c") + "\n    client-key-data: '***'\n"),
       "users[u1].user.client-key-data"},
      {"missing token file", kubeconfig(okServer, "    tokenFile: nowhere\n"), "users[u1].user.tokenFile"},
      {"exec plugin", kubeconfig(okServer, "    exec: {command: aws}\n"), "users[u1].user.exec"},
      {"token not a string", kubeconfig(okServer, "    token: [a, b]\n"), "users[u1].user.token"},
  };
  for (const auto& c : cases) {
    TempDir dir;
    std::string path = dir.write("config", c.content);
    auto problems = problemsOf(path);
    ASSERT_FALSE(problems.empty()) << c.name;
    EXPECT_THAT(problems, ::testing::Contains(AllOf(HasSubstr(path), HasSubstr(c.key)))) << c.name;
  }
}

TEST(KubeconfigTest, SeveralProblemsAreReportedTogether) {
  TempDir dir;
  std::string path = dir.write("config", kubeconfig("    certificate-authority-data: '%%%'\n",
                                                    "    client-key-data: " + base64Encode("k") + "\n"));
  auto problems = problemsOf(path);
  EXPECT_EQ(problems.size(), 3u) << ::testing::PrintToString(problems);
}

TEST(KubeconfigTest, UnreadableOrNotYaml) {
  TempDir dir;
  EXPECT_THAT(problemsOf(dir.path() + "/absent"), ::testing::ElementsAre(HasSubstr("cannot read")));
  std::string notYaml = dir.write("config", "clusters: [unclosed\n");
  EXPECT_THAT(problemsOf(notYaml), ::testing::ElementsAre(AllOf(HasSubstr(notYaml), HasSubstr("not valid YAML"))));
  std::string scalar = dir.write("scalar", "just a string\n");
  EXPECT_THAT(problemsOf(scalar), ::testing::ElementsAre(HasSubstr("not a kubeconfig")));
}

TEST(InClusterTest, ServiceAccountFiles) {
  TempDir dir;
  dir.write("token", "tok\n");
  dir.write("ca.crt", "ca");
  dir.write("namespace", "tributary-system");
  ClusterConnection c = loadInCluster({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}},
                                      dir.path());
  EXPECT_EQ(c.server, "https://10.96.0.1:443");
  EXPECT_EQ(c.tokenFile, dir.path() + "/token");
  EXPECT_EQ(c.caFile, dir.path() + "/ca.crt");
  EXPECT_EQ(c.defaultNamespace, "tributary-system");
  EXPECT_EQ(c.source, "in-cluster");

  ClusterConnection v6 = loadInCluster({{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "443"}},
                                       dir.path());
  EXPECT_EQ(v6.server, "https://[fd00::1]:443");
}

TEST(InClusterTest, MissingPiecesAreNamed) {
  TempDir dir;
  dir.write("token", "  \n");
  try {
    loadInCluster({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}}, dir.path());
    FAIL();
  } catch (const KubeConfigError& e) {
    EXPECT_THAT(e.problems(), ::testing::UnorderedElementsAre(HasSubstr("KUBERNETES_SERVICE_PORT"),
                                                              AllOf(HasSubstr("/token"), HasSubstr("empty")),
                                                              HasSubstr("ca.crt")));
  }
}

TEST(ResolveTest, FlagThenKubeconfigEnvThenInCluster) {
  TempDir dir;
  std::string a = dir.write("a", kubeconfig("    server: https://a:1\n", "    token: x\n"));
  std::string b = dir.write("b", kubeconfig("    server: https://b:1\n", "    token: x\n"));
  dir.write("sa/token", "t");
  dir.write("sa/ca.crt", "c");
  Environment env{{"KUBECONFIG", b + ":" + a},
                  {"KUBERNETES_SERVICE_HOST", "10.0.0.1"},
                  {"KUBERNETES_SERVICE_PORT", "443"}};
  EXPECT_EQ(resolveConnection(a, env, dir.path() + "/sa").server, "https://a:1");
  EXPECT_EQ(resolveConnection("", env, dir.path() + "/sa").server, "https://b:1");
  env.erase("KUBECONFIG");
  EXPECT_EQ(resolveConnection("", env, dir.path() + "/sa").server, "https://10.0.0.1:443");
  env.clear();
  try {
    resolveConnection("", env, dir.path() + "/sa");
    FAIL();
  } catch (const KubeConfigError& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("--kubeconfig"), HasSubstr("KUBECONFIG"), HasSubstr("KUBERNETES_SERVICE_HOST")));
  }
}

TEST(ResourceRefTest, Paths) {
  ResourceRef core{"", "v1", "configmaps", true};
  EXPECT_EQ(core.collectionPath("ns"), "/api/v1/namespaces/ns/configmaps");
  EXPECT_EQ(core.collectionPath(""), "/api/v1/configmaps");
  EXPECT_EQ(core.objectPath("ns", "x"), "/api/v1/namespaces/ns/configmaps/x");
  ResourceRef custom{"tributary.dev", "v1alpha1", "kafkatopics", true};
  EXPECT_EQ(custom.objectPath("ns", "t", "status"), "/apis/tributary.dev/v1alpha1/namespaces/ns/kafkatopics/t/status");
  EXPECT_EQ(custom.collectionPath(""), "/apis/tributary.dev/v1alpha1/kafkatopics");
  EXPECT_EQ(custom.displayName(), "kafkatopics.tributary.dev");
  ResourceRef cluster{"rbac.authorization.k8s.io", "v1", "clusterroles", false};
  EXPECT_EQ(cluster.objectPath("ignored", "admin"), "/apis/rbac.authorization.k8s.io/v1/clusterroles/admin");
}

TEST(ApiErrorTest, KindsFromStatusAndReason) {
  EXPECT_EQ(ApiError::kindFor(409, "AlreadyExists"), ApiError::Kind::AlreadyExists);
  EXPECT_EQ(ApiError::kindFor(409, "Conflict"), ApiError::Kind::Conflict);
  EXPECT_EQ(ApiError::kindFor(410, "Expired"), ApiError::Kind::Gone);
  EXPECT_EQ(ApiError::kindFor(422, "Invalid"), ApiError::Kind::Invalid);
  EXPECT_EQ(ApiError::kindFor(504, "Timeout"), ApiError::Kind::Timeout);
  EXPECT_EQ(ApiError::kindFor(502, ""), ApiError::Kind::ServerError);
  EXPECT_EQ(ApiError::kindFor(415, "UnsupportedMediaType"), ApiError::Kind::BadRequest);
  ApiError e(ApiError::Kind::NotFound, 404, "NotFound", "configmaps \"x\" not found");
  EXPECT_STREQ(e.what(), "NotFound (404): configmaps \"x\" not found");
}

}  // namespace
}  // namespace tributary::op::kube
