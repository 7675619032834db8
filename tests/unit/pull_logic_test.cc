// Pull subscriptions without Kafka: the LeaseBroker (leases, ack, nack,
// expiry, withdrawal) and the pull API's request parsing and JSON answers.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>

#include "common/codec/utf8.h"
#include "sidecar/api/pull_api.h"
#include "sidecar/consume/lease_broker.h"

using namespace tributary::sidecar;
using namespace std::chrono_literals;
using Json = nlohmann::json;

namespace {

std::shared_ptr<const ConsumedRecord> record(int partition, int64_t offset, std::optional<std::string> value = "{}") {
  auto r = std::make_shared<ConsumedRecord>();
  r->tp = {"jobs", partition};
  r->offset = offset;
  r->timestampMs = 1700000000000 + offset;
  r->value = std::move(value);
  return r;
}

// Collects the attempt results the broker reports, as the runner would.
struct Results {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::pair<int64_t, AttemptResult>> got;  // offset, result

  Deliverer::Done doneFor(int64_t offset) {
    return [this, offset](AttemptResult r) {
      std::lock_guard lock(mutex);
      got.emplace_back(offset, std::move(r));
      cv.notify_all();
    };
  }
  // Waits (bounded) until `n` results arrived.
  bool await(size_t n) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, 30s, [&] { return got.size() >= n; });
  }
  size_t size() {
    std::lock_guard lock(mutex);
    return got.size();
  }
};

TEST(LeaseBroker, APolledRecordIsLeasedUntilAckedAndAnAckSettlesItOnce) {
  LeaseBroker broker("jobs", 30s);
  Results results;
  broker.deliver(record(0, 7), 1, results.doneFor(7));
  auto leases = broker.poll(10, 0ms);
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].record->offset, 7);
  EXPECT_EQ(leases[0].attempt, 1);
  EXPECT_EQ(broker.leasedCount(), 1u);
  EXPECT_TRUE(broker.poll(10, 0ms).empty()) << "a leased record is not handed out twice";

  auto acked = broker.ack({leases[0].id});
  EXPECT_EQ(acked.settled, 1u);
  ASSERT_TRUE(results.await(1));
  EXPECT_EQ(results.got[0].second.outcome, AttemptOutcome::Delivered);
  auto again = broker.ack({leases[0].id});
  EXPECT_EQ(again.settled, 0u);
  EXPECT_EQ(again.unknown, std::vector<std::string>{leases[0].id});
  EXPECT_EQ(results.size(), 1u) << "the attempt completes exactly once";
}

TEST(LeaseBroker, PollHandsOutAtMostMaxAndEveryLeaseHasItsOwnId) {
  LeaseBroker broker("jobs", 30s);
  Results results;
  for (int i = 0; i < 25; ++i) broker.deliver(record(0, i), 1, results.doneFor(i));
  std::set<std::string> ids;
  for (int round = 0; round < 3; ++round)
    for (const auto& l : broker.poll(10, 0ms)) ids.insert(l.id);
  EXPECT_EQ(ids.size(), 25u);
  EXPECT_EQ(broker.readyCount(), 0u);
  EXPECT_EQ(broker.leasedCount(), 25u);
}

// The runner flushes after each dispatch round (Deliverer::flush): a waiting
// poll is then woken by the flush, for the whole round.
TEST(LeaseBroker, AfterAFlushAWaitingPollIsWokenForTheRound) {
  LeaseBroker broker("jobs", 30s);
  Results results;
  broker.flush();  // the runner's contract from now on
  auto polled = std::async(std::launch::async, [&] { return broker.poll(100, 120s); });
  for (int i = 0; i < 50; ++i) broker.deliver(record(0, i), 1, results.doneFor(i));
  broker.flush();
  auto leases = polled.get();  // waiting out the 120 s would be the bug
  ASSERT_FALSE(leases.empty());
  for (size_t i = 0; i < leases.size(); ++i) EXPECT_EQ(leases[i].record->offset, static_cast<int64_t>(i));
  EXPECT_EQ(leases.size() + broker.readyCount(), 50u);
}

TEST(LeaseBroker, IdsThisProcessNeverIssuedAreUnknown) {
  LeaseBroker broker("jobs", 30s);
  Results results;
  broker.deliver(record(0, 1), 1, results.doneFor(1));
  auto leases = broker.poll(1, 0ms);
  ASSERT_EQ(leases.size(), 1u);
  const std::string id = leases[0].id;
  const std::string prefix = id.substr(0, id.find('-'));
  const std::vector<std::string> strangers{"",          "x",          prefix,          prefix + "-",
                                           prefix + "-0", prefix + "-01", prefix + "-1x", prefix + "-99999999999999999999999",
                                           "ffffffff-1", id + "0",    " " + id};
  auto r = broker.ack(strangers);
  EXPECT_EQ(r.settled, 0u);
  EXPECT_EQ(r.unknown, strangers);
  EXPECT_EQ(broker.ack({id}).settled, 1u);
}

TEST(LeaseBroker, ALongPollReturnsAsSoonAsARecordArrives) {
  LeaseBroker broker("jobs", 30s);
  Results results;
  const auto start = std::chrono::steady_clock::now();
  auto polled = std::async(std::launch::async, [&] { return broker.poll(10, 120s); });
  broker.deliver(record(1, 3), 1, results.doneFor(3));
  auto leases = polled.get();
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].record->offset, 3);
  // Not a timing threshold: waiting out the 120 s would be the bug.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 60s);
}

TEST(LeaseBroker, ANackFailsTheAttemptWithTheAppsReason) {
  LeaseBroker broker("jobs", 30s);
  Results results;
  broker.deliver(record(0, 1), 2, results.doneFor(1));
  broker.deliver(record(0, 2), 1, results.doneFor(2));
  auto leases = broker.poll(10, 0ms);
  ASSERT_EQ(leases.size(), 2u);
  EXPECT_EQ(leases[0].attempt, 2) << "the attempt number travels with the lease";
  EXPECT_EQ(broker.nack({leases[0].id}, true, "database busy").settled, 1u);
  EXPECT_EQ(broker.nack({leases[1].id}, false, "").settled, 1u);
  ASSERT_TRUE(results.await(2));
  EXPECT_EQ(results.got[0].second.outcome, AttemptOutcome::Retryable);
  EXPECT_EQ(results.got[0].second.error, "nacked by the app: database busy");
  EXPECT_EQ(results.got[1].second.outcome, AttemptOutcome::NotRetryable);
  EXPECT_EQ(results.got[1].second.error, "nacked by the app");
}

TEST(LeaseBroker, AnExpiredLeaseFailsTheAttemptAndALateAckIsToldItExpired) {
  LeaseBroker broker("jobs", 50ms);
  Results results;
  broker.deliver(record(0, 9), 1, results.doneFor(9));
  auto leases = broker.poll(1, 0ms);
  ASSERT_EQ(leases.size(), 1u);
  ASSERT_TRUE(results.await(1));
  EXPECT_EQ(results.got[0].second.outcome, AttemptOutcome::Retryable);
  EXPECT_EQ(results.got[0].second.error, "lease expired: not acknowledged within ackTimeout 50ms");
  auto late = broker.ack({leases[0].id, "nonsense"});
  EXPECT_EQ(late.settled, 0u);
  EXPECT_EQ(late.expired, std::vector<std::string>{leases[0].id});
  EXPECT_EQ(late.unknown, std::vector<std::string>{"nonsense"});
  EXPECT_EQ(results.size(), 1u);
}

TEST(LeaseBroker, WithdrawTakesBackOnlyUnpolledRecordsOfThosePartitions) {
  LeaseBroker broker("jobs", 30s);
  Results results;
  broker.deliver(record(0, 1), 1, results.doneFor(1));
  auto leased = broker.poll(1, 0ms);  // partition 0 offset 1 is with the app
  broker.deliver(record(0, 2), 1, results.doneFor(2));
  broker.deliver(record(1, 5), 1, results.doneFor(5));
  auto back = broker.withdraw({{"jobs", 0}});
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0]->offset, 2);
  auto rest = broker.poll(10, 0ms);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].record->tp.partition, 1);
  EXPECT_EQ(broker.ack({leased[0].id}).settled, 1u) << "what the app holds can still be acked";
  EXPECT_TRUE(results.await(1));
}

std::vector<int64_t> offsetsOf(const std::vector<std::shared_ptr<const ConsumedRecord>>& records) {
  std::vector<int64_t> out;
  for (const auto& r : records) out.push_back(r->offset);
  std::sort(out.begin(), out.end());
  return out;
}

TEST(LeaseBroker, OrderedLeasingReturnsEveryLaterUnackedRecordOfThePartitionWithANackedOne) {
  LeaseBroker broker("jobs", 30s, LeaseBroker::Ordering::Partition);
  Results results;
  for (int64_t o = 0; o < 5; ++o) broker.deliver(record(0, o), 1, results.doneFor(o));
  broker.deliver(record(1, 100), 1, results.doneFor(100));
  auto leases = broker.poll(4, 0ms);  // offsets 0-3 of partition 0, in order
  ASSERT_EQ(leases.size(), 4u);
  for (int64_t o = 0; o < 4; ++o) EXPECT_EQ(leases[o].record->offset, o);
  EXPECT_EQ(broker.ack({leases[3].id}).settled, 1u) << "an ack before the failure stands";
  EXPECT_EQ(broker.nack({leases[1].id}, true, "").settled, 1u);
  // Offset 2 (leased) and 4 (not polled yet) come back with 1; 3 was acked.
  auto late = broker.ack({leases[2].id, leases[0].id});
  EXPECT_EQ(late.expired, std::vector<std::string>{leases[2].id}) << "the lease of a returned record ended";
  EXPECT_EQ(late.settled, 1u) << "offset 0 came before the failure";
  // Until the runner took the returned records, later ones of partition 0 go back too.
  broker.deliver(record(0, 5), 1, results.doneFor(5));
  auto others = broker.poll(10, 0ms);
  ASSERT_EQ(others.size(), 1u) << "other partitions are not held back";
  EXPECT_EQ(others[0].record->tp.partition, 1);
  auto failed = record(0, 1);
  EXPECT_EQ(offsetsOf(broker.takeReturned(*failed)), (std::vector<int64_t>{2, 4, 5}));
  EXPECT_TRUE(broker.takeReturned(*failed).empty());
  // The runner delivers them again behind the failed one: leased in order.
  broker.deliver(record(0, 1), 2, results.doneFor(1));
  broker.deliver(record(0, 2), 1, results.doneFor(2));
  auto again = broker.poll(10, 0ms);
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].record->offset, 1);
  EXPECT_EQ(again[0].attempt, 2);
  EXPECT_EQ(again[1].record->offset, 2);
  ASSERT_TRUE(results.await(3));  // ack 3, nack 1, ack 0: returned records report nothing
  EXPECT_EQ(results.size(), 3u);
}

TEST(LeaseBroker, OrderedLeasingByKeyReturnsOnlyTheLaterRecordsOfTheFailedKey) {
  LeaseBroker broker("jobs", 30s, LeaseBroker::Ordering::Key);
  Results results;
  for (int64_t o = 0; o < 6; ++o) {
    auto r = std::make_shared<ConsumedRecord>(*record(0, o));
    r->key = o % 2 ? "b" : "a";
    broker.deliver(r, 1, results.doneFor(o));
  }
  auto leases = broker.poll(10, 0ms);
  ASSERT_EQ(leases.size(), 6u);
  broker.nack({leases[0].id}, true, "");  // key a, offset 0
  auto acks = broker.ack({leases[1].id, leases[2].id, leases[3].id, leases[4].id, leases[5].id});
  EXPECT_EQ(acks.settled, 3u) << "key b is not held back";
  EXPECT_EQ(acks.expired, (std::vector<std::string>{leases[2].id, leases[4].id}));
  auto failed = std::make_shared<ConsumedRecord>(*record(0, 0));
  failed->key = "a";
  EXPECT_EQ(offsetsOf(broker.takeReturned(*failed)), (std::vector<int64_t>{2, 4}));
}

TEST(LeaseBroker, OrderedLeasingReturnsLaterRecordsWithAnExpiredLease) {
  LeaseBroker shortLeases("jobs", 50ms, LeaseBroker::Ordering::Partition);
  Results shortResults;
  shortLeases.deliver(record(0, 0), 1, shortResults.doneFor(0));
  shortLeases.deliver(record(0, 1), 1, shortResults.doneFor(1));
  auto both = shortLeases.poll(10, 0ms);
  ASSERT_EQ(both.size(), 2u);
  ASSERT_TRUE(shortResults.await(1));
  EXPECT_EQ(shortResults.got[0].first, 0) << "the head's lease expired; offset 1 was returned with it";
  EXPECT_EQ(offsetsOf(shortLeases.takeReturned(*record(0, 0))), std::vector<int64_t>{1});
  EXPECT_EQ(shortLeases.ack({both[1].id}).expired, std::vector<std::string>{both[1].id});
  EXPECT_EQ(shortResults.size(), 1u);
}

TEST(LeaseBroker, WithdrawAlsoTakesBackReturnedRecords) {
  LeaseBroker broker("jobs", 30s, LeaseBroker::Ordering::Partition);
  Results results;
  for (int64_t o = 0; o < 3; ++o) broker.deliver(record(0, o), 1, results.doneFor(o));
  auto leases = broker.poll(10, 0ms);
  broker.nack({leases[0].id}, true, "");
  EXPECT_EQ(offsetsOf(broker.withdraw({{"jobs", 0}})), (std::vector<int64_t>{1, 2}));
  EXPECT_TRUE(broker.takeReturned(*record(0, 0)).empty());
  broker.deliver(record(0, 1), 1, results.doneFor(1));
  EXPECT_EQ(broker.poll(10, 0ms).size(), 1u) << "no hold survives the withdrawal";
}

TEST(LeaseBroker, CloseWakesWaitingPollsAndLeavesAckWorking) {
  LeaseBroker broker("jobs", 30s);
  Results results;
  broker.deliver(record(0, 1), 1, results.doneFor(1));
  auto leased = broker.poll(1, 0ms);
  auto waiting = std::async(std::launch::async, [&] { return broker.poll(10, 120s); });
  broker.close();
  EXPECT_TRUE(waiting.get().empty());
  EXPECT_TRUE(broker.closed());
  EXPECT_EQ(broker.ack({leased[0].id}).settled, 1u);
}

TEST(PullApi, PollParametersAreCheckedWithAMessage) {
  auto ok = parsePollRequest(nullptr, nullptr);
  ASSERT_TRUE(std::holds_alternative<PollRequest>(ok));
  EXPECT_EQ(std::get<PollRequest>(ok).max, kDefaultPollMax);
  EXPECT_EQ(std::get<PollRequest>(ok).wait, 0ms);
  std::string max = "250", wait = "1500";
  auto set = parsePollRequest(&max, &wait);
  ASSERT_TRUE(std::holds_alternative<PollRequest>(set));
  EXPECT_EQ(std::get<PollRequest>(set).max, 250u);
  EXPECT_EQ(std::get<PollRequest>(set).wait, 1500ms);

  struct Case {
    std::string max, wait, message;
  };
  for (const auto& c : std::vector<Case>{
           {"0", "0", "max must be a whole number from 1 to 1000, got \"0\""},
           {"1001", "0", "max must be a whole number from 1 to 1000, got \"1001\""},
           {"ten", "0", "max must be a whole number from 1 to 1000, got \"ten\""},
           {"5", "-1", "waitMs must be a whole number of milliseconds from 0 to 30000, got \"-1\""},
           {"5", "30001", "waitMs must be a whole number of milliseconds from 0 to 30000, got \"30001\""},
           {"5", "1s", "waitMs must be a whole number of milliseconds from 0 to 30000, got \"1s\""},
       }) {
    auto r = parsePollRequest(&c.max, &c.wait);
    ASSERT_TRUE(std::holds_alternative<ApiError>(r)) << c.max << " " << c.wait;
    EXPECT_EQ(std::get<ApiError>(r).status, 400);
    EXPECT_EQ(std::get<ApiError>(r).code, "INVALID_REQUEST");
    EXPECT_EQ(std::get<ApiError>(r).message, c.message);
  }
}

TEST(PullApi, SettleBodiesAreCheckedWithAMessage) {
  auto ok = parseSettleRequest(R"({"ids":["a","b"],"retryable":false,"reason":"bad row"})", true);
  ASSERT_TRUE(std::holds_alternative<SettleRequest>(ok));
  EXPECT_EQ(std::get<SettleRequest>(ok).ids, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(std::get<SettleRequest>(ok).retryable);
  EXPECT_EQ(std::get<SettleRequest>(ok).reason, "bad row");

  struct Case {
    std::string body;
    bool nack;
    std::string message;
  };
  for (const auto& c : std::vector<Case>{
           {"", false, R"(the body is not JSON; send {"ids":["<id>", ...]})"},
           {"[1]", false, R"(the body must be a JSON object: {"ids":["<id>", ...]})"},
           {"{}", false, R"(ids is missing; send {"ids":["<id>", ...]})"},
           {R"({"ids":"a"})", false, "ids must be an array of the ids that poll returned"},
           {R"({"ids":[]})", false, "ids is empty: name at least one lease"},
           {R"({"ids":["a",2]})", false, "ids[1] must be a string"},
           {R"({"id":["a"]})", false, R"(unknown field "id"; send {"ids":["<id>", ...]})"},
           {R"({"ids":["a"],"retryable":false})", false, R"(unknown field "retryable"; send {"ids":["<id>", ...]})"},
           {R"({"ids":["a"],"retryable":"no"})", true, "retryable must be true or false"},
           {R"({"ids":["a"],"reason":7})", true, "reason must be a string"},
       }) {
    auto r = parseSettleRequest(c.body, c.nack);
    ASSERT_TRUE(std::holds_alternative<ApiError>(r)) << c.body;
    EXPECT_EQ(std::get<ApiError>(r).status, 400);
    EXPECT_EQ(std::get<ApiError>(r).message, c.message);
  }
}

TEST(PullApi, RecordsAreGivenAsJsonWhenTheyAreJsonAndAsBase64Otherwise) {
  auto json = std::make_shared<ConsumedRecord>();
  json->tp = {"jobs", 2};
  json->offset = 41;
  json->timestampMs = 1700000000123;
  json->key = "customer-7";
  json->value = R"({"total": 12.5, "items": [1, 2]})";
  json->headers = {{"trace", "abc"}, {"blob", std::string("\xff\x00", 2)}};
  auto binary = std::make_shared<ConsumedRecord>();
  binary->tp = {"jobs", 0};
  binary->offset = 1;
  binary->key = std::string("\xc3\x28", 2);  // not UTF-8
  binary->value = std::string("\x00\x01\xfe", 3);
  auto tombstone = std::make_shared<ConsumedRecord>();
  tombstone->tp = {"jobs", 0};
  tombstone->offset = 2;
  auto text = std::make_shared<ConsumedRecord>();
  text->tp = {"jobs", 0};
  text->offset = 3;
  text->value = "plain words";  // UTF-8 but not JSON
  auto deep = std::make_shared<ConsumedRecord>();
  deep->tp = {"jobs", 0};
  deep->offset = 4;
  deep->value = std::string(100, '[') + std::string(100, ']');

  Json out = Json::parse(leasesToJson({{"id-1", json, 3}, {"id-2", binary, 1}, {"id-3", tombstone, 1},
                                       {"id-4", text, 1}, {"id-5", deep, 1}}));
  const Json& r = out["records"];
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0], Json::parse(R"({"id":"id-1","topic":"jobs","partition":2,"offset":41,"timestamp":1700000000123,
      "attempt":3,"key":"customer-7","value":{"total":12.5,"items":[1,2]},"headers":{"trace":"abc"},
      "headersBase64":{"blob":"/wA="}})"));
  EXPECT_EQ(r[1]["keyBase64"], "wyg=");
  EXPECT_EQ(r[1]["valueBase64"], "AAH+");
  EXPECT_FALSE(r[1].contains("value"));
  EXPECT_TRUE(r[2]["value"].is_null());
  EXPECT_TRUE(r[2]["key"].is_null());
  EXPECT_EQ(r[3]["valueBase64"], "cGxhaW4gd29yZHM=");
  EXPECT_TRUE(r[4].contains("valueBase64")) << "nesting deeper than 64 levels travels as bytes";
}

// The app gets a JSON value as the bytes in Kafka: member order, number spelling
// and escapes as the producer wrote them (a signature over the payload verifies).
TEST(PullApi, AJsonValueIsEmbeddedByteForByte) {
  auto rec = std::make_shared<ConsumedRecord>();
  rec->tp = {"jobs", 0};
  rec->value = R"({"z":1.0,"a":[1e3,-0],"n":123456789012345678901234567890,"s":"caf\u00e9"})";
  const std::string text = leasesToJson({{"id-1", rec, 1}});
  EXPECT_NE(text.find(R"("value":{"z":1.0,"a":[1e3,-0],"n":123456789012345678901234567890,"s":"caf\u00e9"})"),
            std::string::npos)
      << text;
  EXPECT_TRUE(Json::accept(text));
}

TEST(Utf8, WellFormedTextIsAcceptedAndEveryMalformationRefused) {
  EXPECT_TRUE(tributary::isValidUtf8(""));
  EXPECT_TRUE(tributary::isValidUtf8("plain ascii"));
  EXPECT_TRUE(tributary::isValidUtf8("gr\xc3\xbc\xc3\x9f dich \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(tributary::isValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(tributary::isValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(tributary::isValidUtf8("\xe0\x80\xaf"));      // overlong, 3 bytes
  EXPECT_FALSE(tributary::isValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(tributary::isValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(tributary::isValidUtf8("\xff"));
  EXPECT_FALSE(tributary::isValidUtf8("a\x80z"));            // stray continuation
}

}  // namespace
