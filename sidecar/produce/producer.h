#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tributary::sidecar {

// Why a record was not written. Each maps to one HTTP status and errorCode
// (see api/api_error.h); the producer adapter maps Kafka's error codes onto these.
enum class ProduceError {
  None,
  QueueFull,           // local producer queue at its limit: back off and retry
  BrokersUnavailable,  // no broker answers: back off and retry
  DeliveryTimeout,     // not acknowledged within kafka.deliveryTimeout: outcome unknown
  UnknownTopic,
  UnknownPartition,
  RecordTooLarge,
  NotAuthorized,  // the broker's ACLs refuse this client
  ShuttingDown,
  KafkaError,  // anything else the broker or client reported
};

struct OutgoingRecord {
  std::string topic;
  std::optional<std::string> key;    // nullopt: null key
  std::optional<std::string> value;  // nullopt: null value (a tombstone)
  std::vector<std::pair<std::string, std::string>> headers;
  int32_t partition = -1;  // -1: the partitioner chooses (by key hash)
};

struct DeliveryReport {
  ProduceError error = ProduceError::None;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string message;  // the client's or broker's words when error != None
};

// Receives the outcome of each enqueued record, exactly once.
class DeliveryListener {
 public:
  virtual ~DeliveryListener() = default;
  // Called on the producer's poll thread: must not block.
  virtual void onDelivery(size_t index, DeliveryReport report) = 0;
};

// A Kafka producer with acks=all and idempotence. Thread safety: every method
// may be called from any thread; listeners are called from one poll thread.
class Producer {
 public:
  virtual ~Producer() = default;

  // Hands the record to the client. On success (None) the listener is called
  // later with the broker's answer; on failure it is never called for this record.
  virtual ProduceError enqueue(const OutgoingRecord& record, std::shared_ptr<DeliveryListener> listener,
                               size_t index, std::string& errorMessage) = 0;
  // Hands every record of one request to the client with a single delivery
  // context for all of them (no allocation per record). `refused[i]` is set to
  // the error of each record the client refused at once (its listener call never
  // comes), ProduceError::None for the others; `messages[i]` to the client's words.
  virtual void enqueueAll(const std::vector<OutgoingRecord>& records, std::shared_ptr<DeliveryListener> listener,
                          std::vector<ProduceError>& refused, std::vector<std::string>& messages) = 0;
  // Waits until every enqueued record has its delivery report, or the timeout.
  // Returns the number of records still outstanding.
  virtual int flush(std::chrono::milliseconds timeout) = 0;
  // Fails every record not yet acknowledged, so that their requests answer now:
  // queued ones as ShuttingDown (certainly not written), in-flight ones as
  // DeliveryTimeout (outcome unknown). For the end of a shutdown grace period.
  virtual void abandonOutstanding() = 0;
  // Records enqueued and not yet reported.
  virtual int queueDepth() const = 0;
  // False once the client has seen every broker down, until one answers again.
  virtual bool brokersReachable() const = 0;
  // True after a metadata request was answered recently (readiness).
  virtual bool metadataAnswered() const = 0;
};

}  // namespace tributary::sidecar
