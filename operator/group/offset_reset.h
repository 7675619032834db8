#pragma once
// Offset-reset planning: from a spec's offsetReset, the group's committed
// offsets and the partitions' log ranges, the offset each partition moves to.
// Pure functions, any thread; the GroupReconciler gathers the inputs.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "operator/group/kafka_consumer_group.h"
#include "operator/kafka/cluster_admin.h"

namespace tributary::op::group {

using kafka::TopicPartition;

struct LogRange {
  int64_t start = 0;  // log-start offset (the earliest record still there)
  int64_t end = 0;    // log-end offset (the next offset to be written)
};

// One partition's move, "before → after".
struct PartitionReset {
  TopicPartition partition;
  std::optional<int64_t> before;  // unset: the group had no committed offset
  int64_t after = 0;
};

struct ResetPlan {
  std::vector<PartitionReset> partitions;  // in topic, partition order
  std::vector<std::string> errors;         // refusals, each naming the partition and the range
};

struct ResetInputs {
  // Every partition in the reset's scope with its log range (the scope's topics
  // are resolved by the caller: offsetReset.topics, else spec.topics, else the
  // topics the group has offsets for).
  std::map<TopicPartition, LogRange> logs;
  std::map<TopicPartition, int64_t> committed;
  // to: timestamp — what ListOffsets answered per partition (-1: no record at or after the time).
  std::map<TopicPartition, int64_t> byTimestamp;
};

// earliest → log start; latest → log end; timestamp → the first offset at or
// after the time, the log end when no record is that new; shift → committed
// (log start when none) + shiftBy, clamped to [log start, log end]; offsets →
// exactly those, refused when outside [log start, log end] or naming a
// partition that does not exist (a partition outside the scope's topics too).
ResetPlan planReset(const OffsetResetSpec& reset, const ResetInputs& inputs);

// "orders-3: 120 → 0" / "orders-3: (none) → 0": how plans and status show a move.
std::string describe(const PartitionReset& move);

}  // namespace tributary::op::group
