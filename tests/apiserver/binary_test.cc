// tributary-test-apiserver as a process: prints where it listens, serves
// kubectl, stops cleanly on SIGTERM.
#include <signal.h>

#include "tests/apiserver/api_client.h"
#include "tests/apiserver/command.h"
#include "tests/support/subprocess.h"

namespace tributary::apiserver::test {
namespace {

const std::string kPrefix = "listening on http://127.0.0.1:";

TEST(Binary, ServesUntilSigterm) {
  Command server(tributary::test::binDir() + "/tributary-test-apiserver", {"--port", "0"});
  ASSERT_TRUE(server.waitForOutput(kPrefix, std::chrono::seconds(30))) << server.err();
  ASSERT_TRUE(server.waitForOutput("\n", std::chrono::seconds(5)));
  const std::string out = server.out();
  const int port = std::stoi(out.substr(out.find(kPrefix) + kPrefix.size()));
  ASSERT_GT(port, 0);

  ApiClient client(port);
  auto version = client.get("/version");
  EXPECT_EQ(version.status, 200);
  EXPECT_EQ(version.body["gitVersion"], "v1.32.0");
  EXPECT_EQ(client.post(kConfigMaps, configMap("c")).status, 201);

  WatchReader watch(port, kConfigMaps + "?watch=1");
  ASSERT_EQ(watch.status(), 200);
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait(std::chrono::seconds(30)), 0) << server.err();
  EXPECT_TRUE(watch.waitEnded());
}

TEST(Binary, RejectsBadArguments) {
  auto r = run(tributary::test::binDir() + "/tributary-test-apiserver", {"--port", "nope"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("--port"), std::string::npos) << r.err;
  EXPECT_EQ(run(tributary::test::binDir() + "/tributary-test-apiserver", {"--frobnicate"}).exitCode, 2);
}

TEST(Binary, TakenPortIsAnError) {
  TestApiServer first;
  first.start();
  auto r = run(tributary::test::binDir() + "/tributary-test-apiserver", {"--port", std::to_string(first.port())});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_FALSE(r.err.empty());
}

}  // namespace
}  // namespace tributary::apiserver::test
