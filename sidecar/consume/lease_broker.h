#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "sidecar/consume/deliverer.h"

namespace tributary::sidecar {

// The pull side of a subscription. To the SubscriptionRunner it is a Deliverer
// like the HTTP pusher, so ordering, maxInFlight, retries with backoff,
// dead-lettering and commits are the same code for push and pull: deliver()
// makes a record ready; the app's poll() leases it for `ackTimeout`; ack()
// completes the attempt as delivered, nack() and an expired lease as failed
// (retried after backoff with attempt + 1, or exhausted → onExhausted).
//
// Ordered leasing (`ordering: partition` or `key`): the runner hands over a
// run of consecutive records of a partition (of a key) at once, so that one
// poll leases a batch in order. When a lease of such a run fails (nack or
// expiry), every later record of the same partition (key) still here — ready,
// or leased and not yet acked — is returned with it: its lease ends (an ack
// for it is answered `expired`) and the runner collects it with
// takeReturned() to deliver it again after the failed one, in order. Records
// of that partition (key) delivered meanwhile are returned as well, until the
// runner took the returned ones. (Google Pub/Sub's ordering keys also
// redeliver successors that were acked; here an ack given before the failure
// stands: an app that needs order acks in order.)
//
// Threads: deliver(), withdraw() and takeReturned() from the runner's thread; poll(), ack(),
// nack() from HTTP worker threads; lease expiry on a thread of its own. The
// state below is guarded by one mutex; `done` callbacks are called outside it.
class LeaseBroker final : public Deliverer {
 public:
  using Clock = std::chrono::steady_clock;

  enum class Ordering { None, Partition, Key };
  LeaseBroker(std::string subscription, std::chrono::milliseconds ackTimeout, Ordering ordering = Ordering::None);
  ~LeaseBroker() override;
  LeaseBroker(const LeaseBroker&) = delete;
  LeaseBroker& operator=(const LeaseBroker&) = delete;

  // Deliverer (runner thread).
  void deliver(std::shared_ptr<const ConsumedRecord> record, int attempt, Done done) override;
  std::vector<std::shared_ptr<const ConsumedRecord>> withdraw(const std::vector<TopicPartition>& partitions) override;
  std::vector<std::shared_ptr<const ConsumedRecord>> takeReturned(const ConsumedRecord& failed) override;
  // Wakes the pollers once for what deliver() made ready since the last call.
  void flush() override;

  struct Lease {
    std::string id;
    std::shared_ptr<const ConsumedRecord> record;
    int attempt = 1;
  };
  // Up to `max` ready records, each leased for ackTimeout. Waits up to `wait`
  // for the first one; returns as soon as any is ready. Empty when closed.
  std::vector<Lease> poll(size_t max, std::chrono::milliseconds wait);

  struct SettleResult {
    size_t settled = 0;
    std::vector<std::string> expired;  // the lease ran out (the record is or will be redelivered)
    std::vector<std::string> unknown;  // never issued, already settled, or from before a restart
  };
  SettleResult ack(const std::vector<std::string>& ids);
  // `retryable` false sends the records straight to the exhausted policy (as a
  // 4xx does in push mode); `reason` becomes the recorded error.
  SettleResult nack(const std::vector<std::string>& ids, bool retryable, const std::string& reason);

  // Shutdown: wakes every waiting poll; later polls return nothing. Ack and
  // nack keep working so that the app can settle what it holds.
  void close();
  bool closed() const;

  size_t readyCount() const;
  size_t leasedCount() const;

 private:
  struct Ready {
    std::shared_ptr<const ConsumedRecord> record;
    int attempt;
    Done done;
  };
  struct Leased {
    std::shared_ptr<const ConsumedRecord> record;
    int attempt;
    Done done;
    Clock::time_point leasedAt;
    Clock::time_point deadline;
  };
  SettleResult settle(const std::vector<std::string>& ids, AttemptResult result);
  void expireLoop();
  // Lease ids are "<idPrefix_>-<n>"; n, or nullopt for an id this process never issued.
  std::optional<uint64_t> parseId(const std::string& id) const;
  void rememberExpired(uint64_t id);  // mutex held
  // Drops deadlines of leases that ended otherwise: from the front, and all
  // of them once they outnumber the live ones (amortised O(1) per lease).
  void pruneDeadlines();  // mutex held
  // Ordered leasing: where a failed record holds back its successors.
  using HoldKey = std::pair<TopicPartition, std::string>;  // the key is "" for ordering: partition
  HoldKey holdKey(const ConsumedRecord& r) const;
  bool heldBack(const ConsumedRecord& r) const;  // mutex held
  void hold(const ConsumedRecord& failed);       // mutex held: returns the successors

  const std::string subscription_;
  const std::chrono::milliseconds ackTimeout_;
  const Ordering ordering_;
  const std::string idPrefix_;  // differs per process, so ids from before a restart are unknown

  mutable std::mutex mutex_;
  std::condition_variable readyCv_;   // pollers wait here
  std::condition_variable expiryCv_;  // the expiry thread waits here
  std::deque<Ready> ready_;
  bool flushing_ = false;    // flush() was called: deliver() leaves waking the pollers to it
  bool readyAdded_ = false;  // deliver() made records ready that no poller was woken for yet
  std::unordered_map<uint64_t, Leased> leased_;
  // Lease deadlines in the order leases were issued, which is their order
  // (one ackTimeout, a clock read under the mutex): a queue, not a tree.
  // Entries of leases that ended otherwise stay until pruneDeadlines().
  std::deque<std::pair<Clock::time_point, uint64_t>> deadlines_;
  std::unordered_set<uint64_t> expired_;  // recently expired ids, bounded
  std::deque<uint64_t> expiredOrder_;     // oldest first, to bound expired_
  std::map<HoldKey, int64_t> holds_;             // failed offset, until the runner takes the returned
  std::map<HoldKey, std::vector<std::shared_ptr<const ConsumedRecord>>> returned_;
  uint64_t nextId_ = 1;
  bool closed_ = false;
  bool stopping_ = false;
  std::thread expiry_;
};

}  // namespace tributary::sidecar
