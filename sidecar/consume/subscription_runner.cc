#include "sidecar/consume/subscription_runner.h"

#include "common/log/log.h"

namespace tributary::sidecar {
namespace {

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// How many fetched records a partition may hold before it is paused: enough to
// keep maxInFlight busy, bounded so that a slow app never grows memory.
size_t bufferLimit(const SubscriptionConfig& c) { return static_cast<size_t>(std::max(64, c.maxInFlight * 2)); }

}  // namespace

struct SubscriptionRunner::Pending {
  enum class State { Waiting, InFlight, Backoff, DeadLettering };
  std::shared_ptr<const ConsumedRecord> record;
  uint64_t epoch = 0;
  int attempts = 0;
  State state = State::Waiting;
  bool deadLetterNext = false;  // the next step after a backoff is the dead-letter write
  int deadLetterFailures = 0;   // failed dead-letter writes: they back off like attempts
  int64_t firstAttemptMs = 0;
  int64_t lastAttemptMs = 0;
  std::string lastError;
};

SubscriptionRunner::SubscriptionRunner(SubscriptionConfig config, ConsumerFactory consumerFactory,
                                       Deliverer& deliverer, Producer& deadLetterProducer, SidecarMetrics& metrics)
    : config_(std::move(config)),
      consumerFactory_(std::move(consumerFactory)),
      deliverer_(deliverer),
      dlq_(deadLetterProducer),
      metrics_(metrics),
      retry_(config_.retry) {}

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

void SubscriptionRunner::post(std::function<void()> task) {
  {
    std::lock_guard lock(mailbox_->mutex);
    if (mailbox_->closed) return;
    mailbox_->tasks.push_back(std::move(task));
  }
  mailbox_->posted.notify_all();
}

void SubscriptionRunner::runPosted(std::chrono::milliseconds wait) {
  std::deque<std::function<void()>> tasks;
  {
    std::unique_lock lock(mailbox_->mutex);
    if (wait.count() > 0)
      mailbox_->posted.wait_for(lock, wait, [&] { return !mailbox_->tasks.empty() || stopFetching_.load(); });
    tasks.swap(mailbox_->tasks);
  }
  for (auto& t : tasks) t();
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
    // Fetch while there is room; a completion wakes the poll early.
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
    for (const auto& [tp, queue] : queues_) all.push_back(tp);
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
    queues_[tp].clear();
    epochs_[tp] = nextEpoch_++;
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
      auto q = queues_.find(tp);
      if (q == queues_.end()) continue;
      for (const auto& p : q->second)
        if (p->state == Pending::State::InFlight || p->state == Pending::State::DeadLettering) return true;
    }
    return false;
  };
  const auto deadline = Clock::now() + std::min(config_.timeout + std::chrono::seconds(1), std::chrono::milliseconds(
                                                    std::max<int64_t>(grace_.count(), 1000)));
  while (busy() && Clock::now() < deadline) runPosted(std::chrono::milliseconds(20));
  commit();
  for (const auto& tp : partitions) {
    if (auto q = queues_.find(tp); q != queues_.end()) {
      for (const auto& p : q->second)
        if (p->state == Pending::State::InFlight || p->state == Pending::State::DeadLettering) --inFlight_;
      queues_.erase(q);
    }
    tracker_.revoke(tp);
    metrics_.consumerLag.Remove(&metrics_.consumerLag.Add(
        {{"subscription", config_.name}, {"topic", tp.topic}, {"partition", std::to_string(tp.partition)}}));
    epochs_.erase(tp);
    paused_.erase(tp);
  }
  metrics_.inflight.Add({{"subscription", config_.name}}).Set(static_cast<double>(tracker_.unsettledTotal()));
  log::info("partitions revoked", {{"subscription", config_.name}, {"count", std::to_string(partitions.size())}});
}

bool SubscriptionRunner::current(const PendingPtr& p) const {
  auto e = epochs_.find(p->record->tp);
  return e != epochs_.end() && e->second == p->epoch;
}

void SubscriptionRunner::take(ConsumedRecord record) {
  auto q = queues_.find(record.tp);
  if (q == queues_.end()) return;  // a partition no longer ours
  auto p = std::make_shared<Pending>();
  p->epoch = epochs_[record.tp];
  tracker_.fetched(record.tp, record.offset);
  p->record = std::make_shared<const ConsumedRecord>(std::move(record));
  q->second.push_back(std::move(p));
  metrics_.inflight.Add({{"subscription", config_.name}}).Set(static_cast<double>(tracker_.unsettledTotal()));
}

void SubscriptionRunner::dispatch() {
  using Ordering = SubscriptionConfig::Ordering;
  for (auto& [tp, queue] : queues_) {
    std::set<std::string> blockedKeys;  // ordering=key: keys with an earlier unsettled record
    for (const auto& p : queue) {
      if (inFlight_ >= config_.maxInFlight) return;
      const bool waiting = p->state == Pending::State::Waiting;
      if (config_.ordering == Ordering::Partition) {
        if (waiting) startAttempt(p);
        break;  // only the head of a partition is ever in flight
      }
      if (config_.ordering == Ordering::Key) {
        const std::string key = p->record->key.value_or("");
        if (blockedKeys.insert(key).second && waiting) startAttempt(p);
        continue;
      }
      if (waiting) startAttempt(p);
    }
  }
}

void SubscriptionRunner::startAttempt(const PendingPtr& p) {
  ++inFlight_;
  ++p->attempts;
  p->lastAttemptMs = nowMs();
  if (p->attempts == 1) p->firstAttemptMs = p->lastAttemptMs;
  p->state = Pending::State::InFlight;
  deliverer_.deliver(p->record, p->attempts, [this, p, mailbox = mailbox_](AttemptResult result) {
    // Runs on a deliverer thread: hand the result to the runner thread.
    std::lock_guard lock(mailbox->mutex);
    if (mailbox->closed) return;
    mailbox->tasks.push_back([this, p, result = std::move(result)]() mutable { onAttempt(p, std::move(result)); });
    mailbox->posted.notify_all();
    if (mailbox->wake) mailbox->wake->wakeup();
  });
}

void SubscriptionRunner::reclaim(const std::vector<std::shared_ptr<const ConsumedRecord>>& records) {
  for (const auto& r : records) {
    auto q = queues_.find(r->tp);
    if (q == queues_.end()) continue;
    for (const auto& p : q->second)
      if (p->record == r && p->state == Pending::State::InFlight) {
        // The attempt never reached the app: it does not count.
        p->state = Pending::State::Waiting;
        --p->attempts;
        --inFlight_;
        break;
      }
  }
}

void SubscriptionRunner::onAttempt(const PendingPtr& p, AttemptResult result) {
  if (!current(p)) return;  // the partition was revoked meanwhile; the new owner redelivers
  --inFlight_;
  metrics_.deliveryDuration.Add({{"subscription", config_.name}}, prometheus::Histogram::BucketBoundaries{
                                    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30})
      .Observe(result.took.count());
  if (result.outcome == AttemptOutcome::Delivered) return settle(p, "success");
  p->lastError = result.error;
  if (result.outcome == AttemptOutcome::Retryable && !retry_.exhausted(p->attempts)) {
    metrics_.deliveries.Add({{"subscription", config_.name}, {"topic", p->record->tp.topic}, {"outcome", "retry"}})
        .Increment();
    std::uniform_real_distribution<double> draw(0.0, 1.0);
    auto delay = retry_.backoff(p->attempts, draw(random_));
    if (result.retryAfter) delay = std::max(delay, *result.retryAfter);
    return retryLater(p, delay);
  }
  exhausted(p);
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
      return settle(p, "dropped");
    case OnExhausted::Block: {
      // Never lose a record: keep trying at the longest backoff.
      metrics_.deliveries.Add({{"subscription", config_.name}, {"topic", p->record->tp.topic}, {"outcome", "retry"}})
          .Increment();
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
  ++inFlight_;
  p->state = Pending::State::DeadLettering;
  auto mailbox = mailbox_;
  auto listener = std::make_shared<DeadLetterListener>([this, p, mailbox](DeliveryReport report) {
    std::lock_guard lock(mailbox->mutex);
    if (mailbox->closed) return;
    mailbox->tasks.push_back([this, p, report = std::move(report)] {
      if (!current(p)) return;
      --inFlight_;
      if (report.error == ProduceError::None) {
        metrics_.deadLetters.Add({{"subscription", config_.name}, {"topic", p->record->tp.topic}}).Increment();
        return settle(p, "dead_letter");
      }
      // Not written: the record stays unsettled and the write is tried again.
      log::warn("dead-letter write failed; will retry",
                {{"subscription", config_.name}, {"deadLetterTopic", config_.deadLetterTopic},
                 {"error", report.message}});
      p->deadLetterNext = true;
      std::uniform_real_distribution<double> draw(0.0, 1.0);
      retryLater(p, retry_.backoff(++p->deadLetterFailures, draw(random_)));
    });
    mailbox->posted.notify_all();
    if (mailbox->wake) mailbox->wake->wakeup();
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

void SubscriptionRunner::settle(const PendingPtr& p, const char* outcome) {
  const auto& tp = p->record->tp;
  tracker_.settled(tp, p->record->offset);
  if (auto q = queues_.find(tp); q != queues_.end()) q->second.remove(p);
  metrics_.deliveries.Add({{"subscription", config_.name}, {"topic", tp.topic}, {"outcome", outcome}}).Increment();
  metrics_.deliveryAttempts.Add({{"subscription", config_.name}},
                                prometheus::Histogram::BucketBoundaries{1, 2, 3, 5, 10, 20, 50})
      .Observe(p->attempts);
  metrics_.inflight.Add({{"subscription", config_.name}}).Set(static_cast<double>(tracker_.unsettledTotal()));
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
    PartitionStatus ps{tp, std::nullopt, tracker_.unsettled(tp), paused_.count(tp) > 0};
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
  const size_t limit = bufferLimit(config_);
  std::vector<TopicPartition> pause, resume;
  for (const auto& [tp, queue] : queues_) {
    if (!paused_.count(tp) && queue.size() >= limit) pause.push_back(tp);
    else if (paused_.count(tp) && queue.size() <= limit / 2) resume.push_back(tp);
  }
  if (!pause.empty()) {
    consumer_->pause(pause);
    paused_.insert(pause.begin(), pause.end());
  }
  if (!resume.empty()) {
    consumer_->resume(resume);
    for (const auto& tp : resume) paused_.erase(tp);
  }
  if (!pause.empty() || !resume.empty())
    metrics_.pausedPartitions.Add({{"subscription", config_.name}}).Set(static_cast<double>(paused_.size()));
}

}  // namespace tributary::sidecar
