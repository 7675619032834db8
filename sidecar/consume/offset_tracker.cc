#include "sidecar/consume/offset_tracker.h"

#include <algorithm>

namespace tributary::sidecar {

void OffsetTracker::assign(const TopicPartition& tp) { partitions_[tp] = State{}; }

void OffsetTracker::revoke(const TopicPartition& tp) { partitions_.erase(tp); }

void OffsetTracker::fetched(const TopicPartition& tp, int64_t offset) {
  auto it = partitions_.find(tp);
  if (it == partitions_.end()) return;
  it->second.unsettled.insert(offset);
  it->second.highestFetched = std::max(it->second.highestFetched, offset);
}

void OffsetTracker::settled(const TopicPartition& tp, int64_t offset) {
  auto it = partitions_.find(tp);
  if (it != partitions_.end()) it->second.unsettled.erase(offset);
}

std::optional<int64_t> OffsetTracker::commitCandidate(const TopicPartition& tp) const {
  auto it = partitions_.find(tp);
  if (it == partitions_.end() || it->second.highestFetched < 0) return std::nullopt;
  // Kafka's committed offset is the next record to read.
  const int64_t next = *settledUpTo(tp);
  if (next <= it->second.lastCommitted) return std::nullopt;
  return next;
}

std::optional<int64_t> OffsetTracker::settledUpTo(const TopicPartition& tp) const {
  auto it = partitions_.find(tp);
  if (it == partitions_.end() || it->second.highestFetched < 0) return std::nullopt;
  return it->second.unsettled.empty() ? it->second.highestFetched + 1 : *it->second.unsettled.begin();
}

void OffsetTracker::committed(const TopicPartition& tp, int64_t offset) {
  auto it = partitions_.find(tp);
  if (it != partitions_.end()) it->second.lastCommitted = std::max(it->second.lastCommitted, offset);
}

size_t OffsetTracker::unsettled(const TopicPartition& tp) const {
  auto it = partitions_.find(tp);
  return it == partitions_.end() ? 0 : it->second.unsettled.size();
}

size_t OffsetTracker::unsettledTotal() const {
  size_t n = 0;
  for (const auto& [tp, s] : partitions_) n += s.unsettled.size();
  return n;
}

}  // namespace tributary::sidecar
