// TopicReconciler table tests over the FakeClusterAdmin: one per behaviour of
// issue #4's KafkaTopic section. Assertions are on what a user sees: the
// topic in Kafka, the outcome's action/reason/details, and round trips.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "operator/kafka/admin_metrics.h"
#include "operator/topic/topic_reconciler.h"
#include "common/metrics/exposition.h"
#include "tests/operator/topic/fake_cluster_admin.h"

namespace tributary::op::topic {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using test::FakeClusterAdmin;
using Configs = std::map<std::string, std::string>;

KafkaTopic topic(const std::string& name, int partitions, Configs config = {}, int rf = -1) {
  KafkaTopic t;
  t.resource.namespace_ = "default";
  t.resource.name = name;
  t.resource.uid = "uid-" + name;
  t.resource.creationTimestamp = "2026-01-01T00:00:00Z";
  t.spec.topicName = name;
  t.spec.partitions = partitions;
  t.spec.replicationFactor = rf;
  t.spec.config = std::move(config);
  return t;
}

class TopicReconcilerTest : public ::testing::Test {
 protected:
  std::vector<TopicOutcome> reconcile(const std::vector<KafkaTopic>& topics, bool dryRun = false) {
    TopicReconciler r(admin, {.batchSize = 500, .dryRun = dryRun});
    return r.reconcile(topics);
  }
  FakeClusterAdmin admin{3};
};

TEST_F(TopicReconcilerTest, CreatesAnAbsentTopicWithItsConfig) {
  auto out = reconcile({topic("orders", 6, {{"retention.ms", "3600000"}}, 3)});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].action, TopicAction::Create);
  EXPECT_EQ(out[0].reason, "Created");
  EXPECT_TRUE(out[0].converged);
  EXPECT_TRUE(out[0].applied);
  EXPECT_THAT(out[0].details, ElementsAre("partitions 6", "replicationFactor 3", "retention.ms: 3600000"));
  auto t = admin.topic("orders");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->partitions, 6);
  EXPECT_EQ(t->replicationFactor, 3);
  EXPECT_EQ(t->dynamicConfigs, (Configs{{"retention.ms", "3600000"}}));
}

TEST_F(TopicReconcilerTest, SecondPassIsUpToDateAndWritesNothing) {
  reconcile({topic("orders", 6, {{"retention.ms", "3600000"}}, 3)});
  const int mutations = admin.mutations();
  auto out = reconcile({topic("orders", 6, {{"retention.ms", "3600000"}}, 3)});
  EXPECT_EQ(out[0].action, TopicAction::None);
  EXPECT_EQ(out[0].reason, "UpToDate");
  EXPECT_TRUE(out[0].converged);
  EXPECT_THAT(out[0].details, IsEmpty());
  EXPECT_EQ(admin.mutations(), mutations);
}

TEST_F(TopicReconcilerTest, AdoptsAnExistingTopicWhosePartitionsAndReplicasMatch) {
  admin.putTopic("legacy", {6, 3, {{"retention.ms", "3600000"}}});
  auto out = reconcile({topic("legacy", 6, {{"retention.ms", "3600000"}}, 3)});
  EXPECT_EQ(out[0].action, TopicAction::None);
  EXPECT_EQ(out[0].reason, "UpToDate");
  EXPECT_EQ(out[0].partitions, 6);
  EXPECT_EQ(out[0].replicationFactor, 3);
  EXPECT_EQ(admin.mutations(), 0);
}

TEST_F(TopicReconcilerTest, AdoptsAndConvergesConfigOfAnExistingTopic) {
  admin.putTopic("legacy", {6, 3, {}});
  auto out = reconcile({topic("legacy", 6, {{"cleanup.policy", "compact"}})});
  EXPECT_EQ(out[0].action, TopicAction::AlterConfig);
  EXPECT_THAT(out[0].details, ElementsAre("cleanup.policy: delete (default) → compact"));
  EXPECT_EQ(admin.topic("legacy")->dynamicConfigs, (Configs{{"cleanup.policy", "compact"}}));
}

TEST_F(TopicReconcilerTest, RaisesPartitions) {
  admin.putTopic("orders", {6, 3, {}});
  auto out = reconcile({topic("orders", 8)});
  EXPECT_EQ(out[0].action, TopicAction::AddPartitions);
  EXPECT_EQ(out[0].reason, "Updated");
  EXPECT_THAT(out[0].details, ElementsAre("partitions 6 → 8"));
  EXPECT_EQ(out[0].partitions, 8);
  EXPECT_EQ(admin.topic("orders")->partitions, 8);
}

TEST_F(TopicReconcilerTest, ConvergesChangedConfigValues) {
  admin.putTopic("orders", {6, 3, {{"retention.ms", "604800000"}}});
  auto out = reconcile({topic("orders", 6, {{"retention.ms", "3600000"}})});
  EXPECT_EQ(out[0].action, TopicAction::AlterConfig);
  EXPECT_THAT(out[0].details, ElementsAre("retention.ms: 604800000 → 3600000"));
  EXPECT_EQ(admin.topic("orders")->dynamicConfigs.at("retention.ms"), "3600000");
}

TEST_F(TopicReconcilerTest, KeyRemovedFromSpecReturnsToBrokerDefaultAndOthersStay) {
  admin.putTopic("orders", {6, 3, {{"cleanup.policy", "compact"}, {"retention.ms", "3600000"}}});
  auto out = reconcile({topic("orders", 6, {{"retention.ms", "3600000"}})});
  EXPECT_EQ(out[0].action, TopicAction::AlterConfig);
  EXPECT_THAT(out[0].details, ElementsAre("cleanup.policy: compact → (default)"));
  // AlterConfigs replaced the whole set: the removed key is gone, the kept one stays.
  EXPECT_EQ(admin.topic("orders")->dynamicConfigs, (Configs{{"retention.ms", "3600000"}}));
  auto described = admin.describeTopics({"orders"});
  EXPECT_EQ(described[0].description->effectiveConfigs.at("cleanup.policy"), "delete");
}

TEST_F(TopicReconcilerTest, DriftMadeOutsideTheOperatorIsCorrectedOnResync) {
  reconcile({topic("orders", 6, {{"retention.ms", "3600000"}})});
  // Someone runs kafka-configs.sh and kafka-topics.sh by hand.
  admin.putTopic("orders", {6, 3, {{"retention.ms", "1000"}, {"segment.ms", "60000"}}});
  auto out = reconcile({topic("orders", 6, {{"retention.ms", "3600000"}})});
  EXPECT_EQ(out[0].action, TopicAction::AlterConfig);
  EXPECT_THAT(out[0].details, ElementsAre("retention.ms: 1000 → 3600000", "segment.ms: 60000 → (default)"));
  EXPECT_EQ(admin.topic("orders")->dynamicConfigs, (Configs{{"retention.ms", "3600000"}}));
}

TEST_F(TopicReconcilerTest, RaisesPartitionsAndAltersConfigTogether) {
  admin.putTopic("orders", {6, 3, {}});
  auto out = reconcile({topic("orders", 8, {{"retention.ms", "3600000"}})});
  EXPECT_EQ(out[0].action, TopicAction::AddPartitionsAndAlterConfig);
  EXPECT_EQ(toString(out[0].action), "addPartitions+alterConfig");
  EXPECT_THAT(out[0].details, ElementsAre("partitions 6 → 8", "retention.ms: 604800000 (default) → 3600000"));
  EXPECT_EQ(admin.topic("orders")->partitions, 8);
  EXPECT_EQ(admin.topic("orders")->dynamicConfigs.at("retention.ms"), "3600000");
}

TEST_F(TopicReconcilerTest, RefusesPartitionDecreaseWithoutTouchingKafka) {
  admin.putTopic("orders", {12, 3, {{"retention.ms", "1"}}});
  auto out = reconcile({topic("orders", 6, {{"retention.ms", "3600000"}})});
  EXPECT_EQ(out[0].action, TopicAction::Rejected);
  EXPECT_EQ(out[0].reason, "PartitionDecreaseNotAllowed");
  EXPECT_FALSE(out[0].retryable);
  EXPECT_FALSE(out[0].converged);
  EXPECT_THAT(out[0].message, HasSubstr("has 12 partitions and the spec asks for 6"));
  EXPECT_THAT(out[0].details, ElementsAre("partitions 12 → 6"));
  EXPECT_EQ(admin.topic("orders")->partitions, 12);
  EXPECT_EQ(admin.topic("orders")->dynamicConfigs.at("retention.ms"), "1");  // not even the config
  EXPECT_EQ(admin.mutations(), 0);
}

TEST_F(TopicReconcilerTest, RefusesReplicationFactorChange) {
  admin.putTopic("orders", {6, 3, {}});
  auto out = reconcile({topic("orders", 6, {}, 2)});
  EXPECT_EQ(out[0].action, TopicAction::Rejected);
  EXPECT_EQ(out[0].reason, "ReplicationFactorChangeNotSupported");
  EXPECT_THAT(out[0].details, ElementsAre("replicationFactor 3 → 2"));
  EXPECT_EQ(admin.topic("orders")->replicationFactor, 3);
  EXPECT_EQ(admin.mutations(), 0);
}

TEST_F(TopicReconcilerTest, BrokerDefaultReplicationFactorAdoptsAnyExistingOne) {
  admin.putTopic("orders", {6, 2, {}});
  auto out = reconcile({topic("orders", 6, {}, -1)});
  EXPECT_EQ(out[0].reason, "UpToDate");
  EXPECT_EQ(out[0].replicationFactor, 2);
}

TEST_F(TopicReconcilerTest, InvalidConfigIsRefusedWithTheBrokersMessageAndTouchesNothing) {
  admin.putTopic("orders", {6, 3, {{"retention.ms", "1000"}}});
  auto out = reconcile({topic("orders", 8, {{"retention.ms", "forever"}})});
  EXPECT_EQ(out[0].action, TopicAction::Rejected);
  EXPECT_EQ(out[0].reason, "InvalidConfig");
  EXPECT_FALSE(out[0].retryable);
  EXPECT_THAT(out[0].message, HasSubstr("Invalid value forever for configuration retention.ms"));
  // Neither the config nor the partition increase of that topic happened.
  EXPECT_EQ(admin.topic("orders")->partitions, 6);
  EXPECT_EQ(admin.topic("orders")->dynamicConfigs.at("retention.ms"), "1000");
  EXPECT_FALSE(out[0].applied);
}

TEST_F(TopicReconcilerTest, UnknownConfigKeyOnCreateIsRefusedAndNothingIsCreated) {
  auto out = reconcile({topic("orders", 6, {{"retention.msec", "1"}})});
  EXPECT_EQ(out[0].reason, "InvalidConfig");
  EXPECT_THAT(out[0].message, HasSubstr("Unknown topic config name: retention.msec"));
  EXPECT_FALSE(admin.topic("orders"));
}

TEST_F(TopicReconcilerTest, MoreReplicasThanBrokersIsRefused) {
  auto out = reconcile({topic("orders", 6, {}, 5)});
  EXPECT_EQ(out[0].action, TopicAction::Rejected);
  EXPECT_EQ(out[0].reason, "InvalidReplicationFactor");
  EXPECT_THAT(out[0].message, HasSubstr("larger than available brokers: 3"));
}

TEST_F(TopicReconcilerTest, SecondResourceClaimingATopicNameIsRefusedAndTheOldestKeepsIt) {
  KafkaTopic first = topic("orders", 6);
  first.resource.name = "orders-a";
  first.resource.creationTimestamp = "2026-01-01T00:00:00Z";
  KafkaTopic second = topic("orders", 12, {{"retention.ms", "1"}});
  second.resource.name = "orders-b";
  second.resource.namespace_ = "other";
  second.resource.creationTimestamp = "2026-01-02T00:00:00Z";
  // The newer one comes first in the input: age decides, not order.
  auto out = reconcile({second, first});
  EXPECT_EQ(out[0].action, TopicAction::Rejected);
  EXPECT_EQ(out[0].reason, "TopicNameConflict");
  EXPECT_THAT(out[0].message, HasSubstr("already claimed by KafkaTopic default/orders-a"));
  EXPECT_EQ(out[1].reason, "Created");
  EXPECT_EQ(admin.topic("orders")->partitions, 6);
  EXPECT_THAT(admin.topic("orders")->dynamicConfigs, IsEmpty());
}

TEST_F(TopicReconcilerTest, SameCreationTimeFallsBackToUid) {
  KafkaTopic a = topic("orders", 6);
  a.resource.name = "a";
  a.resource.uid = "bbb";
  KafkaTopic b = topic("orders", 6);
  b.resource.name = "b";
  b.resource.uid = "aaa";
  auto out = reconcile({a, b});
  EXPECT_EQ(out[0].reason, "TopicNameConflict");
  EXPECT_EQ(out[1].reason, "Created");
}

TEST_F(TopicReconcilerTest, SameTopicNameInDifferentClustersIsNoConflict) {
  KafkaTopic a = topic("orders", 6);
  KafkaTopic b = topic("orders", 6);
  b.resource.name = "orders-analytics";
  b.spec.cluster = "analytics";
  auto out = reconcile({a, b});
  EXPECT_NE(out[0].reason, "TopicNameConflict");
  EXPECT_NE(out[1].reason, "TopicNameConflict");
}

TEST_F(TopicReconcilerTest, KafkaDownIsKafkaUnavailableAndRetryable) {
  admin.setUnavailable(true);
  auto out = reconcile({topic("orders", 6), topic("payments", 3)});
  for (const auto& o : out) {
    EXPECT_EQ(o.reason, "KafkaUnavailable");
    EXPECT_TRUE(o.retryable);
    EXPECT_FALSE(o.converged);
    EXPECT_NE(o.action, TopicAction::Rejected);
  }
  EXPECT_EQ(admin.totalCalls(), 1);  // one describe attempt, nothing more
  admin.setUnavailable(false);
  out = reconcile({topic("orders", 6), topic("payments", 3)});
  EXPECT_EQ(out[0].reason, "Created");
  EXPECT_EQ(out[1].reason, "Created");
}

TEST_F(TopicReconcilerTest, OneBadItemDoesNotSinkTheOthersInABatch) {
  admin.putTopic("grow", {2, 3, {}});
  admin.putTopic("shrink", {8, 3, {}});
  admin.putTopic("config", {2, 3, {}});
  admin.failNext("createTopics", "policy", {kafka::AdminErrorCode::PolicyViolation, "topic names must start with team-"});
  auto out = reconcile({topic("new", 3), topic("policy", 3), topic("grow", 4), topic("shrink", 4),
                        topic("config", 2, {{"cleanup.policy", "sometimes"}}), topic("config-ok", 1, {{"cleanup.policy", "compact"}})});
  EXPECT_EQ(out[0].reason, "Created");
  EXPECT_EQ(out[1].reason, "PolicyViolation");
  EXPECT_THAT(out[1].message, HasSubstr("topic names must start with team-"));
  EXPECT_EQ(out[2].reason, "Updated");
  EXPECT_EQ(out[3].reason, "PartitionDecreaseNotAllowed");
  EXPECT_EQ(out[4].reason, "InvalidConfig");
  EXPECT_EQ(out[5].reason, "Created");
  EXPECT_TRUE(admin.topic("new"));
  EXPECT_FALSE(admin.topic("policy"));
  EXPECT_EQ(admin.topic("grow")->partitions, 4);
  EXPECT_EQ(admin.topic("shrink")->partitions, 8);
  EXPECT_THAT(admin.topic("config")->dynamicConfigs, IsEmpty());
  EXPECT_EQ(admin.topic("config-ok")->dynamicConfigs.at("cleanup.policy"), "compact");
}

TEST_F(TopicReconcilerTest, PartitionStepFailingAfterConfigSaysSoAndRetries) {
  admin.putTopic("orders", {2, 3, {}});
  admin.failNext("createPartitions", "orders", {kafka::AdminErrorCode::Unavailable, "Local: Timed out"});
  auto out = reconcile({topic("orders", 4, {{"retention.ms", "1000"}})});
  EXPECT_EQ(out[0].reason, "KafkaUnavailable");
  EXPECT_TRUE(out[0].retryable);
  EXPECT_TRUE(out[0].applied);  // the config went through
  EXPECT_EQ(admin.topic("orders")->partitions, 2);
  out = reconcile({topic("orders", 4, {{"retention.ms", "1000"}})});
  EXPECT_EQ(out[0].action, TopicAction::AddPartitions);
  EXPECT_EQ(admin.topic("orders")->partitions, 4);
}

TEST_F(TopicReconcilerTest, DryRunPlansEverythingAndTouchesNothing) {
  admin.putTopic("grow", {2, 3, {{"cleanup.policy", "compact"}}});
  auto out = reconcile({topic("new", 3), topic("grow", 4, {{"retention.ms", "1000"}}),
                        topic("bad", 1, {{"retention.ms", "soon"}})},
                       /*dryRun=*/true);
  EXPECT_EQ(out[0].action, TopicAction::Create);
  EXPECT_TRUE(out[0].converged);
  EXPECT_FALSE(out[0].applied);
  EXPECT_EQ(out[1].action, TopicAction::AddPartitionsAndAlterConfig);
  EXPECT_THAT(out[1].details, ElementsAre("partitions 2 → 4", "retention.ms: 604800000 (default) → 1000",
                                          "cleanup.policy: compact → (default)"));
  // The brokers validated the plan: the bad config shows up before anything is applied.
  EXPECT_EQ(out[2].reason, "InvalidConfig");
  EXPECT_EQ(admin.mutations(), 0);
  EXPECT_FALSE(admin.topic("new"));
  EXPECT_EQ(admin.topic("grow")->partitions, 2);
}

TEST_F(TopicReconcilerTest, PausedResourceIsNotReconciled) {
  admin.putTopic("orders", {2, 3, {}});
  KafkaTopic t = topic("orders", 4);
  t.spec.paused = true;
  auto out = reconcile({t});
  EXPECT_EQ(out[0].action, TopicAction::None);
  EXPECT_EQ(out[0].reason, "ReconciliationPaused");
  EXPECT_EQ(admin.totalCalls(), 0);
  EXPECT_EQ(admin.topic("orders")->partitions, 2);
}

TEST_F(TopicReconcilerTest, RoundTripsAreOnePerKindOfChangeNotPerTopic) {
  std::vector<KafkaTopic> topics;
  for (int i = 0; i < 100; ++i) topics.push_back(topic("t" + std::to_string(i), 3));
  auto out = reconcile(topics);
  for (const auto& o : out) ASSERT_EQ(o.reason, "Created") << o.topic;
  EXPECT_EQ(admin.calls("describeTopics"), 1);
  EXPECT_EQ(admin.calls("createTopics"), 1);
  EXPECT_EQ(admin.totalCalls(), 2);

  // Steady state: 100 up-to-date topics cost one describe.
  reconcile(topics);
  EXPECT_EQ(admin.totalCalls(), 3);

  // Mixed changes: one request per kind of change.
  for (int i = 0; i < 100; ++i) {
    topics[static_cast<size_t>(i)].spec.partitions = 4;
    topics[static_cast<size_t>(i)].spec.config = {{"retention.ms", "1000"}};
  }
  reconcile(topics);
  EXPECT_EQ(admin.calls("describeTopics"), 3);
  EXPECT_EQ(admin.calls("alterConfigs"), 1);
  EXPECT_EQ(admin.calls("createPartitions"), 1);
}

TEST_F(TopicReconcilerTest, BatchSizeBoundsTopicsPerRequest) {
  std::vector<KafkaTopic> topics;
  for (int i = 0; i < 250; ++i) topics.push_back(topic("t" + std::to_string(i), 1));
  TopicReconciler r(admin, {.batchSize = 100});
  r.reconcile(topics);
  EXPECT_EQ(admin.calls("describeTopics"), 3);
  EXPECT_EQ(admin.calls("createTopics"), 3);
  EXPECT_EQ(admin.topicNames().size(), 250u);
}

TEST_F(TopicReconcilerTest, FinalizeDeletesWithDeletePolicyAndKeepsWithRetain) {
  KafkaTopic gone = topic("gone", 1);
  gone.spec.deletionPolicy = DeletionPolicy::Delete;
  KafkaTopic kept = topic("kept", 1);
  KafkaTopic already = topic("already", 1);
  already.spec.deletionPolicy = DeletionPolicy::Delete;
  reconcile({gone, kept});
  TopicReconciler r(admin);
  auto out = r.finalize({gone, kept, already});
  EXPECT_EQ(out[0].action, TopicAction::Delete);
  EXPECT_EQ(out[0].reason, "Deleted");
  EXPECT_TRUE(out[0].converged);
  EXPECT_EQ(out[1].action, TopicAction::None);
  EXPECT_EQ(out[1].reason, "Retained");
  EXPECT_EQ(out[2].reason, "Deleted");  // already gone counts as done
  EXPECT_TRUE(out[2].converged);
  EXPECT_FALSE(admin.topic("gone"));
  EXPECT_TRUE(admin.topic("kept"));
  EXPECT_EQ(admin.calls("deleteTopics"), 1);
}

TEST_F(TopicReconcilerTest, DeletingTheConflictingSecondResourceNeverDeletesTheTopic) {
  KafkaTopic owner = topic("orders", 1);
  KafkaTopic second = topic("orders", 1);
  second.resource.name = "orders-copy";
  second.spec.deletionPolicy = DeletionPolicy::Delete;
  reconcile({owner, second});
  TopicReconciler r(admin);
  auto out = r.finalize({second}, {owner});
  EXPECT_EQ(out[0].reason, "TopicStillClaimed");
  EXPECT_TRUE(admin.topic("orders"));
  EXPECT_EQ(admin.calls("deleteTopics"), 0);
}

TEST_F(TopicReconcilerTest, FinalizeWhileKafkaIsDownIsRetryable) {
  KafkaTopic t = topic("orders", 1);
  t.spec.deletionPolicy = DeletionPolicy::Delete;
  reconcile({t});
  admin.setUnavailable(true);
  TopicReconciler r(admin);
  auto out = r.finalize({t});
  EXPECT_EQ(out[0].reason, "KafkaUnavailable");
  EXPECT_TRUE(out[0].retryable);
  EXPECT_FALSE(out[0].converged);
  admin.setUnavailable(false);
  EXPECT_TRUE(admin.topic("orders"));
}

TEST_F(TopicReconcilerTest, DryRunFinalizeDeletesNothing) {
  KafkaTopic t = topic("orders", 1);
  t.spec.deletionPolicy = DeletionPolicy::Delete;
  reconcile({t});
  TopicReconciler r(admin, {.dryRun = true});
  auto out = r.finalize({t});
  EXPECT_EQ(out[0].action, TopicAction::Delete);
  EXPECT_FALSE(out[0].applied);
  EXPECT_TRUE(admin.topic("orders"));
}

TEST(AdminMetricsTest, CountsCallsByOperationAndResult) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto metrics = std::make_shared<kafka::AdminMetrics>(*registry);
  auto fake = std::make_unique<FakeClusterAdmin>();
  FakeClusterAdmin* raw = fake.get();
  kafka::InstrumentedClusterAdmin admin(std::move(fake), metrics);
  TopicReconciler r(admin);
  r.reconcile({topic("orders", 1)});
  raw->setUnavailable(true);
  r.reconcile({topic("orders", 1)});
  const std::string text = renderMetrics({registry});
  // describe of an absent topic is an item error; the create succeeded.
  EXPECT_THAT(text, HasSubstr("tributary_operator_kafka_admin_calls_total{operation=\"describeTopics\",result=\"error\"} 1"));
  EXPECT_THAT(text, HasSubstr("tributary_operator_kafka_admin_calls_total{operation=\"createTopics\",result=\"success\"} 1"));
  EXPECT_THAT(text, HasSubstr("tributary_operator_kafka_admin_calls_total{operation=\"describeTopics\",result=\"unavailable\"} 1"));
}

}  // namespace
}  // namespace tributary::op::topic
