#include "operator/kube/event_recorder.h"

#include <algorithm>
#include <ctime>

#include "common/log/log.h"

namespace tributary::op::kube {

namespace {

std::string rfc3339Now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string hexNanos() {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch());
  char buf[32];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(ns.count()));
  return buf;
}

}  // namespace

EventRecorder::EventRecorder(KubeClient& client, std::string component, prometheus::Registry& registry,
                             EventRecorderOptions options)
    : client_(client),
      component_(std::move(component)),
      options_(std::move(options)),
      events_(prometheus::BuildCounter()
                  .Name("tributary_operator_events_total")
                  .Help("Kubernetes Events written, by result (created, aggregated, failed)")
                  .Register(registry)),
      dropped_(prometheus::BuildCounter()
                   .Name("tributary_operator_events_dropped_total")
                   .Help("Kubernetes Events not written, by reason (queue_full, spam, shutdown)")
                   .Register(registry)),
      pending_(prometheus::BuildGauge()
                   .Name("tributary_operator_events_pending")
                   .Help("Kubernetes Events recorded but not yet written (queued or being written)")
                   .Register(registry)
                   .Add({})) {
  // Present from the start, so that a dashboard's rate() sees the first drop.
  for (const char* reason : {"queue_full", "spam", "shutdown"}) dropped_.Add({{"reason", reason}});
  thread_ = std::thread([this] { run(); });
}

EventRecorder::~EventRecorder() {
  flush(options_.flushTimeout);
  size_t left = 0;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    left = queue_.size();
    queue_.clear();
    pending_.Decrement(static_cast<double>(left));
  }
  workCv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (left > 0) {
    dropped_.Add({{"reason", "shutdown"}}).Increment(static_cast<double>(left));
    log::warn("Events not written at shutdown", {{"count", std::to_string(left)}});
  }
}

bool EventRecorder::admitBySpamFilter(const std::string& objectKey, std::chrono::steady_clock::time_point now) {
  auto it = buckets_.find(objectKey);
  if (it == buckets_.end()) {
    if (buckets_.size() >= options_.maxSpamTracked) {
      // Bounded: forget the objects whose bucket has refilled (they are as
      // good as new), and everyone if that is not enough.
      const auto full = options_.spamRefillEvery * options_.spamBurst;
      for (auto b = buckets_.begin(); b != buckets_.end();)
        b = now - b->second.refilledAt >= full ? buckets_.erase(b) : std::next(b);
      if (buckets_.size() >= options_.maxSpamTracked) buckets_.clear();
    }
    it = buckets_.emplace(objectKey, Bucket{static_cast<double>(options_.spamBurst), now}).first;
  }
  Bucket& b = it->second;
  if (options_.spamRefillEvery.count() > 0) {
    const double refill = std::chrono::duration<double>(now - b.refilledAt) /
                          std::chrono::duration<double>(options_.spamRefillEvery);
    b.tokens = std::min(static_cast<double>(options_.spamBurst), b.tokens + refill);
  }
  b.refilledAt = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

void EventRecorder::record(const Json& object, EventType type, const std::string& reason,
                           const std::string& message) noexcept {
  try {
    Pending p;
    const Json meta = object.value("metadata", Json::object());
    const std::string objNs = meta.value("namespace", "");
    const std::string uid = meta.value("uid", "");
    p.objectName = meta.value("name", "");
    p.type = type == EventType::Normal ? "Normal" : "Warning";
    p.reason = reason;
    p.message = message;
    // Events of cluster-scoped objects live in "default", as client-go puts them.
    p.eventNs = objNs.empty() ? "default" : objNs;
    const std::string objectKey = object.value("kind", "") + "/" + objNs + "/" + p.objectName + "/" + uid;
    p.key = objectKey + "\n" + p.type + "\n" + reason + "\n" + message;
    p.involved = {{"kind", object.value("kind", "")}, {"apiVersion", object.value("apiVersion", "")}, {"name", p.objectName}};
    if (!objNs.empty()) p.involved["namespace"] = objNs;
    if (!uid.empty()) p.involved["uid"] = uid;
    if (meta.contains("resourceVersion")) p.involved["resourceVersion"] = meta["resourceVersion"];
    p.timestamp = rfc3339Now();
    p.at = options_.now();

    const char* droppedFor = nullptr;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      if (!admitBySpamFilter(objectKey, p.at))
        droppedFor = "spam";
      else if (queue_.size() >= options_.queueCapacity)
        droppedFor = "queue_full";
      else {
        queue_.push_back(std::move(p));
        pending_.Increment();
      }
    }
    if (droppedFor != nullptr) {
      dropped_.Add({{"reason", droppedFor}}).Increment();
      log::debug("Event dropped", {{"reason", reason}, {"why", droppedFor}});
      return;
    }
    workCv_.notify_one();
  } catch (...) {
    // Recording must never fail the caller (an allocation failure at worst).
  }
}

bool EventRecorder::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return idleCv_.wait_for(lock, timeout, [this] { return (queue_.empty() && !inFlight_) || stopping_; }) &&
         queue_.empty() && !inFlight_;
}

void EventRecorder::run() {
  for (;;) {
    Pending p;
    {
      std::unique_lock lock(mu_);
      if (inFlight_) pending_.Decrement();
      inFlight_ = false;
      if (queue_.empty()) idleCv_.notify_all();
      workCv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      p = std::move(queue_.front());
      queue_.pop_front();
      inFlight_ = true;
    }
    write(p);
  }
}

void EventRecorder::remember(const std::string& key, Written w) {
  auto it = written_.find(key);
  if (it != written_.end()) {
    writtenOrder_.erase(it->second.order);
    written_.erase(it);
  }
  while (!writtenOrder_.empty() && written_.size() >= options_.maxRemembered) {
    written_.erase(writtenOrder_.front());
    writtenOrder_.pop_front();
  }
  w.order = writtenOrder_.insert(writtenOrder_.end(), key);
  written_.emplace(key, std::move(w));
}

void EventRecorder::write(const Pending& p) {
  try {
    auto it = written_.find(p.key);
    if (it != written_.end() && p.at - it->second.lastSeen <= options_.aggregationWindow) {
      try {
        Json patch = {{"count", it->second.count + 1}, {"lastTimestamp", p.timestamp}};
        client_.patch(resources::kEvents, it->second.ns, it->second.name, patch);
        Written w = it->second;
        w.count += 1;
        w.lastSeen = p.at;
        remember(p.key, w);
        events_.Add({{"result", "aggregated"}}).Increment();
        return;
      } catch (const ApiError& e) {
        // The Event expired (the server keeps them about an hour): write a new one.
        if (!isNotFound(e)) throw;
      }
    }
    const std::string name = (p.objectName.empty() ? "object" : p.objectName) + "." + hexNanos();
    Json event = {{"apiVersion", "v1"},
                  {"kind", "Event"},
                  {"metadata", {{"name", name}, {"namespace", p.eventNs}}},
                  {"involvedObject", p.involved},
                  {"reason", p.reason},
                  {"message", p.message},
                  {"type", p.type},
                  {"source", {{"component", component_}}},
                  {"reportingComponent", component_},
                  {"firstTimestamp", p.timestamp},
                  {"lastTimestamp", p.timestamp},
                  {"count", 1}};
    client_.create(resources::kEvents, p.eventNs, event);
    remember(p.key, Written{p.eventNs, name, 1, p.at, {}});
    events_.Add({{"result", "created"}}).Increment();
  } catch (const std::exception& e) {
    try {
      events_.Add({{"result", "failed"}}).Increment();
      log::warn("could not record an Event", {{"reason", p.reason}, {"error", e.what()}});
    } catch (...) {
    }
  } catch (...) {
  }
}

}  // namespace tributary::op::kube
