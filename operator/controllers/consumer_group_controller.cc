#include "operator/controllers/consumer_group_controller.h"

#include <cmath>
#include <set>

#include "common/log/log.h"
#include "operator/kube/api_error.h"
#include "operator/kube/informer.h"
#include "operator/runtime/conditions.h"
#include "operator/runtime/finalizers.h"

namespace tributary::op::controllers {
namespace {

using Json = nlohmann::json;
using runtime::ReconcileResult;

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

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

// What status shows of a group's members: the count and a bounded list.
Json membersJson(const std::vector<kafka::GroupMember>& members, size_t max) {
  Json list = Json::array();
  for (size_t i = 0; i < members.size() && i < max; ++i) {
    Json assignment = Json::array();
    for (const auto& tp : members[i].assignment) assignment.push_back(tp.topic + "-" + std::to_string(tp.partition));
    list.push_back({{"clientId", members[i].clientId}, {"host", members[i].host}, {"assignment", assignment}});
  }
  Json m = {{"count", members.size()}, {"list", list}};
  if (members.size() > max) m["truncated"] = true;
  return m;
}

Json topicsJson(const std::vector<group::TopicLag>& topics) {
  Json out = Json::array();
  for (const auto& t : topics) {
    Json parts = Json::array();
    for (const auto& p : t.partitions) {
      Json j = {{"partition", p.partition}, {"lag", p.lag}};
      if (p.committed) j["committed"] = *p.committed;
      if (!t.missing) {
        j["logStart"] = p.logStart;
        j["logEnd"] = p.logEnd;
      }
      if (p.noCommittedOffset) j["noCommittedOffset"] = true;
      parts.push_back(std::move(j));
    }
    Json tj = {{"topic", t.topic}, {"lag", t.lag}, {"partitions", parts}};
    if (t.missing) tj["missing"] = true;
    out.push_back(std::move(tj));
  }
  return out;
}

std::chrono::system_clock::time_point parseTime(const std::string& s) {
  auto ms = group::parseRfc3339Millis(s);
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms.value_or(0)));
}

}  // namespace

struct ConsumerGroupController::Item {
  std::string key;
  Json object;
  std::optional<group::KafkaConsumerGroup> group;
  std::optional<ReconcileResult> result;
};

ConsumerGroupController::ConsumerGroupController(kube::KubeClient& client, ObjectStoreView store,
                                                 std::map<std::string, ClusterTarget> clusters,
                                                 kube::EventRecorder& events, ConsumerGroupControllerOptions options)
    : client_(client), store_(std::move(store)), clusters_(std::move(clusters)), events_(events),
      options_(std::move(options)) {
  for (const auto& [name, target] : clusters_) {
    clusterMutexes_[name] = std::make_unique<std::mutex>();
    histories_[name] = std::make_unique<group::LagHistory>();
  }
  if (options_.registry) {
    auto& r = *options_.registry;
    lagGauge_ = &prometheus::BuildGauge()
                     .Name("tributary_consumer_group_lag")
                     .Help("Records not yet consumed by the group, per topic (log end - committed offset)")
                     .Register(r);
    lagSecondsGauge_ = &prometheus::BuildGauge()
                            .Name("tributary_consumer_group_lag_seconds")
                            .Help("Age of the oldest record the group has not consumed, in seconds")
                            .Register(r);
    membersGauge_ = &prometheus::BuildGauge()
                         .Name("tributary_consumer_group_members")
                         .Help("Active members of the consumer group")
                         .Register(r);
    stateGauge_ = &prometheus::BuildGauge()
                       .Name("tributary_consumer_group_state")
                       .Help("The group's state: 1 for the current one, 0 for the others")
                       .Register(r);
  }
}

std::mutex& ConsumerGroupController::clusterMutex(const std::string& cluster) { return *clusterMutexes_.at(cluster); }

// ---- the lag pass

size_t ConsumerGroupController::lagPass(const std::vector<Json>& objects,
                                        const std::function<void(const std::string&)>& enqueue) {
  std::map<std::string, std::vector<std::pair<std::string, group::KafkaConsumerGroup>>> byCluster;
  for (const auto& o : objects) {
    if (isDeleting(o)) continue;
    auto parsed = group::parseKafkaConsumerGroup(o);
    if (!parsed.group || parsed.group->spec.paused || !clusters_.count(parsed.group->spec.cluster)) continue;
    byCluster[parsed.group->spec.cluster].emplace_back(kube::Informer::keyOf(o), std::move(*parsed.group));
  }
  size_t queued = 0;
  for (auto& [cluster, entries] : byCluster) {
    std::vector<group::KafkaConsumerGroup> groups;
    for (const auto& e : entries) groups.push_back(e.second);
    std::vector<group::GroupLag> lags;
    const auto now = options_.now();
    {
      std::lock_guard lock(clusterMutex(cluster));
      group::GroupReconciler reconciler(*clusters_.at(cluster).admin);
      lags = reconciler.observe(groups, histories_.at(cluster).get(), now);
    }
    for (size_t i = 0; i < entries.size() && i < lags.size(); ++i) {
      const std::string& key = entries[i].first;
      Snapshot s{std::move(lags[i]), now};
      updateMetrics(key, entries[i].second, s.lag);
      std::optional<Json> object = store_.get(key);
      const bool write = object && lagWorthWriting(object->value("status", Json::object()), s);
      {
        std::lock_guard lock(snapshotsMutex_);
        snapshots_[key] = std::move(s);
      }
      if (write) {
        enqueue(key);
        ++queued;
      }
    }
  }
  return queued;
}

std::optional<ConsumerGroupController::Snapshot> ConsumerGroupController::snapshotOf(const std::string& key) const {
  std::lock_guard lock(snapshotsMutex_);
  auto it = snapshots_.find(key);
  if (it == snapshots_.end()) return std::nullopt;
  return it->second;
}

bool ConsumerGroupController::lagWorthWriting(const Json& statusIn, const Snapshot& s) const {
  const Json status = statusIn.is_object() ? statusIn : Json::object();
  auto ready = runtime::findCondition(status, kReadyCondition);
  if (s.lag.error) return !ready || ready->status != "False" || ready->reason != group::reason::kKafkaUnavailable;
  if (!ready || ready->status != "True") return true;
  if (status.value("state", "") != kafka::toString(s.lag.state)) return true;
  if (status.value("members", Json::object()) != membersJson(s.lag.members, options_.maxMembersListed)) return true;
  const int64_t shown = status.value("totalLag", int64_t{-1});
  if (shown < 0) return true;
  const Json topics = topicsJson(s.lag.topics);
  const bool lagChanged = status.value("topics", Json::array()) != topics;
  if (status.contains("lagSeconds") != s.lag.lagSeconds.has_value()) return true;  // became (un)known
  const bool secondsChanged = s.lag.lagSeconds && status.value("lagSeconds", int64_t{-1}) != *s.lag.lagSeconds;
  if (!lagChanged && !secondsChanged) return false;  // steady: zero writes
  // Lag from or to zero, or moved by more than the fraction of what status shows.
  if ((shown == 0) != (s.lag.totalLag == 0)) return true;
  if (std::fabs(static_cast<double>(s.lag.totalLag - shown)) > options_.lagChangeFraction * static_cast<double>(shown))
    return true;
  const auto written = parseTime(status.value("lagObservedAt", ""));
  return s.at - written >= options_.statusInterval;
}

void ConsumerGroupController::applyLag(Json& status, const Snapshot& s, int64_t generation) const {
  if (s.lag.error) {
    runtime::setCondition(status,
                          {kReadyCondition, "False",
                           s.lag.error->code == kafka::AdminErrorCode::Unavailable ? group::reason::kKafkaUnavailable
                                                                                   : group::reason::kKafkaError,
                           "the last lag pass could not read the group: " + s.lag.error->message +
                               " (the lag shown is from the last pass that could)",
                           generation, ""},
                          s.at);
    return;
  }
  status["state"] = std::string(kafka::toString(s.lag.state));
  status["members"] = membersJson(s.lag.members, options_.maxMembersListed);
  status["topics"] = topicsJson(s.lag.topics);
  status["totalLag"] = s.lag.totalLag;
  if (s.lag.lagSeconds) status["lagSeconds"] = *s.lag.lagSeconds;
  else status.erase("lagSeconds");
  status["lagObservedAt"] = runtime::formatRfc3339(s.at);
  std::string message = std::to_string(s.lag.totalLag) + " record(s) behind on " + std::to_string(s.lag.partitions) +
                        " partition(s)";
  runtime::setCondition(status, {kReadyCondition, "True", group::reason::kObserved, message, generation, ""}, s.at);
}

void ConsumerGroupController::updateMetrics(const std::string& key, const group::KafkaConsumerGroup& g,
                                            const group::GroupLag& lag) {
  if (!lagGauge_ || lag.error) return;
  const std::map<std::string, std::string> base = {
      {"namespace", g.resource.namespace_}, {"name", g.resource.name}, {"group", g.spec.groupId}};
  std::lock_guard lock(snapshotsMutex_);
  metricLabels_[key] = base;
  for (const auto& t : lag.topics) {
    auto labels = base;
    labels["topic"] = t.topic;
    lagGauge_->Add(labels).Set(static_cast<double>(t.lag));
  }
  if (lag.lagSeconds) lagSecondsGauge_->Add(base).Set(static_cast<double>(*lag.lagSeconds));
  membersGauge_->Add(base).Set(static_cast<double>(lag.members.size()));
  for (auto s : {kafka::GroupState::Stable, kafka::GroupState::Empty, kafka::GroupState::Dead,
                 kafka::GroupState::PreparingRebalance, kafka::GroupState::CompletingRebalance,
                 kafka::GroupState::Unknown}) {
    auto labels = base;
    labels["state"] = std::string(kafka::toString(s));
    stateGauge_->Add(labels).Set(s == lag.state ? 1 : 0);
  }
}

void ConsumerGroupController::forget(const Json& object) {
  const std::string key = kube::Informer::keyOf(object);
  std::lock_guard lock(snapshotsMutex_);
  auto snap = snapshots_.find(key);
  auto labels = metricLabels_.find(key);
  if (labels != metricLabels_.end() && lagGauge_) {
    // Every series of this resource goes with it (prometheus-cpp removes by metric).
    auto base = labels->second;
    if (snap != snapshots_.end())
      for (const auto& t : snap->second.lag.topics) {
        auto l = base;
        l["topic"] = t.topic;
        lagGauge_->Remove(&lagGauge_->Add(l));
      }
    lagSecondsGauge_->Remove(&lagSecondsGauge_->Add(base));
    membersGauge_->Remove(&membersGauge_->Add(base));
    for (auto s : {"Stable", "Empty", "Dead", "PreparingRebalance", "CompletingRebalance", "Unknown"}) {
      auto l = base;
      l["state"] = s;
      stateGauge_->Remove(&stateGauge_->Add(l));
    }
    metricLabels_.erase(labels);
  }
  if (snap != snapshots_.end()) snapshots_.erase(snap);
}

// ---- reconcile

std::vector<ReconcileResult> ConsumerGroupController::reconcile(const std::vector<std::string>& keys) {
  std::vector<Item> items(keys.size());
  std::map<std::string, std::vector<Item*>> resets, deleting;
  for (size_t i = 0; i < keys.size(); ++i) {
    Item& item = items[i];
    item.key = keys[i];
    auto object = store_.get(item.key);
    if (!object) {
      item.result = ReconcileResult::done();
      continue;
    }
    item.object = std::move(*object);
    auto parsed = group::parseKafkaConsumerGroup(item.object);
    if (isDeleting(item.object)) {
      if (!runtime::hasFinalizer(item.object, group::kGroupFinalizer)) {
        item.result = ReconcileResult::done();
      } else if (!parsed.group || !clusters_.count(parsed.group->spec.cluster)) {
        events_.record(item.object, kube::EventType::Warning, "FinalizerReleased",
                       "the resource is invalid or names an unknown cluster; the finalizer is removed and no group "
                       "is deleted");
        if (ensureFinalizer(item, false)) item.result = ReconcileResult::done();
      } else {
        item.group = std::move(parsed.group);
        deleting[item.group->spec.cluster].push_back(&item);
      }
      continue;
    }
    if (!parsed.group) {
      refuse(item, group::reason::kInvalidSpec, join(parsed.errors, "; "));
      continue;
    }
    item.group = std::move(parsed.group);
    const auto& spec = item.group->spec;
    const int64_t generation = generationOf(item.object);
    if (spec.paused) {
      Json status = item.object.value("status", Json::object());
      runtime::setCondition(status,
                            {kPausedCondition, "True", "ReconciliationPaused",
                             std::string("annotation ") + topic::kPausedAnnotation +
                                 " is \"true\": no offset reset, no scaling, no lag pass for this resource",
                             generation, ""},
                            options_.now());
      writeStatus(item, status);
      if (!item.result) item.result = ReconcileResult::done();
      continue;
    }
    if (!clusters_.count(spec.cluster)) {
      std::string known;
      for (const auto& [name, target] : clusters_) known += (known.empty() ? "" : ", ") + name;
      refuse(item, "UnknownCluster",
             "spec.cluster \"" + spec.cluster + "\" is not in the operator's configuration (clusters: " + known + ")");
      continue;
    }
    if (!ensureFinalizer(item, spec.deletionPolicy == group::DeletionPolicy::Delete)) continue;

    // Status from the latest lag pass, and what the spec asks of it.
    Json status = item.object.value("status", Json::object());
    if (!status.is_object()) status = Json::object();
    status["observedGeneration"] = generation;
    status["groupId"] = spec.groupId;
    if (auto paused = runtime::findCondition(status, kPausedCondition); paused && paused->status == "True")
      runtime::setCondition(status,
                            {kPausedCondition, "False", "ReconciliationResumed", "the paused annotation was removed",
                             generation, ""},
                            options_.now());
    if (auto s = snapshotOf(item.key); s && (lagWorthWriting(status, *s) || !status.contains("state")))
      applyLag(status, *s, generation);
    if (!runtime::findCondition(status, kReadyCondition))
      runtime::setCondition(status,
                            {kReadyCondition, "Unknown", "LagPending",
                             "waiting for the first lag pass (every lagInterval)", generation, ""},
                            options_.now());
    // lastReset stays when offsetReset is removed: it is what was done, and
    // the same requestId put back must not apply again.
    const std::string applied = status.value("lastReset", Json::object()).value("requestId", "");
    writeStatus(item, status);
    if (item.result) continue;
    if (spec.offsetReset && spec.offsetReset->requestId != applied) resets[spec.cluster].push_back(&item);
    else item.result = ReconcileResult::done();
  }

  for (auto& [cluster, group] : resets) {
    std::vector<group::KafkaConsumerGroup> desired;
    for (Item* item : group) desired.push_back(*item->group);
    std::vector<group::ResetOutcome> outcomes;
    {
      std::lock_guard lock(clusterMutex(cluster));
      group::GroupReconciler reconciler(*clusters_.at(cluster).admin);
      outcomes = reconciler.reset(desired);
    }
    for (size_t i = 0; i < group.size() && i < outcomes.size(); ++i) {
      Item& item = *group[i];
      const auto& o = outcomes[i];
      const int64_t generation = generationOf(item.object);
      Json status = item.object.value("status", Json::object());
      std::vector<std::string> moves;
      for (const auto& m : o.partitions) moves.push_back(group::describe(m));
      if (o.applied || (o.converged && o.reason == group::reason::kNothingToReset)) {
        Json parts = Json::array();
        for (const auto& m : o.partitions) {
          Json p = {{"topic", m.partition.topic}, {"partition", m.partition.partition}, {"after", m.after}};
          if (m.before) p["before"] = *m.before;
          parts.push_back(std::move(p));
        }
        // Recorded in status: the same requestId is never applied again, also after a restart.
        status["lastReset"] = {{"requestId", o.requestId},
                               {"to", group::toString(item.group->spec.offsetReset->to)},
                               {"appliedAt", runtime::formatRfc3339(options_.now())},
                               {"partitions", parts}};
      }
      const std::string message =
          "requestId " + o.requestId + ": " + o.message + (moves.empty() ? "" : " (" + join(moves, ", ") + ")");
      runtime::setCondition(status, {kOffsetsResetCondition, o.converged ? "True" : "False", o.reason, message,
                                     generation, ""},
                            options_.now());
      writeStatus(item, status);
      events_.record(item.object, o.converged ? kube::EventType::Normal : kube::EventType::Warning, o.reason, message);
      if (item.result) continue;
      if (o.converged) item.result = ReconcileResult::done();
      // GroupNotEmpty and Kafka failures: retried with the queue's per-key backoff.
      else if (o.retryable) item.result = ReconcileResult::error(o.reason + ": " + o.message);
      else item.result = ReconcileResult::terminal(o.reason + ": " + o.message);
    }
  }

  for (auto& [cluster, group] : deleting) {
    std::vector<group::KafkaConsumerGroup> gs;
    for (Item* item : group) gs.push_back(*item->group);
    std::vector<group::ResetOutcome> outcomes;
    {
      std::lock_guard lock(clusterMutex(cluster));
      group::GroupReconciler reconciler(*clusters_.at(cluster).admin);
      outcomes = reconciler.finalize(gs);
    }
    for (size_t i = 0; i < group.size() && i < outcomes.size(); ++i) {
      Item& item = *group[i];
      const auto& o = outcomes[i];
      if (!o.converged) {
        events_.record(item.object, kube::EventType::Warning, o.reason, o.message);
        item.result = o.retryable ? ReconcileResult::error(o.reason + ": " + o.message)
                                  : ReconcileResult::terminal(o.reason + ": " + o.message);
        continue;
      }
      events_.record(item.object, kube::EventType::Normal, o.reason, o.message);
      if (ensureFinalizer(item, false)) item.result = ReconcileResult::done();
    }
  }

  std::vector<ReconcileResult> out;
  out.reserve(items.size());
  for (auto& item : items) out.push_back(item.result.value_or(ReconcileResult::done()));
  return out;
}

bool ConsumerGroupController::ensureFinalizer(Item& item, bool wanted) {
  if (runtime::hasFinalizer(item.object, group::kGroupFinalizer) == wanted) return true;
  Json updated = item.object;
  if (wanted) runtime::addFinalizer(updated, group::kGroupFinalizer);
  else runtime::removeFinalizer(updated, group::kGroupFinalizer);
  try {
    // A merge patch of the finalizers carrying the resourceVersion we read: a
    // concurrent change is a 409, retried; fields the store drops stay on the server.
    item.object = client_.patch(kKafkaConsumerGroups, metaString(updated, "namespace"), metaString(updated, "name"),
                                runtime::finalizerPatch(updated));
    return true;
  } catch (const kube::ApiError& e) {
    item.result = kube::isNotFound(e) ? ReconcileResult::done()
                                      : ReconcileResult::error(std::string("updating finalizers: ") + e.what());
    return false;
  }
}

void ConsumerGroupController::writeStatus(Item& item, const Json& newStatus) {
  const Json oldStatus = item.object.value("status", Json());
  if (!runtime::statusChanged(oldStatus, newStatus)) return;
  // A merge patch keeps keys it does not name: a field dropped from status
  // (lagSeconds no longer known) is sent as null.
  Json patch = newStatus;
  if (oldStatus.is_object())
    for (const auto& [k, v] : oldStatus.items())
      if (!patch.contains(k)) patch[k] = nullptr;
  try {
    item.object = client_.patch(kKafkaConsumerGroups, metaString(item.object, "namespace"),
                                metaString(item.object, "name"), Json{{"status", patch}}, true);
  } catch (const kube::ApiError& e) {
    if (kube::isNotFound(e)) return;
    item.result = ReconcileResult::error(std::string("writing status: ") + e.what());
  }
}

void ConsumerGroupController::refuse(Item& item, const std::string& reason, const std::string& message) {
  const int64_t generation = generationOf(item.object);
  Json status = item.object.value("status", Json::object());
  if (!status.is_object()) status = Json::object();
  status["observedGeneration"] = generation;
  runtime::setCondition(status, {kReadyCondition, "False", reason, message, generation, ""}, options_.now());
  writeStatus(item, status);
  events_.record(item.object, kube::EventType::Warning, reason, message);
  if (!item.result) item.result = ReconcileResult::terminal(reason + ": " + message);
}

}  // namespace tributary::op::controllers
