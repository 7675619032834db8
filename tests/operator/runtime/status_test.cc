// Conditions, finalizers and event-filter predicates: pure functions on JSON.
#include <gtest/gtest.h>

#include "operator/runtime/conditions.h"
#include "operator/runtime/errors.h"
#include "operator/runtime/finalizers.h"
#include "operator/runtime/predicates.h"

namespace tributary::op::runtime {
namespace {

using nlohmann::json;
using namespace std::chrono;

system_clock::time_point at(int hour, int minute, int second) {
  return sys_days{year{2026} / November / 30} + hours(hour) + minutes(minute) + seconds(second);
}

Condition ready(std::string status, std::string reason, std::string message = "", std::int64_t generation = 1) {
  return Condition{"Ready", std::move(status), std::move(reason), std::move(message), generation, ""};
}

TEST(FormatRfc3339Test, UtcWithWholeSeconds) {
  EXPECT_EQ(formatRfc3339(at(12, 0, 0)), "2026-11-30T12:00:00Z");
  EXPECT_EQ(formatRfc3339(at(9, 5, 7) + milliseconds(999)), "2026-11-30T09:05:07Z");
}

TEST(SetConditionTest, AddsANewConditionWithTransitionTimeNow) {
  json status;  // null: no status yet
  EXPECT_TRUE(setCondition(status, ready("True", "TopicReady", "topic orders has 6 partitions", 3), at(12, 0, 0)));
  EXPECT_EQ(status, json::parse(R"({"conditions":[{"type":"Ready","status":"True","reason":"TopicReady",
      "message":"topic orders has 6 partitions","observedGeneration":3,"lastTransitionTime":"2026-11-30T12:00:00Z"}]})"));
}

TEST(SetConditionTest, SameConditionAgainChangesNothing) {
  json status;
  setCondition(status, ready("True", "TopicReady"), at(12, 0, 0));
  const json before = status;
  EXPECT_FALSE(setCondition(status, ready("True", "TopicReady"), at(13, 0, 0)));
  EXPECT_EQ(status, before);
}

TEST(SetConditionTest, KeepsTransitionTimeWhenOnlyReasonOrMessageChange) {
  json status;
  setCondition(status, ready("False", "KafkaUnavailable", "brokers down"), at(12, 0, 0));
  EXPECT_TRUE(setCondition(status, ready("False", "InvalidConfig", "retention.ms: not a number"), at(12, 30, 0)));
  const auto c = findCondition(status, "Ready");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->reason, "InvalidConfig");
  EXPECT_EQ(c->message, "retention.ms: not a number");
  EXPECT_EQ(c->lastTransitionTime, "2026-11-30T12:00:00Z");
}

TEST(SetConditionTest, ChangesTransitionTimeWhenStatusFlips) {
  json status;
  setCondition(status, ready("False", "KafkaUnavailable"), at(12, 0, 0));
  EXPECT_TRUE(setCondition(status, ready("True", "TopicReady"), at(12, 45, 10)));
  EXPECT_EQ(findCondition(status, "Ready")->lastTransitionTime, "2026-11-30T12:45:10Z");
  EXPECT_EQ(findCondition(status, "Ready")->status, "True");
}

TEST(SetConditionTest, UpdatesObservedGenerationWithoutATransition) {
  json status;
  setCondition(status, ready("True", "TopicReady", "", 1), at(12, 0, 0));
  EXPECT_TRUE(setCondition(status, ready("True", "TopicReady", "", 2), at(12, 5, 0)));
  const auto c = findCondition(status, "Ready");
  EXPECT_EQ(c->observedGeneration, 2);
  EXPECT_EQ(c->lastTransitionTime, "2026-11-30T12:00:00Z");
}

TEST(SetConditionTest, ConditionsOfOtherTypesAndOtherStatusFieldsAreKept) {
  json status = {{"topicName", "orders"}, {"partitions", 6}};
  setCondition(status, ready("True", "TopicReady"), at(12, 0, 0));
  setCondition(status, Condition{"Paused", "False", "NotPaused", "", 1, ""}, at(12, 1, 0));
  setCondition(status, ready("False", "KafkaUnavailable"), at(12, 2, 0));
  EXPECT_EQ(status["topicName"], "orders");
  EXPECT_EQ(status["partitions"], 6);
  ASSERT_EQ(status["conditions"].size(), 2u);
  EXPECT_EQ(findCondition(status, "Paused")->lastTransitionTime, "2026-11-30T12:01:00Z");
  EXPECT_EQ(findCondition(status, "Ready")->status, "False");
}

TEST(SetConditionTest, RejectsWhatTheApiServerWouldReject) {
  json status;
  EXPECT_THROW(setCondition(status, ready("Yes", "TopicReady"), at(12, 0, 0)), ControllerRuntimeError);
  EXPECT_THROW(setCondition(status, ready("True", "topic ready"), at(12, 0, 0)), ControllerRuntimeError);
  EXPECT_THROW(setCondition(status, ready("True", "topicReady"), at(12, 0, 0)), ControllerRuntimeError);
  EXPECT_THROW(setCondition(status, ready("True", ""), at(12, 0, 0)), ControllerRuntimeError);
  EXPECT_THROW(setCondition(status, Condition{"", "True", "Ok", "", 1, ""}, at(12, 0, 0)), ControllerRuntimeError);
  EXPECT_TRUE(status.is_null());  // nothing half-written
}

TEST(FindConditionTest, AbsentOrMalformedStatusHasNoCondition) {
  EXPECT_FALSE(findCondition(json(), "Ready"));
  EXPECT_FALSE(findCondition(json::object(), "Ready"));
  EXPECT_FALSE(findCondition(json{{"conditions", "nope"}}, "Ready"));
  EXPECT_FALSE(findCondition(json::parse(R"({"conditions":[{"type":"Other","status":"True"}]})"), "Ready"));
}

TEST(StatusChangedTest, ComparesSemantically) {
  const json a = json::parse(R"({"partitions":6,"conditions":[{"type":"Ready","status":"True"},{"type":"Paused","status":"False"}]})");
  const json reordered = json::parse(R"({"conditions":[{"status":"False","type":"Paused"},{"type":"Ready","status":"True"}],"partitions":6})");
  EXPECT_FALSE(statusChanged(a, reordered));
  EXPECT_FALSE(statusChanged(json(), json::object()));  // no status == empty status
  json b = a;
  b["partitions"] = 8;
  EXPECT_TRUE(statusChanged(a, b));
  json c = a;
  c["conditions"][0]["message"] = "now with a message";
  EXPECT_TRUE(statusChanged(a, c));
  EXPECT_TRUE(statusChanged(json(), a));
}

TEST(StatusChangedTest, ReSettingTheSameConditionLeavesStatusUnchanged) {
  json old;
  setCondition(old, ready("True", "TopicReady", "", 4), at(12, 0, 0));
  json next = old;
  setCondition(next, ready("True", "TopicReady", "", 4), at(18, 0, 0));  // a later resync
  EXPECT_FALSE(statusChanged(old, next));  // so no status write
}

TEST(FinalizerTest, AddHasRemove) {
  json topic = json::parse(R"({"metadata":{"name":"orders","namespace":"shop"}})");
  EXPECT_FALSE(hasFinalizer(topic, "tributary.dev/topic"));
  EXPECT_TRUE(addFinalizer(topic, "tributary.dev/topic"));
  EXPECT_TRUE(hasFinalizer(topic, "tributary.dev/topic"));
  EXPECT_FALSE(addFinalizer(topic, "tributary.dev/topic"));  // already there
  EXPECT_EQ(topic["metadata"]["finalizers"], json::array({"tributary.dev/topic"}));
  EXPECT_TRUE(removeFinalizer(topic, "tributary.dev/topic"));
  EXPECT_FALSE(hasFinalizer(topic, "tributary.dev/topic"));
  EXPECT_FALSE(removeFinalizer(topic, "tributary.dev/topic"));  // already gone
  EXPECT_EQ(topic["metadata"]["finalizers"], json::array());
}

TEST(FinalizerTest, OtherFinalizersAreKeptInOrder) {
  json topic = json::parse(R"({"metadata":{"finalizers":["a.example/x","tributary.dev/topic","b.example/y"]}})");
  EXPECT_TRUE(removeFinalizer(topic, "tributary.dev/topic"));
  EXPECT_EQ(topic["metadata"]["finalizers"], json::parse(R"(["a.example/x","b.example/y"])"));
  EXPECT_TRUE(addFinalizer(topic, "tributary.dev/topic"));
  EXPECT_EQ(topic["metadata"]["finalizers"], json::parse(R"(["a.example/x","b.example/y","tributary.dev/topic"])"));
}

// What the controllers send instead of a PUT of the stored copy: only the
// finalizers, guarded by the resourceVersion read (a stale one is a 409).
TEST(FinalizerTest, ThePatchCarriesOnlyTheFinalizersAndTheResourceVersion) {
  json topic = json::parse(R"({"metadata":{"name":"orders","resourceVersion":"42","labels":{"a":"b"}},
                               "spec":{"partitions":3}})");
  addFinalizer(topic, "tributary.dev/topic");
  EXPECT_EQ(finalizerPatch(topic),
            json::parse(R"({"metadata":{"finalizers":["tributary.dev/topic"],"resourceVersion":"42"}})"));
  removeFinalizer(topic, "tributary.dev/topic");
  EXPECT_EQ(finalizerPatch(topic), json::parse(R"({"metadata":{"finalizers":null,"resourceVersion":"42"}})"))
      << "the last finalizer gone: the field goes";
}

TEST(FinalizerTest, ObjectWithoutMetadata) {
  json object = json::object();
  EXPECT_FALSE(hasFinalizer(object, "f"));
  EXPECT_FALSE(removeFinalizer(object, "f"));
  EXPECT_EQ(object, json::object());
  EXPECT_TRUE(addFinalizer(object, "f"));
  EXPECT_EQ(object, json::parse(R"({"metadata":{"finalizers":["f"]}})"));
}

json object(int generation, json annotations = nullptr, json labels = nullptr, json deletionTimestamp = nullptr) {
  json o = {{"metadata", {{"name", "orders"}, {"generation", generation}}}, {"spec", {{"partitions", 6}}}};
  if (!annotations.is_null()) o["metadata"]["annotations"] = annotations;
  if (!labels.is_null()) o["metadata"]["labels"] = labels;
  if (!deletionTimestamp.is_null()) o["metadata"]["deletionTimestamp"] = deletionTimestamp;
  return o;
}

TEST(PredicateTest, OwnStatusWriteTriggersNothing) {
  json before = object(3);
  before["metadata"]["resourceVersion"] = "41";
  json after = before;
  after["status"] = {{"conditions", json::array({{{"type", "Ready"}, {"status", "True"}}})}};
  after["metadata"]["resourceVersion"] = "42";
  EXPECT_FALSE(generationChanged(before, after));
  EXPECT_FALSE(annotationsOrLabelsChanged(before, after));
  EXPECT_FALSE(deletionStarted(before, after));
  EXPECT_FALSE(isResync(before, after));
  EXPECT_FALSE(reconcileWorthyUpdate(before, after));
}

TEST(PredicateTest, InformerResyncPassesSoDriftIsCorrected) {
  json stored = object(3);
  stored["metadata"]["resourceVersion"] = "42";
  EXPECT_TRUE(isResync(stored, stored));
  EXPECT_TRUE(reconcileWorthyUpdate(stored, stored));
  EXPECT_FALSE(isResync(object(3), object(3)));  // no resourceVersion: cannot tell, not a resync
}

TEST(PredicateTest, SpecEditBumpsGeneration) {
  EXPECT_TRUE(generationChanged(object(3), object(4)));
  EXPECT_TRUE(reconcileWorthyUpdate(object(3), object(4)));
}

TEST(PredicateTest, PauseAndUnpauseAnnotations) {
  const json paused = object(3, {{"tributary.dev/paused", "true"}});
  EXPECT_TRUE(annotationsOrLabelsChanged(object(3), paused));
  EXPECT_TRUE(annotationsOrLabelsChanged(paused, object(3)));
  EXPECT_TRUE(reconcileWorthyUpdate(paused, object(3)));
  EXPECT_FALSE(annotationsOrLabelsChanged(object(3), object(3, json::object())));  // absent == {}
}

TEST(PredicateTest, LabelChanges) {
  EXPECT_TRUE(annotationsOrLabelsChanged(object(1, nullptr, {{"team", "a"}}), object(1, nullptr, {{"team", "b"}})));
  EXPECT_FALSE(annotationsOrLabelsChanged(object(1, nullptr, {{"team", "a"}}), object(1, nullptr, {{"team", "a"}})));
}

TEST(PredicateTest, DeletionStartedOnlyWhenTheTimestampAppears) {
  const json deleting = object(3, nullptr, nullptr, "2026-11-30T12:00:00Z");
  EXPECT_TRUE(deletionStarted(object(3), deleting));
  EXPECT_TRUE(reconcileWorthyUpdate(object(3), deleting));
  EXPECT_FALSE(deletionStarted(deleting, deleting));  // e.g. a finalizer removed later
  EXPECT_FALSE(deletionStarted(object(3), object(3)));
}

TEST(PredicateTest, MalformedObjectsDoNotThrow) {
  EXPECT_FALSE(generationChanged(json(), json()));
  EXPECT_TRUE(generationChanged(json(), object(1)));
  EXPECT_FALSE(deletionStarted(json("x"), json(42)));
  EXPECT_FALSE(isResync(json(), json()));
}

}  // namespace
}  // namespace tributary::op::runtime
