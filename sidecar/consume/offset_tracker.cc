#include "sidecar/consume/offset_tracker.h"

#include <algorithm>

namespace tributary::sidecar {

void OffsetTracker::assign(const TopicPartition& tp) { partitions_[tp] = State{}; }

void OffsetTracker::revoke(const TopicPartition& tp) { partitions_.erase(tp); }

namespace {
template <typename Window>
auto findOffset(Window& window, int64_t offset) {
  return std::lower_bound(window.begin(), window.end(), offset, [](const auto& e, int64_t o) { return e.offset < o; });
}
}  // namespace

void OffsetTracker::fetched(const TopicPartition& tp, int64_t offset) {
  auto it = partitions_.find(tp);
  if (it == partitions_.end()) return;
  State& s = it->second;
  s.highestFetched = std::max(s.highestFetched, offset);
  if (s.window.empty() || offset > s.window.back().offset) {
    s.window.push_back({offset, false});
    ++s.unsettled;
    return;
  }
  // Out of order (not seen in practice): unsettled again, in its place.
  auto at = findOffset(s.window, offset);
  if (at != s.window.end() && at->offset == offset) {
    if (at->settled) {
      at->settled = false;
      ++s.unsettled;
    }
    return;
  }
  s.window.insert(at, {offset, false});
  ++s.unsettled;
}

void OffsetTracker::settled(const TopicPartition& tp, int64_t offset) {
  auto it = partitions_.find(tp);
  if (it == partitions_.end()) return;
  State& s = it->second;
  // Usually the front: no search then.
  auto at = !s.window.empty() && s.window.front().offset == offset ? s.window.begin() : findOffset(s.window, offset);
  if (at == s.window.end() || at->offset != offset || at->settled) return;
  at->settled = true;
  --s.unsettled;
  while (!s.window.empty() && s.window.front().settled) s.window.pop_front();
  // Behind a record unsettled for long (retried), settled ones would pile up:
  // dropped once they outnumber the unsettled (amortised O(1); a settled
  // offset is simply not found any more, as it was never there).
  if (s.window.size() > 2 * s.unsettled + 64)
    s.window.erase(std::remove_if(s.window.begin(), s.window.end(), [](const Entry& e) { return e.settled; }),
                   s.window.end());
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
  return it->second.window.empty() ? it->second.highestFetched + 1 : it->second.window.front().offset;
}

void OffsetTracker::committed(const TopicPartition& tp, int64_t offset) {
  auto it = partitions_.find(tp);
  if (it != partitions_.end()) it->second.lastCommitted = std::max(it->second.lastCommitted, offset);
}

size_t OffsetTracker::unsettled(const TopicPartition& tp) const {
  auto it = partitions_.find(tp);
  return it == partitions_.end() ? 0 : it->second.unsettled;
}

size_t OffsetTracker::unsettledTotal() const {
  size_t n = 0;
  for (const auto& [tp, s] : partitions_) n += s.unsettled;
  return n;
}

}  // namespace tributary::sidecar
