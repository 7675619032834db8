// decideScale over an explicit clock: the formula, its bounds (min, max, one
// replica per partition or per partition with lag), activation from zero and
// the scale-down stabilisation window.
#include <gtest/gtest.h>

#include "operator/group/scale_decision.h"

namespace tributary::op::group {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

ScaleTargetSpec target(int min, int max, int64_t perReplica) {
  ScaleTargetSpec t;
  t.kind = "Deployment";
  t.name = "d";
  t.minReplicas = min;
  t.maxReplicas = max;
  t.lagPerReplica = perReplica;
  return t;
}

const Clock::time_point t0 = Clock::time_point(1'000'000s);

TEST(ScaleDecision, CeilOfLagPerReplicaClampedToMinMaxAndPartitions) {
  ScaleHistory h;
  auto t = target(1, 10, 100);
  EXPECT_EQ(decideScale(t, {250, 12, 12, 1}, h, t0).desired, 3);       // ceil(250/100)
  EXPECT_EQ(decideScale(t, {5000, 12, 12, 3}, h, t0).desired, 10);     // maxReplicas
  EXPECT_EQ(decideScale(t, {5000, 4, 4, 3}, h, t0).desired, 4);        // one per partition
  ScaleHistory h2;
  EXPECT_EQ(decideScale(t, {0, 12, 0, 1}, h2, t0).desired, 1);         // minReplicas
  auto limited = target(0, 10, 100);
  limited.limitToPartitionsWithLag = true;
  ScaleHistory h3;
  EXPECT_EQ(decideScale(limited, {900, 12, 2, 0}, h3, t0).desired, 2);  // only 2 partitions have lag
}

TEST(ScaleDecision, FromZeroOnlyOnceLagReachesActivation) {
  auto t = target(0, 5, 10);
  t.activationLag = 50;
  ScaleHistory h;
  auto d = decideScale(t, {49, 6, 6, 0}, h, t0);
  EXPECT_EQ(d.desired, 0);
  EXPECT_EQ(d.reason, "NotActivated");
  d = decideScale(t, {50, 6, 6, 0}, h, t0 + 30s);
  EXPECT_EQ(d.desired, 5);
  EXPECT_EQ(d.reason, "ScaledUp");
  // Running replicas are not held to the activation threshold: lag 20 keeps 2.
  d = decideScale(t, {20, 6, 6, 2}, h, t0 + 400s);
  EXPECT_EQ(d.desired, 2);
}

TEST(ScaleDecision, DownOnlyAfterTheStabilisationWindow) {
  auto t = target(0, 10, 100);
  t.scaleDownStabilizationSeconds = 300;
  ScaleHistory h;
  EXPECT_EQ(decideScale(t, {800, 12, 12, 2}, h, t0).desired, 8);
  auto d = decideScale(t, {100, 12, 12, 8}, h, t0 + 60s);
  EXPECT_EQ(d.desired, 8);
  EXPECT_EQ(d.reason, "ScaleDownStabilizing");
  d = decideScale(t, {100, 12, 12, 8}, h, t0 + 299s);
  EXPECT_EQ(d.desired, 8);
  d = decideScale(t, {100, 12, 12, 8}, h, t0 + 301s);  // the 8 fell out of the window
  EXPECT_EQ(d.desired, 1);
  EXPECT_EQ(d.reason, "ScaledDown");
  // To zero as well, once the window has only zeros.
  decideScale(t, {0, 12, 0, 1}, h, t0 + 400s);
  d = decideScale(t, {0, 12, 0, 1}, h, t0 + 800s);
  EXPECT_EQ(d.desired, 0);
}

TEST(ScaleDecision, UpIsImmediate) {
  auto t = target(1, 10, 100);
  ScaleHistory h;
  decideScale(t, {100, 12, 12, 1}, h, t0);
  auto d = decideScale(t, {950, 12, 12, 1}, h, t0 + 1s);
  EXPECT_EQ(d.desired, 10);
  EXPECT_EQ(d.reason, "ScaledUp");
}

}  // namespace
}  // namespace tributary::op::group
