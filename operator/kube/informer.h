#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "operator/kube/kube_client.h"

namespace tributary::op::kube {

// What the operator's informers do to every object before storing and
// delivering it (InformerOptions::transform's default): drop
// metadata.managedFields and the kubectl.kubernetes.io/last-applied-configuration
// annotation, which a real API server sends with every object and which no
// reconciler reads — about half of a KafkaTopic's bytes (controller-runtime's
// cache.TransformStripManagedFields does the same). Other annotations stay.
// Safe because nothing writes a stored object back whole in a way that loses
// them: a PUT without managedFields keeps the server's, and the controllers
// change finalizers with a merge patch (a PUT would drop the annotation).
void stripManagedFieldsAndLastApplied(Json& object);

struct InformerOptions {
  std::string ns;  // "" = all namespaces (or a cluster-scoped resource)
  std::string labelSelector;
  int64_t pageSize = 500;  // list page size (limit); 0 = one page
  // Every stored object is re-delivered as onUpdate(obj, obj) this often,
  // from memory (no API call), so reconcilers correct drift. 0 = never.
  std::chrono::milliseconds resyncPeriod{0};
  // Backoff between failed list/watch attempts: doubles up to the max, reset
  // by a successful list or a watch that delivered something.
  std::chrono::milliseconds initialBackoff{200};
  std::chrono::milliseconds maxBackoff{30'000};
  // Asked of the server per watch; it ends the stream cleanly and we re-watch.
  int watchTimeoutSeconds = 300;
  // Applied to every listed or watched object before it is stored and handed
  // to the handlers (so handlers, get() and list() all see the same shape).
  // Runs on the informer's thread; must not throw. nullptr keeps objects as
  // the server sent them.
  std::function<void(Json& object)> transform = stripManagedFieldsAndLastApplied;
};

struct InformerHandlers {
  std::function<void(const Json& object)> onAdd;
  std::function<void(const Json& oldObject, const Json& newObject)> onUpdate;
  std::function<void(const Json& lastKnown)> onDelete;
};

// Keeps an in-memory copy of one resource collection: lists (paginated), then
// watches from the list's resourceVersion with bookmarks. A cleanly ended
// watch resumes from the last resourceVersion seen (bookmarks advance it); 410
// Gone (HTTP, or an ERROR event with code 410) relists at once and delivers the
// difference as add/update/delete; any other watch error relists after an
// exponential backoff (an unreachable or throttling (429) server is re-watched
// after the backoff instead, as client-go does), so a server down at start or mid-run is waited for.
//
// Threads: start() and stop() from the owning thread (stop() joins; the
// destructor stops). Handlers run on the informer's own thread, one at a
// time, in event order, after the store was updated — they must not call
// stop(). get(), list(), hasSynced() and lastResourceVersion() are safe from
// any thread.
class Informer {
 public:
  Informer(KubeClient& client, ResourceRef resource, InformerOptions options, InformerHandlers handlers);
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  void start();
  void stop();

  // True once the first list has been stored (and its objects delivered).
  bool hasSynced() const { return synced_.load(); }
  // Keys are "namespace/name", or "name" for cluster-scoped objects.
  std::optional<Json> get(const std::string& key) const;
  std::vector<Json> list() const;
  // The keys of every stored object; with get(), a walk over the store that
  // never holds more than one parsed object (list() parses them all at once).
  std::vector<std::string> keys() const;
  std::string lastResourceVersion() const;

  static std::string keyOf(const Json& object);

 private:
  void run();
  // Returns false when stopping.
  bool relist();
  // Watches until the stream ends; returns true when a relist is needed.
  bool watchOnce();
  void apply(WatchEvent& event);  // transforms event.object in place
  void resync();
  // Sleeps for the current backoff (or until stop()), then doubles it.
  void backoff();
  std::chrono::milliseconds untilResync() const;

  KubeClient& client_;
  const ResourceRef resource_;
  const InformerOptions options_;
  const InformerHandlers handlers_;

  mutable std::mutex mu_;  // guards store_, resourceVersion_, stream_
  // Objects are kept as compact JSON text: about a sixth of the memory of a
  // parsed nlohmann tree (≈ 0.8 KB instead of ≈ 4.9 KB per KafkaTopic), which
  // is what keeps 10 000 resources well under the operator's memory budget;
  // get() parses on demand.
  std::map<std::string, std::string> store_;
  std::string resourceVersion_;
  WatchStream* stream_ = nullptr;  // the open watch, for stop() to cancel

  std::atomic<bool> synced_{false};
  std::atomic<bool> stopping_{false};
  std::mutex stopMu_;
  std::condition_variable stopCv_;
  std::chrono::milliseconds currentBackoff_;
  std::chrono::steady_clock::time_point nextResync_;
  std::thread thread_;
};

}  // namespace tributary::op::kube
