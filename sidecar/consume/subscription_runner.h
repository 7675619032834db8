#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "sidecar/config/sidecar_config.h"
#include "sidecar/consume/consumer.h"
#include "sidecar/consume/deliverer.h"
#include "sidecar/consume/offset_tracker.h"
#include "sidecar/consume/retry_policy.h"
#include "sidecar/metrics/sidecar_metrics.h"
#include "sidecar/produce/producer.h"

namespace tributary::sidecar {

// Runs one subscription, push or pull (the Deliverer is the HTTP pusher or the
// LeaseBroker): fetch → dispatch (by ordering, bounded by
// maxInFlight) → deliver → retry with backoff → settle (delivered, dead-lettered
// once the dead-letter write is acknowledged, or dropped by policy) → commit
// only what is settled, with every offset before it.
//
// Threads: one thread of its own owns every piece of state below (the consumer,
// the tracker, the partition queues); deliverer threads and the producer's poll
// thread hand results back through the mailbox (`Mailbox::push`). start()/stop() are called from the
// controlling thread; joined() from any thread.
class SubscriptionRunner final : public RebalanceListener {
 public:
  using ConsumerFactory = std::function<std::unique_ptr<Consumer>(RebalanceListener&, std::string& error)>;

  SubscriptionRunner(SubscriptionConfig config, ConsumerFactory consumerFactory, Deliverer& deliverer,
                     Producer& deadLetterProducer, SidecarMetrics& metrics);
  ~SubscriptionRunner() override;

  bool start(std::string& error);
  // Stops fetching, lets in-flight work finish for up to `grace`, commits what
  // is settled, leaves the group. Idempotent.
  void stop(std::chrono::milliseconds grace);
  // True once the group assigned partitions to this member (possibly none).
  bool joined() const { return joined_.load(); }

  // What GET /v1/subscriptions shows; refreshed by the runner every second.
  struct PartitionStatus {
    TopicPartition tp;
    std::optional<int64_t> lag;
    size_t unsettled = 0;
    bool paused = false;
  };
  struct Status {
    bool joined = false;
    bool stopped = false;
    std::vector<PartitionStatus> partitions;
  };
  Status status() const;  // any thread

  // RebalanceListener: called on the runner's thread from inside poll().
  void onAssigned(const std::vector<TopicPartition>& partitions) override;
  void onRevoked(const std::vector<TopicPartition>& partitions) override;

 private:
  using Clock = std::chrono::steady_clock;
  struct Pending;
  using PendingPtr = std::shared_ptr<Pending>;

  void run();
  void runPosted(std::chrono::milliseconds wait);
  void take(ConsumedRecord record);
  void dispatch();       // a round of dispatchRecords(), then the deliverer's flush()
  void dispatchRecords();
  void dispatchPartitionRuns();  // pull with ordering: partition
  void startAttempt(const PendingPtr& p);
  void onAttempt(const PendingPtr& p, AttemptResult result);
  void runResults();
  void reclaim(const std::vector<std::shared_ptr<const ConsumedRecord>>& records);
  void exhausted(const PendingPtr& p);
  void logRetry(const Pending& p);
  void writeDeadLetter(const PendingPtr& p);
  void retryLater(const PendingPtr& p, std::chrono::milliseconds delay);
  void fireTimers();
  enum class Settled { Success, DeadLetter, Dropped };
  void settle(const PendingPtr& p, Settled outcome);
  struct Partition;
  void settle(Partition& part, Pending& p, Settled outcome);
  void commit();
  // Pauses partitions whose buffer (or the subscription's) reached its high
  // mark and resumes those below the low marks; see BufferMarks.
  void applyBackpressure();
  // After take(): pauses the record's partition at once when it crossed a high
  // mark, so that one poll loop cannot overshoot the bound.
  void pauseIfFull(const TopicPartition& tp, Partition& part);
  void publishStatus();
  // The record's partition when it is still assigned in the same epoch
  // (else null: a late result for a revoked partition).
  Partition* currentPartition(const Pending& p);
  bool current(const PendingPtr& p);

  // The bounds on what the runner holds (fetched and unsettled records, in
  // flight included), per partition and for the whole subscription, in records
  // and in bytes of key + value + headers. A partition is paused when it, or
  // the subscription, reaches a high mark, and resumed only when both are at or
  // below their low marks: the wide gap makes a pause/resume cycle move
  // thousands of records, not tens (each cycle costs a re-fetch).
  struct BufferMarks {
    size_t partitionHighRecords, partitionLowRecords;
    size_t partitionHighBytes, partitionLowBytes;
    size_t totalHighRecords, totalLowRecords;
    size_t totalHighBytes, totalLowBytes;
  };
  static BufferMarks marksFor(const SubscriptionConfig& config);
  struct Buffered {
    size_t records = 0;
    size_t bytes = 0;
  };
  bool aboveHigh(const Buffered& partition) const;
  bool atOrBelowLow(const Buffered& partition) const;

  // The runner's metric children, looked up once: Family::Add() builds and
  // hashes a label map on every call, which showed per record. Per
  // subscription at construction; per topic on first use (runner thread).
  struct TopicMetrics {
    prometheus::Counter *success, *retry, *deadLetter, *dropped;  // tributary_deliveries_total{outcome}
    prometheus::Counter* deadLetters;                               // tributary_dead_letters_total
  };
  TopicMetrics& topicMetrics(const std::string& topic);
  void publishInflight();

  // Everything the runner keeps per assigned partition, found with one lookup.
  struct Partition {
    // Fetch order. A settled record leaves when everything before it has
    // (no search and no node per record); dispatch skips settled ones.
    std::deque<PendingPtr> queue;
    uint64_t epoch = 0;  // bumped on every assignment, to drop late results
    Buffered buffered;   // what `queue` holds unsettled
    size_t settledInQueue = 0;  // settled records still in `queue`, behind an unsettled one
    bool paused = false;
    TopicMetrics* metrics = nullptr;  // this topic's, looked up on first use
  };
  // Drops settled records from the front of the queue; and from anywhere in
  // it when they outnumber the unsettled ones (a record retried for long must
  // not make the records settled behind it pile up): amortised O(1).
  static void trimSettled(Partition& part);

  const SubscriptionConfig config_;
  const BufferMarks marks_;
  ConsumerFactory consumerFactory_;
  Deliverer& deliverer_;
  Producer& dlq_;
  SidecarMetrics& metrics_;
  RetryPolicy retry_;
  prometheus::Gauge& inflightGauge_;
  prometheus::Gauge& pausedGauge_;
  prometheus::Histogram& attemptDuration_;
  prometheus::Histogram& settledAttempts_;
  std::map<std::string, TopicMetrics, std::less<>> topicMetrics_;  // runner thread

  // Owned by the runner thread.
  std::unique_ptr<Consumer> consumer_;
  OffsetTracker tracker_;
  std::map<TopicPartition, Partition> partitions_;
  size_t pausedCount_ = 0;  // partitions with `paused`
  Buffered bufferedTotal_;  // the sum over the partitions' `buffered`
  std::vector<std::pair<PendingPtr, AttemptResult>> results_;  // runResults()'s, kept for its capacity
  std::multimap<Clock::time_point, std::weak_ptr<Pending>> timers_;
  int inFlight_ = 0;  // attempts and dead-letter writes outstanding
  uint64_t nextEpoch_ = 1;
  Clock::time_point lastCommit_ = Clock::now();
  Clock::time_point lastRetryLog_{};
  uint64_t retriesSinceLog_ = 0;
  std::mt19937_64 random_{std::random_device{}()};

  mutable std::mutex statusMutex_;
  Status status_;  // guarded by statusMutex_

  std::thread thread_;
  std::atomic<bool> stopFetching_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<bool> joined_{false};
  std::chrono::milliseconds grace_{0};
  // Where other threads leave work for the runner thread. Shared, so that a
  // late callback (a dead-letter acknowledgement after stop) finds it alive.
  struct Mailbox {
    std::mutex mutex;
    std::condition_variable posted;
    std::deque<std::function<void()>> tasks;  // guarded by mutex
    // Attempt results, typed: no std::function (and its allocation) per record.
    std::vector<std::pair<PendingPtr, AttemptResult>> results;  // guarded by mutex
    bool closed = false;                      // guarded by mutex
    Consumer* wake = nullptr;                 // guarded by mutex: woken when a task arrives
    // Any thread. Wakes the runner only when the mailbox was empty: a task
    // behind others is taken with them (one wake-up per drain, not per record —
    // an ack of 100 leases used to wake the runner 100 times).
    void push(std::function<void()> task);
    void pushResult(PendingPtr p, AttemptResult result);
    void wakeIfFirst(bool wasEmpty);  // mutex held
  };
  std::shared_ptr<Mailbox> mailbox_ = std::make_shared<Mailbox>();
};

}  // namespace tributary::sidecar
