// The client over TLS with client certificates, configured from a kubeconfig
// carrying CA, certificate and key as base64 data (what `kind` and cloud
// kubeconfigs look like). The server is an httplib::SSLServer that requires a
// client certificate signed by the test CA and echoes its subject; the
// certificates are made by the openssl CLI (the test is skipped, saying so,
// when it is not installed: scripts/install-deps.sh installs it).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/codec/base64.h"
#include "operator/kube/curl_kube_client.h"
#include "operator/kube/kube_config.h"

namespace tributary::op::kube {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const ResourceRef kConfigMaps{"", "v1", "configmaps", true};

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A CA, a server certificate for 127.0.0.1 and a client certificate, in a temp dir.
class Certificates {
 public:
  Certificates() {
    std::string tmpl = (fs::temp_directory_path() / "kube-tls-test-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    std::ofstream(dir_ + "/server.ext") << "subjectAltName=IP:127.0.0.1\n";
    std::ofstream(dir_ + "/client.ext") << "extendedKeyUsage=clientAuth\n";
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    ok_ = run("openssl req -x509" + ec + " -keyout ca.key -out ca.crt -days 1 -subj /CN=tributary-test-ca") &&
          run("openssl req" + ec + " -keyout server.key -out server.csr -subj /CN=127.0.0.1") &&
          run("openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 1 "
              "-extfile server.ext") &&
          run("openssl req" + ec + " -keyout client.key -out client.csr -subj /CN=tributary-operator") &&
          run("openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 1 "
              "-extfile client.ext") &&
          // A CA the server does not trust, for a client certificate it must refuse.
          run("openssl req -x509" + ec + " -keyout other.key -out other.crt -days 1 -subj /CN=stranger");
  }
  ~Certificates() { fs::remove_all(dir_); }
  bool ok() const { return ok_; }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string data(const std::string& name) const { return readAll(path(name)); }
  const std::string& dir() const { return dir_; }

 private:
  bool run(const std::string& command) {
    return std::system(("cd '" + dir_ + "' && " + command + " >/dev/null 2>&1").c_str()) == 0;
  }
  std::string dir_;
  bool ok_ = false;
};

bool haveOpenssl() { return std::system("openssl version >/dev/null 2>&1") == 0; }

// Answers every GET with a ConfigMap naming the client certificate's subject CN.
class TlsEchoServer {
 public:
  explicit TlsEchoServer(const Certificates& certs)
      : server_(certs.path("server.crt").c_str(), certs.path("server.key").c_str(), certs.path("ca.crt").c_str()) {
    server_.Get(R"(/api/v1/namespaces/default/configmaps/(.*))", [](const httplib::Request& req, httplib::Response& res) {
      std::string cn;
      if (req.ssl != nullptr) {
        if (X509* peer = SSL_get_peer_certificate(req.ssl)) {
          char buf[256] = {0};
          X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, buf, sizeof buf);
          cn = buf;
          X509_free(peer);
        }
      }
      nlohmann::json body = {{"kind", "ConfigMap"},
                             {"metadata", {{"name", req.matches[1].str()}}},
                             {"data", {{"clientCN", cn}}}};
      res.set_content(body.dump(), "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!server_.is_running() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  }
  ~TlsEchoServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::SSLServer server_;
  int port_ = 0;
  std::thread thread_;
};

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!haveOpenssl()) GTEST_SKIP() << "openssl CLI not on PATH: cannot make test certificates (scripts/install-deps.sh)";
    certs = std::make_unique<Certificates>();
    ASSERT_TRUE(certs->ok()) << "openssl failed to make the test certificates in " << certs->dir();
    server = std::make_unique<TlsEchoServer>(*certs);
  }
  // A kubeconfig with the given cluster and user lines, loaded.
  ClusterConnection kubeconfig(const std::string& cluster, const std::string& user) {
    std::string path = certs->path("kubeconfig");
    std::ofstream(path) << "apiVersion: v1\nkind: Config\ncurrent-context: tls\n"
                           "contexts: [{name: tls, context: {cluster: c, user: u}}]\n"
                           "clusters:\n- name: c\n  cluster:\n    server: " +
                               server->url() + "\n" + cluster + "users:\n- name: u\n  user:\n" + user;
    return loadKubeconfig(path);
  }
  std::string clientData() {
    return "    client-certificate-data: " + base64Encode(certs->data("client.crt")) +
           "\n    client-key-data: " + base64Encode(certs->data("client.key")) + "\n";
  }
  Json getThrough(const ClusterConnection& c) {
    prometheus::Registry registry;
    CurlKubeClient client(c, registry);
    return client.get(kConfigMaps, "default", "x");
  }
  ApiError failureThrough(const ClusterConnection& c) {
    try {
      getThrough(c);
    } catch (const ApiError& e) {
      return e;
    }
    ADD_FAILURE() << "the request succeeded";
    return ApiError(ApiError::Kind::ServerError, 0, "", "none");
  }

  std::unique_ptr<Certificates> certs;
  std::unique_ptr<TlsEchoServer> server;
};

TEST_F(TlsTest, CaAndClientCertificateAsKubeconfigData) {
  auto c = kubeconfig("    certificate-authority-data: " + base64Encode(certs->data("ca.crt")) + "\n", clientData());
  EXPECT_EQ(getThrough(c)["data"]["clientCN"], "tributary-operator");
}

TEST_F(TlsTest, CaAndClientCertificateAsFiles) {
  auto c = kubeconfig("    certificate-authority: ca.crt\n",
                      "    client-certificate: client.crt\n    client-key: client.key\n");
  EXPECT_EQ(getThrough(c)["data"]["clientCN"], "tributary-operator");
}

TEST_F(TlsTest, ServerNotTrustedWithoutTheCa) {
  auto c = kubeconfig("", clientData());
  ApiError e = failureThrough(c);
  EXPECT_EQ(e.kind(), ApiError::Kind::Unavailable);
  EXPECT_THAT(e.message(), HasSubstr("certificate"));
}

TEST_F(TlsTest, InsecureSkipTlsVerifyTrustsAnyServer) {
  auto c = kubeconfig("    insecure-skip-tls-verify: true\n", clientData());
  EXPECT_EQ(getThrough(c)["data"]["clientCN"], "tributary-operator");
}

TEST_F(TlsTest, ServerRefusesAClientWithoutACertificateItTrusts) {
  std::string ca = "    certificate-authority-data: " + base64Encode(certs->data("ca.crt")) + "\n";
  EXPECT_EQ(failureThrough(kubeconfig(ca, "    token: t\n")).kind(), ApiError::Kind::Unavailable);
  std::string stranger = "    client-certificate-data: " + base64Encode(certs->data("other.crt")) +
                         "\n    client-key-data: " + base64Encode(certs->data("other.key")) + "\n";
  EXPECT_EQ(failureThrough(kubeconfig(ca, stranger)).kind(), ApiError::Kind::Unavailable);
}

}  // namespace
}  // namespace tributary::op::kube
