#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sidecar/consume/offset_tracker.h"  // TopicPartition
#include "sidecar/pipeline/steps.h"          // PipelineRecord

namespace tributary::sidecar::pipeline {

// What went wrong in a transactional call, classified by what the caller must
// do next (librdkafka's own classification, see kafka_transactional_client.cc).
struct TxnError {
  enum class Kind {
    None,
    Retriable,  // call the same operation again (e.g. a commit that timed out)
    Abortable,  // the open transaction cannot commit: abort it and redo the batch
    Fenced,     // another instance took over the transactional.id (or the group
                // generation moved on): this one must stop, it may not write again
    Fatal,      // the producer is unusable: stop
  };
  Kind kind = Kind::None;
  std::string message;

  explicit operator bool() const { return kind != Kind::None; }
  static TxnError none() { return {}; }
};

inline const char* txnErrorKindName(TxnError::Kind kind) {
  switch (kind) {
    case TxnError::Kind::None: return "none";
    case TxnError::Kind::Retriable: return "retriable";
    case TxnError::Kind::Abortable: return "abortable";
    case TxnError::Kind::Fenced: return "fenced";
    case TxnError::Kind::Fatal: return "fatal";
  }
  return "unknown";
}

// A record to write inside the open transaction.
struct TxnRecord {
  std::string topic;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Told about group rebalances, on the runner's thread, from inside poll().
class TxnRebalanceListener {
 public:
  virtual ~TxnRebalanceListener() = default;
  virtual void onAssigned(const std::vector<TopicPartition>& partitions) = 0;
  // The partitions go to another member as soon as this returns: an open
  // transaction holding their offsets must be committed or aborted in here,
  // and records of theirs polled but not processed must be dropped.
  virtual void onRevoked(const std::vector<TopicPartition>& partitions) = 0;
};

// A read_committed group consumer with manual offsets plus a transactional
// producer whose transactions carry the consumer's offsets — what one
// exactly-once pipeline instance needs from Kafka, and nothing more.
//
// Thread safety: one owning thread (the exactly-once runner's) calls every
// method, except wakeup(), which any thread may call. The object may be
// created on another thread before that thread starts using it.
class TransactionalClient {
 public:
  virtual ~TransactionalClient() = default;

  // Registers the transactional.id with its coordinator; a previous instance
  // with the same id is fenced and its open transaction aborted (by the broker).
  // Once, before anything else; Retriable when the coordinator did not answer in time.
  virtual TxnError initTransactions(std::chrono::milliseconds timeout) = 0;

  // Up to `maxRecords` records, returning early after `maxWait` or wakeup().
  // Rebalance callbacks run in here. Consume errors other than end of
  // partition are logged and skipped (librdkafka retries fetches itself).
  virtual std::vector<PipelineRecord> poll(size_t maxRecords, std::chrono::milliseconds maxWait) = 0;

  virtual TxnError beginTransaction() = 0;

  // Queues a record into the open transaction (asynchronous). An error here is
  // a refusal; the delivery result of queued records comes from flush().
  virtual TxnError produce(const TxnRecord& record, std::chrono::milliseconds timeout) = 0;

  // Waits until every produced record was acknowledged (or failed). The first
  // delivery failure since beginTransaction(), classified; none when all were written.
  virtual TxnError flush(std::chrono::milliseconds timeout) = 0;

  // Adds the consumer's next-offsets-to-read and its group metadata (member,
  // generation) to the transaction: they are committed with it, atomically.
  virtual TxnError sendOffsets(const std::map<TopicPartition, int64_t>& next, std::chrono::milliseconds timeout) = 0;

  virtual TxnError commitTransaction(std::chrono::milliseconds timeout) = 0;
  virtual TxnError abortTransaction(std::chrono::milliseconds timeout) = 0;

  // Moves the consumer's positions back (to redo an aborted batch). Partitions
  // no longer assigned are skipped.
  virtual void seek(const std::map<TopicPartition, int64_t>& offsets, std::chrono::milliseconds timeout) = 0;

  // Makes a poll() in progress return now. The one method any thread may call.
  virtual void wakeup() = 0;

  // Leaves the group (revocation callbacks run first) and closes the producer.
  virtual void close() = 0;

  // Test hook: tears the clients down as a crashed process would leave them —
  // no EndTxn, no LeaveGroup. The object is unusable afterwards.
  virtual void abandon() = 0;
};

}  // namespace tributary::sidecar::pipeline
