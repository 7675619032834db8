#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/apiserver/api_error.h"
#include "tests/support/apiserver/patch.h"
#include "tests/support/apiserver/resource_registry.h"
#include "tests/support/apiserver/selectors.h"
#include "tests/support/apiserver/timestamps.h"

namespace tributary::apiserver {

// Stored objects are immutable and shared: the live map, the event log, watch
// queues and list snapshots all point at the same JSON, so a write costs one
// object however many watchers and snapshots there are.
using ObjectPtr = std::shared_ptr<const nlohmann::json>;

enum class EventType { Added, Modified, Deleted, InitialEventsEnd };

// One change, as etcd + the watch cache record it.
struct Event {
  uint64_t resourceVersion = 0;
  std::string storageKey;  // the resource type (ResourceType::storageKey)
  std::string key;         // "namespace/name", or "name" for cluster-scoped objects
  std::string ns;
  EventType type = EventType::Added;
  // The state after the change. For Deleted: the last stored state, carrying
  // the deletion's resourceVersion (what the real watch sends).
  ObjectPtr object;
  ObjectPtr prev;  // the state before; null for Added
};
using EventPtr = std::shared_ptr<const Event>;

// An open watch. Created by ObjectStore::watch, drained by ObjectStore::poll.
// The filter fields are fixed at creation; the rest is guarded by the store's mutex.
struct Watcher {
  ResourceTypePtr type;
  std::string version;
  std::string ns;  // "" watches every namespace
  LabelSelector labels;
  FieldSelector fields;

 private:
  friend class ObjectStore;
  std::deque<EventPtr> queue_;
  std::optional<ApiError> error_;
  bool closed_ = false;
};

struct ListOptions {
  LabelSelector labels;
  FieldSelector fields;
  int64_t limit = 0;  // 0: everything
  std::string continueToken;
  std::string resourceVersion;       // "", "0" or a number
  std::string resourceVersionMatch;  // "", NotOlderThan, Exact
};

struct ListResult {
  std::vector<ObjectPtr> items;
  uint64_t resourceVersion = 0;
  std::string continueToken;
  std::optional<int64_t> remainingItemCount;
};

struct WatchOptions {
  LabelSelector labels;
  FieldSelector fields;
  std::string resourceVersion;  // "" / "0": current state as ADDED events first
  bool sendInitialEvents = false;
};

struct PollResult {
  std::vector<EventPtr> events;
  std::optional<ApiError> error;  // send as an ERROR event, then end
  bool closed = false;            // end the stream (dropWatches, stop, CRD deleted)
  uint64_t resourceVersion = 0;   // current, for bookmarks when `events` drained the queue
};

enum class Target { Main, Status };

struct DeleteResult {
  ObjectPtr object;
  bool deletedNow = false;  // false: finalizers (or contents) keep it, with a deletionTimestamp
};

// The cluster's state: every object of every resource type, one global
// resourceVersion, the event log that watches resume from and paginated
// lists read their snapshot from, and the open watches.
//
// Threads: every public method may be called from any thread. One mutex
// guards everything (objects, registry, log, watch queues); nothing slow runs
// under it (no I/O, no serialisation of responses).
class ObjectStore {
 public:
  struct Options {
    // Events kept for watch resumption and list continuation; older ones are
    // compacted away (their resourceVersions become "too old", 410). 0 keeps
    // everything until compact().
    size_t maxRetainedEvents = 0;
  };

  explicit ObjectStore(Options options);

  // Registry access.
  ResourceTypePtr resolve(const std::string& group, const std::string& version, const std::string& plural) const;
  template <class F>
  auto withRegistry(F&& f) const {
    std::lock_guard lock(mu_);
    return f(static_cast<const ResourceRegistry&>(registry_));
  }

  // Verbs. `ns` is "" for cluster-scoped types. Throw ApiError. `manager`
  // (fieldManagerOf) records the write in metadata.managedFields as a real
  // server does (managed_fields.h); "" leaves managedFields as they are.
  ObjectPtr get(const ResourceType& type, const std::string& ns, const std::string& name) const;
  ListResult list(const ResourceType& type, const std::string& ns, const ListOptions& options) const;
  ObjectPtr create(const ResourceType& type, const std::string& version, const std::string& ns, nlohmann::json body,
                   bool dryRun, const std::string& manager = "");
  ObjectPtr update(const ResourceType& type, const std::string& version, const std::string& ns,
                   const std::string& name, nlohmann::json body, Target target, bool dryRun,
                   const std::string& manager = "");
  ObjectPtr patch(const ResourceType& type, const std::string& version, const std::string& ns, const std::string& name,
                  PatchType patchType, const std::string& patchBody, Target target, bool dryRun,
                  const std::string& manager = "");
  // `options` is the DeleteOptions body (preconditions), or null.
  DeleteResult remove(const ResourceType& type, const std::string& ns, const std::string& name,
                      const nlohmann::json& options, bool dryRun);
  std::vector<ObjectPtr> removeCollection(const ResourceType& type, const std::string& ns, const ListOptions& selection,
                                          const nlohmann::json& options, bool dryRun);

  // The scale subresource (types with ResourceType::scale): the object seen
  // as an autoscaling/v1 Scale. Updating it changes only the replicas at
  // specReplicasPath (the object's generation and resourceVersion move like
  // any spec change); a stale metadata.resourceVersion in the Scale is 409,
  // spec.replicas < 0 is 422. Patches apply to the Scale, then update it.
  nlohmann::json getScale(const ResourceType& type, const std::string& ns, const std::string& name) const;
  nlohmann::json updateScale(const ResourceType& type, const std::string& ns, const std::string& name,
                             nlohmann::json scale, bool dryRun);
  nlohmann::json patchScale(const ResourceType& type, const std::string& ns, const std::string& name,
                            PatchType patchType, const std::string& patchBody, bool dryRun);

  // Opens a watch; its errors (410 too old, 504 too new) come out of poll()
  // as the first event, as the real server sends them.
  std::shared_ptr<Watcher> watch(ResourceTypePtr type, const std::string& version, const std::string& ns,
                                 const WatchOptions& options);
  // Waits until `watcher` has events, is closed, or `until`; takes its events.
  PollResult poll(Watcher& watcher, std::chrono::steady_clock::time_point until);
  void unregister(const std::shared_ptr<Watcher>& watcher);
  size_t openWatches() const;
  // Ends every open watch (their streams finish cleanly).
  void closeWatches();
  // Ends every open watch and every future one: the server is stopping.
  void shutdown();

  // Forgets every event so far: watches and continue tokens from any earlier
  // resourceVersion get 410 Gone (etcd compaction).
  void compact();
  uint64_t resourceVersion() const;

 private:
  using ObjectMap = std::map<std::string, ObjectPtr>;

  ObjectMap& mutableObjectsOf(const ResourceType& type) { return data_[type.storageKey()]; }
  const ObjectMap* objectsOf(const ResourceType& type) const;
  ObjectPtr find(const ResourceType& type, const std::string& key) const;
  ObjectMap snapshotAt(const ResourceType& type, uint64_t resourceVersion) const;

  ObjectPtr createLocked(const ResourceType& type, const std::string& version, const std::string& ns,
                         nlohmann::json body, bool dryRun, const std::string& manager = "");
  ObjectPtr updateLocked(const ResourceType& type, const std::string& version, const std::string& ns,
                         const std::string& name, nlohmann::json body, Target target, bool dryRun,
                         const std::string& manager);
  // Writes `next` over `current` (generation, no-op detection, deletion once
  // the last finalizer is gone, hooks). `next` already has the system metadata.
  ObjectPtr commitUpdate(const ResourceType& type, const ObjectPtr& current, nlohmann::json next, bool dryRun);
  DeleteResult removeLocked(const ResourceType& type, const std::string& ns, const std::string& name,
                            const nlohmann::json& options, bool dryRun);
  // Removes the object for good (DELETED event), then finishes terminations it unblocks.
  void erase(const ResourceType& type, const ObjectPtr& current);
  // Stamps the next resourceVersion on `next`, stores it (or removes it, for
  // Deleted), logs the event and hands it to the watchers.
  ObjectPtr commit(const ResourceType& type, EventType eventType, nlohmann::json next, ObjectPtr prev);
  void finishTerminations(const ResourceType& type, const std::string& ns);

  // Built-in behaviour of particular kinds.
  void afterCreate(const ResourceType& type, const ObjectPtr& created);
  void afterUpdate(const ResourceType& type, const ObjectPtr& updated);
  void beginNamespaceTermination(const ObjectPtr& ns);
  void beginCrdTermination(const ObjectPtr& crd);
  void writeCrdStatus(const ObjectPtr& crd);
  bool namespaceEmpty(const std::string& ns) const;
  bool crdHasInstances(const ResourceType& crType) const;
  ResourceTypePtr typeOfCrd(const nlohmann::json& crd) const;

  void requireServed(const ResourceType& type) const;
  nlohmann::json updateScaleLocked(const ResourceType& type, const std::string& ns, const std::string& name,
                                   nlohmann::json scale, bool dryRun);
  void validateForWrite(const ResourceType& type, const std::string& version, nlohmann::json& object) const;
  std::string newUid();
  std::string generateNameSuffix();

  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  ResourceRegistry registry_;
  std::map<std::string, ObjectMap> data_;  // by ResourceType::storageKey
  uint64_t resourceVersion_ = 0;
  uint64_t compactedThrough_ = 0;  // events at or below this resourceVersion are gone
  std::deque<EventPtr> log_;
  std::vector<std::shared_ptr<Watcher>> watchers_;
  bool shutdown_ = false;
  std::mt19937_64 random_;
};

}  // namespace tributary::apiserver
