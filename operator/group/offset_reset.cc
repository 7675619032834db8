#include "operator/group/offset_reset.h"

#include <algorithm>

namespace tributary::op::group {

namespace {

std::string name(const TopicPartition& tp) { return tp.topic + "-" + std::to_string(tp.partition); }

std::string range(const LogRange& r) {
  return "[" + std::to_string(r.start) + ", " + std::to_string(r.end) + "]";
}

}  // namespace

std::string describe(const PartitionReset& move) {
  return name(move.partition) + ": " + (move.before ? std::to_string(*move.before) : std::string("(none)")) + " → " +
         std::to_string(move.after);
}

ResetPlan planReset(const OffsetResetSpec& reset, const ResetInputs& in) {
  ResetPlan plan;
  auto committedOf = [&](const TopicPartition& tp) -> std::optional<int64_t> {
    auto it = in.committed.find(tp);
    return it == in.committed.end() ? std::nullopt : std::optional<int64_t>(it->second);
  };
  if (reset.to == ResetTo::Offsets) {
    for (const auto& o : reset.offsets) {
      const TopicPartition tp{o.topic, o.partition};
      auto log = in.logs.find(tp);
      if (log == in.logs.end()) {
        plan.errors.push_back(name(tp) + ": no such partition in the reset's topics");
        continue;
      }
      if (o.offset < log->second.start || o.offset > log->second.end) {
        plan.errors.push_back(name(tp) + ": offset " + std::to_string(o.offset) + " is out of range " +
                              range(log->second) + " (log start, log end)");
        continue;
      }
      plan.partitions.push_back({tp, committedOf(tp), o.offset});
    }
    std::sort(plan.partitions.begin(), plan.partitions.end(),
              [](const PartitionReset& a, const PartitionReset& b) { return a.partition < b.partition; });
    return plan;
  }
  for (const auto& [tp, log] : in.logs) {
    const auto before = committedOf(tp);
    int64_t after = log.start;
    switch (reset.to) {
      case ResetTo::Earliest: after = log.start; break;
      case ResetTo::Latest: after = log.end; break;
      case ResetTo::Timestamp: {
        auto it = in.byTimestamp.find(tp);
        // No record at or after the time (Kafka answers -1): the consumer
        // starts at the end, as kafka-consumer-groups --to-datetime does.
        after = it == in.byTimestamp.end() || it->second < 0 ? log.end : it->second;
        break;
      }
      case ResetTo::Shift: {
        const int64_t from = before.value_or(log.start);
        // Saturating: shiftBy may be any int64.
        int64_t target;
        if (__builtin_add_overflow(from, reset.shiftBy, &target)) target = reset.shiftBy < 0 ? log.start : log.end;
        after = target;
        break;
      }
      case ResetTo::Offsets: break;  // handled above
    }
    after = std::clamp(after, log.start, log.end);
    plan.partitions.push_back({tp, before, after});
  }
  return plan;
}

}  // namespace tributary::op::group
