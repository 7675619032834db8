#include "sidecar/consume/lease_broker.h"

#include <algorithm>
#include <cstdio>
#include <random>

#include "common/config/duration.h"

namespace tributary::sidecar {
namespace {

// How many expired ids are remembered so that a late ack can be told
// "expired" rather than "unknown".
constexpr size_t kRememberExpired = 10'000;

std::string randomPrefix() {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(rd()));
  return buf;
}

}  // namespace

LeaseBroker::LeaseBroker(std::string subscription, std::chrono::milliseconds ackTimeout, Ordering ordering)
    : subscription_(std::move(subscription)), ackTimeout_(ackTimeout), ordering_(ordering), idPrefix_(randomPrefix()) {
  expiry_ = std::thread([this] { expireLoop(); });
}

LeaseBroker::~LeaseBroker() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    closed_ = true;
  }
  expiryCv_.notify_all();
  readyCv_.notify_all();
  expiry_.join();
}

void LeaseBroker::deliver(std::shared_ptr<const ConsumedRecord> record, int attempt, Done done) {
  {
    std::lock_guard lock(mutex_);
    if (heldBack(*record)) {
      // Sent before the runner took the failure of an earlier record: back it goes.
      returned_[holdKey(*record)].push_back(std::move(record));
      return;
    }
    ready_.push_back({std::move(record), attempt, std::move(done)});
    // A poller woken for the first record of a round would lease it alone:
    // flush() wakes them once the round is here.
    if (flushing_) {
      readyAdded_ = true;
      return;
    }
  }
  readyCv_.notify_one();
}

void LeaseBroker::flush() {
  {
    std::lock_guard lock(mutex_);
    flushing_ = true;
    if (!readyAdded_) return;
    readyAdded_ = false;
  }
  readyCv_.notify_one();  // it wakes the next poller when it leaves records behind
}

std::optional<uint64_t> LeaseBroker::parseId(const std::string& id) const {
  // Exactly as poll() writes them: the prefix, '-', a number without leading zeros.
  const size_t n = idPrefix_.size();
  if (id.size() <= n + 1 || id.size() > n + 21 || id.compare(0, n, idPrefix_) != 0 || id[n] != '-' ||
      id[n + 1] == '0')
    return std::nullopt;
  uint64_t value = 0;
  for (size_t i = n + 1; i < id.size(); ++i) {
    const char c = id[i];
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

void LeaseBroker::pruneDeadlines() {
  while (!deadlines_.empty() && !leased_.count(deadlines_.front().second)) deadlines_.pop_front();
  if (deadlines_.size() > 2 * leased_.size() + 64)
    deadlines_.erase(std::remove_if(deadlines_.begin(), deadlines_.end(),
                                    [&](const auto& d) { return !leased_.count(d.second); }),
                     deadlines_.end());
}

LeaseBroker::HoldKey LeaseBroker::holdKey(const ConsumedRecord& r) const {
  // No key and an empty key are the same key, as in the runner's dispatch.
  return {r.tp, ordering_ == Ordering::Key && r.key ? *r.key : std::string()};
}

bool LeaseBroker::heldBack(const ConsumedRecord& r) const {
  if (ordering_ == Ordering::None || holds_.empty()) return false;
  auto it = holds_.find(holdKey(r));
  return it != holds_.end() && r.offset > it->second;
}

void LeaseBroker::hold(const ConsumedRecord& failed) {
  if (ordering_ == Ordering::None) return;
  const HoldKey key = holdKey(failed);
  auto [h, inserted] = holds_.emplace(key, failed.offset);
  if (!inserted) h->second = std::min(h->second, failed.offset);
  auto& back = returned_[key];
  // Successors not polled yet.
  auto keep = std::stable_partition(ready_.begin(), ready_.end(), [&](const Ready& r) { return !heldBack(*r.record); });
  for (auto it = keep; it != ready_.end(); ++it) back.push_back(std::move(it->record));
  ready_.erase(keep, ready_.end());
  // Successors leased and not acked: their leases end now.
  for (auto it = leased_.begin(); it != leased_.end();) {
    if (!heldBack(*it->second.record)) {
      ++it;
      continue;
    }
    rememberExpired(it->first);
    back.push_back(std::move(it->second.record));
    it = leased_.erase(it);
  }
  pruneDeadlines();
}

std::vector<std::shared_ptr<const ConsumedRecord>> LeaseBroker::takeReturned(const ConsumedRecord& failed) {
  std::lock_guard lock(mutex_);
  if (ordering_ == Ordering::None) return {};
  const HoldKey key = holdKey(failed);
  holds_.erase(key);
  auto it = returned_.find(key);
  if (it == returned_.end()) return {};
  auto out = std::move(it->second);
  returned_.erase(it);
  return out;
}

std::vector<std::shared_ptr<const ConsumedRecord>> LeaseBroker::withdraw(
    const std::vector<TopicPartition>& partitions) {
  const std::set<TopicPartition> which(partitions.begin(), partitions.end());
  std::vector<std::shared_ptr<const ConsumedRecord>> out;
  std::lock_guard lock(mutex_);
  auto keep = std::stable_partition(ready_.begin(), ready_.end(),
                                    [&](const Ready& r) { return !which.count(r.record->tp); });
  for (auto it = keep; it != ready_.end(); ++it) out.push_back(it->record);
  ready_.erase(keep, ready_.end());
  for (auto it = returned_.begin(); it != returned_.end();) {
    if (!which.count(it->first.first)) {
      ++it;
      continue;
    }
    out.insert(out.end(), it->second.begin(), it->second.end());
    holds_.erase(it->first);
    it = returned_.erase(it);
  }
  for (auto it = holds_.begin(); it != holds_.end();) it = which.count(it->first.first) ? holds_.erase(it) : std::next(it);
  return out;
}

std::vector<LeaseBroker::Lease> LeaseBroker::poll(size_t max, std::chrono::milliseconds wait) {
  std::vector<Lease> out;
  bool newDeadline = false;
  {
    std::unique_lock lock(mutex_);
    readyCv_.wait_for(lock, wait, [&] { return closed_ || !ready_.empty(); });
    if (closed_) return out;
    const auto now = Clock::now();
    out.reserve(std::min(max, ready_.size()));
    const auto deadline = now + ackTimeout_;
    // Later than every deadline queued (same timeout, a later clock read):
    // the expiry thread needs waking only when there was none.
    newDeadline = deadlines_.empty() && !ready_.empty() && max > 0;
    while (!ready_.empty() && out.size() < max) {
      Ready r = std::move(ready_.front());
      ready_.pop_front();
      const uint64_t n = nextId_++;
      deadlines_.emplace_back(deadline, n);
      out.push_back({idPrefix_ + "-" + std::to_string(n), r.record, r.attempt});
      leased_.emplace(n, Leased{std::move(r.record), r.attempt, std::move(r.done), now, deadline});
    }
    // Another poller may take what this one left.
    if (!ready_.empty()) readyCv_.notify_one();
  }
  if (newDeadline) expiryCv_.notify_all();
  return out;
}

LeaseBroker::SettleResult LeaseBroker::ack(const std::vector<std::string>& ids) {
  return settle(ids, AttemptResult{AttemptOutcome::Delivered, 0, "", std::nullopt, {}});
}

LeaseBroker::SettleResult LeaseBroker::nack(const std::vector<std::string>& ids, bool retryable,
                                            const std::string& reason) {
  std::string error = "nacked by the app";
  if (!reason.empty()) error += ": " + reason.substr(0, 512);
  return settle(ids, AttemptResult{retryable ? AttemptOutcome::Retryable : AttemptOutcome::NotRetryable, 0, error,
                                   std::nullopt, {}});
}

LeaseBroker::SettleResult LeaseBroker::settle(const std::vector<std::string>& ids, AttemptResult result) {
  SettleResult out;
  std::vector<std::pair<Done, AttemptResult>> calls;
  {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    for (const auto& id : ids) {
      const auto n = parseId(id);
      auto it = n ? leased_.find(*n) : leased_.end();
      if (it == leased_.end()) {
        (n && expired_.count(*n) ? out.expired : out.unknown).push_back(id);
        continue;
      }
      AttemptResult r = result;
      r.took = now - it->second.leasedAt;
      calls.emplace_back(std::move(it->second.done), std::move(r));
      const auto record = std::move(it->second.record);
      leased_.erase(it);
      if (result.outcome != AttemptOutcome::Delivered) hold(*record);
      ++out.settled;
    }
    pruneDeadlines();
  }
  for (auto& [done, r] : calls) done(std::move(r));
  return out;
}

void LeaseBroker::expireLoop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (deadlines_.empty()) {
      expiryCv_.wait(lock);
      continue;
    }
    const auto next = deadlines_.front().first;
    if (Clock::now() < next) {
      expiryCv_.wait_until(lock, next);
      continue;
    }
    std::vector<std::pair<Done, AttemptResult>> calls;
    const auto now = Clock::now();
    while (!deadlines_.empty() && deadlines_.front().first <= now) {
      const uint64_t id = deadlines_.front().second;
      deadlines_.pop_front();
      auto it = leased_.find(id);
      if (it == leased_.end()) continue;
      AttemptResult r{AttemptOutcome::Retryable, 0,
                      "lease expired: not acknowledged within ackTimeout " + formatDuration(ackTimeout_),
                      std::nullopt, now - it->second.leasedAt};
      calls.emplace_back(std::move(it->second.done), std::move(r));
      const auto record = std::move(it->second.record);
      leased_.erase(it);
      rememberExpired(id);
      hold(*record);
    }
    lock.unlock();
    for (auto& [done, r] : calls) done(std::move(r));
    lock.lock();
  }
}

void LeaseBroker::rememberExpired(uint64_t id) {
  expired_.insert(id);
  expiredOrder_.push_back(id);
  if (expiredOrder_.size() > kRememberExpired) {
    expired_.erase(expiredOrder_.front());
    expiredOrder_.pop_front();
  }
}

void LeaseBroker::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  readyCv_.notify_all();
}

bool LeaseBroker::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

size_t LeaseBroker::readyCount() const {
  std::lock_guard lock(mutex_);
  return ready_.size();
}

size_t LeaseBroker::leasedCount() const {
  std::lock_guard lock(mutex_);
  return leased_.size();
}

}  // namespace tributary::sidecar
