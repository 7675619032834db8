#include "operator/kube/event_recorder.h"

#include <ctime>

#include "common/log/log.h"

namespace tributary::op::kube {

namespace {

// The aggregation cache is bounded: past this many distinct events we start
// over (the worst case is one extra Event object per key, never lost counts
// on the server side beyond that).
constexpr size_t kMaxRemembered = 4096;

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

EventRecorder::EventRecorder(KubeClient& client, std::string component, prometheus::Registry& registry)
    : client_(client),
      component_(std::move(component)),
      events_(prometheus::BuildCounter()
                  .Name("tributary_operator_events_total")
                  .Help("Kubernetes Events recorded, by result (created, aggregated, failed)")
                  .Register(registry)) {}

void EventRecorder::record(const Json& object, EventType type, const std::string& reason,
                           const std::string& message) noexcept {
  try {
    const Json meta = object.value("metadata", Json::object());
    const std::string objNs = meta.value("namespace", "");
    const std::string objName = meta.value("name", "");
    const std::string uid = meta.value("uid", "");
    const std::string typeName = type == EventType::Normal ? "Normal" : "Warning";
    // Events of cluster-scoped objects live in "default", as client-go puts them.
    const std::string eventNs = objNs.empty() ? "default" : objNs;
    const std::string key = object.value("kind", "") + "/" + objNs + "/" + objName + "/" + uid + "\n" + typeName +
                            "\n" + reason + "\n" + message;
    const std::string now = rfc3339Now();

    std::lock_guard lock(mu_);
    auto it = written_.find(key);
    if (it != written_.end()) {
      try {
        Json patch = {{"count", it->second.count + 1}, {"lastTimestamp", now}};
        client_.patch(resources::kEvents, it->second.ns, it->second.name, patch);
        it->second.count += 1;
        events_.Add({{"result", "aggregated"}}).Increment();
        return;
      } catch (const ApiError& e) {
        // The Event expired (the server keeps them about an hour): write a new one.
        if (!isNotFound(e)) throw;
        written_.erase(it);
      }
    }

    Json involved = {{"kind", object.value("kind", "")},
                     {"apiVersion", object.value("apiVersion", "")},
                     {"name", objName}};
    if (!objNs.empty()) involved["namespace"] = objNs;
    if (!uid.empty()) involved["uid"] = uid;
    if (meta.contains("resourceVersion")) involved["resourceVersion"] = meta["resourceVersion"];
    const std::string name = (objName.empty() ? "object" : objName) + "." + hexNanos();
    Json event = {{"apiVersion", "v1"},
                  {"kind", "Event"},
                  {"metadata", {{"name", name}, {"namespace", eventNs}}},
                  {"involvedObject", involved},
                  {"reason", reason},
                  {"message", message},
                  {"type", typeName},
                  {"source", {{"component", component_}}},
                  {"reportingComponent", component_},
                  {"firstTimestamp", now},
                  {"lastTimestamp", now},
                  {"count", 1}};
    client_.create(resources::kEvents, eventNs, event);
    if (written_.size() >= kMaxRemembered) written_.clear();
    written_[key] = Written{eventNs, name, 1};
    events_.Add({{"result", "created"}}).Increment();
  } catch (const std::exception& e) {
    try {
      events_.Add({{"result", "failed"}}).Increment();
      log::warn("could not record an Event", {{"reason", reason}, {"error", e.what()}});
    } catch (...) {
      // Nothing left to do: recording must never fail the caller.
    }
  } catch (...) {
  }
}

}  // namespace tributary::op::kube
