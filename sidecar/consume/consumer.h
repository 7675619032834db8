#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sidecar/consume/offset_tracker.h"

namespace tributary::sidecar {

struct ConsumedRecord {
  TopicPartition tp;
  int64_t offset = -1;
  int64_t timestampMs = -1;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::string>> headers;
  // A pipeline's n-th output of this source record (0: the first or only): it
  // makes the CloudEvent id unique when a transform gives several records.
  uint32_t output = 0;
};

// Told about group rebalances, on the consumer's thread, from inside poll().
class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  virtual void onAssigned(const std::vector<TopicPartition>& partitions) = 0;
  // Must settle and commit what it can before returning: the partitions go to
  // another member as soon as it does.
  virtual void onRevoked(const std::vector<TopicPartition>& partitions) = 0;
};

// A group consumer with manual commits. Thread safety: none; every method is
// called from the one thread that owns the subscription.
class Consumer {
 public:
  virtual ~Consumer() = default;
  // The next record, or nullopt after `timeout`. Rebalance callbacks run in here.
  virtual std::optional<ConsumedRecord> poll(std::chrono::milliseconds timeout) = 0;
  virtual void pause(const std::vector<TopicPartition>& partitions) = 0;
  virtual void resume(const std::vector<TopicPartition>& partitions) = 0;
  // Synchronous commit of next-offsets-to-read; false with `error` on failure.
  virtual bool commit(const std::map<TopicPartition, int64_t>& offsets, std::string& error) = 0;
  // The partition's high watermark as last seen by fetches (no broker call).
  virtual std::optional<int64_t> highWatermark(const TopicPartition& tp) = 0;
  // The next offset the consumer will fetch for the partition, when known.
  virtual std::optional<int64_t> position(const TopicPartition& tp) = 0;
  // Makes a poll() in progress return now. The one method any thread may call.
  virtual void wakeup() = 0;
  // Leaves the group (revocation callbacks run first).
  virtual void close() = 0;
};

}  // namespace tributary::sidecar
