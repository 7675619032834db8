// planReset and LagHistory: pure, no Kafka.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "operator/group/lag_history.h"
#include "operator/group/offset_reset.h"

namespace tributary::op::group {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

ResetInputs inputs() {
  ResetInputs in;
  in.logs = {{{"t", 0}, {10, 100}}, {{"t", 1}, {0, 0}}};
  in.committed = {{{"t", 0}, 50}};
  return in;
}

std::vector<std::string> lines(const ResetPlan& plan) {
  std::vector<std::string> out;
  for (const auto& p : plan.partitions) out.push_back(describe(p));
  return out;
}

TEST(PlanReset, EveryModeAndItsClamping) {
  OffsetResetSpec r;
  r.to = ResetTo::Earliest;
  EXPECT_THAT(lines(planReset(r, inputs())), ElementsAre("t-0: 50 → 10", "t-1: (none) → 0"));
  r.to = ResetTo::Latest;
  EXPECT_THAT(lines(planReset(r, inputs())), ElementsAre("t-0: 50 → 100", "t-1: (none) → 0"));
  r.to = ResetTo::Shift;
  r.shiftBy = -45;
  EXPECT_THAT(lines(planReset(r, inputs())), ElementsAre("t-0: 50 → 10", "t-1: (none) → 0"));
  r.shiftBy = std::numeric_limits<int64_t>::max();  // saturates, then clamps
  EXPECT_THAT(lines(planReset(r, inputs())), ElementsAre("t-0: 50 → 100", "t-1: (none) → 0"));
  r.to = ResetTo::Timestamp;
  auto in = inputs();
  in.byTimestamp = {{{"t", 0}, 70}, {{"t", 1}, -1}};
  EXPECT_THAT(lines(planReset(r, in)), ElementsAre("t-0: 50 → 70", "t-1: (none) → 0"));
}

TEST(PlanReset, ExplicitOffsetsAreCheckedAgainstTheRange) {
  OffsetResetSpec r;
  r.to = ResetTo::Offsets;
  r.offsets = {{"t", 0, 5}, {"t", 0, 100}, {"t", 7, 1}};
  auto plan = planReset(r, inputs());
  EXPECT_THAT(plan.errors, ElementsAre(HasSubstr("t-0: offset 5 is out of range [10, 100]"),
                                       HasSubstr("t-7: no such partition")));
  EXPECT_THAT(lines(plan), ElementsAre("t-0: 50 → 100"));
}

TEST(LagHistory, InterpolatesWhenTheLogEndPassedTheCommittedOffset) {
  using namespace std::chrono;
  LagHistory h;
  const kafka::TopicPartition tp{"t", 0};
  const auto t0 = system_clock::time_point(seconds(10'000));
  h.record(tp, 0, t0);
  EXPECT_EQ(h.lagSeconds(tp, 0, t0), 0);  // nothing to consume
  h.record(tp, 100, t0 + seconds(100));  // 100 records over 100 s
  // offset 49 (the 50th record) was written about 50 s after t0; now is t0+100s
  EXPECT_EQ(h.lagSeconds(tp, 49, t0 + seconds(100)), 50);
  EXPECT_EQ(h.lagSeconds(tp, 100, t0 + seconds(100)), 0);
  h.record(tp, 100, t0 + seconds(200));  // nothing new
  EXPECT_EQ(h.lagSeconds(tp, 49, t0 + seconds(200)), 150);
}

TEST(LagHistory, OlderThanTheHistoryIsALowerBoundAndUnknownAtFirst) {
  using namespace std::chrono;
  LagHistory h;
  const kafka::TopicPartition tp{"t", 0};
  const auto t0 = system_clock::time_point(seconds(10'000));
  h.record(tp, 500, t0);
  EXPECT_FALSE(h.lagSeconds(tp, 10, t0));  // one sample: cannot tell
  h.record(tp, 600, t0 + seconds(30));
  EXPECT_EQ(h.lagSeconds(tp, 10, t0 + seconds(30)), 30);  // at least as old as the history
}

TEST(LagHistory, SweepForgetsPartitionsNoLongerReported) {
  LagHistory h;
  const auto now = std::chrono::system_clock::now();
  h.record({"a", 0}, 1, now);
  h.record({"b", 0}, 1, now);
  h.sweep();
  h.record({"a", 0}, 2, now);
  h.sweep();
  EXPECT_EQ(h.partitions(), 1u);
}

}  // namespace
}  // namespace tributary::op::group
