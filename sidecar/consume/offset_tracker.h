#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace tributary::sidecar {

struct TopicPartition {
  std::string topic;
  int32_t partition = -1;
  auto operator<=>(const TopicPartition&) const = default;
};

// At-least-once bookkeeping: which fetched offsets are still unsettled, and
// the offset that may be committed — the lowest unsettled offset of the
// partition, or one past the highest fetched when everything is settled. An
// offset is never committed while it, or anything before it, is unsettled.
// Offsets may have gaps (compaction, transaction markers): only fetched
// offsets count.
//
// Thread safety: none; owned by the subscription's consumer thread.
class OffsetTracker {
 public:
  // Starts tracking a partition (on assignment); forgets earlier state.
  void assign(const TopicPartition& tp);
  // Forgets a partition (after revocation was committed).
  void revoke(const TopicPartition& tp);
  bool assigned(const TopicPartition& tp) const { return partitions_.count(tp) > 0; }

  // A fetched record, in fetch order. Ignored for partitions not assigned.
  void fetched(const TopicPartition& tp, int64_t offset);
  // The record is done: delivered, dead-lettered (acknowledged) or dropped.
  void settled(const TopicPartition& tp, int64_t offset);

  // The offset to commit if it advanced past the last committed one.
  std::optional<int64_t> commitCandidate(const TopicPartition& tp) const;
  void committed(const TopicPartition& tp, int64_t offset);

  // The oldest offset not yet settled (or one past the highest fetched): the
  // position lag is measured from. nullopt before the first fetch.
  std::optional<int64_t> settledUpTo(const TopicPartition& tp) const;
  // Fetched and not yet settled.
  size_t unsettled(const TopicPartition& tp) const;
  size_t unsettledTotal() const;

  const auto& partitions() const { return partitions_; }

 private:
  // Fetched offsets in ascending order, from the oldest unsettled one: a
  // record settled behind an unsettled one stays (flagged) until everything
  // before it settled. Records are fetched in order and settle roughly in
  // order, so this is a queue, not a tree: no allocation per record.
  struct Entry {
    int64_t offset;
    bool settled;
  };
  struct State {
    std::deque<Entry> window;  // the front is never settled
    size_t unsettled = 0;
    int64_t highestFetched = -1;
    int64_t lastCommitted = -1;
  };
  std::map<TopicPartition, State> partitions_;
};

}  // namespace tributary::sidecar
