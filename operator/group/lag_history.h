#pragma once
// Lag in seconds without reading records: each lag pass records every
// partition's log-end offset with the time it was seen; the age of the oldest
// unconsumed record (at the committed offset) is then when the log end passed
// that offset, interpolated between two samples — kafka-lag-exporter's method.
// Reading the record at each committed offset for its timestamp would cost a
// fetch per lagging partition per pass (12 000 for 1000 groups x 12
// partitions); this costs nothing beyond the offsets each pass already asks.
// Threads: one thread at a time (the lag loop's).
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "operator/kafka/cluster_admin.h"

namespace tributary::op::group {

class LagHistory {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  explicit LagHistory(size_t samplesPerPartition = 64);

  // Records a partition's log end at `now` (a flat log end keeps only its latest time).
  void record(const kafka::TopicPartition& tp, int64_t logEnd, TimePoint now);
  // The age of the record at `committed`: 0 when there is nothing to consume;
  // a lower bound (the oldest sample's age) when it predates the history;
  // unset when the history cannot tell yet (first pass).
  std::optional<int64_t> lagSeconds(const kafka::TopicPartition& tp, int64_t committed, TimePoint now) const;
  // Forgets partitions no pass reported since the last call (deleted topics,
  // groups gone), so the history stays as large as what is watched.
  void sweep();
  size_t partitions() const { return samples_.size(); }

 private:
  struct Sample {
    int64_t logEnd;
    TimePoint at;
  };
  const size_t capacity_;
  // A vector, not a deque: libstdc++ gives every deque a 512-byte block, ~600 B per
  // partition even for the one or two samples of a flat log (7 MiB at 12 000 partitions).
  std::map<kafka::TopicPartition, std::vector<Sample>> samples_;
  std::set<kafka::TopicPartition> touched_;
};

}  // namespace tributary::op::group
