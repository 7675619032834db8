#include "operator/controllers/topic_controller.h"

#include "common/log/log.h"
#include "operator/kube/api_error.h"
#include "operator/kube/informer.h"
#include "operator/runtime/conditions.h"
#include "operator/runtime/finalizers.h"

namespace tributary::op::controllers {
namespace {

using Json = nlohmann::json;
using runtime::ReconcileResult;

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

bool isDeleting(const Json& object) {
  const auto& meta = object.value("metadata", Json::object());
  return meta.contains("deletionTimestamp") && !meta["deletionTimestamp"].is_null();
}

int64_t generationOf(const Json& object) {
  const auto& meta = object.value("metadata", Json::object());
  return meta.contains("generation") && meta["generation"].is_number_integer() ? meta["generation"].get<int64_t>() : 0;
}

std::string metaString(const Json& object, const char* field) {
  const auto& meta = object.value("metadata", Json::object());
  return meta.contains(field) && meta[field].is_string() ? meta[field].get<std::string>() : "";
}

// What a KafkaTopic claims, read leniently (an invalid spec claims nothing).
std::optional<std::pair<std::string, std::string>> claimOf(const Json& object) {
  auto parsed = topic::parseKafkaTopic(object);
  if (!parsed.topic) return std::nullopt;
  return std::make_pair(parsed.topic->spec.cluster, parsed.topic->spec.topicName);
}

// Whether the resource's status says it already manages `topic` (it was
// reconciled as the owner): the current owner keeps a topic against a newcomer
// even when creationTimestamps (whole seconds) tie.
bool ownsTopic(const Json& object, const std::string& topic) {
  const Json status = object.value("status", Json::object());
  if (!status.is_object() || status.value("topicName", "") != topic) return false;
  for (const auto& c : status.value("conditions", Json::array()))
    if (c.value("type", "") == "Ready" && c.value("reason", "") == topic::reason::kNameConflict) return false;
  return true;
}

}  // namespace

struct TopicController::Item {
  std::string key;
  Json object;  // the store's copy; replaced by what the server answered after our writes
  std::optional<topic::KafkaTopic> topic;
  std::optional<ReconcileResult> result;
};

TopicController::TopicController(kube::KubeClient& client, ObjectStoreView store,
                                 std::map<std::string, ClusterTarget> clusters, kube::EventRecorder& events,
                                 TopicControllerOptions options)
    : client_(client), store_(std::move(store)), clusters_(std::move(clusters)), events_(events),
      options_(std::move(options)) {
  for (const auto& [name, target] : clusters_) clusterMutexes_[name] = std::make_unique<std::mutex>();
}

// ---- claims index

void TopicController::observe(const Json& object) {
  const std::string key = kube::Informer::keyOf(object);
  auto claim = claimOf(object);
  std::lock_guard lock(claimsMutex_);
  if (auto old = claims_.find(key); old != claims_.end()) {
    claimants_[{old->second.cluster, old->second.topic}].erase(key);
    claims_.erase(old);
  }
  if (!claim) return;
  Claim c{claim->first, claim->second, metaString(object, "creationTimestamp"), metaString(object, "uid"),
          isDeleting(object), ownsTopic(object, claim->second)};
  claimants_[{c.cluster, c.topic}].insert(key);
  claims_[key] = std::move(c);
}

void TopicController::forget(const Json& object) {
  const std::string key = kube::Informer::keyOf(object);
  std::lock_guard lock(claimsMutex_);
  if (auto old = claims_.find(key); old != claims_.end()) {
    auto& set = claimants_[{old->second.cluster, old->second.topic}];
    set.erase(key);
    if (set.empty()) claimants_.erase({old->second.cluster, old->second.topic});
    claims_.erase(old);
  }
}

std::vector<std::string> TopicController::claimantsOf(const std::string& cluster, const std::string& topic,
                                                      const std::string& key) const {
  std::vector<std::string> out;
  std::lock_guard lock(claimsMutex_);
  auto it = claimants_.find({cluster, topic});
  if (it == claimants_.end()) return out;
  for (const auto& k : it->second)
    if (k != key && !claims_.at(k).deleting) out.push_back(k);
  return out;
}

std::vector<std::string> TopicController::otherClaimants(const Json& object) const {
  auto claim = claimOf(object);
  if (!claim) return {};
  return claimantsOf(claim->first, claim->second, kube::Informer::keyOf(object));
}

std::optional<std::string> TopicController::conflictWinner(const std::string& key, const topic::KafkaTopic& t) const {
  // The current owner keeps the topic; among others the oldest claimant wins:
  // creationTimestamp, then uid, then key.
  std::lock_guard lock(claimsMutex_);
  auto it = claimants_.find({t.spec.cluster, t.spec.topicName});
  if (it == claimants_.end()) return std::nullopt;
  auto self = claims_.find(key);
  const bool selfOwns = self != claims_.end() && self->second.owns;
  auto best = std::make_tuple(!selfOwns, t.resource.creationTimestamp, t.resource.uid, key);
  std::optional<std::string> winner;
  for (const auto& k : it->second) {
    if (k == key) continue;
    const Claim& c = claims_.at(k);
    if (c.deleting) continue;
    auto r = std::make_tuple(!c.owns, c.creationTimestamp, c.uid, k);
    if (r < best) {
      best = r;
      winner = k;
    }
  }
  return winner;
}

std::mutex& TopicController::clusterMutex(const std::string& cluster) { return *clusterMutexes_.at(cluster); }

// ---- reconcile

std::vector<ReconcileResult> TopicController::reconcile(const std::vector<std::string>& keys) {
  std::vector<Item> items(keys.size());
  std::vector<Item*> live, deleting;
  for (size_t i = 0; i < keys.size(); ++i) {
    Item& item = items[i];
    item.key = keys[i];
    auto object = store_.get(item.key);
    if (!object) {  // gone: nothing holds it any more
      item.result = ReconcileResult::done();
      continue;
    }
    item.object = std::move(*object);
    auto parsed = topic::parseKafkaTopic(item.object);
    if (isDeleting(item.object)) {
      if (!runtime::hasFinalizer(item.object, topic::kTopicFinalizer)) {
        item.result = ReconcileResult::done();
      } else if (!parsed.topic || !clusters_.count(parsed.topic->spec.cluster)) {
        // Nothing we could delete: let the resource go rather than hold its namespace.
        events_.record(item.object, kube::EventType::Warning, "FinalizerReleased",
                       "the resource is invalid or names an unknown cluster; the finalizer is removed and no "
                       "topic is deleted");
        if (ensureFinalizer(item, false)) item.result = ReconcileResult::done();
      } else {
        item.topic = std::move(parsed.topic);
        deleting.push_back(&item);
      }
      continue;
    }
    if (!parsed.topic) {
      refuse(item, topic::reason::kInvalidSpec, join(parsed.errors, "; "), false);
      continue;
    }
    item.topic = std::move(parsed.topic);
    const auto& spec = item.topic->spec;
    if (spec.paused) {
      Json status = item.object.value("status", Json::object());
      runtime::setCondition(status,
                            {kPausedCondition, "True", "ReconciliationPaused",
                             std::string("annotation ") + topic::kPausedAnnotation +
                                 " is \"true\": Kafka is not changed for this resource until it is removed",
                             generationOf(item.object), ""},
                            options_.now());
      writeStatus(item, status);
      if (!item.result) item.result = ReconcileResult::done();
      continue;
    }
    if (!clusters_.count(spec.cluster)) {
      std::string known;
      for (const auto& [name, target] : clusters_) known += (known.empty() ? "" : ", ") + name;
      refuse(item, "UnknownCluster",
             "spec.cluster \"" + spec.cluster + "\" is not in the operator's configuration (clusters: " + known + ")",
             false);
      continue;
    }
    if (auto winner = conflictWinner(item.key, *item.topic)) {
      refuse(item, topic::reason::kNameConflict,
             "topic \"" + spec.topicName + "\" in cluster \"" + spec.cluster + "\" is already managed by KafkaTopic " +
                 *winner + "; this resource changes nothing in Kafka, and deleting it never deletes the topic",
             false);
      continue;
    }
    // The finalizer is there exactly while deletionPolicy is Delete, and before
    // the topic is touched, so that a topic we create can always be deleted.
    if (!ensureFinalizer(item, spec.deletionPolicy == topic::DeletionPolicy::Delete)) continue;
    live.push_back(&item);
  }
  if (!live.empty()) reconcileLive(live);
  if (!deleting.empty()) finalizeDeleting(deleting);

  std::vector<ReconcileResult> out;
  out.reserve(items.size());
  for (auto& item : items) out.push_back(item.result.value_or(ReconcileResult::done()));
  return out;
}

void TopicController::reconcileLive(std::vector<Item*>& items) {
  std::map<std::string, std::vector<Item*>> byCluster;
  for (Item* item : items) byCluster[item->topic->spec.cluster].push_back(item);
  for (auto& [cluster, group] : byCluster) {
    std::vector<topic::KafkaTopic> desired;
    for (Item* item : group) desired.push_back(*item->topic);
    std::vector<topic::TopicOutcome> outcomes;
    {
      std::lock_guard lock(clusterMutex(cluster));
      topic::TopicReconciler reconciler(*clusters_.at(cluster).admin, {options_.adminBatchSize, false});
      outcomes = reconciler.reconcile(desired);
    }
    for (size_t i = 0; i < group.size() && i < outcomes.size(); ++i) applyOutcome(*group[i], outcomes[i]);
  }
}

void TopicController::applyOutcome(Item& item, const topic::TopicOutcome& outcome) {
  const int64_t generation = generationOf(item.object);
  Json status = item.object.value("status", Json::object());
  if (status.is_null()) status = Json::object();
  status["observedGeneration"] = generation;
  status["topicName"] = outcome.topic;
  if (outcome.partitions > 0) status["partitions"] = outcome.partitions;
  if (outcome.replicationFactor > 0) status["replicationFactor"] = outcome.replicationFactor;
  auto ready = runtime::findCondition(status, kReadyCondition);
  const bool keepReady = outcome.converged && outcome.action == topic::TopicAction::None && ready &&
                         ready->status == "True" && ready->observedGeneration == generation;
  // A resync that finds nothing to do keeps the condition as it is (zero writes
  // in steady state); anything else says what happened.
  // What happened, with before → after: the condition's message and the Event's.
  std::string what = outcome.message;
  if (!outcome.details.empty()) what += (what.empty() ? "" : ": ") + join(outcome.details, ", ");
  if (!keepReady) {
    runtime::setCondition(status,
                          {kReadyCondition, outcome.converged ? "True" : "False", outcome.reason, what, generation,
                           ""},
                          options_.now());
  }
  if (auto paused = runtime::findCondition(status, kPausedCondition); paused && paused->status == "True")
    runtime::setCondition(status,
                          {kPausedCondition, "False", "ReconciliationResumed", "the paused annotation was removed",
                           generation, ""},
                          options_.now());
  writeStatus(item, status);

  if (outcome.applied) {
    events_.record(item.object, kube::EventType::Normal, outcome.reason, what);
  } else if (!outcome.converged) {
    events_.record(item.object, kube::EventType::Warning, outcome.reason, outcome.message);
  }
  if (item.result) return;  // the status write failed: retry
  if (outcome.converged) item.result = ReconcileResult::done();
  else if (outcome.retryable) item.result = ReconcileResult::error(outcome.reason + ": " + outcome.message);
  else item.result = ReconcileResult::terminal(outcome.reason + ": " + outcome.message);
}

void TopicController::finalizeDeleting(std::vector<Item*>& items) {
  std::map<std::string, std::vector<Item*>> byCluster;
  for (Item* item : items) byCluster[item->topic->spec.cluster].push_back(item);
  for (auto& [cluster, group] : byCluster) {
    std::vector<topic::KafkaTopic> deleting, stillPresent;
    for (Item* item : group) {
      deleting.push_back(*item->topic);
      // Other live resources naming the same topic keep it from being deleted.
      for (const auto& k : claimantsOf(cluster, item->topic->spec.topicName, item->key))
        if (auto other = store_.get(k))
          if (auto parsed = topic::parseKafkaTopic(*other); parsed.topic) stillPresent.push_back(*parsed.topic);
    }
    std::vector<topic::TopicOutcome> outcomes;
    {
      std::lock_guard lock(clusterMutex(cluster));
      topic::TopicReconciler reconciler(*clusters_.at(cluster).admin, {options_.adminBatchSize, false});
      outcomes = reconciler.finalize(deleting, stillPresent);
    }
    for (size_t i = 0; i < group.size() && i < outcomes.size(); ++i) {
      Item& item = *group[i];
      const auto& o = outcomes[i];
      const bool released = o.reason == topic::reason::kDeleted || o.reason == topic::reason::kRetained ||
                            o.reason == topic::reason::kStillClaimed;
      if (!released) {
        events_.record(item.object, kube::EventType::Warning, o.reason, o.message);
        item.result = o.retryable ? ReconcileResult::error(o.reason + ": " + o.message)
                                  : ReconcileResult::terminal(o.reason + ": " + o.message);
        continue;
      }
      events_.record(item.object, kube::EventType::Normal, o.reason, o.message);
      if (ensureFinalizer(item, false)) item.result = ReconcileResult::done();
    }
  }
}

bool TopicController::ensureFinalizer(Item& item, bool wanted) {
  if (runtime::hasFinalizer(item.object, topic::kTopicFinalizer) == wanted) return true;
  Json updated = item.object;
  if (wanted) runtime::addFinalizer(updated, topic::kTopicFinalizer);
  else runtime::removeFinalizer(updated, topic::kTopicFinalizer);
  try {
    // A merge patch of the finalizers carrying the resourceVersion we read: a
    // concurrent change is a 409, retried; fields the store drops stay on the server.
    item.object = client_.patch(kKafkaTopics, metaString(updated, "namespace"), metaString(updated, "name"),
                                runtime::finalizerPatch(updated));
    return true;
  } catch (const kube::ApiError& e) {
    if (kube::isNotFound(e)) {
      item.result = ReconcileResult::done();
    } else {
      item.result = ReconcileResult::error(std::string("updating finalizers: ") + e.what());
    }
    return false;
  }
}

void TopicController::writeStatus(Item& item, const Json& newStatus) {
  const Json oldStatus = item.object.value("status", Json());
  if (!runtime::statusChanged(oldStatus, newStatus)) return;
  try {
    item.object = client_.patch(kKafkaTopics, metaString(item.object, "namespace"), metaString(item.object, "name"),
                                Json{{"status", newStatus}}, true);
  } catch (const kube::ApiError& e) {
    if (kube::isNotFound(e)) return;  // deleted meanwhile
    item.result = ReconcileResult::error(std::string("writing status: ") + e.what());
  }
}

void TopicController::refuse(Item& item, const std::string& reason, const std::string& message, bool retryable) {
  const int64_t generation = generationOf(item.object);
  Json status = item.object.value("status", Json::object());
  if (status.is_null()) status = Json::object();
  status["observedGeneration"] = generation;
  runtime::setCondition(status, {kReadyCondition, "False", reason, message, generation, ""}, options_.now());
  writeStatus(item, status);
  events_.record(item.object, kube::EventType::Warning, reason, message);
  if (item.result) return;
  item.result = retryable ? ReconcileResult::error(reason + ": " + message)
                          : ReconcileResult::terminal(reason + ": " + message);
}

}  // namespace tributary::op::controllers
