#pragma once
#include <map>
#include <mutex>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include "operator/kube/kube_client.h"

namespace tributary::op::kube {

enum class EventType { Normal, Warning };

// Writes core/v1 Events about objects, as `kubectl describe` shows them. The
// same (object, type, reason, message) again bumps `count` and
// `lastTimestamp` of the Event already written (a merge patch) instead of
// creating another, so a resource that is refused on every resync does not
// fill etcd. Recording never throws: an Event is a courtesy, a failure is
// logged and counted in tributary_operator_events_total{result="failed"}.
//
// Threads: record() from any thread (calls are serialised; each is one API
// request, done synchronously on the caller's thread).
class EventRecorder {
 public:
  // `component` goes to source.component (e.g. "tributary-operator").
  EventRecorder(KubeClient& client, std::string component, prometheus::Registry& registry);

  void record(const Json& object, EventType type, const std::string& reason, const std::string& message) noexcept;

 private:
  struct Written {
    std::string ns;
    std::string name;
    int64_t count = 1;
  };
  KubeClient& client_;
  const std::string component_;
  prometheus::Family<prometheus::Counter>& events_;
  std::mutex mu_;
  std::map<std::string, Written> written_;  // aggregation key -> the Event we wrote
};

}  // namespace tributary::op::kube
