#pragma once
// Lag-driven replicas (spec.scaleTarget), as a pure decision over an explicit
// clock, so that the formula, its bounds, activation from zero and the
// scale-down stabilisation window are testable without waiting.
// KEDA's Kafka scaler in behaviour: replicas = ceil(totalLag / lagPerReplica),
// at most one per partition (per partition with lag when asked), clamped to
// [minReplicas, maxReplicas]; from zero only once lag >= activationLag; down
// like the HPA's stabilisation: never below the highest recommendation of the
// last scaleDownStabilizationSeconds.
// Threads: ScaleHistory by one thread at a time; decideScale is pure.
#include <chrono>
#include <cstdint>
#include <deque>
#include <string>

#include "operator/group/kafka_consumer_group.h"

namespace tributary::op::group {

struct ScaleInputs {
  int64_t totalLag = 0;
  int partitions = 0;         // partitions of the reported topics
  int partitionsWithLag = 0;
  int currentReplicas = 0;    // the target's scale.spec.replicas
};

struct ScaleDecision {
  int desired = 0;            // what to set (== current: nothing to do)
  int recommended = 0;        // before stabilisation
  std::string reason;         // ScaledUp, ScaledDown, ScaleDownStabilizing, NotActivated, AtDesiredScale
  std::string message;
};

// The recommendations of the last stabilisation window, per scale target.
class ScaleHistory {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  void record(TimePoint at, int recommended, std::chrono::seconds window);
  int highestSince(TimePoint since) const;  // 0 when empty

 private:
  std::deque<std::pair<TimePoint, int>> recommendations_;
};

ScaleDecision decideScale(const ScaleTargetSpec& target, const ScaleInputs& in, ScaleHistory& history,
                          std::chrono::system_clock::time_point now);

}  // namespace tributary::op::group
