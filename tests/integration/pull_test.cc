// Pull subscriptions end to end: records produced through the sidecar's API are
// consumed from the embedded cluster and leased to the app through
// POST /v1/subscriptions/{name}/poll, settled with /ack and /nack.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <future>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "tests/support/raw_socket.h"
#include "tests/support/record_reader.h"
#include "tests/support/sidecar_fixture.h"

using Json = nlohmann::json;
using namespace std::chrono_literals;
using tributary::sidecar::SubscriptionConfig;

namespace {

std::string shellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

class Pull : public tributary::test::SidecarTest {
 protected:
  void configure(tributary::sidecar::SidecarConfig& c) override {
    SubscriptionConfig s;
    s.name = "jobs";
    s.mode = SubscriptionConfig::Mode::Pull;
    s.topics = {"jobs"};
    s.group = "workers";
    s.ordering = SubscriptionConfig::Ordering::None;
    s.startFrom = SubscriptionConfig::StartFrom::Earliest;
    s.ackTimeout = 30s;
    s.retry = {.maxAttempts = 3, .initialBackoff = 10ms, .maxBackoff = 50ms, .multiplier = 2, .jitter = 0};
    s.deadLetterTopic = "jobs.dlq";
    s.onExhausted = SubscriptionConfig::OnExhausted::DeadLetter;
    adjust(s);
    // A push subscription next to it, to show that poll refuses it.
    SubscriptionConfig push;
    push.name = "hooks";
    push.topics = {"hooks"};
    push.group = "hooks";
    push.endpoint = "http://127.0.0.1:9/never";
    c.subscriptions = {s, push};
    kafka->createTopic("jobs", 3, 3);
    kafka->createTopic("jobs.dlq", 1, 3);
    kafka->createTopic("hooks", 1, 3);
    // Leases still held at the end of a test are waited for only briefly.
    c.shutdown.gracePeriod = 1s;
    c.kafka.properties["session.timeout.ms"] = "6000";
    c.kafka.properties["heartbeat.interval.ms"] = "500";
  }
  virtual void adjust(SubscriptionConfig&) {}

  void produce(int n, int partition = -1) {
    Json recs = Json::array();
    for (int i = 0; i < n; ++i) {
      Json r{{"key", "k" + std::to_string(i)}, {"value", {{"n", i}}}, {"headers", {{"trace", "t" + std::to_string(i)}}}};
      if (partition >= 0) r["partition"] = partition;
      recs.push_back(r);
    }
    auto res = postJson("jobs", Json{{"records", recs}}.dump());
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
  }

  // One poll; the answer's status and body.
  std::pair<int, Json> pollOnce(const std::string& query, const std::string& name = "jobs") {
    auto res = client->Post("/v1/subscriptions/" + name + "/poll?" + query, "", "application/json");
    if (!res) return {0, nullptr};
    return {res->status, Json::parse(res->body, nullptr, false)};
  }

  // Polls until `n` records were leased in all (or a bound passes).
  std::vector<Json> pollUntil(size_t n, const std::string& query = "max=100&waitMs=1000") {
    std::vector<Json> got;
    for (auto until = std::chrono::steady_clock::now() + 60s; got.size() < n && std::chrono::steady_clock::now() < until;) {
      auto [status, body] = pollOnce(query);
      EXPECT_EQ(status, 200) << body.dump();
      if (status != 200) break;
      for (auto& r : body["records"]) got.push_back(r);
    }
    return got;
  }

  std::pair<int, Json> settle(const std::string& verb, const Json& body, const std::string& name = "jobs") {
    auto res = client->Post("/v1/subscriptions/" + name + "/" + verb, body.dump(), "application/json");
    if (!res) return {0, nullptr};
    return {res->status, Json::parse(res->body, nullptr, false)};
  }

  static Json ids(const std::vector<Json>& records) {
    Json out = Json::array();
    for (const auto& r : records) out.push_back(r["id"]);
    return out;
  }

  double deliveries(const std::string& outcome) {
    return metricValue(R"(tributary_deliveries_total{outcome=")" + outcome + R"(",subscription="jobs",topic="jobs"})");
  }
  void awaitDeliveries(const std::string& outcome, double n) {
    for (auto until = std::chrono::steady_clock::now() + 60s;
         deliveries(outcome) < n && std::chrono::steady_clock::now() < until;)
      std::this_thread::sleep_for(20ms);
  }
};

TEST_F(Pull, PolledRecordsCarryTheirCoordinatesAndAckSettlesThem) {
  produce(30);
  auto got = pollUntil(30);
  ASSERT_EQ(got.size(), 30u);
  std::set<int> ns;
  std::set<std::string> idSet;
  for (const auto& r : got) {
    EXPECT_EQ(r["topic"], "jobs");
    EXPECT_EQ(r["attempt"], 1);
    EXPECT_TRUE(r["value"].is_object()) << "a JSON value is handed over parsed: " << r.dump();
    EXPECT_EQ(r["key"], "k" + std::to_string(r["value"]["n"].get<int>()));
    EXPECT_EQ(r["headers"]["trace"], "t" + std::to_string(r["value"]["n"].get<int>()));
    EXPECT_GT(r["timestamp"].get<int64_t>(), 0);
    ns.insert(r["value"]["n"].get<int>());
    idSet.insert(r["id"].get<std::string>());
  }
  EXPECT_EQ(ns.size(), 30u);
  EXPECT_EQ(idSet.size(), 30u);

  auto [status, body] = settle("ack", {{"ids", ids(got)}});
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body, Json::parse(R"({"acknowledged":30,"expired":[],"unknown":[]})"));
  awaitDeliveries("success", 30);
  EXPECT_EQ(deliveries("success"), 30);
  EXPECT_TRUE(pollOnce("max=100&waitMs=0").second["records"].empty()) << "acknowledged records are not redelivered";
}

TEST_F(Pull, ALongPollWakesAsSoonAsRecordsArrive) {
  // Wait for the group to be joined so the poll below waits on an assigned subscription.
  for (auto until = std::chrono::steady_clock::now() + 60s; std::chrono::steady_clock::now() < until;) {
    auto res = adminClient()->Get("/readyz");
    if (res && res->status == 200) break;
    std::this_thread::sleep_for(50ms);
  }
  const auto start = std::chrono::steady_clock::now();
  auto polled = std::async(std::launch::async, [this] {
    auto c = apiClient();
    c->set_read_timeout(60s);
    auto res = c->Post("/v1/subscriptions/jobs/poll?max=10&waitMs=30000", "", "application/json");
    return res ? Json::parse(res->body, nullptr, false) : Json();
  });
  produce(1);
  Json body = polled.get();
  ASSERT_EQ(body["records"].size(), 1u) << body.dump();
  // Not a timing threshold: returning only when the 30 s ran out would be the bug.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 25s);
}

TEST_F(Pull, ANackedRecordComesBackWithTheNextAttemptNumber) {
  produce(1);
  auto first = pollUntil(1);
  ASSERT_EQ(first.size(), 1u);
  auto [status, body] = settle("nack", {{"ids", ids(first)}, {"reason", "database busy"}});
  ASSERT_EQ(status, 200);
  EXPECT_EQ(body["nacked"], 1);
  auto second = pollUntil(1);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0]["attempt"], 2);
  EXPECT_EQ(second[0]["offset"], first[0]["offset"]);
  EXPECT_NE(second[0]["id"], first[0]["id"]) << "a new lease has a new id";
  EXPECT_EQ(settle("ack", {{"ids", ids(first)}}).second["unknown"], ids(first)) << "the old lease is gone";
  EXPECT_EQ(settle("ack", {{"ids", ids(second)}}).second["acknowledged"], 1);
  awaitDeliveries("success", 1);
  EXPECT_EQ(deliveries("retry"), 1);
}

TEST_F(Pull, AttemptsExhaustedByNacksSendTheRecordToTheDeadLetterTopic) {
  produce(1);
  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto got = pollUntil(1);
    ASSERT_EQ(got.size(), 1u) << "attempt " << attempt;
    EXPECT_EQ(got[0]["attempt"], attempt);
    ASSERT_EQ(settle("nack", {{"ids", ids(got)}, {"reason", "cannot parse row " + std::to_string(attempt)}}).first, 200);
  }
  awaitDeliveries("dead_letter", 1);
  ASSERT_EQ(deliveries("dead_letter"), 1);
  auto dead = tributary::test::readAll(sidecar->bootstrapServers(), "jobs.dlq");
  ASSERT_EQ(dead.size(), 1u);
  std::map<std::string, std::string> h(dead[0].headers.begin(), dead[0].headers.end());
  EXPECT_EQ(h["trace"], "t0");
  EXPECT_EQ(h["tributary.dlq.subscription"], "jobs");
  EXPECT_EQ(h["tributary.dlq.attempts"], "3");
  EXPECT_EQ(h["tributary.dlq.error"], "nacked by the app: cannot parse row 3");
  EXPECT_TRUE(pollOnce("max=10&waitMs=200").second["records"].empty());
}

TEST_F(Pull, ANackThatIsNotRetryableDeadLettersAtOnce) {
  produce(1);
  auto got = pollUntil(1);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(settle("nack", {{"ids", ids(got)}, {"retryable", false}, {"reason", "schema violation"}}).first, 200);
  awaitDeliveries("dead_letter", 1);
  auto dead = tributary::test::readAll(sidecar->bootstrapServers(), "jobs.dlq");
  ASSERT_EQ(dead.size(), 1u);
  std::map<std::string, std::string> h(dead[0].headers.begin(), dead[0].headers.end());
  EXPECT_EQ(h["tributary.dlq.attempts"], "1");
  EXPECT_EQ(h["tributary.dlq.error"], "nacked by the app: schema violation");
}

// curl -X POST sends no body and no Content-Length, as many clients do for a
// POST that needs none. Such a request has an empty body (RFC 9112 §6.3); the
// HTTP layer used to wait for the connection to close and answer 400.
TEST_F(Pull, APostWithNoBodyAndNoContentLengthIsAPollWithAnEmptyBody) {
  produce(1);
  for (auto until = std::chrono::steady_clock::now() + 60s; std::chrono::steady_clock::now() < until;) {
    // Keep-alive, as curl would: the answer must come without the client closing.
    tributary::test::RawSocket s(sidecar->apiPort());
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(s.send("POST /v1/subscriptions/jobs/poll?max=100&waitMs=1000 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Accept: */*\r\n\r\n"));
    // The answer, then a second request on the same connection with Connection: close.
    ASSERT_TRUE(s.send("POST /v1/subscriptions/jobs/poll?max=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
    const std::string answer = s.readUntilClosed(60s);  // a hang guard: both answers arrive long before
    ASSERT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
    ASSERT_NE(answer.find("HTTP/1.1 200", 1), std::string::npos) << "the second request of the connection: " << answer;
    if (answer.find("\"offset\":0") != std::string::npos) return;  // the record was leased
  }
  FAIL() << "the produced record was never polled";
}

// The pull examples of sidecar/README.md, run as written with curl (only the
// port and the example lease ids are replaced by the test's own).
TEST_F(Pull, TheReadmePullExamplesWorkAsWrittenWithCurl) {
  if (std::system("command -v curl >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "curl is not installed; the bodiless POST itself is covered by "
                    "APostWithNoBodyAndNoContentLengthIsAPollWithAnEmptyBody";
  std::ifstream readme(std::string(TRIBUTARY_SOURCE_DIR) + "/sidecar/README.md");
  ASSERT_TRUE(readme) << "sidecar/README.md";
  // The first ```sh block of "## Pull subscriptions": each curl line and the
  // comment line right after it (the answer it shows).
  std::vector<std::pair<std::string, std::string>> examples;
  std::string line;
  bool inSection = false, inBlock = false;
  while (std::getline(readme, line)) {
    if (line.rfind("## ", 0) == 0) inSection = line == "## Pull subscriptions";
    if (!inSection) continue;
    if (line.rfind("```", 0) == 0) {
      if (inBlock) break;
      inBlock = true;
      continue;
    }
    if (!inBlock) continue;
    if (line.rfind("curl ", 0) == 0) examples.push_back({line, ""});
    else if (line.rfind("# ", 0) == 0 && !examples.empty() && examples.back().second.empty())
      examples.back().second = line.substr(2);
  }
  ASSERT_EQ(examples.size(), 3u) << "poll, ack and nack";
  ASSERT_NE(examples[0].first.find("/poll"), std::string::npos);
  ASSERT_NE(examples[1].first.find("/ack"), std::string::npos);
  ASSERT_NE(examples[2].first.find("/nack"), std::string::npos);

  const std::string port = std::to_string(sidecar->apiPort());
  auto run = [&](std::string command, const std::map<std::string, std::string>& replace) {
    command = std::regex_replace(command, std::regex("127\\.0\\.0\\.1:9191"), "127.0.0.1:" + port);
    for (const auto& [from, to] : replace) command = std::regex_replace(command, std::regex(from), to);
    // `timeout` is a hang guard around the command, which stays as written.
    FILE* p = ::popen(("timeout 60 sh -c " + shellQuote(command) + " 2>/dev/null").c_str(), "r");
    std::string out;
    char buf[4096];
    while (p && std::fgets(buf, sizeof buf, p)) out += buf;
    if (p) ::pclose(p);
    return out;
  };

  produce(2, 0);
  std::vector<Json> got;
  for (auto until = std::chrono::steady_clock::now() + 60s; got.size() < 2 && std::chrono::steady_clock::now() < until;) {
    Json answer = Json::parse(run(examples[0].first, {}), nullptr, false);
    ASSERT_TRUE(answer.is_object() && answer["records"].is_array()) << answer.dump();
    for (auto& r : answer["records"]) got.push_back(r);
  }
  ASSERT_EQ(got.size(), 2u);
  // The record fields the README's answer shows.
  Json shown = Json::parse(examples[0].second.substr(0, examples[0].second.find("\"attempt\"")) + "\"attempt\":1}]}",
                           nullptr, false);
  ASSERT_TRUE(shown.is_object()) << examples[0].second;
  for (const auto& [field, value] : shown["records"][0].items()) EXPECT_TRUE(got[0].contains(field)) << field;

  const std::string first = got[0]["id"], second = got[1]["id"];
  EXPECT_EQ(Json::parse(run(examples[1].first, {{"3f9a01c2-17", first}}), nullptr, false),
            Json::parse(examples[1].second));
  EXPECT_EQ(Json::parse(run(examples[2].first, {{"3f9a01c2-18", second}}), nullptr, false),
            Json::parse(examples[2].second));
}

class PullShortLease : public Pull {
  void adjust(SubscriptionConfig& s) override { s.ackTimeout = 1s; }
};

TEST_F(PullShortLease, AnExpiredLeaseIsRedeliveredAndALateAckIsToldItExpired) {
  produce(1);
  auto first = pollUntil(1);
  ASSERT_EQ(first.size(), 1u);
  // No ack: after ackTimeout the record comes back with attempt 2.
  auto second = pollUntil(1, "max=10&waitMs=5000");
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0]["offset"], first[0]["offset"]);
  EXPECT_EQ(second[0]["attempt"], 2);
  auto [status, body] = settle("ack", {{"ids", ids(first)}});
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body["acknowledged"], 0);
  EXPECT_EQ(body["expired"], ids(first));
  EXPECT_EQ(settle("ack", {{"ids", ids(second)}}).second["acknowledged"], 1);
}

class PullByPartition : public Pull {
  void adjust(SubscriptionConfig& s) override { s.ordering = SubscriptionConfig::Ordering::Partition; }
};

std::vector<int64_t> offsetsOf(const std::vector<Json>& records) {
  std::vector<int64_t> out;
  for (const auto& r : records) out.push_back(r["offset"].get<int64_t>());
  return out;
}

TEST_F(PullByPartition, PartitionOrderingLeasesABatchOfAPartitionInOffsetOrder) {
  produce(20, 1);
  auto got = pollUntil(20);
  ASSERT_EQ(got.size(), 20u) << "consecutive records of the partition are leased together";
  auto offsets = offsetsOf(got);
  EXPECT_TRUE(std::is_sorted(offsets.begin(), offsets.end()));
  EXPECT_EQ(std::set<int64_t>(offsets.begin(), offsets.end()).size(), 20u);
  ASSERT_EQ(settle("ack", {{"ids", ids(got)}}).second["acknowledged"], 20);
}

// A nacked record comes back before everything after it: the later leases of
// its partition end with it (their acks are answered `expired`) and the
// records are leased again after it, in order.
TEST_F(PullByPartition, ANackReturnsTheLaterLeasesOfThePartitionAndTheyComeBackAfterItInOrder) {
  produce(6, 1);
  auto got = pollUntil(6);
  ASSERT_EQ(got.size(), 6u);
  ASSERT_EQ(offsetsOf(got), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  ASSERT_EQ(settle("ack", {{"ids", Json::array({got[0]["id"]})}}).second["acknowledged"], 1);
  ASSERT_EQ(settle("nack", {{"ids", Json::array({got[1]["id"]})}}).second["nacked"], 1);
  auto [status, late] = settle("ack", {{"ids", Json::array({got[2]["id"], got[5]["id"]})}});
  ASSERT_EQ(status, 200);
  EXPECT_EQ(late["acknowledged"], 0);
  EXPECT_EQ(late["expired"], Json::array({got[2]["id"], got[5]["id"]}));
  auto again = pollUntil(5);
  ASSERT_EQ(again.size(), 5u);
  EXPECT_EQ(offsetsOf(again), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(again[0]["attempt"], 2) << "the nacked record's next attempt";
  EXPECT_EQ(again[1]["attempt"], 1) << "a returned record's attempt did not fail";
  EXPECT_EQ(settle("ack", {{"ids", ids(again)}}).second["acknowledged"], 5);
  awaitDeliveries("success", 6);
  EXPECT_EQ(deliveries("success"), 6);
}

class PullByPartitionShortLease : public Pull {
  void adjust(SubscriptionConfig& s) override {
    s.ordering = SubscriptionConfig::Ordering::Partition;
    s.ackTimeout = 1s;
  }
};

TEST_F(PullByPartitionShortLease, AnExpiredLeaseReturnsTheLaterLeasesOfThePartition) {
  produce(3, 2);
  auto got = pollUntil(3);
  ASSERT_EQ(got.size(), 3u);
  // Offsets 1 and 2 are acked, 0 never: it expires and the acks that arrive
  // afterwards find 1 and 2 returned with it. Acking them first would have
  // settled them: an app that needs order acks in order.
  auto again = pollUntil(3, "max=10&waitMs=5000");
  ASSERT_EQ(again.size(), 3u);
  EXPECT_EQ(offsetsOf(again), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(settle("ack", {{"ids", Json::array({got[1]["id"], got[2]["id"]})}}).second["expired"].size(), 2u);
  EXPECT_EQ(settle("ack", {{"ids", ids(again)}}).second["acknowledged"], 3);
}

TEST_F(Pull, PollOnAPushOrUnknownSubscriptionAndBadRequestsAreClearErrors) {
  struct Case {
    std::string path;
    std::string body;
    int status;
    std::string code;
  };
  for (const auto& c : std::vector<Case>{
           {"/v1/subscriptions/hooks/poll", "", 409, "NOT_A_PULL_SUBSCRIPTION"},
           {"/v1/subscriptions/hooks/ack", R"({"ids":["x"]})", 409, "NOT_A_PULL_SUBSCRIPTION"},
           {"/v1/subscriptions/nope/poll", "", 404, "UNKNOWN_SUBSCRIPTION"},
           {"/v1/subscriptions/nope/nack", R"({"ids":["x"]})", 404, "UNKNOWN_SUBSCRIPTION"},
           {"/v1/subscriptions/jobs/poll?max=0", "", 400, "INVALID_REQUEST"},
           {"/v1/subscriptions/jobs/poll?waitMs=forever", "", 400, "INVALID_REQUEST"},
           {"/v1/subscriptions/jobs/ack", "not json", 400, "INVALID_REQUEST"},
           {"/v1/subscriptions/jobs/ack", R"({"ids":[]})", 400, "INVALID_REQUEST"},
           {"/v1/subscriptions/jobs/nack", R"({"ids":["x"],"retryable":"maybe"})", 400, "INVALID_REQUEST"},
       }) {
    auto res = client->Post(c.path, c.body, "application/json");
    ASSERT_TRUE(res) << c.path;
    EXPECT_EQ(res->status, c.status) << c.path << " " << res->body;
    EXPECT_EQ(Json::parse(res->body)["errorCode"], c.code) << c.path;
  }
  auto get = client->Get("/v1/subscriptions/jobs/poll");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 405);
  // Unknown ids are listed, not an error: the rest of the request still counts.
  produce(1);
  auto got = pollUntil(1);
  ASSERT_EQ(got.size(), 1u);
  Json both = ids(got);
  both.push_back("made-up");
  auto [status, body] = settle("ack", {{"ids", both}});
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body["acknowledged"], 1);
  EXPECT_EQ(body["unknown"], Json::array({"made-up"}));
}

TEST_F(Pull, SubscriptionsListShowsModeAndLeases) {
  produce(3, 0);
  auto got = pollUntil(3);
  ASSERT_EQ(got.size(), 3u);
  auto res = client->Get("/v1/subscriptions");
  ASSERT_TRUE(res);
  Json subs = Json::parse(res->body)["subscriptions"];
  ASSERT_EQ(subs.size(), 2u);
  EXPECT_EQ(subs[0]["name"], "jobs");
  EXPECT_EQ(subs[0]["mode"], "pull");
  EXPECT_EQ(subs[0]["leased"], 3);
  EXPECT_FALSE(subs[0].contains("endpoint"));
  EXPECT_EQ(subs[1]["mode"], "push");
}

TEST_F(Pull, ShutdownAnswersWaitingPollsAndRedeliversUnackedRecordsAfterARestart) {
  produce(4, 2);
  auto got = pollUntil(4);
  ASSERT_EQ(got.size(), 4u);
  // Ack two; the two still leased at shutdown come back after a restart.
  std::vector<Json> acked(got.begin(), got.begin() + 2);
  std::sort(got.begin(), got.end(), [](const Json& a, const Json& b) { return a["offset"] < b["offset"]; });
  acked.assign(got.begin(), got.begin() + 2);
  ASSERT_EQ(settle("ack", {{"ids", ids(acked)}}).second["acknowledged"], 2);
  awaitDeliveries("success", 2);
  auto waiting = std::async(std::launch::async, [this] {
    auto c = apiClient();
    c->set_read_timeout(60s);
    auto res = c->Post("/v1/subscriptions/jobs/poll?max=10&waitMs=30000", "", "application/json");
    return res ? res->status : 0;
  });
  sidecar->shutdown();
  EXPECT_EQ(waiting.get(), 503) << "a poll waiting at shutdown is answered";

  std::string error;
  sidecar = tributary::sidecar::Sidecar::start(config, error);
  ASSERT_NE(sidecar, nullptr) << error;
  client = apiClient();
  auto again = pollUntil(2, "max=100&waitMs=2000");
  ASSERT_EQ(again.size(), 2u);
  std::set<int64_t> offsets;
  for (const auto& r : again) offsets.insert(r["offset"].get<int64_t>());
  EXPECT_EQ(offsets, (std::set<int64_t>{got[2]["offset"].get<int64_t>(), got[3]["offset"].get<int64_t>()}))
      << "exactly the unacknowledged records are delivered again";
}

}  // namespace
