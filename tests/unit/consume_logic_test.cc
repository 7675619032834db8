#include <gtest/gtest.h>

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
