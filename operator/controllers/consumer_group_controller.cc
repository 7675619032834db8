#include "operator/controllers/consumer_group_controller.h"

#include <algorithm>
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
      options_(std::move(options)), resolver_(client) {
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
    if (options_.partitionLagMetrics)
      partitionLagGauge_ = &prometheus::BuildGauge()
                                .Name("tributary_consumer_group_partition_lag")
                                .Help("Records not yet consumed by the group, per partition (consumerGroups."
                                      "partitionLagMetrics)")
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
  std::map<std::string, const Json*> objectsByKey;
  for (const auto& o : objects) {
    if (isDeleting(o)) continue;
    auto parsed = group::parseKafkaConsumerGroup(o);
    if (!parsed.group || parsed.group->spec.paused || !clusters_.count(parsed.group->spec.cluster)) continue;
    const std::string key = kube::Informer::keyOf(o);
    objectsByKey[key] = &o;
    byCluster[parsed.group->spec.cluster].emplace_back(key, std::move(*parsed.group));
  }
  size_t queued = 0;
  std::vector<ScaleCandidate> scaling;
  std::chrono::system_clock::time_point lastNow{};
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
      lastNow = now;
      if (entries[i].second.spec.scaleTarget && !lags[i].error)
        scaling.push_back({key, entries[i].second, lags[i], generationOf(*objectsByKey[key]), *objectsByKey[key]});
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
  // A group queued for its lag and again for its scale is one reconcile (the queue dedups).
  if (!scaling.empty()) queued += scalePass(scaling, lastNow, enqueue);
  return queued;
}

// ---- scaling (on the lag thread; see the header for why)

namespace {

std::string targetName(const group::ScaleTargetSpec& t) { return t.kind + "/" + t.name; }

// An HPA whose scaleTargetRef is this target: same kind and name, and the
// same API group (versions differ freely: apps/v1 and apps/v1beta2 name the same object).
bool hpaTargets(const Json& hpa, const group::ScaleTargetSpec& t) {
  const Json spec = hpa.value("spec", Json::object());
  const Json ref = spec.is_object() ? spec.value("scaleTargetRef", Json::object()) : Json::object();
  if (!ref.is_object()) return false;
  return ref.value("kind", "") == t.kind && ref.value("name", "") == t.name &&
         kube::splitApiVersion(ref.value("apiVersion", "")).first == kube::splitApiVersion(t.apiVersion).first;
}

}  // namespace

size_t ConsumerGroupController::scalePass(const std::vector<ScaleCandidate>& candidates,
                                          std::chrono::system_clock::time_point now,
                                          const std::function<void(const std::string&)>& enqueue) {
  // One HPA list per namespace per pass, not one per group.
  std::map<std::string, std::optional<std::vector<Json>>> hpasByNamespace;
  for (const auto& c : candidates) {
    const std::string& ns = c.group.resource.namespace_;
    if (hpasByNamespace.count(ns)) continue;
    try {
      hpasByNamespace[ns] = client_.listAll(kHorizontalPodAutoscalers, ns).items;
    } catch (const kube::ApiError& e) {
      if (kube::isNotFound(e)) {
        hpasByNamespace[ns] = std::vector<Json>{};  // autoscaling/v2 not served: no HPA can conflict
      } else {
        // Without the list a conflict cannot be ruled out: no writes in this namespace this pass.
        log::warn("scaling skipped this lag pass: cannot list HorizontalPodAutoscalers",
                  {{"namespace", ns}, {"error", e.what()}});
        hpasByNamespace[ns] = std::nullopt;
      }
    }
  }
  size_t queued = 0;
  for (const auto& c : candidates) {
    const auto& hpas = hpasByNamespace[c.group.resource.namespace_];
    if (!hpas) continue;
    std::optional<ScaleView> view;
    try {
      view = scaleOne(c, *hpas, now);
    } catch (const std::exception& e) {
      log::warn("scaling failed; retried next lag pass", {{"resource", c.key}, {"error", e.what()}});
    }
    if (!view) continue;
    bool changed;
    {
      std::lock_guard lock(snapshotsMutex_);
      auto it = scaleViews_.find(c.key);
      changed = it == scaleViews_.end() || !(it->second == *view);
      if (changed) scaleViews_[c.key] = *view;
    }
    if (changed) {
      enqueue(c.key);
      ++queued;
    }
  }
  return queued;
}

std::optional<ConsumerGroupController::ScaleView> ConsumerGroupController::scaleOne(
    const ScaleCandidate& c, const std::vector<Json>& hpas, std::chrono::system_clock::time_point now) {
  const group::ScaleTargetSpec& t = *c.group.spec.scaleTarget;
  const std::string& ns = c.group.resource.namespace_;
  const std::string name = targetName(t);
  ScaleView v;
  v.generation = c.generation;
  auto refuse = [&](const char* reason, std::string message) {
    v.status = "False";
    v.reason = reason;
    v.message = std::move(message);
    v.desired.reset();  // status.scale keeps what it showed: nothing was decided
    v.current.reset();
    return v;
  };
  for (const auto& hpa : hpas)
    if (hpaTargets(hpa, t))
      return refuse(scale_reason::kScaleTargetConflict,
                    "HorizontalPodAutoscaler " + metaString(hpa, "name") + " also scales " + name +
                        ": the operator does not write its replicas while the HPA exists (remove the HPA or "
                        "spec.scaleTarget)");
  auto kind = resolver_.resolve(t.apiVersion, t.kind);  // throws on a transient failure
  if (!kind)
    return refuse(scale_reason::kScaleTargetNotFound,
                  "the API server does not serve kind " + t.kind + " in " + t.apiVersion + " (looked again every lag pass)");
  if (!kind->scalable)
    return refuse(scale_reason::kScaleTargetNotScalable,
                  t.apiVersion + " " + t.kind + " has no scale subresource: scaleTarget needs a Deployment, a "
                  "StatefulSet or a kind whose CRD declares subresources.scale");
  kube::Scale scale;
  try {
    scale = client_.getScale(kind->resource, ns, t.name);
  } catch (const kube::ApiError& e) {
    if (!kube::isNotFound(e)) throw;
    return refuse(scale_reason::kScaleTargetNotFound,
                  name + " not found in namespace " + ns + " (looked again every lag pass)");
  }

  const std::string id = t.apiVersion + "/" + name;
  group::ScaleDecision d;
  {
    // Only the history is under the lock (forget() may come from an informer
    // thread); the API calls below are not.
    std::lock_guard lock(scaleMutex_);
    auto& state = scaleStates_[c.key];
    const auto window = std::chrono::seconds(t.scaleDownStabilizationSeconds);
    if (state.target != id) {
      // A new target (or a restart): its current replicas count as a recommendation
      // now, so nothing scales down before a whole window has been observed.
      state = ScaleState{id, {}};
      state.history.record(now, scale.specReplicas, window);
    }
    group::ScaleInputs in{c.lag.totalLag, c.lag.partitions, c.lag.partitionsWithLag, scale.specReplicas};
    d = group::decideScale(t, in, state.history, now);
  }
  v.status = "True";
  v.desired = d.desired;
  v.current = scale.specReplicas;
  if (d.desired != scale.specReplicas) {
    try {
      // Conditional on what was read: a concurrent change (a person, a rollout) wins this pass.
      scale = client_.updateScale(kind->resource, ns, t.name, d.desired, scale.resourceVersion);
    } catch (const kube::ApiError& e) {
      if (kube::isNotFound(e))
        return refuse(scale_reason::kScaleTargetNotFound, name + " not found in namespace " + ns);
      if (kube::isConflict(e)) {
        log::info("scale target changed while scaling; decided again next lag pass", {{"target", name}});
        return std::nullopt;
      }
      throw;
    }
    const std::string message = "scaled " + name + " from " + std::to_string(*v.current) + " to " +
                                std::to_string(d.desired) + " replicas: lag " + std::to_string(std::max<int64_t>(0, c.lag.totalLag)) +
                                " over " + std::to_string(t.lagPerReplica) + " per replica";
    events_.record(c.object, kube::EventType::Normal, scale_reason::kScaled, message);
    v.reason = d.reason;  // ScaledUp / ScaledDown
    v.message = message;
    v.current = scale.specReplicas;
    v.lastScaleTime = now;
    return v;
  }
  v.reason = d.reason;
  if (d.reason == "NotActivated")
    v.message = name + " stays at 0 replicas until the lag reaches activationLag " + std::to_string(t.activationLag);
  else if (d.reason == "ScaleDownStabilizing")
    v.message = name + " stays at " + std::to_string(d.desired) + " replicas: a higher recommendation is within the " +
                "scale-down stabilisation window (" + std::to_string(t.scaleDownStabilizationSeconds) + " s)";
  else
    v.message = name + " has the " + std::to_string(d.desired) + " replica(s) the lag asks for (lagPerReplica " +
                std::to_string(t.lagPerReplica) + ", " + std::to_string(t.minReplicas) + "-" +
                std::to_string(t.maxReplicas) + " replicas)";
  return v;
}

std::optional<ConsumerGroupController::ScaleView> ConsumerGroupController::scaleViewOf(const std::string& key) const {
  std::lock_guard lock(snapshotsMutex_);
  auto it = scaleViews_.find(key);
  if (it == scaleViews_.end()) return std::nullopt;
  return it->second;
}

void ConsumerGroupController::applyScale(Json& status, const ScaleView& v) const {
  Json scale = status.value("scale", Json::object());
  if (!scale.is_object()) scale = Json::object();
  if (v.desired) scale["desired"] = *v.desired;
  if (v.current) scale["current"] = *v.current;
  if (v.lastScaleTime) scale["lastScaleTime"] = runtime::formatRfc3339(*v.lastScaleTime);
  if (!scale.empty()) status["scale"] = scale;
  // The pass after a scale finds the target at its desired replicas: the
  // condition keeps saying what was done (no write for "nothing changed").
  if (v.reason == "AtDesiredScale") {
    auto current = runtime::findCondition(status, kScalingCondition);
    if (current && current->status == "True" && (current->reason == "ScaledUp" || current->reason == "ScaledDown") &&
        current->observedGeneration == v.generation)
      return;
  }
  runtime::setCondition(status, {kScalingCondition, v.status, v.reason, v.message, v.generation, ""}, options_.now());
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
  std::set<Labels> topics, partitions;
  for (const auto& t : lag.topics) {
    auto labels = base;
    labels["topic"] = t.topic;
    lagGauge_->Add(labels).Set(static_cast<double>(t.lag));
    topics.insert(labels);
    if (!partitionLagGauge_) continue;
    for (const auto& p : t.partitions) {
      auto pl = labels;
      pl["partition"] = std::to_string(p.partition);
      partitionLagGauge_->Add(pl).Set(static_cast<double>(p.lag));
      partitions.insert(pl);
    }
  }
  // Series of topics (partitions) no longer in the view go.
  for (const auto& l : topicSeries_[key])
    if (!topics.count(l)) lagGauge_->Remove(&lagGauge_->Add(l));
  for (const auto& l : partitionSeries_[key])
    if (!partitions.count(l)) partitionLagGauge_->Remove(&partitionLagGauge_->Add(l));
  topicSeries_[key] = std::move(topics);
  partitionSeries_[key] = std::move(partitions);
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
  {
    std::lock_guard lock(scaleMutex_);
    scaleStates_.erase(key);
  }
  std::lock_guard lock(snapshotsMutex_);
  scaleViews_.erase(key);
  auto snap = snapshots_.find(key);
  auto labels = metricLabels_.find(key);
  if (labels != metricLabels_.end() && lagGauge_) {
    // Every series of this resource goes with it (prometheus-cpp removes by metric).
    auto base = labels->second;
    for (const auto& l : topicSeries_[key]) lagGauge_->Remove(&lagGauge_->Add(l));
    for (const auto& l : partitionSeries_[key]) partitionLagGauge_->Remove(&partitionLagGauge_->Add(l));
    topicSeries_.erase(key);
    partitionSeries_.erase(key);
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
    if (spec.scaleTarget) {
      if (auto v = scaleViewOf(item.key)) applyScale(status, *v);
    } else if (status.contains("scale") || runtime::findCondition(status, kScalingCondition)) {
      // scaleTarget removed: the operator no longer scales anything.
      status.erase("scale");
      if (status.contains("conditions") && status["conditions"].is_array()) {
        Json kept = Json::array();
        for (const auto& c : status["conditions"])
          if (c.value("type", "") != kScalingCondition) kept.push_back(c);
        status["conditions"] = kept;
      }
    }
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
