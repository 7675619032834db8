// Fault injection: failed requests, delays, request accounting.
#include "tests/apiserver/api_client.h"

namespace tributary::apiserver::test {
namespace {

class Faults : public ApiServerTest {};

TEST_F(Faults, FailNextRequestsAnswersTheStatusAndServesNothing) {
  server->failNextRequests(2, 503);
  auto first = client->post(kConfigMaps, configMap("a"));
  EXPECT_EQ(first.status, 503) << first.raw;
  EXPECT_EQ(first.body["kind"], "Status");
  EXPECT_EQ(first.body["reason"], "ServiceUnavailable");
  auto second = client->get(kConfigMaps + "/a");
  EXPECT_EQ(second.status, 503);
  EXPECT_EQ(client->get(kConfigMaps + "/a").status, 404) << "the failed create stored nothing";
  EXPECT_EQ(client->post(kConfigMaps, configMap("a")).status, 201);
}

TEST_F(Faults, EachInjectedStatusHasItsReason) {
  const std::vector<std::pair<int, std::string>> cases{
      {500, "InternalError"}, {503, "ServiceUnavailable"}, {504, "Timeout"}, {429, "TooManyRequests"},
      {403, "Forbidden"},     {401, "Unauthorized"}};
  for (const auto& [code, reason] : cases) {
    server->failNextRequests(1, code);
    auto r = client->get(kConfigMaps);
    EXPECT_EQ(r.status, code);
    EXPECT_EQ(r.body["reason"], reason) << code;
    EXPECT_EQ(r.body["code"], code);
  }
  server->failNextRequests(1, 429);
  auto throttled = client->get(kConfigMaps);
  EXPECT_EQ(throttled.status, 429);
  EXPECT_EQ(throttled.body["details"]["retryAfterSeconds"], 1);
  bool retryAfter = false;
  for (const auto& [k, v] : throttled.headers) retryAfter = retryAfter || (k == "Retry-After" && v == "1");
  EXPECT_TRUE(retryAfter);
}

TEST_F(Faults, FailuresCanTargetOnePath) {
  server->failNextRequests(1, 500, "/leases");
  EXPECT_EQ(client->get(kConfigMaps).status, 200) << "another path is served";
  EXPECT_EQ(client->get("/apis/coordination.k8s.io/v1/namespaces/default/leases").status, 500);
  EXPECT_EQ(client->get("/apis/coordination.k8s.io/v1/namespaces/default/leases").status, 200);
}

TEST_F(Faults, FailingCanBeCancelled) {
  server->failNextRequests(100, 500);
  EXPECT_EQ(client->get(kConfigMaps).status, 500);
  server->failNextRequests(0, 500);
  EXPECT_EQ(client->get(kConfigMaps).status, 200);
}

TEST_F(Faults, DelayedRequestsAreStillServed) {
  server->setDelay(200ms);
  const auto start = std::chrono::steady_clock::now();
  auto r = client->post(kConfigMaps, configMap("slow"));
  EXPECT_EQ(r.status, 201);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms) << "the delay is a lower bound, never an upper one";
  server->setDelay(0ms);
}

TEST_F(Faults, RequestsAreRecordedWithTheirVerb) {
  server->clearRequests();
  client->post(kConfigMaps, configMap("a"));
  client->get(kConfigMaps + "/a");
  client->get(kConfigMaps + "?limit=10");
  client->patch(kConfigMaps + "/a", R"({"data":{"k":"v"}})");
  client->del(kConfigMaps + "/a");
  client->get("/api/v1");
  auto reqs = server->requests();
  std::vector<std::string> verbs;
  for (const auto& r : reqs) verbs.push_back(r.verb);
  EXPECT_EQ(verbs, (std::vector<std::string>{"create", "get", "list", "patch", "delete", ""}));
  EXPECT_EQ(reqs[0].status, 201);
  EXPECT_EQ(reqs[2].target, kConfigMaps + "?limit=10");
}

TEST_F(Faults, ServesFromManyClientsAtOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> created{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      ApiClient c(server->port());
      for (int i = 0; i < 25; ++i)
        if (c.post(kConfigMaps, configMap("cm-" + std::to_string(t) + "-" + std::to_string(i))).status == 201) ++created;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(created, 200);
  EXPECT_EQ(client->get(kConfigMaps).body["items"].size(), 200u);
}

}  // namespace
}  // namespace tributary::apiserver::test
