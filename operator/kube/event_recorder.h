#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "operator/kube/kube_client.h"

namespace tributary::op::kube {

enum class EventType { Normal, Warning };

struct EventRecorderOptions {
  // Events waiting to be written. A full queue drops the new Event (counted in
  // tributary_operator_events_dropped_total{reason="queue_full"}): a reconcile
  // never waits for an Event. client-go's broadcaster queues 1000 too.
  size_t queueCapacity = 1000;
  // The same (object, type, reason, message) again within this window bumps
  // the count of the Event already written; later, a new Event is created.
  std::chrono::milliseconds aggregationWindow{10 * 60 * 1000};
  // Distinct Events remembered for aggregation (oldest forgotten first).
  size_t maxRemembered = 4096;
  // Spam filter per object, client-go's defaults: a bucket of `spamBurst`
  // Events, refilled by one every `spamRefillEvery`; an Event for an object
  // whose bucket is empty is dropped (reason="spam"). At most
  // `maxSpamTracked` objects are tracked (full buckets are forgotten first).
  int spamBurst = 25;
  std::chrono::milliseconds spamRefillEvery{5 * 60 * 1000};
  size_t maxSpamTracked = 4096;
  // How long the destructor waits for queued Events to be written; what is
  // left then is dropped (reason="shutdown").
  std::chrono::milliseconds flushTimeout{5000};
  // The clock of the window and the spam filter (tests pass a fake one).
  std::function<std::chrono::steady_clock::time_point()> now = [] { return std::chrono::steady_clock::now(); };
};

// Writes core/v1 Events about objects, as `kubectl describe` shows them,
// asynchronously: record() only queues, and the recorder's own thread writes.
// Aggregation as client-go's EventCorrelator (its EventLogger): the same
// (object, type, reason, message) again within `aggregationWindow` bumps
// `count` and `lastTimestamp` of the Event already written (a merge patch)
// instead of creating another, so a resource refused on every resync does not
// fill etcd; an Event that expired on the server (NotFound) is created again.
// (client-go's "combined from similar events" step, which merges different
// messages of one reason, is not done.) Recording never throws and never
// blocks on the API server: a failed write is logged and counted in
// tributary_operator_events_total{result="failed"}; the caller never knows.
// tributary_operator_events_pending shows what is queued or being written.
//
// Threads: record() from any thread, returns at once (a mutex and a queue
// push). flush() from any thread. The constructor starts the writer thread;
// the destructor (owning thread) flushes for at most `flushTimeout`, then
// stops and joins it (after the one write under way, which the client's
// request timeout bounds) — no record() may run concurrently with it. `client`
// must outlive the recorder and allow calls from another thread.
class EventRecorder {
 public:
  // `component` goes to source.component (e.g. "tributary-operator").
  EventRecorder(KubeClient& client, std::string component, prometheus::Registry& registry,
                EventRecorderOptions options = {});
  ~EventRecorder();
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  void record(const Json& object, EventType type, const std::string& reason, const std::string& message) noexcept;

  // Waits until every Event recorded before the call was written (or its
  // write failed), or `timeout`. Returns whether the queue drained.
  bool flush(std::chrono::milliseconds timeout);

 private:
  struct Pending {
    std::string key;  // aggregation key: object, type, reason, message
    std::string eventNs;
    std::string objectName;
    Json involved;
    std::string type;
    std::string reason;
    std::string message;
    std::string timestamp;  // RFC 3339, when record() was called
    std::chrono::steady_clock::time_point at;
  };
  struct Written {
    std::string ns;
    std::string name;
    int64_t count = 1;
    std::chrono::steady_clock::time_point lastSeen;
    std::list<std::string>::iterator order;  // position in writtenOrder_
  };
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point refilledAt;
  };

  void run();
  void write(const Pending& p);  // the writer thread
  bool admitBySpamFilter(const std::string& objectKey, std::chrono::steady_clock::time_point now);  // under mu_
  void remember(const std::string& key, Written w);  // the writer thread

  KubeClient& client_;
  const std::string component_;
  const EventRecorderOptions options_;
  prometheus::Family<prometheus::Counter>& events_;
  prometheus::Family<prometheus::Counter>& dropped_;
  prometheus::Gauge& pending_;  // queued + being written: 0 when every recorded Event is written

  std::mutex mu_;  // guards queue_, inFlight_, stopping_, buckets_
  std::condition_variable workCv_;  // the writer waits for work
  std::condition_variable idleCv_;  // flush() waits for an empty queue
  std::deque<Pending> queue_;
  bool inFlight_ = false;  // the writer holds an Event taken off the queue
  bool stopping_ = false;
  std::map<std::string, Bucket> buckets_;  // spam filter, by object

  // The writer thread's own: the Events it wrote, for aggregation.
  std::map<std::string, Written> written_;
  std::list<std::string> writtenOrder_;  // keys, least recently used first

  std::thread thread_;
};

}  // namespace tributary::op::kube
