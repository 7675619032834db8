// GroupReconciler over the ClusterAdmin double (Kafka's group behaviour): lag
// passes (batched round trips, no committed offset, deleted ranges, topics
// deleted under the group), offset resets (every mode, clamping, refusals with
// the range, only while the group is empty, dry run) and deletion.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "operator/group/group_reconciler.h"
#include "tests/operator/topic/fake_cluster_admin.h"

namespace tributary::op::group {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using test::FakeClusterAdmin;

KafkaConsumerGroup makeGroup(const std::string& name, std::vector<std::string> topics = {},
                             std::optional<OffsetResetSpec> reset = std::nullopt) {
  KafkaConsumerGroup g;
  g.resource.kind = kKafkaConsumerGroupKind;
  g.resource.name = name;
  g.spec.groupId = name;
  g.spec.topics = std::move(topics);
  g.spec.offsetReset = std::move(reset);
  return g;
}

OffsetResetSpec resetTo(ResetTo to, std::string id = "r1") {
  OffsetResetSpec r;
  r.requestId = std::move(id);
  r.to = to;
  return r;
}

class GroupReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    admin.putTopic("orders", {2, 3, {}});
    admin.produce("orders", 0, 100, 1'000);  // offsets 0..99 at t=1s
    admin.produce("orders", 0, 100, 5'000);  // offsets 100..199 at t=5s
    admin.produce("orders", 1, 50, 2'000);
  }
  std::map<kafka::TopicPartition, int64_t> committed(const std::string& g) { return admin.committed(g); }
  FakeClusterAdmin admin;
};

TEST_F(GroupReconcilerTest, LagPerPartitionTopicAndTotal) {
  admin.commit("billing", "orders", 0, 150);
  admin.commit("billing", "orders", 1, 50);
  admin.join("billing", {"m-1", "billing-1", "/10.0.0.7", {{"orders", 0}, {"orders", 1}}});
  GroupReconciler r(admin);
  auto lag = r.observe({makeGroup("billing")});
  ASSERT_EQ(lag.size(), 1u);
  ASSERT_FALSE(lag[0].error) << lag[0].error->message;
  EXPECT_EQ(lag[0].state, GroupState::Stable);
  ASSERT_EQ(lag[0].members.size(), 1u);
  EXPECT_EQ(lag[0].members[0].clientId, "billing-1");
  ASSERT_EQ(lag[0].topics.size(), 1u);
  const auto& t = lag[0].topics[0];
  EXPECT_EQ(t.topic, "orders");
  ASSERT_EQ(t.partitions.size(), 2u);
  EXPECT_EQ(t.partitions[0].committed, 150);
  EXPECT_EQ(t.partitions[0].logEnd, 200);
  EXPECT_EQ(t.partitions[0].lag, 50);
  EXPECT_EQ(t.partitions[1].lag, 0);
  EXPECT_EQ(t.lag, 50);
  EXPECT_EQ(lag[0].totalLag, 50);
  EXPECT_EQ(lag[0].partitionsWithLag, 1);
}

TEST_F(GroupReconcilerTest, ManyGroupsCostTheSameRoundTripsAsOne) {
  std::vector<KafkaConsumerGroup> groups;
  for (int i = 0; i < 50; ++i) {
    const std::string name = "g" + std::to_string(i);
    admin.commit(name, "orders", 0, i);
    groups.push_back(makeGroup(name));
  }
  GroupReconciler r(admin);
  auto lag = r.observe(groups);
  ASSERT_EQ(lag.size(), 50u);
  EXPECT_EQ(lag[7].totalLag, (200 - 7) + 50);  // partition 1 has no committed offset: its whole log counts
  EXPECT_EQ(admin.calls("describeGroups"), 1);
  EXPECT_EQ(admin.calls("listGroupOffsets"), 1);
  EXPECT_EQ(admin.calls("describeTopics"), 1);
  EXPECT_EQ(admin.calls("listOffsets"), 1);
}

TEST_F(GroupReconcilerTest, NamedTopicsHaveTheirCommittedOffsetsAskedForByPartition) {
  // Brokers answer an OffsetFetch for named partitions in every version (the
  // all-partitions form is newer, and librdkafka's mock answers it empty):
  // a group whose topics are known is asked by name.
  admin.putTopic("payments", {1, 3, {}});
  admin.commit("named", "orders", 0, 150);
  admin.commit("named", "payments", 0, 0);  // not among its topics: not asked, not reported
  admin.commit("everything", "payments", 0, 0);
  GroupReconciler r(admin);
  auto lag = r.observe({makeGroup("named", {"orders"}), makeGroup("everything")});
  ASSERT_FALSE(lag[0].error);
  ASSERT_FALSE(lag[1].error);
  const auto asked = admin.lastGroupPartitionsAsked();
  ASSERT_EQ(asked.count("named"), 1u);
  EXPECT_THAT(asked.at("named"), ElementsAre(kafka::TopicPartition{"orders", 0}, kafka::TopicPartition{"orders", 1}));
  EXPECT_EQ(asked.count("everything"), 0u);  // every partition it has an offset for
  ASSERT_EQ(lag[0].topics.size(), 1u);
  EXPECT_EQ(lag[0].totalLag, 50 + 50);
  ASSERT_EQ(lag[1].topics.size(), 1u);
  EXPECT_EQ(lag[1].topics[0].topic, "payments");
  // Known topics are described before the offsets, discovered ones after.
  EXPECT_EQ(admin.calls("describeTopics"), 2);
  EXPECT_EQ(admin.calls("listGroupOffsets"), 1);
}

TEST_F(GroupReconcilerTest, BrokersWithoutDescribeGroupsStillReportLagWithAnUnknownState) {
  admin.commit("billing", "orders", 0, 150);
  admin.failNext("describeGroups", "billing", {kafka::AdminErrorCode::Unsupported, "DescribeGroups: unsupported"});
  GroupReconciler r(admin);
  auto lag = r.observe({makeGroup("billing", {"orders"})});
  ASSERT_FALSE(lag[0].error) << lag[0].error->message;
  EXPECT_EQ(lag[0].state, GroupState::Unknown);
  EXPECT_TRUE(lag[0].members.empty());
  EXPECT_EQ(lag[0].totalLag, 50 + 50);
}

TEST_F(GroupReconcilerTest, WithoutDescribeGroupsAResetRestsOnTheBrokersOwnRefusal) {
  admin.commit("billing", "orders", 0, 150);
  admin.failNext("describeGroups", "billing", {kafka::AdminErrorCode::Unsupported, "DescribeGroups: unsupported"});
  GroupReconciler r(admin);
  auto done = r.reset({makeGroup("billing", {"orders"}, resetTo(ResetTo::Earliest))});
  ASSERT_TRUE(done[0].applied) << done[0].reason << ": " << done[0].message;
  EXPECT_EQ(committed("billing").at({"orders", 0}), 0);

  // A member joined: the broker refuses the commit, which is GroupNotEmpty.
  admin.join("billing", {"m-1", "billing-1", "/10.0.0.7", {{"orders", 0}}});
  admin.failNext("describeGroups", "billing", {kafka::AdminErrorCode::Unsupported, "DescribeGroups: unsupported"});
  auto refused = r.reset({makeGroup("billing", {"orders"}, resetTo(ResetTo::Latest, "r2"))});
  EXPECT_FALSE(refused[0].applied);
  EXPECT_EQ(refused[0].reason, reason::kGroupNotEmpty) << refused[0].message;
  EXPECT_TRUE(refused[0].retryable);
  EXPECT_EQ(committed("billing").at({"orders", 0}), 0);
}

TEST_F(GroupReconcilerTest, NoCommittedOffsetCountsTheWholeLogAndIsFlagged) {
  admin.truncateBefore("orders", 0, 40);
  GroupReconciler r(admin);
  auto lag = r.observe({makeGroup("fresh", {"orders"})});
  ASSERT_FALSE(lag[0].error);
  EXPECT_EQ(lag[0].state, GroupState::Dead);  // Kafka describes an unknown group as Dead
  const auto& p0 = lag[0].topics.at(0).partitions.at(0);
  EXPECT_FALSE(p0.committed);
  EXPECT_TRUE(p0.noCommittedOffset);
  EXPECT_EQ(p0.lag, 200 - 40);
}

TEST_F(GroupReconcilerTest, CommittedOffsetBeforeTheLogStartCountsOnlyWhatIsLeft) {
  admin.commit("slow", "orders", 0, 10);
  admin.truncateBefore("orders", 0, 120);  // retention deleted 0..119
  GroupReconciler r(admin);
  auto lag = r.observe({makeGroup("slow", {"orders"})});
  const auto& p0 = lag[0].topics.at(0).partitions.at(0);
  EXPECT_EQ(p0.committed, 10);
  EXPECT_EQ(p0.logStart, 120);
  EXPECT_EQ(p0.lag, 80);
}

TEST_F(GroupReconcilerTest, TopicDeletedUnderTheGroupIsReportedMissing) {
  admin.putTopic("gone", {1, 3, {}});
  admin.commit("g", "gone", 0, 5);
  admin.commit("g", "orders", 1, 40);
  admin.deleteTopics({"gone"});
  GroupReconciler r(admin);
  auto lag = r.observe({makeGroup("g")});
  ASSERT_FALSE(lag[0].error) << lag[0].error->message;
  ASSERT_EQ(lag[0].topics.size(), 2u);
  EXPECT_EQ(lag[0].topics[0].topic, "gone");
  EXPECT_TRUE(lag[0].topics[0].missing);
  EXPECT_EQ(lag[0].topics[0].lag, 0);
  EXPECT_EQ(lag[0].topics[1].topic, "orders");
  EXPECT_EQ(lag[0].totalLag, 200 + 10);  // orders-0 has no commit (whole log), orders-1 lags 10
}

TEST_F(GroupReconcilerTest, UnavailableKafkaIsAnErrorPerGroup) {
  admin.setUnavailable(true);
  GroupReconciler r(admin);
  auto lag = r.observe({makeGroup("a"), makeGroup("b")});
  for (const auto& l : lag) {
    ASSERT_TRUE(l.error);
    EXPECT_EQ(l.error->code, kafka::AdminErrorCode::Unavailable);
  }
  // The pass stops at the first call nobody answered (each would wait its timeout).
  EXPECT_EQ(admin.totalCalls(), 1);
}

TEST_F(GroupReconcilerTest, LagSecondsIsTheAgeOfTheOldestUnconsumedRecordFromItsTimestamp) {
  using std::chrono::seconds;
  admin.commit("g", "orders", 0, 200);
  admin.commit("g", "orders", 1, 50);
  const auto t0 = std::chrono::system_clock::time_point(seconds(1'000));
  GroupReconciler r(admin);
  auto first = r.observe({makeGroup("g")}, nullptr, t0);
  EXPECT_EQ(first[0].lagSeconds, std::nullopt);  // nothing to consume, no history: cannot tell
  admin.produce("orders", 0, 10, 1'030'000);  // offsets 200..209 written at t0 + 30 s
  admin.produce("orders", 1, 5, 1'045'000);   // offsets 50..54 at t0 + 45 s
  auto second = r.observe({makeGroup("g")}, nullptr, t0 + seconds(60));
  EXPECT_EQ(second[0].totalLag, 15);
  EXPECT_EQ(second[0].lagSeconds, 30);  // orders-0's offset 200, written 30 s ago: the oldest
  EXPECT_EQ(admin.calls("recordTimestamps"), 1);  // one call for both partitions
  admin.commit("g", "orders", 0, 210);  // orders-0 consumed: orders-1's record is the oldest left
  auto third = r.observe({makeGroup("g")}, nullptr, t0 + seconds(600));
  EXPECT_EQ(third[0].lagSeconds, 555);
  // Retention deleted what the group had not read: the oldest left is the log start's.
  admin.commit("g", "orders", 1, 0);
  admin.truncateBefore("orders", 1, 52);
  auto fourth = r.observe({makeGroup("g")}, nullptr, t0 + seconds(600));
  EXPECT_EQ(fourth[0].lagSeconds, 555);
}

TEST_F(GroupReconcilerTest, LagSecondsFallsBackToTheHistoryOfLogEndsWhenRecordsCannotBeRead) {
  admin.commit("g", "orders", 0, 200);
  admin.commit("g", "orders", 1, 50);
  LagHistory history;
  GroupReconciler r(admin);
  const kafka::AdminError cannot{kafka::AdminErrorCode::Unauthorized, "Fetch: topic authorization failed"};
  const auto t0 = std::chrono::system_clock::time_point(std::chrono::seconds(1'000));
  auto first = r.observe({makeGroup("g")}, &history, t0);
  EXPECT_EQ(first[0].lagSeconds, 0);  // nothing to consume
  admin.produce("orders", 0, 10, 0);  // written between t0 and t0+60s (by the history)
  admin.failNext("recordTimestamps", "orders", cannot);
  auto second = r.observe({makeGroup("g")}, &history, t0 + std::chrono::seconds(60));
  EXPECT_EQ(second[0].totalLag, 10);
  ASSERT_TRUE(second[0].lagSeconds);
  // The oldest unconsumed record (offset 200) was written within the last minute.
  EXPECT_GE(*second[0].lagSeconds, 0);
  EXPECT_LE(*second[0].lagSeconds, 60);
  admin.failNext("recordTimestamps", "orders", cannot);
  auto third = r.observe({makeGroup("g")}, &history, t0 + std::chrono::seconds(600));
  EXPECT_GE(*third[0].lagSeconds, 540);  // still not consumed ten minutes on
  EXPECT_LE(*third[0].lagSeconds, 600);
}

// ---- offset resets

TEST_F(GroupReconcilerTest, EarliestAndLatestMoveEveryPartitionOfTheScope) {
  admin.commit("g", "orders", 0, 150);
  admin.truncateBefore("orders", 0, 20);
  GroupReconciler r(admin);
  auto out = r.reset({makeGroup("g", {"orders"}, resetTo(ResetTo::Earliest))});
  ASSERT_EQ(out[0].reason, reason::kOffsetsReset) << out[0].message;
  EXPECT_TRUE(out[0].applied);
  ASSERT_EQ(out[0].partitions.size(), 2u);
  EXPECT_EQ(describe(out[0].partitions[0]), "orders-0: 150 → 20");
  EXPECT_EQ(describe(out[0].partitions[1]), "orders-1: (none) → 0");
  EXPECT_EQ(committed("g"), (std::map<kafka::TopicPartition, int64_t>{{{"orders", 0}, 20}, {{"orders", 1}, 0}}));
  auto latest = r.reset({makeGroup("g", {"orders"}, resetTo(ResetTo::Latest, "r2"))});
  ASSERT_TRUE(latest[0].applied) << latest[0].message;
  EXPECT_EQ(committed("g"), (std::map<kafka::TopicPartition, int64_t>{{{"orders", 0}, 200}, {{"orders", 1}, 50}}));
}

TEST_F(GroupReconcilerTest, TimestampResolvesThroughOffsetsForTimes) {
  admin.commit("g", "orders", 0, 0);
  auto spec = resetTo(ResetTo::Timestamp);
  spec.timestampMs = 3'000;  // after partition 0's first 100 records, after all of partition 1
  GroupReconciler r(admin);
  auto out = r.reset({makeGroup("g", {"orders"}, spec)});
  ASSERT_TRUE(out[0].applied) << out[0].message;
  EXPECT_THAT(out[0].partitions, ::testing::SizeIs(2));
  EXPECT_EQ(committed("g").at({"orders", 0}), 100);
  EXPECT_EQ(committed("g").at({"orders", 1}), 50);  // no record that new: the log end
}

TEST_F(GroupReconcilerTest, ShiftIsClampedToTheLog) {
  admin.commit("g", "orders", 0, 150);
  admin.commit("g", "orders", 1, 10);
  auto back = resetTo(ResetTo::Shift);
  back.shiftBy = -100;
  GroupReconciler r(admin);
  auto out = r.reset({makeGroup("g", {}, back)});
  ASSERT_TRUE(out[0].applied) << out[0].message;
  EXPECT_EQ(committed("g").at({"orders", 0}), 50);
  EXPECT_EQ(committed("g").at({"orders", 1}), 0);  // clamped to the log start
  auto ahead = resetTo(ResetTo::Shift, "r2");
  ahead.shiftBy = 1'000;
  out = r.reset({makeGroup("g", {}, ahead)});
  EXPECT_EQ(committed("g").at({"orders", 0}), 200);  // clamped to the log end
}

TEST_F(GroupReconcilerTest, ExplicitOffsetsOutOfRangeAreRefusedWithTheRangeAndNothingChanges) {
  admin.commit("g", "orders", 0, 150);
  admin.truncateBefore("orders", 1, 10);
  auto spec = resetTo(ResetTo::Offsets);
  spec.offsets = {{"orders", 0, 30}, {"orders", 1, 5}};
  GroupReconciler r(admin);
  auto out = r.reset({makeGroup("g", {}, spec)});
  EXPECT_FALSE(out[0].converged);
  EXPECT_FALSE(out[0].retryable);
  EXPECT_EQ(out[0].reason, reason::kOffsetOutOfRange);
  EXPECT_THAT(out[0].message, HasSubstr("orders-1: offset 5 is out of range [10, 50]"));
  EXPECT_EQ(committed("g").at({"orders", 0}), 150);
  EXPECT_EQ(admin.calls("alterGroupOffsets"), 0);

  spec.offsets = {{"orders", 0, 30}};
  out = r.reset({makeGroup("g", {}, spec)});
  ASSERT_TRUE(out[0].applied) << out[0].message;
  EXPECT_EQ(committed("g"), (std::map<kafka::TopicPartition, int64_t>{{{"orders", 0}, 30}}));
}

TEST_F(GroupReconcilerTest, AGroupWithMembersIsNotTouchedAndRetried) {
  admin.commit("g", "orders", 0, 150);
  admin.join("g", {"m-1", "c-1", "/h", {}});
  GroupReconciler r(admin);
  auto out = r.reset({makeGroup("g", {}, resetTo(ResetTo::Earliest))});
  EXPECT_EQ(out[0].reason, reason::kGroupNotEmpty);
  EXPECT_TRUE(out[0].retryable);
  EXPECT_THAT(out[0].message, HasSubstr("1 active member(s) (state Stable)"));
  EXPECT_EQ(admin.calls("alterGroupOffsets"), 0);
  EXPECT_EQ(committed("g").at({"orders", 0}), 150);

  admin.leave("g", "m-1");
  out = r.reset({makeGroup("g", {}, resetTo(ResetTo::Earliest))});
  EXPECT_TRUE(out[0].applied) << out[0].message;
  EXPECT_EQ(committed("g").at({"orders", 0}), 0);
}

TEST_F(GroupReconcilerTest, AConsumerJoiningBetweenPlanAndCommitIsRefusedByKafka) {
  // The double refuses commits while members exist, as Kafka does: simulate
  // the join racing the reset by failing the commit the way Kafka answers it.
  admin.commit("g", "orders", 0, 150);
  admin.failNext("alterGroupOffsets", "g", {kafka::AdminErrorCode::GroupNotEmpty, "UNKNOWN_MEMBER_ID"});
  GroupReconciler r(admin);
  auto out = r.reset({makeGroup("g", {}, resetTo(ResetTo::Earliest))});
  EXPECT_EQ(out[0].reason, reason::kGroupNotEmpty);
  EXPECT_TRUE(out[0].retryable);
  EXPECT_FALSE(out[0].applied);
}

TEST_F(GroupReconcilerTest, DryRunPlansAndCommitsNothing) {
  admin.commit("g", "orders", 0, 150);
  GroupReconciler r(admin, {.dryRun = true});
  auto out = r.reset({makeGroup("g", {"orders"}, resetTo(ResetTo::Earliest))});
  EXPECT_EQ(out[0].reason, reason::kResetPlanned);
  EXPECT_TRUE(out[0].converged);
  EXPECT_FALSE(out[0].applied);
  EXPECT_EQ(describe(out[0].partitions.at(0)), "orders-0: 150 → 0");
  EXPECT_EQ(admin.mutations(), 0);
  EXPECT_EQ(committed("g").at({"orders", 0}), 150);
}

TEST_F(GroupReconcilerTest, ResetOfAMissingTopicIsRefused) {
  auto spec = resetTo(ResetTo::Earliest);
  spec.topics = {"nope"};
  GroupReconciler r(admin);
  auto out = r.reset({makeGroup("g", {}, spec)});
  EXPECT_EQ(out[0].reason, reason::kTopicNotFound);
  EXPECT_FALSE(out[0].converged);
}

TEST_F(GroupReconcilerTest, ResetsOfManyGroupsShareRoundTrips) {
  std::vector<KafkaConsumerGroup> groups;
  for (int i = 0; i < 20; ++i) groups.push_back(makeGroup("g" + std::to_string(i), {"orders"}, resetTo(ResetTo::Latest)));
  GroupReconciler r(admin);
  auto out = r.reset(groups);
  for (const auto& o : out) EXPECT_TRUE(o.applied) << o.message;
  EXPECT_EQ(admin.calls("describeGroups"), 1);
  EXPECT_EQ(admin.calls("alterGroupOffsets"), 1);
  EXPECT_EQ(admin.calls("listOffsets"), 1);
}

// ---- deletion

TEST_F(GroupReconcilerTest, FinalizeDeletesEmptyGroupsOnlyWithPolicyDelete) {
  admin.commit("del", "orders", 0, 1);
  admin.commit("keep", "orders", 0, 1);
  admin.commit("busy", "orders", 0, 1);
  admin.join("busy", {"m", "c", "/h", {}});
  auto del = makeGroup("del");
  del.spec.deletionPolicy = DeletionPolicy::Delete;
  auto busy = makeGroup("busy");
  busy.spec.deletionPolicy = DeletionPolicy::Delete;
  auto gone = makeGroup("never-existed");
  gone.spec.deletionPolicy = DeletionPolicy::Delete;
  GroupReconciler r(admin);
  auto out = r.finalize({del, makeGroup("keep"), busy, gone});
  EXPECT_EQ(out[0].reason, reason::kDeleted);
  EXPECT_FALSE(admin.groupExists("del"));
  EXPECT_EQ(out[1].reason, reason::kRetained);
  EXPECT_TRUE(admin.groupExists("keep"));
  EXPECT_EQ(out[2].reason, reason::kGroupNotEmpty);
  EXPECT_TRUE(out[2].retryable);
  EXPECT_EQ(out[3].reason, reason::kDeleted);  // already gone is success
  EXPECT_TRUE(out[3].converged);
}

}  // namespace
}  // namespace tributary::op::group
