// KafkaTopic spec parsing: defaults, and one error per bad field, naming it.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include "operator/topic/kafka_topic.h"

namespace tributary::op::topic {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

json topicObject(json spec, json metadata = {{"name", "orders"}, {"namespace", "shop"}}) {
  return {{"apiVersion", "tributary.dev/v1alpha1"}, {"kind", "KafkaTopic"}, {"metadata", metadata}, {"spec", spec}};
}

TEST(KafkaTopicSpec, DefaultsTopicNameClusterPolicyAndReplicationFactor) {
  auto r = parseKafkaTopic(topicObject({{"partitions", 6}}));
  ASSERT_TRUE(r.topic) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.topic->spec.topicName, "orders");
  EXPECT_EQ(r.topic->spec.partitions, 6);
  EXPECT_EQ(r.topic->spec.replicationFactor, -1);
  EXPECT_EQ(r.topic->spec.cluster, "default");
  EXPECT_EQ(r.topic->spec.deletionPolicy, DeletionPolicy::Retain);
  EXPECT_FALSE(r.topic->spec.paused);
  EXPECT_EQ(r.topic->resource.namespace_, "shop");
  EXPECT_EQ(r.topic->resource.name, "orders");
}

TEST(KafkaTopicSpec, ReadsEveryField) {
  json meta = {{"name", "orders"},
               {"namespace", "shop"},
               {"uid", "u-1"},
               {"creationTimestamp", "2026-01-02T03:04:05Z"},
               {"generation", 4},
               {"annotations", {{"tributary.dev/paused", "true"}}}};
  auto r = parseKafkaTopic(topicObject({{"topicName", "shop.orders.v1"},
                                        {"partitions", 12},
                                        {"replicationFactor", 3},
                                        {"config", {{"retention.ms", "3600000"}, {"cleanup.policy", "compact"}}},
                                        {"deletionPolicy", "Delete"},
                                        {"cluster", "analytics"}},
                                       meta));
  ASSERT_TRUE(r.topic) << ::testing::PrintToString(r.errors);
  const auto& s = r.topic->spec;
  EXPECT_EQ(s.topicName, "shop.orders.v1");
  EXPECT_EQ(s.partitions, 12);
  EXPECT_EQ(s.replicationFactor, 3);
  EXPECT_EQ(s.config.at("retention.ms"), "3600000");
  EXPECT_EQ(s.config.at("cleanup.policy"), "compact");
  EXPECT_EQ(s.deletionPolicy, DeletionPolicy::Delete);
  EXPECT_EQ(s.cluster, "analytics");
  EXPECT_TRUE(s.paused);
  EXPECT_EQ(r.topic->resource.uid, "u-1");
  EXPECT_EQ(r.topic->resource.creationTimestamp, "2026-01-02T03:04:05Z");
  EXPECT_EQ(r.topic->resource.generation, 4);
}

TEST(KafkaTopicSpec, CollectsEveryErrorNamingTheField) {
  auto r = parseKafkaTopic(topicObject({{"topicName", "bad name!"},
                                        {"partitions", -3},
                                        {"replicationFactor", 0},
                                        {"config", {{"retention.ms", 3600000}, {"compact", true}}},
                                        {"deletionPolicy", "Destroy"},
                                        {"partition", 3}}));
  EXPECT_FALSE(r.topic);
  EXPECT_THAT(r.errors, UnorderedElementsAre(
                            HasSubstr("spec.topicName: not a valid Kafka topic name"),
                            "spec.partitions: must be >= 1, got -3",
                            "spec.replicationFactor: must be >= 1, or -1 for the broker default, got 0",
                            HasSubstr("spec.config.retention.ms: must be a string"),
                            HasSubstr("spec.config.compact: must be a string"),
                            "spec.deletionPolicy: must be one of Retain, Delete, got \"Destroy\"",
                            "spec.partition: unknown field"));
  EXPECT_EQ(r.resource.name, "orders");  // still known, for reporting
}

TEST(KafkaTopicSpec, WrongTypesAreErrorsNotCoercions) {
  auto r = parseKafkaTopic(topicObject({{"partitions", "6"}, {"replicationFactor", 2.5}, {"config", json::array()}}));
  EXPECT_THAT(r.errors, UnorderedElementsAre("spec.partitions: must be an integer, got string \"6\"",
                                             "spec.replicationFactor: must be an integer, got number 2.5",
                                             "spec.config: must be an object of strings, got array"));
}

TEST(KafkaTopicSpec, PartitionsAreRequiredAndSpecMustExist) {
  EXPECT_THAT(parseKafkaTopic(topicObject(json::object())).errors, ElementsAre("spec.partitions: required"));
  json noSpec = {{"apiVersion", "tributary.dev/v1alpha1"}, {"kind", "KafkaTopic"}, {"metadata", {{"name", "x"}}}};
  EXPECT_THAT(parseKafkaTopic(noSpec).errors, ElementsAre(HasSubstr("spec: required")));
}

TEST(KafkaTopicSpec, NullFieldsAreUnset) {
  auto r = parseKafkaTopic(topicObject({{"partitions", 2}, {"config", nullptr}, {"topicName", nullptr}}));
  ASSERT_TRUE(r.topic) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.topic->spec.topicName, "orders");
  EXPECT_TRUE(r.topic->spec.config.empty());
}

TEST(KafkaTopicSpec, MetadataNameAndKindAreChecked) {
  json o = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", json::object()}, {"spec", {{"partitions", 1}}}};
  EXPECT_THAT(parseKafkaTopic(o).errors,
              UnorderedElementsAre(HasSubstr("apiVersion: must be tributary.dev/v1alpha1"),
                                   HasSubstr("kind: must be KafkaTopic"), "metadata.name: required"));
}

TEST(KafkaTopicSpec, MetadataNameMustBeAValidTopicNameWhenTopicNameIsAbsent) {
  auto r = parseKafkaTopic(topicObject({{"partitions", 1}}, {{"name", std::string(250, 'a')}}));
  EXPECT_THAT(r.errors, ElementsAre(HasSubstr("metadata.name: not a valid Kafka topic name")));
}

TEST(KafkaTopicSpec, PausedAnnotationMustBeTrueOrFalse) {
  auto r = parseKafkaTopic(topicObject({{"partitions", 1}}, {{"name", "a"}, {"annotations", {{"tributary.dev/paused", "yes"}}}}));
  EXPECT_THAT(r.errors, ElementsAre(HasSubstr("metadata.annotations.tributary.dev/paused: must be \"true\" or \"false\"")));
}

}  // namespace
}  // namespace tributary::op::topic
