// KafkaConsumerGroup spec parsing: defaults, every field, and one error per bad
// field naming it (cross-field rules included), all collected at once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "operator/group/kafka_consumer_group.h"

namespace tributary::op::group {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

json groupObject(json spec, json metadata = {{"name", "orders-consumers"}, {"namespace", "shop"}}) {
  json o = {{"apiVersion", "tributary.dev/v1alpha1"}, {"kind", "KafkaConsumerGroup"}, {"metadata", metadata}};
  if (!spec.is_null()) o["spec"] = spec;
  return o;
}

TEST(KafkaConsumerGroupSpec, DefaultsGroupIdClusterAndPolicy) {
  auto r = parseKafkaConsumerGroup(groupObject(nullptr));
  ASSERT_TRUE(r.group) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.group->spec.groupId, "orders-consumers");
  EXPECT_EQ(r.group->spec.cluster, "default");
  EXPECT_EQ(r.group->spec.deletionPolicy, DeletionPolicy::Retain);
  EXPECT_TRUE(r.group->spec.topics.empty());
  EXPECT_FALSE(r.group->spec.offsetReset);
  EXPECT_FALSE(r.group->spec.scaleTarget);
  EXPECT_EQ(r.group->resource.kind, "KafkaConsumerGroup");
  EXPECT_EQ(r.group->resource.namespace_, "shop");
}

TEST(KafkaConsumerGroupSpec, ReadsEveryField) {
  auto r = parseKafkaConsumerGroup(groupObject(
      {{"groupId", "orders-service"},
       {"cluster", "east"},
       {"topics", {"orders", "refunds"}},
       {"deletionPolicy", "Delete"},
       {"offsetReset", {{"requestId", "r1"}, {"to", "timestamp"}, {"timestamp", "2026-01-31T12:00:00.250+01:00"},
                        {"topics", {"orders"}}}},
       {"scaleTarget", {{"kind", "Deployment"}, {"name", "orders"}, {"minReplicas", 0}, {"maxReplicas", 12},
                        {"lagPerReplica", 1000}, {"activationLag", 10}, {"limitToPartitionsWithLag", true},
                        {"scaleDownStabilizationSeconds", 60}}}},
      {{"name", "x"}, {"annotations", {{"tributary.dev/paused", "true"}}}}));
  ASSERT_TRUE(r.group) << ::testing::PrintToString(r.errors);
  const auto& s = r.group->spec;
  EXPECT_EQ(s.groupId, "orders-service");
  EXPECT_EQ(s.cluster, "east");
  EXPECT_EQ(s.topics, (std::vector<std::string>{"orders", "refunds"}));
  EXPECT_EQ(s.deletionPolicy, DeletionPolicy::Delete);
  EXPECT_TRUE(s.paused);
  ASSERT_TRUE(s.offsetReset);
  EXPECT_EQ(s.offsetReset->requestId, "r1");
  EXPECT_EQ(s.offsetReset->to, ResetTo::Timestamp);
  EXPECT_EQ(s.offsetReset->timestampMs, 1769857200250);  // 2026-01-31T11:00:00.250Z
  EXPECT_EQ(s.offsetReset->topics, std::vector<std::string>{"orders"});
  ASSERT_TRUE(s.scaleTarget);
  EXPECT_EQ(s.scaleTarget->apiVersion, "apps/v1");
  EXPECT_EQ(s.scaleTarget->kind, "Deployment");
  EXPECT_EQ(s.scaleTarget->minReplicas, 0);
  EXPECT_EQ(s.scaleTarget->maxReplicas, 12);
  EXPECT_EQ(s.scaleTarget->lagPerReplica, 1000);
  EXPECT_EQ(s.scaleTarget->activationLag, 10);
  EXPECT_TRUE(s.scaleTarget->limitToPartitionsWithLag);
  EXPECT_EQ(s.scaleTarget->scaleDownStabilizationSeconds, 60);
}

TEST(KafkaConsumerGroupSpec, ShiftAndExplicitOffsets) {
  auto shift = parseKafkaConsumerGroup(groupObject({{"offsetReset", {{"requestId", "a"}, {"to", "shift"}, {"shiftBy", -100}}}}));
  ASSERT_TRUE(shift.group) << ::testing::PrintToString(shift.errors);
  EXPECT_EQ(shift.group->spec.offsetReset->shiftBy, -100);
  auto offsets = parseKafkaConsumerGroup(groupObject(
      {{"offsetReset", {{"requestId", "b"}, {"to", "offsets"},
                        {"offsets", {{{"topic", "orders"}, {"partition", 2}, {"offset", 42}}}}}}}));
  ASSERT_TRUE(offsets.group) << ::testing::PrintToString(offsets.errors);
  ASSERT_EQ(offsets.group->spec.offsetReset->offsets.size(), 1u);
  EXPECT_EQ(offsets.group->spec.offsetReset->offsets[0].partition, 2);
  EXPECT_EQ(offsets.group->spec.offsetReset->offsets[0].offset, 42);
}

TEST(KafkaConsumerGroupSpec, EveryErrorIsCollectedNamingItsField) {
  auto r = parseKafkaConsumerGroup(groupObject(
      {{"groupId", ""},
       {"topic", "orders"},
       {"topics", {"ok", "no spaces", "ok"}},
       {"deletionPolicy", "Destroy"},
       {"offsetReset", {{"to", "yesterday"}}},
       {"scaleTarget", {{"kind", "Deployment"}, {"maxReplicas", 0}, {"lagPerReplica", "100"}}}}));
  EXPECT_FALSE(r.group);
  EXPECT_THAT(r.errors, UnorderedElementsAre(
                            HasSubstr("spec.groupId: must not be empty"), HasSubstr("spec.topic: unknown field"),
                            HasSubstr("spec.topics[1]: not a valid Kafka topic name"),
                            HasSubstr("spec.topics[2]: \"ok\" is listed twice"),
                            HasSubstr("spec.deletionPolicy: must be one of Retain, Delete"),
                            HasSubstr("spec.offsetReset.requestId: required"),
                            HasSubstr("spec.offsetReset.to: must be one of earliest, latest, timestamp, offsets, shift"),
                            HasSubstr("spec.scaleTarget.name: required"),
                            HasSubstr("spec.scaleTarget.maxReplicas: must be >= 1, got 0"),
                            HasSubstr("spec.scaleTarget.lagPerReplica: must be an integer, got string")));
}

TEST(KafkaConsumerGroupSpec, EachResetModeNeedsItsOwnFieldAndNoOther) {
  auto missing = parseKafkaConsumerGroup(groupObject({{"offsetReset", {{"requestId", "a"}, {"to", "timestamp"}}}}));
  EXPECT_THAT(missing.errors, UnorderedElementsAre(HasSubstr("spec.offsetReset.timestamp: required when to is timestamp")));
  auto stray = parseKafkaConsumerGroup(groupObject({{"offsetReset", {{"requestId", "a"}, {"to", "latest"}, {"shiftBy", 5}}}}));
  EXPECT_THAT(stray.errors, UnorderedElementsAre(HasSubstr("spec.offsetReset.shiftBy: only allowed when to is shift")));
  auto badTime = parseKafkaConsumerGroup(
      groupObject({{"offsetReset", {{"requestId", "a"}, {"to", "timestamp"}, {"timestamp", "2026-02-31T00:00:00Z"}}}}));
  EXPECT_THAT(badTime.errors, UnorderedElementsAre(HasSubstr("spec.offsetReset.timestamp: not an RFC 3339 date-time")));
  auto badOffsets = parseKafkaConsumerGroup(groupObject(
      {{"offsetReset", {{"requestId", "a"}, {"to", "offsets"}, {"topics", {"orders"}},
                        {"offsets", {{{"topic", "orders"}, {"partition", -1}, {"offset", 3}},
                                     {{"topic", "refunds"}, {"partition", 0}, {"offset", -5}},
                                     {{"topic", "orders"}, {"partition", 0}}}}}}}));
  EXPECT_THAT(badOffsets.errors,
              UnorderedElementsAre(HasSubstr("spec.offsetReset.offsets[0].partition: must be >= 0, got -1"),
                                   HasSubstr("spec.offsetReset.offsets[1].offset: must be >= 0, got -5"),
                                   HasSubstr("spec.offsetReset.offsets[2].offset: required"),
                                   HasSubstr("spec.offsetReset.offsets: topic \"refunds\" is not in spec.offsetReset.topics")));
}

TEST(KafkaConsumerGroupSpec, MinReplicasAboveMaxIsRefused) {
  auto r = parseKafkaConsumerGroup(groupObject(
      {{"scaleTarget", {{"kind", "Deployment"}, {"name", "d"}, {"minReplicas", 5}, {"maxReplicas", 2}, {"lagPerReplica", 10}}}}));
  EXPECT_THAT(r.errors, UnorderedElementsAre(HasSubstr("spec.scaleTarget.minReplicas: must be <= maxReplicas (2), got 5")));
}

TEST(KafkaConsumerGroupSpec, WrongKindAndBadPausedAnnotation) {
  json o = groupObject(nullptr, {{"name", "g"}, {"annotations", {{"tributary.dev/paused", "yes"}}}});
  o["kind"] = "KafkaTopic";
  auto r = parseKafkaConsumerGroup(o);
  EXPECT_THAT(r.errors, UnorderedElementsAre(HasSubstr("kind: must be KafkaConsumerGroup"),
                                             HasSubstr("metadata.annotations.tributary.dev/paused")));
}

TEST(Rfc3339, ParsesZonesAndFractionsAndRefusesNonsense) {
  EXPECT_EQ(parseRfc3339Millis("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parseRfc3339Millis("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(parseRfc3339Millis("1970-01-01T00:00:01.5Z"), 1500);
  EXPECT_FALSE(parseRfc3339Millis("1970-01-01"));
  EXPECT_FALSE(parseRfc3339Millis("1970-01-01T00:00:00"));
  EXPECT_FALSE(parseRfc3339Millis("1970-13-01T00:00:00Z"));
  EXPECT_FALSE(parseRfc3339Millis("1970-01-01T00:00:00Zjunk"));
}

}  // namespace
}  // namespace tributary::op::group
