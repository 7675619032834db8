#include "operator/group/scale_decision.h"

#include <algorithm>

namespace tributary::op::group {

void ScaleHistory::record(TimePoint at, int recommended, std::chrono::seconds window) {
  recommendations_.emplace_back(at, recommended);
  while (!recommendations_.empty() && recommendations_.front().first < at - window) recommendations_.pop_front();
}

int ScaleHistory::highestSince(TimePoint since) const {
  int best = 0;
  for (const auto& [at, n] : recommendations_)
    if (at >= since) best = std::max(best, n);
  return best;
}

ScaleDecision decideScale(const ScaleTargetSpec& t, const ScaleInputs& in, ScaleHistory& history,
                          std::chrono::system_clock::time_point now) {
  ScaleDecision d;
  const int64_t lag = std::max<int64_t>(0, in.totalLag);
  // ceil(lag / lagPerReplica) without overflow, then at most one replica per
  // partition: a consumer group never uses more members than partitions.
  int64_t replicas = lag / t.lagPerReplica + (lag % t.lagPerReplica ? 1 : 0);
  const int cap = t.limitToPartitionsWithLag ? in.partitionsWithLag : in.partitions;
  if (cap > 0) replicas = std::min<int64_t>(replicas, cap);
  replicas = std::clamp<int64_t>(replicas, t.minReplicas, t.maxReplicas);
  d.recommended = static_cast<int>(replicas);
  const std::string formula = "lag " + std::to_string(lag) + " / lagPerReplica " + std::to_string(t.lagPerReplica);

  // From zero only once the lag reaches activationLag.
  if (in.currentReplicas == 0 && d.recommended > 0 && t.minReplicas == 0 && lag < t.activationLag) {
    d.recommended = 0;
    d.desired = 0;
    d.reason = "NotActivated";
    d.message = "lag " + std::to_string(lag) + " is below activationLag " + std::to_string(t.activationLag) +
                ": staying at 0 replicas";
    history.record(now, 0, std::chrono::seconds(t.scaleDownStabilizationSeconds));
    return d;
  }
  const auto window = std::chrono::seconds(t.scaleDownStabilizationSeconds);
  history.record(now, d.recommended, window);
  if (d.recommended > in.currentReplicas) {
    d.desired = d.recommended;
    d.reason = "ScaledUp";
    d.message = formula + " → " + std::to_string(d.desired) + " replicas (from " + std::to_string(in.currentReplicas) + ")";
  } else if (d.recommended < in.currentReplicas) {
    // The highest recommendation of the window, never above the current count.
    d.desired = std::min(in.currentReplicas, std::max(d.recommended, history.highestSince(now - window)));
    if (d.desired < in.currentReplicas) {
      d.reason = "ScaledDown";
      d.message = formula + " → " + std::to_string(d.desired) + " replicas (from " + std::to_string(in.currentReplicas) + ")";
    } else {
      d.reason = "ScaleDownStabilizing";
      d.message = "would scale down to " + std::to_string(d.recommended) + " but a higher recommendation is within " +
                  "the last " + std::to_string(t.scaleDownStabilizationSeconds) + " s";
    }
  } else {
    d.desired = in.currentReplicas;
    d.reason = "AtDesiredScale";
    d.message = formula + " → " + std::to_string(d.desired) + " replicas";
  }
  return d;
}

}  // namespace tributary::op::group
