#include "sidecar/consume/subscription_runner.h"

#include <algorithm>
#include <string_view>

#include "common/log/log.h"

namespace tributary::sidecar {
namespace {

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

size_t recordBytes(const ConsumedRecord& r) {
  size_t n = (r.key ? r.key->size() : 0) + (r.value ? r.value->size() : 0);
  for (const auto& [name, value] : r.headers) n += name.size() + value.size();
  return n;
}

}  // namespace

struct SubscriptionRunner::Pending {
  enum class State { Waiting, InFlight, Backoff, DeadLettering, Settled };
  // The record lives in the same allocation (`record` points at it); the
  // deliverer gets it as an aliasing pointer, which keeps this alive.
  ConsumedRecord stored;
  const ConsumedRecord* const record = &stored;
  uint64_t epoch = 0;
  int attempts = 0;
  State state = State::Waiting;
  bool deadLetterNext = false;  // the next step after a backoff is the dead-letter write
  int deadLetterFailures = 0;   // failed dead-letter writes: they back off like attempts
  int64_t firstAttemptMs = 0;
  int64_t lastAttemptMs = 0;
  std::string lastError;
  std::vector<std::pair<std::string, std::string>> lastDeadLetterHeaders;  // the last failure's (AttemptResult)
};

SubscriptionRunner::SubscriptionRunner(SubscriptionConfig config, ConsumerFactory consumerFactory,
                                       Deliverer& deliverer, Producer& deadLetterProducer, SidecarMetrics& metrics)
    : config_(std::move(config)),
      marks_(marksFor(config_)),
      consumerFactory_(std::move(consumerFactory)),
      deliverer_(deliverer),
      dlq_(deadLetterProducer),
      metrics_(metrics),
      retry_(config_.retry),
      inflightGauge_(metrics.inflight.Add({{"subscription", config_.name}})),
      pausedGauge_(metrics.pausedPartitions.Add({{"subscription", config_.name}})),
      attemptDuration_(metrics.deliveryDuration.Add(
          {{"subscription", config_.name}},
          prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30})),
      settledAttempts_(metrics.deliveryAttempts.Add({{"subscription", config_.name}},
                                                    prometheus::Histogram::BucketBoundaries{1, 2, 3, 5, 10, 20, 50})) {}

SubscriptionRunner::TopicMetrics& SubscriptionRunner::topicMetrics(const std::string& topic) {
  if (auto it = topicMetrics_.find(topic); it != topicMetrics_.end()) return it->second;
  auto outcome = [&](const char* o) {
    return &metrics_.deliveries.Add({{"subscription", config_.name}, {"topic", topic}, {"outcome", o}});
  };
  TopicMetrics m{outcome("success"), outcome("retry"), outcome("dead_letter"), outcome("dropped"),
                 &metrics_.deadLetters.Add({{"subscription", config_.name}, {"topic", topic}})};
  return topicMetrics_.emplace(topic, m).first->second;
}

// Fetched and unsettled records: what the tracker counts as unsettled, kept as
// a running total (the tracker's count walks every partition, per record).
void SubscriptionRunner::publishInflight() { inflightGauge_.Set(static_cast<double>(bufferedTotal_.records)); }

SubscriptionRunner::BufferMarks SubscriptionRunner::marksFor(const SubscriptionConfig& c) {
  // Per partition: 64 records per delivery slot, at least 256 and at most
  // 8192 — enough that the app never waits for a re-fetch after a resume
  // (the low mark, a quarter of it, still holds 16 records per slot), small
  // enough that a stalled app with many partitions holds little. Bytes: 8 MiB
  // per partition, 64 MiB for the subscription (large records pause by bytes
  // long before the record marks). The subscription-wide record mark lets
  // four partitions fill up completely.
  BufferMarks m{};
  m.partitionHighRecords = std::clamp<size_t>(static_cast<size_t>(c.maxInFlight) * 64, 256, 8192);
  m.partitionLowRecords = m.partitionHighRecords / 4;
  m.partitionHighBytes = size_t{8} << 20;
  m.partitionLowBytes = m.partitionHighBytes / 4;
  m.totalHighRecords = 4 * m.partitionHighRecords;
  m.totalLowRecords = m.totalHighRecords / 2;
  m.totalHighBytes = size_t{64} << 20;
  m.totalLowBytes = m.totalHighBytes / 2;
  return m;
}

bool SubscriptionRunner::aboveHigh(const Buffered& b) const {
  return b.records >= marks_.partitionHighRecords || b.bytes >= marks_.partitionHighBytes ||
         bufferedTotal_.records >= marks_.totalHighRecords || bufferedTotal_.bytes >= marks_.totalHighBytes;
}

bool SubscriptionRunner::atOrBelowLow(const Buffered& b) const {
  return b.records <= marks_.partitionLowRecords && b.bytes <= marks_.partitionLowBytes &&
         bufferedTotal_.records <= marks_.totalLowRecords && bufferedTotal_.bytes <= marks_.totalLowBytes;
}

SubscriptionRunner::~SubscriptionRunner() {
  stop(std::chrono::milliseconds(0));
  std::lock_guard lock(mailbox_->mutex);
  mailbox_->closed = true;
  mailbox_->wake = nullptr;
  mailbox_->tasks.clear();
}

bool SubscriptionRunner::start(std::string& error) {
  consumer_ = consumerFactory_(*this, error);
  if (!consumer_) return false;
  {
    std::lock_guard lock(mailbox_->mutex);
    mailbox_->wake = consumer_.get();
  }
  thread_ = std::thread([this] { run(); });
  return true;
}

void SubscriptionRunner::stop(std::chrono::milliseconds grace) {
  if (stopped_.exchange(true)) return;
  grace_ = grace;
  stopFetching_ = true;
  {
    std::lock_guard lock(mailbox_->mutex);
    if (mailbox_->wake) mailbox_->wake->wakeup();
  }
  mailbox_->posted.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SubscriptionRunner::Mailbox::wakeIfFirst(bool wasEmpty) {
  if (!wasEmpty) return;
  posted.notify_all();
  if (wake) wake->wakeup();
}

void SubscriptionRunner::Mailbox::push(std::function<void()> task) {
  std::lock_guard lock(mutex);
  if (closed) return;
  const bool wasEmpty = tasks.empty() && results.empty();
  tasks.push_back(std::move(task));
  wakeIfFirst(wasEmpty);
}

void SubscriptionRunner::Mailbox::pushResult(PendingPtr p, AttemptResult result) {
  std::lock_guard lock(mutex);
  if (closed) return;
  const bool wasEmpty = tasks.empty() && results.empty();
  results.emplace_back(std::move(p), std::move(result));
  wakeIfFirst(wasEmpty);
}

void SubscriptionRunner::runPosted(std::chrono::milliseconds wait) {
  std::deque<std::function<void()>> tasks;
  {
    std::unique_lock lock(mailbox_->mutex);
    if (wait.count() > 0)
      mailbox_->posted.wait_for(lock, wait, [&] {
        return !mailbox_->tasks.empty() || !mailbox_->results.empty() || stopFetching_.load();
      });
    tasks.swap(mailbox_->tasks);
    // The emptied vector goes back with its capacity: no allocation per drain.
    results_.clear();
    results_.swap(mailbox_->results);
  }
  runResults();
  for (auto& t : tasks) t();
}

void SubscriptionRunner::runResults() {
  for (auto& [p, result] : results_) onAttempt(p, std::move(result));
  results_.clear();
}

void SubscriptionRunner::run() {
  log::info("subscription started", {{"subscription", config_.name}, {"group", config_.group}});
  while (!stopFetching_.load()) {
    runPosted(std::chrono::milliseconds(0));
    fireTimers();
    dispatch();
    applyBackpressure();
    if (Clock::now() - lastCommit_ > std::chrono::seconds(1)) {
      commit();
      publishStatus();
    }
    // Fetch while there is room; a completion wakes the poll early. take()
    // pauses a partition as soon as it reaches its mark, so the batch of up to
    // 500 records cannot overshoot it (librdkafka drops what it fetched for a
    // partition once it is paused).
    auto r = consumer_->poll(std::chrono::milliseconds(20));
    for (int n = 0; r && n < 500; ++n) {
      take(std::move(*r));
      r = consumer_->poll(std::chrono::milliseconds(0));
    }
    if (r) take(std::move(*r));
  }
  // Shutdown: no more fetching; records not yet with the app go back (pull: not
  // polled yet), what is with the app may finish within the grace period.
  {
    std::vector<TopicPartition> all;
    for (const auto& [tp, part] : partitions_) all.push_back(tp);
    reclaim(deliverer_.withdraw(all));
  }
  const auto deadline = Clock::now() + grace_;
  while (inFlight_ > 0 && Clock::now() < deadline) {
    runPosted(std::chrono::milliseconds(20));
    fireTimers();
  }
  commit();
  consumer_->close();  // revocation commits again, then the group is left
  {
    std::lock_guard lock(mailbox_->mutex);
    mailbox_->wake = nullptr;
  }
  consumer_.reset();
  {
    std::lock_guard lock(statusMutex_);
    status_.stopped = true;
    status_.partitions.clear();
  }
  log::info("subscription stopped", {{"subscription", config_.name},
                                     {"unsettled", std::to_string(tracker_.unsettledTotal())}});
}

void SubscriptionRunner::onAssigned(const std::vector<TopicPartition>& partitions) {
  for (const auto& tp : partitions) {
    tracker_.assign(tp);
    Partition& part = partitions_[tp];
    part.queue.clear();
    part.settledInQueue = 0;
    bufferedTotal_.records -= part.buffered.records;
    bufferedTotal_.bytes -= part.buffered.bytes;
    part.buffered = {};
    part.epoch = nextEpoch_++;
  }
  joined_ = true;
  log::info("partitions assigned", {{"subscription", config_.name}, {"count", std::to_string(partitions.size())}});
}

void SubscriptionRunner::onRevoked(const std::vector<TopicPartition>& partitions) {
  // Give in-flight deliveries of these partitions a bounded time to settle, so
  // the new owner redelivers as little as possible; then commit and forget.
  // Records the app has not received yet are not waited for.
  reclaim(deliverer_.withdraw(partitions));
  auto busy = [&] {
    for (const auto& tp : partitions) {
      auto q = partitions_.find(tp);
      if (q == partitions_.end()) continue;
      for (const auto& p : q->second.queue)
        if (p->state == Pending::State::InFlight || p->state == Pending::State::DeadLettering) return true;
    }
    return false;
  };
  const auto deadline = Clock::now() + std::min(config_.timeout + std::chrono::seconds(1), std::chrono::milliseconds(
                                                    std::max<int64_t>(grace_.count(), 1000)));
  while (busy() && Clock::now() < deadline) runPosted(std::chrono::milliseconds(20));
  commit();
  for (const auto& tp : partitions) {
    if (auto q = partitions_.find(tp); q != partitions_.end()) {
      Partition& part = q->second;
      for (const auto& p : part.queue)
        if (p->state == Pending::State::InFlight || p->state == Pending::State::DeadLettering) --inFlight_;
      if (part.paused) --pausedCount_;
      bufferedTotal_.records -= part.buffered.records;
      bufferedTotal_.bytes -= part.buffered.bytes;
      partitions_.erase(q);
    }
    tracker_.revoke(tp);
    metrics_.consumerLag.Remove(&metrics_.consumerLag.Add(
        {{"subscription", config_.name}, {"topic", tp.topic}, {"partition", std::to_string(tp.partition)}}));
  }
  pausedGauge_.Set(static_cast<double>(pausedCount_));
  publishInflight();
  log::info("partitions revoked", {{"subscription", config_.name}, {"count", std::to_string(partitions.size())}});
}

bool SubscriptionRunner::current(const PendingPtr& p) { return currentPartition(*p) != nullptr; }

SubscriptionRunner::Partition* SubscriptionRunner::currentPartition(const Pending& p) {
  auto it = partitions_.find(p.record->tp);
  return it != partitions_.end() && it->second.epoch == p.epoch ? &it->second : nullptr;
}

void SubscriptionRunner::trimSettled(Partition& part) {
  while (!part.queue.empty() && part.queue.front()->state == Pending::State::Settled) {
    part.queue.pop_front();
    --part.settledInQueue;
  }
  if (part.settledInQueue > 2 * part.buffered.records + 64) {
    part.queue.erase(std::remove_if(part.queue.begin(), part.queue.end(),
                                    [](const PendingPtr& p) { return p->state == Pending::State::Settled; }),
                     part.queue.end());
    part.settledInQueue = 0;
  }
}

void SubscriptionRunner::take(ConsumedRecord record) {
  auto q = partitions_.find(record.tp);
  if (q == partitions_.end()) return;  // a partition no longer ours
  Partition& part = q->second;
  auto p = std::make_shared<Pending>();
  p->epoch = part.epoch;
  tracker_.fetched(record.tp, record.offset);
  const size_t bytes = recordBytes(record);
  p->stored = std::move(record);
  const TopicPartition& tp = p->record->tp;
  part.queue.push_back(p);
  ++part.buffered.records;
  part.buffered.bytes += bytes;
  ++bufferedTotal_.records;
  bufferedTotal_.bytes += bytes;
  publishInflight();
  pauseIfFull(tp, part);
}

void SubscriptionRunner::pauseIfFull(const TopicPartition& tp, Partition& part) {
  if (part.paused || !aboveHigh(part.buffered)) return;
  consumer_->pause({tp});
  part.paused = true;
  ++pausedCount_;
  pausedGauge_.Set(static_cast<double>(pausedCount_));
}

void SubscriptionRunner::dispatch() {
  dispatchRecords();
  deliverer_.flush();
}

void SubscriptionRunner::dispatchRecords() {
  using Ordering = SubscriptionConfig::Ordering;
  // Pull with ordering keeps a run of consecutive records of a partition (of a
  // key) in flight, so that a poll leases a batch in order (and so does a
  // deliverer that keeps the hand-over order, see deliveryKeepsOrder); a record that
  // failed (in backoff or being dead-lettered) holds back everything after it.
  // The LeaseBroker returns the successors already leased (takeReturned).
  const bool batch = (config_.mode == SubscriptionConfig::Mode::Pull || config_.deliveryKeepsOrder) &&
                     config_.ordering != Ordering::None;
  if (batch && config_.ordering == Ordering::Partition) return dispatchPartitionRuns();
  // ordering=key looks this far into a partition's queue for keys with nothing
  // earlier unsettled: the scan builds a set of keys on every dispatch, and the
  // queue may hold thousands of records (BufferMarks).
  const size_t keyLookahead = std::max<size_t>(256, 8 * static_cast<size_t>(config_.maxInFlight));
  for (auto& [tp, part] : partitions_) {
    std::set<std::string_view> blockedKeys;  // ordering=key: keys with an earlier unsettled record
    size_t scanned = 0;
    for (const auto& p : part.queue) {
      if (inFlight_ >= config_.maxInFlight) return;
      if (p->state == Pending::State::Settled) continue;  // leaves when the records before it have
      const bool waiting = p->state == Pending::State::Waiting;
      if (config_.ordering == Ordering::Partition) {
        if (waiting) startAttempt(p);
        break;  // only the head of a partition is ever in flight
      }
      if (config_.ordering == Ordering::Key) {
        if (++scanned > keyLookahead) break;
        // A view into the record, which the queue keeps alive; no key and an
        // empty key are the same key.
        const std::string_view key = p->record->key ? std::string_view(*p->record->key) : std::string_view();
        if (batch) {
          if (blockedKeys.count(key)) continue;
          if (p->state == Pending::State::Backoff || p->state == Pending::State::DeadLettering) {
            blockedKeys.insert(key);
            continue;
          }
          if (waiting) startAttempt(p);
          continue;
        }
        if (blockedKeys.insert(key).second && waiting) startAttempt(p);
        continue;
      }
      if (waiting) startAttempt(p);
    }
  }
}

void SubscriptionRunner::dispatchPartitionRuns() {
  // Round robin over the partitions, one record each per round, so that one
  // partition with a deep queue does not take every maxInFlight slot.
  struct Cursor {
    std::deque<PendingPtr>::iterator it, end;
  };
  std::vector<Cursor> cursors;
  for (auto& [tp, part] : partitions_) cursors.push_back({part.queue.begin(), part.queue.end()});
  for (bool progress = true; progress;) {
    progress = false;
    for (auto& c : cursors) {
      if (inFlight_ >= config_.maxInFlight) return;
      while (c.it != c.end &&
             ((*c.it)->state == Pending::State::InFlight || (*c.it)->state == Pending::State::Settled))
        ++c.it;
      if (c.it == c.end) continue;
      if ((*c.it)->state != Pending::State::Waiting) {
        c.it = c.end;  // a failed record holds back the rest of its partition
        continue;
      }
      startAttempt(*c.it++);
      progress = true;
    }
  }
}

void SubscriptionRunner::startAttempt(const PendingPtr& p) {
  ++inFlight_;
  ++p->attempts;
  p->lastAttemptMs = nowMs();
  if (p->attempts == 1) p->firstAttemptMs = p->lastAttemptMs;
  p->state = Pending::State::InFlight;
  // The record as an aliasing pointer: it shares the Pending's allocation.
  deliverer_.deliver(std::shared_ptr<const ConsumedRecord>(p, p->record), p->attempts,
                     [p, mailbox = mailbox_](AttemptResult result) {
                       // Runs on a deliverer thread: hand the result to the runner thread.
                       mailbox->pushResult(p, std::move(result));
                     });
}

void SubscriptionRunner::reclaim(const std::vector<std::shared_ptr<const ConsumedRecord>>& records) {
  for (const auto& r : records) {
    auto q = partitions_.find(r->tp);
    if (q == partitions_.end()) continue;
    for (const auto& p : q->second.queue)
      if (p->record == r.get() && p->state == Pending::State::InFlight) {
        // The attempt never reached the app: it does not count.
        p->state = Pending::State::Waiting;
        --p->attempts;
        --inFlight_;
        break;
      }
  }
}

void SubscriptionRunner::onAttempt(const PendingPtr& p, AttemptResult result) {
  // Ordered pull: the later records the deliverer handed back with a failure
  // are waiting again, behind it. Taken even for a revoked partition's late
  // failure, so that no hold outlives it in the deliverer.
  if (result.outcome != AttemptOutcome::Delivered) reclaim(deliverer_.takeReturned(*p->record));
  Partition* part = currentPartition(*p);
  if (!part) return;  // the partition was revoked meanwhile; the new owner redelivers
  --inFlight_;
  attemptDuration_.Observe(result.took.count());
  if (result.outcome == AttemptOutcome::Delivered) return settle(*part, *p, Settled::Success);
  p->lastError = result.error;
  p->lastDeadLetterHeaders = std::move(result.deadLetterHeaders);
  if (result.outcome == AttemptOutcome::Retryable && !retry_.exhausted(p->attempts)) {
    logRetry(*p);
    topicMetrics(p->record->tp.topic).retry->Increment();
    std::uniform_real_distribution<double> draw(0.0, 1.0);
    auto delay = retry_.backoff(p->attempts, draw(random_));
    if (result.retryAfter) delay = std::max(delay, *result.retryAfter);
    return retryLater(p, delay);
  }
  exhausted(p);
}

void SubscriptionRunner::logRetry(const Pending& p) {
  // At most one line a second: a failing app would otherwise log every attempt
  // of every record. The counter says how many retries the line stands for.
  ++retriesSinceLog_;
  const auto now = Clock::now();
  if (now - lastRetryLog_ < std::chrono::seconds(1)) return;
  log::warn("delivery failed; will retry",
            {{"subscription", config_.name}, {"topic", p.record->tp.topic},
             {"partition", std::to_string(p.record->tp.partition)}, {"offset", std::to_string(p.record->offset)},
             {"attempt", std::to_string(p.attempts)}, {"error", p.lastError},
             {"retriesSinceLastLine", std::to_string(retriesSinceLog_)}});
  lastRetryLog_ = now;
  retriesSinceLog_ = 0;
}

void SubscriptionRunner::exhausted(const PendingPtr& p) {
  using OnExhausted = SubscriptionConfig::OnExhausted;
  switch (config_.onExhausted) {
    case OnExhausted::DeadLetter:
      return writeDeadLetter(p);
    case OnExhausted::Drop:
      log::warn("record dropped after its last attempt",
                {{"subscription", config_.name}, {"topic", p->record->tp.topic},
                 {"partition", std::to_string(p->record->tp.partition)}, {"offset", std::to_string(p->record->offset)},
                 {"error", p->lastError}});
      return settle(p, Settled::Dropped);
    case OnExhausted::Block: {
      // Never lose a record: keep trying at the longest backoff.
      topicMetrics(p->record->tp.topic).retry->Increment();
      std::uniform_real_distribution<double> draw(0.0, 1.0);
      return retryLater(p, retry_.backoff(retry_.config().maxAttempts + 64, draw(random_)));
    }
  }
}

namespace {
// Hands the dead-letter write's acknowledgement back to the runner thread.
class DeadLetterListener final : public DeliveryListener {
 public:
  explicit DeadLetterListener(std::function<void(DeliveryReport)> done) : done_(std::move(done)) {}
  void onDelivery(size_t, DeliveryReport report) override { done_(std::move(report)); }

 private:
  std::function<void(DeliveryReport)> done_;
};
}  // namespace

void SubscriptionRunner::writeDeadLetter(const PendingPtr& p) {
  const ConsumedRecord& r = *p->record;
  OutgoingRecord out;
  out.topic = config_.deadLetterTopic;
  out.key = r.key;
  out.value = r.value;
  out.headers = r.headers;
  out.headers.emplace_back("tributary.dlq.topic", r.tp.topic);
  out.headers.emplace_back("tributary.dlq.partition", std::to_string(r.tp.partition));
  out.headers.emplace_back("tributary.dlq.offset", std::to_string(r.offset));
  out.headers.emplace_back("tributary.dlq.subscription", config_.name);
  out.headers.emplace_back("tributary.dlq.attempts", std::to_string(p->attempts));
  out.headers.emplace_back("tributary.dlq.error", p->lastError);
  out.headers.emplace_back("tributary.dlq.first-attempt-ms", std::to_string(p->firstAttemptMs));
  out.headers.emplace_back("tributary.dlq.last-attempt-ms", std::to_string(p->lastAttemptMs));
  out.headers.insert(out.headers.end(), p->lastDeadLetterHeaders.begin(), p->lastDeadLetterHeaders.end());
  ++inFlight_;
  p->state = Pending::State::DeadLettering;
  auto mailbox = mailbox_;
  auto listener = std::make_shared<DeadLetterListener>([this, p, mailbox](DeliveryReport report) {
    mailbox->push([this, p, report = std::move(report)] {
      if (!current(p)) return;
      --inFlight_;
      if (report.error == ProduceError::None) {
        topicMetrics(p->record->tp.topic).deadLetters->Increment();
        return settle(p, Settled::DeadLetter);
      }
      // Not written: the record stays unsettled and the write is tried again.
      log::warn("dead-letter write failed; will retry",
                {{"subscription", config_.name}, {"deadLetterTopic", config_.deadLetterTopic},
                 {"error", report.message}});
      p->deadLetterNext = true;
      std::uniform_real_distribution<double> draw(0.0, 1.0);
      retryLater(p, retry_.backoff(++p->deadLetterFailures, draw(random_)));
    });
  });
  std::string why;
  if (ProduceError e = dlq_.enqueue(out, listener, 0, why); e != ProduceError::None) {
    --inFlight_;
    p->deadLetterNext = true;
    log::warn("dead-letter write refused; will retry", {{"subscription", config_.name}, {"error", why}});
    std::uniform_real_distribution<double> draw(0.0, 1.0);
    retryLater(p, retry_.backoff(++p->deadLetterFailures, draw(random_)));
  }
}

void SubscriptionRunner::retryLater(const PendingPtr& p, std::chrono::milliseconds delay) {
  p->state = Pending::State::Backoff;
  timers_.emplace(Clock::now() + delay, p);
}

void SubscriptionRunner::fireTimers() {
  const auto now = Clock::now();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    auto p = timers_.begin()->second.lock();
    timers_.erase(timers_.begin());
    if (!p || !current(p) || p->state != Pending::State::Backoff) continue;
    if (p->deadLetterNext) {
      p->deadLetterNext = false;
      writeDeadLetter(p);
    } else {
      // Back in line: dispatch() starts it when ordering and maxInFlight allow.
      p->state = Pending::State::Waiting;
    }
  }
}

void SubscriptionRunner::settle(const PendingPtr& p, Settled outcome) {
  if (auto q = partitions_.find(p->record->tp); q != partitions_.end()) return settle(q->second, *p, outcome);
  // Not ours any more (not reached: callers check the epoch first).
  tracker_.settled(p->record->tp, p->record->offset);
  TopicMetrics& m = topicMetrics(p->record->tp.topic);
  (outcome == Settled::Success ? m.success : outcome == Settled::DeadLetter ? m.deadLetter : m.dropped)->Increment();
  settledAttempts_.Observe(p->attempts);
}

void SubscriptionRunner::settle(Partition& part, Pending& p, Settled outcome) {
  const auto& tp = p.record->tp;
  tracker_.settled(tp, p.record->offset);
  // Marked, and dropped from the queue once everything before it is settled:
  // records settle roughly in fetch order, so that is soon, and nothing is
  // searched for.
  if (p.state != Pending::State::Settled) {
    p.state = Pending::State::Settled;
    ++part.settledInQueue;
    const size_t bytes = recordBytes(*p.record);
    --part.buffered.records;
    part.buffered.bytes -= bytes;
    --bufferedTotal_.records;
    bufferedTotal_.bytes -= bytes;
    trimSettled(part);
  }
  if (!part.metrics) part.metrics = &topicMetrics(tp.topic);
  TopicMetrics& m = *part.metrics;
  (outcome == Settled::Success ? m.success : outcome == Settled::DeadLetter ? m.deadLetter : m.dropped)->Increment();
  settledAttempts_.Observe(p.attempts);
  publishInflight();
}

void SubscriptionRunner::commit() {
  lastCommit_ = Clock::now();
  std::map<TopicPartition, int64_t> offsets;
  for (const auto& [tp, state] : tracker_.partitions())
    if (auto c = tracker_.commitCandidate(tp)) offsets[tp] = *c;
  if (offsets.empty()) return;
  std::string error;
  if (consumer_ && consumer_->commit(offsets, error)) {
    for (const auto& [tp, off] : offsets) tracker_.committed(tp, off);
  } else if (consumer_) {
    log::warn("offset commit failed; will retry", {{"subscription", config_.name}, {"error", error}});
  }
}

SubscriptionRunner::Status SubscriptionRunner::status() const {
  std::lock_guard lock(statusMutex_);
  Status s = status_;
  s.joined = joined_.load();
  return s;
}

void SubscriptionRunner::publishStatus() {
  Status s;
  for (const auto& [tp, state] : tracker_.partitions()) {
    auto part = partitions_.find(tp);
    PartitionStatus ps{tp, std::nullopt, tracker_.unsettled(tp), part != partitions_.end() && part->second.paused};
    auto hw = consumer_->highWatermark(tp);
    auto from = tracker_.settledUpTo(tp);
    if (!from) from = consumer_->position(tp);  // nothing fetched yet: from where fetching stands
    if (hw && from) ps.lag = std::max<int64_t>(0, *hw - *from);
    if (ps.lag)
      metrics_.consumerLag
          .Add({{"subscription", config_.name}, {"topic", tp.topic}, {"partition", std::to_string(tp.partition)}})
          .Set(static_cast<double>(*ps.lag));
    s.partitions.push_back(ps);
  }
  std::lock_guard lock(statusMutex_);
  status_ = std::move(s);
}

void SubscriptionRunner::applyBackpressure() {
  // Pausing costs what librdkafka prefetched for the partition (dropped) and a
  // fetch round trip on resume (see KafkaConsumer::resume for the wake-up),
  // so partitions are cycled only between the wide marks of BufferMarks.
  std::vector<TopicPartition> pause, resume;
  for (const auto& [tp, part] : partitions_) {
    if (!part.paused && aboveHigh(part.buffered)) pause.push_back(tp);
    else if (part.paused && atOrBelowLow(part.buffered)) resume.push_back(tp);
  }
  if (!pause.empty()) {
    consumer_->pause(pause);
    for (const auto& tp : pause) partitions_[tp].paused = true;
    pausedCount_ += pause.size();
  }
  if (!resume.empty()) {
    consumer_->resume(resume);
    for (const auto& tp : resume) partitions_[tp].paused = false;
    pausedCount_ -= resume.size();
  }
  if (!pause.empty() || !resume.empty())
    pausedGauge_.Set(static_cast<double>(pausedCount_));
}

}  // namespace tributary::sidecar
