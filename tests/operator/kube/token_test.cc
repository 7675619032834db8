// What the client sends on the wire: the bearer token (re-read when the token
// file changes, as kubelet rotates in-cluster tokens) and the User-Agent.
// A plain HTTP server that echoes the request's headers stands in for the API server.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "operator/kube/curl_kube_client.h"

namespace tributary::op::kube {
namespace {

class EchoServer {
 public:
  EchoServer() {
    server_.Get(R"(/api/v1/namespaces/default/configmaps/(.*))", [](const httplib::Request& req, httplib::Response& res) {
      nlohmann::json body = {{"kind", "ConfigMap"},
                             {"metadata", {{"name", req.matches[1].str()}}},
                             {"data",
                              {{"authorization", req.get_header_value("Authorization")},
                               {"userAgent", req.get_header_value("User-Agent")}}}};
      res.set_content(body.dump(), "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() before the accept loop runs would be lost: wait for it (bounded).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!server_.is_running() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  }
  ~EchoServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

const ResourceRef kConfigMaps{"", "v1", "configmaps", true};

TEST(TokenTest, StaticTokenAndUserAgent) {
  EchoServer echo;
  prometheus::Registry registry;
  ClusterConnection c;
  c.server = echo.url();
  c.token = "static-token";
  CurlKubeClient client(c, registry);
  Json got = client.get(kConfigMaps, "default", "x");
  EXPECT_EQ(got["data"]["authorization"], "Bearer static-token");
  EXPECT_EQ(got["data"]["userAgent"], std::string("tributary-operator/") + TRIBUTARY_VERSION);
}

TEST(TokenTest, TokenFileIsReReadWhenItChanges) {
  EchoServer echo;
  std::string tmpl = (std::filesystem::temp_directory_path() / "kube-token-XXXXXX").string();
  std::string dir = ::mkdtemp(tmpl.data());
  std::string tokenPath = dir + "/token";
  std::ofstream(tokenPath) << "first-token\n";

  prometheus::Registry registry;
  ClusterConnection c;
  c.server = echo.url();
  c.tokenFile = tokenPath;
  CurlKubeClient client(c, registry);
  EXPECT_EQ(client.get(kConfigMaps, "default", "x")["data"]["authorization"], "Bearer first-token");

  // Rotated the way kubelet does it: a new file renamed over the old one.
  std::ofstream(dir + "/token.new") << "second-token-which-is-longer\n";
  std::filesystem::rename(dir + "/token.new", tokenPath);
  EXPECT_EQ(client.get(kConfigMaps, "default", "x")["data"]["authorization"], "Bearer second-token-which-is-longer");

  // A token file that vanished keeps the last token rather than sending none.
  std::filesystem::remove(tokenPath);
  EXPECT_EQ(client.get(kConfigMaps, "default", "x")["data"]["authorization"], "Bearer second-token-which-is-longer");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tributary::op::kube
