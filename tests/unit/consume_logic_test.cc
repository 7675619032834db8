#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/codec/base64.h"
#include "common/codec/json_text.h"
#include "common/codec/utf8.h"
#include "common/tracing/trace_context.h"
#include "sidecar/consume/deliverer.h"
#include "sidecar/consume/offset_tracker.h"
#include "sidecar/consume/retry_policy.h"

using namespace tributary::sidecar;
using namespace std::chrono_literals;

namespace {

const TopicPartition kP0{"orders", 0};

TEST(OffsetTracker, CommitsOnlyUpToTheLowestUnsettledOffset) {
  OffsetTracker t;
  t.assign(kP0);
  EXPECT_FALSE(t.commitCandidate(kP0)) << "nothing fetched, nothing to commit";
  for (int64_t o = 10; o < 15; ++o) t.fetched(kP0, o);
  EXPECT_EQ(t.commitCandidate(kP0), 10);
  t.settled(kP0, 11);
  t.settled(kP0, 12);
  EXPECT_EQ(t.commitCandidate(kP0), 10) << "10 is not settled: 11 and 12 must wait";
  t.settled(kP0, 10);
  EXPECT_EQ(t.commitCandidate(kP0), 13);
  t.committed(kP0, 13);
  EXPECT_FALSE(t.commitCandidate(kP0)) << "no progress since the last commit";
  t.settled(kP0, 14);
  t.settled(kP0, 13);
  EXPECT_EQ(t.commitCandidate(kP0), 15) << "all settled: commit past the highest fetched";
  EXPECT_EQ(t.unsettledTotal(), 0u);
}

TEST(OffsetTracker, GapsInOffsetsDoNotBlockCommits) {
  OffsetTracker t;
  t.assign(kP0);
  for (int64_t o : {3, 7, 8, 20}) t.fetched(kP0, o);
  t.settled(kP0, 3);
  EXPECT_EQ(t.commitCandidate(kP0), 7);
  t.settled(kP0, 7);
  t.settled(kP0, 8);
  EXPECT_EQ(t.commitCandidate(kP0), 20);
}

TEST(OffsetTracker, PartitionsAreIndependentAndRevokedOnesForgotten) {
  OffsetTracker t;
  const TopicPartition p1{"orders", 1};
  t.assign(kP0);
  t.assign(p1);
  t.fetched(kP0, 0);
  t.fetched(p1, 0);
  t.settled(p1, 0);
  EXPECT_EQ(t.commitCandidate(kP0), 0);
  EXPECT_EQ(t.commitCandidate(p1), 1);
  t.revoke(p1);
  EXPECT_FALSE(t.assigned(p1));
  t.fetched(p1, 1);  // a late record of a revoked partition is not tracked
  EXPECT_FALSE(t.commitCandidate(p1));
  EXPECT_EQ(t.unsettledTotal(), 1u);
}

// One record retried for long while thousands behind it settle (ordering
// none): the commit waits for it, and the tracker holds no more than it must.
TEST(OffsetTracker, ARecordUnsettledForLongHoldsTheCommitWhileLaterOnesSettle) {
  OffsetTracker t;
  t.assign(kP0);
  for (int64_t o = 0; o < 100'000; ++o) {
    t.fetched(kP0, o);
    if (o > 0) t.settled(kP0, o);
  }
  EXPECT_EQ(t.commitCandidate(kP0), 0);
  EXPECT_EQ(t.unsettled(kP0), 1u);
  t.settled(kP0, 99'999);  // twice: no effect
  t.fetched(kP0, 5);       // fetched again (a re-read): unsettled again, in its place
  EXPECT_EQ(t.unsettled(kP0), 2u);
  t.settled(kP0, 0);
  EXPECT_EQ(t.commitCandidate(kP0), 5);
  t.settled(kP0, 5);
  EXPECT_EQ(t.commitCandidate(kP0), 100'000);
  EXPECT_EQ(t.unsettledTotal(), 0u);
}

// A push batch is written as text, not as a JSON tree per event: its bytes
// are still those a tree of each event prints (members by name, the value's
// own bytes as "data"), for every kind of record.
TEST(CloudEventBatch, IsByteForByteWhatATreePerEventPrints) {
  auto tree = [](const ConsumedRecord& r, int attempt, const std::string& source) {
    nlohmann::json e = nlohmann::json::object();
    for (auto& [name, value] : cloudEventHeaders(r, attempt, source)) {
      if (name.rfind("ce-", 0) == 0 && name != "ce-traceparent" && name != "ce-tracestate") e[name.substr(3)] = value;
      if (name == "Tributary-Attempt") e["tributaryattempt"] = value;
    }
    nlohmann::json headers = nlohmann::json::array();
    for (const auto& [name, value] : r.headers) {
      nlohmann::json h{{"name", name}};
      if (tributary::isValidUtf8(value)) h["value"] = value;
      else h["valueBase64"] = tributary::base64Encode(value);
      headers.push_back(std::move(h));
    }
    if (!headers.empty()) e["tributaryheaders"] = std::move(headers);
    if (auto trace = tributary::tracing::fromRecordHeaders(r.headers)) {
      e["traceparent"] = tributary::tracing::formatTraceparent(*trace);
      if (!trace->traceState.empty()) e["tracestate"] = trace->traceState;
    }
    const bool isJson = r.value && tributary::isJsonText(*r.value);
    std::string contentType = "application/octet-stream";
    for (auto& [name, value] : cloudEventHeaders(r, attempt, source))
      if (name == "Content-Type") contentType = value;
    e["datacontenttype"] = contentType;
    if (r.value && !isJson) e["data_base64"] = tributary::base64Encode(*r.value);
    std::string text = e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (isJson) {
      text.pop_back();
      text += R"(,"data":)" + *r.value + "}";
    }
    return text;
  };
  std::vector<ConsumedRecord> records(6);
  records[0].value = R"({"b":1,"a":[1e3,-0]})";
  records[0].key = "order-\"7\" ✓";
  records[1].value = std::string("\x00\xff binary", 9);
  records[1].key = std::string("\x01\x02", 2);
  records[2].headers = {{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
                        {"tracestate", "rojo=1"},
                        {"bin\x7f\x01", std::string("\xc3\x28", 2)},
                        {"dup", "1"},
                        {"dup", "line\nbreak"}};
  records[2].value = "plain text";
  records[3].headers = {{"content-type", "text/csv"}};
  records[3].value = "a,b";
  records[5].value = "  [1, 2]  ";
  std::string expected = "[";
  std::vector<std::pair<const ConsumedRecord*, int>> batch;
  for (size_t i = 0; i < records.size(); ++i) {
    records[i].tp = {"orders", static_cast<int32_t>(i)};
    records[i].offset = 1000 + static_cast<int64_t>(i);
    if (i != 1) records[i].timestampMs = 1700000000123;  // records[1] has none
    batch.emplace_back(&records[i], static_cast<int>(i) + 1);
    expected += (i ? "," : "") + tree(records[i], static_cast<int>(i) + 1, "kafka://b:9092");
  }
  expected += "]";
  EXPECT_EQ(cloudEventBatch(batch, "kafka://b:9092"), expected);
  EXPECT_TRUE(nlohmann::json::accept(cloudEventBatch(batch, "kafka://b:9092")));
}

TEST(RetryPolicy, BackoffGrowsByTheMultiplierUpToTheCap) {
  RetryPolicy p({.maxAttempts = 10, .initialBackoff = 200ms, .maxBackoff = 1s, .multiplier = 2, .jitter = 0});
  EXPECT_EQ(p.backoff(1, 0.5), 200ms);
  EXPECT_EQ(p.backoff(2, 0.5), 400ms);
  EXPECT_EQ(p.backoff(3, 0.5), 800ms);
  EXPECT_EQ(p.backoff(4, 0.5), 1s);
  EXPECT_EQ(p.backoff(9, 0.5), 1s);
}

TEST(RetryPolicy, JitterSpreadsEvenlyAroundTheBackoff) {
  RetryPolicy p({.maxAttempts = 5, .initialBackoff = 1000ms, .maxBackoff = 30s, .multiplier = 2, .jitter = 0.2});
  EXPECT_EQ(p.backoff(1, 0.0), 800ms);
  EXPECT_EQ(p.backoff(1, 0.5), 1000ms);
  EXPECT_EQ(p.backoff(1, 0.999999), 1200ms);
}

TEST(RetryPolicy, ExhaustedAfterMaxAttempts) {
  RetryPolicy p({.maxAttempts = 3});
  EXPECT_FALSE(p.exhausted(1));
  EXPECT_FALSE(p.exhausted(2));
  EXPECT_TRUE(p.exhausted(3));
}

TEST(RetryPolicy, HttpStatusesAreClassifiedAsDocumented) {
  for (int s : {200, 201, 202, 204, 299}) EXPECT_EQ(classifyHttpStatus(s), AttemptOutcome::Delivered) << s;
  for (int s : {408, 429, 500, 502, 503, 504, 599}) EXPECT_EQ(classifyHttpStatus(s), AttemptOutcome::Retryable) << s;
  for (int s : {300, 400, 401, 403, 404, 409, 410, 413, 422})
    EXPECT_EQ(classifyHttpStatus(s), AttemptOutcome::NotRetryable) << s;
}

TEST(RetryAfter, ReadsSecondsAndHttpDates) {
  const std::time_t now = 1'700'000'000;  // Tue, 14 Nov 2023 22:13:20 GMT
  EXPECT_EQ(parseRetryAfter("120", now), 120s);
  EXPECT_EQ(parseRetryAfter(" 0 ", now), 0s);
  EXPECT_EQ(parseRetryAfter("Tue, 14 Nov 2023 22:14:20 GMT", now), 60s);
  EXPECT_EQ(parseRetryAfter("Tue, 14 Nov 2023 22:00:00 GMT", now), 0s) << "a date in the past means now";
  for (const char* bad : {"", "soon", "-5", "1.5", "Tue, 14 Nov 2023", "9999999999"})
    EXPECT_FALSE(parseRetryAfter(bad, now)) << bad;
}

}  // namespace
