#include "operator/controllers/pipeline_controller.h"

#include <algorithm>

#include "common/log/log.h"
#include "operator/group/group_reconciler.h"
#include "operator/kube/api_error.h"
#include "operator/runtime/conditions.h"

namespace tributary::op::controllers {
namespace {

using Json = nlohmann::json;
using runtime::ReconcileResult;
namespace reason = pipeline_reason;

bool isDeleting(const Json& object) {
  const auto& meta = object.value("metadata", Json::object());
  return meta.contains("deletionTimestamp") && !meta["deletionTimestamp"].is_null();
}

int64_t generationOf(const Json& object) {
  const auto& meta = object.value("metadata", Json::object());
  return meta.contains("generation") && meta["generation"].is_number_integer() ? meta["generation"].get<int64_t>() : 0;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

// The controller ownerReference of an object, if any.
Json controllerRef(const Json& object) {
  const Json meta = object.value("metadata", Json::object());
  for (const auto& ref : meta.value("ownerReferences", Json::array()))
    if (ref.value("controller", false)) return ref;
  return nullptr;
}

bool controlledBy(const Json& object, const std::string& uid) {
  const Json ref = controllerRef(object);
  return ref.is_object() && ref.value("uid", "") == uid;
}

std::string annotation(const Json& object, const char* key) {
  const Json ann = object.value("metadata", Json::object()).value("annotations", Json::object());
  return ann.is_object() && ann.contains(key) && ann[key].is_string() ? ann[key].get<std::string>() : "";
}

int intAt(const Json& object, const char* section, const char* field, int fallback) {
  const Json s = object.value(section, Json::object());
  return s.is_object() && s.contains(field) && s[field].is_number_integer() ? s[field].get<int>() : fallback;
}

const kube::ResourceRef& refOfKind(const std::string& kind) { return kind == "StatefulSet" ? kStatefulSets : kDeployments; }

// `desired` as an update of `existing`: the server's metadata (resourceVersion,
// uid, labels and annotations others added) kept, ours set on top.
Json asUpdateOf(Json desired, const Json& existing) {
  Json meta = existing.value("metadata", Json::object());
  for (const char* key : {"labels", "annotations"}) {
    Json merged = meta.value(key, Json::object());
    if (!merged.is_object()) merged = Json::object();
    const Json ours = desired["metadata"].value(key, Json::object());
    for (const auto& [k, v] : ours.items()) merged[k] = v;
    if (!merged.empty()) meta[key] = merged;
  }
  meta["ownerReferences"] = desired["metadata"]["ownerReferences"];
  meta.erase("managedFields");
  desired["metadata"] = meta;
  return desired;
}

}  // namespace

struct PipelineController::Item {
  std::string key;
  Json object;
  std::optional<pipeline::KafkaPipeline> pipeline;
  std::optional<ReconcileResult> result;
};

PipelineController::PipelineController(kube::KubeClient& client, ObjectStoreView store,
                                       std::map<std::string, ClusterTarget> clusters, kube::EventRecorder& events,
                                       PipelineControllerOptions options)
    : client_(client), store_(std::move(store)), clusters_(std::move(clusters)), events_(events),
      options_(std::move(options)) {
  for (const auto& [name, target] : clusters_) clusterMutexes_[name] = std::make_unique<std::mutex>();
}

std::mutex& PipelineController::clusterMutex(const std::string& cluster) { return *clusterMutexes_.at(cluster); }

std::optional<std::string> PipelineController::ownerKeyOf(const Json& object) {
  const Json ref = controllerRef(object);
  if (!ref.is_object() || ref.value("kind", "") != pipeline::kKafkaPipelineKind ||
      ref.value("apiVersion", "").rfind("tributary.dev/", 0) != 0)
    return std::nullopt;
  const std::string ns = object.value("metadata", Json::object()).value("namespace", "");
  return ns + "/" + ref.value("name", "");
}

void PipelineController::forget(const Json& object) {
  const auto meta = object.value("metadata", Json::object());
  std::lock_guard lock(autoscaleMutex_);
  autoscale_.erase(meta.value("namespace", "") + "/" + meta.value("name", ""));
}

std::optional<Json> PipelineController::getOptional(const kube::ResourceRef& r, const std::string& ns,
                                                    const std::string& name) {
  try {
    return client_.get(r, ns, name);
  } catch (const kube::ApiError& e) {
    if (kube::isNotFound(e)) return std::nullopt;
    throw;
  }
}

ReconcileResult PipelineController::reconcile(const std::string& key) {
  Item item;
  item.key = key;
  auto object = store_.get(key);
  if (!object) {
    forget(Json{{"metadata", {{"namespace", key.substr(0, key.find('/'))}, {"name", key.substr(key.find('/') + 1)}}}});
    return ReconcileResult::done();
  }
  item.object = std::move(*object);
  // Dependents go with the resource through their ownerReferences (the garbage
  // collector): nothing to do, no finalizer to release.
  if (isDeleting(item.object)) return ReconcileResult::done();
  const int64_t generation = generationOf(item.object);

  // ---- 1. the spec, before anything is written
  auto parsed = pipeline::parseKafkaPipeline(item.object);
  if (!parsed.pipeline) {
    refuse(item, reason::kInvalidPipeline, join(parsed.errors, "; "));
    return *item.result;
  }
  item.pipeline = std::move(parsed.pipeline);
  const auto& p = *item.pipeline;
  const std::string& ns = p.resource.namespace_;
  for (const auto& cluster : p.spec.clusters) {
    if (clusters_.count(cluster) && options_.connections.count(cluster)) continue;
    std::string known;
    for (const auto& [name, target] : clusters_) known += (known.empty() ? "" : ", ") + name;
    refuse(item, reason::kUnknownCluster,
           "cluster \"" + cluster + "\" (" + (cluster == p.spec.cluster ? "spec.cluster" : "a sink's topic.cluster") +
               ") is not in the operator's configuration (clusters: " + known + ")");
    return *item.result;
  }
  const std::string yaml = pipeline::pipelineYaml(pipeline::pipelineFile(p, options_.connections));
  if (auto problems = options_.validator(yaml); !problems.empty()) {
    refuse(item, reason::kInvalidPipeline, join(problems, "; "));
    return *item.result;
  }

  // ---- 2. the source's partitions (the replica bound)
  std::vector<kafka::DescribeResult> described;
  {
    std::lock_guard lock(clusterMutex(p.spec.cluster));
    described = clusters_.at(p.spec.cluster).admin->describeTopics(p.spec.sourceTopics);
  }
  int partitions = 0;
  std::vector<std::string> missing;
  for (const auto& d : described) {
    if (d.description) {
      partitions += d.description->partitions;
    } else if (d.error && d.error->code == kafka::AdminErrorCode::TopicNotFound) {
      missing.push_back(d.topic);
    } else {
      const bool unavailable = d.error && d.error->code == kafka::AdminErrorCode::Unavailable;
      const std::string message = "cannot describe source topic " + d.topic + ": " +
                                  (d.error ? d.error->message : std::string("no answer")) +
                                  " (the workload is left as it is; retried)";
      refuse(item, unavailable ? reason::kKafkaUnavailable : reason::kKafkaError, message);
      return ReconcileResult::error(message);
    }
  }
  if (!missing.empty()) {
    refuse(item, reason::kSourceTopicMissing,
           "source topic(s) " + join(missing, ", ") + " do not exist in cluster " + p.spec.cluster +
               ": create them (e.g. with a KafkaTopic); nothing is deployed or changed until they exist (looked again "
               "every " + std::to_string(options_.topicRecheck.count() / 1000) + " s)");
    return ReconcileResult::requeueAfter(options_.topicRecheck);
  }

  // ---- 3. what exists: ours, or someone else's of the same name
  const std::string kind = pipeline::workloadKind(p);
  const std::string otherKind = kind == "Deployment" ? "StatefulSet" : "Deployment";
  std::optional<Json> cm, workload, otherWorkload;
  try {
    cm = getOptional(kube::resources::kConfigMaps, ns, pipeline::configMapName(p));
    workload = getOptional(refOfKind(kind), ns, pipeline::workloadName(p));
    otherWorkload = getOptional(refOfKind(otherKind), ns, pipeline::workloadName(p));
  } catch (const kube::ApiError& e) {
    return ReconcileResult::error(std::string("reading the pipeline's objects: ") + e.what());
  }
  for (const auto& [what, obj] : {std::pair<std::string, const std::optional<Json>*>{"ConfigMap " + pipeline::configMapName(p), &cm},
                                  {kind + " " + pipeline::workloadName(p), &workload}}) {
    if (*obj && !controlledBy(**obj, p.resource.uid)) {
      refuse(item, reason::kResourceConflict,
             what + " exists and is not controlled by this KafkaPipeline: rename the pipeline or delete that object");
      return *item.result;
    }
  }

  // ---- 4. replicas: spec.replicas or autoscale, at most one per partition
  const int current = workload ? intAt(*workload, "spec", "replicas", 1) : 0;
  int wanted = p.spec.autoscale ? autoscaleReplicas(item, current, workload.has_value()) : p.spec.replicas;
  std::string capped;
  if (wanted > partitions) {
    capped = std::string(p.spec.autoscale ? "autoscale's " : "spec.replicas ") + std::to_string(wanted) +
             " capped to " + std::to_string(partitions) + ": the source topics have " + std::to_string(partitions) +
             " partition(s), and a consumer group never uses more members than partitions";
    wanted = partitions;
  }

  // ---- 5. processing switched between atLeastOnce and exactlyOnce: the old
  // kind's pods stop before the new kind's start. Running both at once would
  // mix untransacted writes into an exactly-once pipeline's output (and two
  // kinds of members in one group). Foreground deletion keeps the old object
  // until its pods are gone; its DELETED event (the workload informers) or the
  // requeue below brings the key back to create the new kind.
  if (otherWorkload && controlledBy(*otherWorkload, p.resource.uid)) {
    try {
      if (!isDeleting(*otherWorkload)) {
        kube::DeleteOptions del;
        del.propagationPolicy = "Foreground";
        client_.remove(refOfKind(otherKind), ns, pipeline::workloadName(p), del);
        events_.record(item.object, kube::EventType::Normal, "Replacing",
                       "processing is " + std::string(kind == "StatefulSet" ? "exactlyOnce" : "atLeastOnce") + ": " +
                           otherKind + " " + pipeline::workloadName(p) + " is deleted, the " + kind +
                           " starts once its pods stopped");
      }
      otherWorkload = getOptional(refOfKind(otherKind), ns, pipeline::workloadName(p));
    } catch (const kube::ApiError& e) {
      return ReconcileResult::error(std::string("deleting the pipeline's ") + otherKind + ": " + e.what());
    }
    if (otherWorkload) {
      Json status = item.object.value("status", Json::object());
      if (!status.is_object()) status = Json::object();
      status["observedGeneration"] = generation;
      runtime::setCondition(status,
                            {kReadyCondition, "False", reason::kProgressing,
                             "waiting for the pods of " + otherKind + " " + pipeline::workloadName(p) +
                                 " to stop before the " + kind + " starts (spec.processing changed)",
                             generation, ""},
                            options_.now());
      writeStatus(item, status);
      return item.result ? *item.result : ReconcileResult::requeueAfter(std::chrono::seconds(5));
    }
  }

  // ---- 6. write: ConfigMap first (new pods read the new file), then the workload
  const Json desiredCm = pipeline::renderConfigMap(p, yaml);
  const Json desired = pipeline::renderWorkload(p, yaml, wanted, options_.render);
  const std::string hash = pipeline::contentHash(yaml);
  Json live;
  try {
    if (!cm) {
      client_.create(kube::resources::kConfigMaps, ns, desiredCm);
    } else if (cm->value("data", Json::object()) != desiredCm["data"] ||
               controllerRef(*cm) != desiredCm["metadata"]["ownerReferences"][0]) {
      client_.update(kube::resources::kConfigMaps, ns, asUpdateOf(desiredCm, *cm));
    }
    if (!workload) {
      live = client_.create(refOfKind(kind), ns, desired);
      events_.record(item.object, kube::EventType::Normal, "Created",
                     kind + " " + pipeline::workloadName(p) + " created with " + std::to_string(wanted) +
                         " replica(s), pipeline file " + hash);
    } else if (annotation(*workload, pipeline::kSpecHashAnnotation) !=
                   annotation(desired, pipeline::kSpecHashAnnotation) ||
               current != wanted || controllerRef(*workload) != desired["metadata"]["ownerReferences"][0]) {
      Json update = asUpdateOf(desired, *workload);
      update.erase("status");
      live = client_.update(refOfKind(kind), ns, update);
      const std::string before = workload->value("spec", Json::object())
                                     .value("template", Json::object())
                                     .value("metadata", Json::object())
                                     .value("annotations", Json::object())
                                     .value(pipeline::kConfigHashAnnotation, "");
      if (before != hash)
        events_.record(item.object, kube::EventType::Normal, "Updated",
                       kind + " " + pipeline::workloadName(p) + " rolls to pipeline file " + hash +
                           (before.empty() ? "" : " (was " + before + ")"));
    } else {
      live = *workload;
    }
  } catch (const kube::ApiError& e) {
    // A 409 (someone changed it meanwhile) or a transient failure: read again, with backoff.
    return ReconcileResult::error(std::string("writing the pipeline's objects: ") + e.what());
  }

  // ---- 7. status from the workload's status
  Json status = item.object.value("status", Json::object());
  if (!status.is_object()) status = Json::object();
  status["observedGeneration"] = generation;
  status["replicas"] = wanted;
  const int ready = intAt(live, "status", "readyReplicas", 0);
  const int updated = intAt(live, "status", "updatedReplicas", 0);
  const int64_t workloadObserved = live.value("status", Json::object()).value("observedGeneration", int64_t{0});
  status["readyReplicas"] = ready;
  status["source"] = join(p.spec.sourceTopics, ",");
  status["sinks"] = join(p.spec.sinkTargets, ",");
  status["selector"] = std::string(pipeline::kPipelineLabel) + "=" + p.resource.name;
  status["workload"] = kind + "/" + pipeline::workloadName(p);
  status["configHash"] = hash;
  const bool rolledOut = workloadObserved >= generationOf(live) && updated >= wanted;
  std::string message;
  const char* why;
  if (rolledOut && ready >= wanted) {
    why = reason::kAvailable;
    message = std::to_string(ready) + "/" + std::to_string(wanted) + " replica(s) ready with pipeline file " + hash;
  } else {
    why = reason::kProgressing;
    message = std::to_string(ready) + "/" + std::to_string(wanted) + " replica(s) ready, " + std::to_string(updated) +
              " with pipeline file " + hash;
  }
  if (!capped.empty()) message += "; " + capped;
  runtime::setCondition(status, {kReadyCondition, why == reason::kAvailable ? "True" : "False", why, message,
                                 generation, ""},
                        options_.now());
  if (p.spec.autoscale) {
    std::lock_guard lock(autoscaleMutex_);
    const auto& st = autoscale_[key];
    Json a = {{"desired", st.desired}};
    if (st.lastScaleTime) a["lastScaleTime"] = runtime::formatRfc3339(*st.lastScaleTime);
    status["autoscale"] = a;
    if (!st.reason.empty())
      runtime::setCondition(status, {kScalingCondition, st.status, st.reason, st.message, generation, ""},
                            options_.now());
  } else if (status.contains("autoscale") || runtime::findCondition(status, kScalingCondition)) {
    status.erase("autoscale");
    Json kept = Json::array();
    for (const auto& c : status.value("conditions", Json::array()))
      if (c.value("type", "") != kScalingCondition) kept.push_back(c);
    status["conditions"] = kept;
  }
  writeStatus(item, status);
  if (item.result) return *item.result;
  if (p.spec.autoscale) return ReconcileResult::requeueAfter(options_.lagInterval);
  return ReconcileResult::done();
}

int PipelineController::autoscaleReplicas(Item& item, int current, bool currentKnown) {
  const auto& p = *item.pipeline;
  const auto& a = *p.spec.autoscale;
  const auto now = options_.now();
  group::ScaleTargetSpec target;
  target.kind = pipeline::workloadKind(p);
  target.name = pipeline::workloadName(p);
  target.minReplicas = a.minReplicas;
  target.maxReplicas = a.maxReplicas;
  target.lagPerReplica = a.lagPerReplica;
  target.scaleDownStabilizationSeconds = a.scaleDownStabilizationSeconds;
  const int from = currentKnown ? current : a.minReplicas;
  {
    std::lock_guard lock(autoscaleMutex_);
    auto& st = autoscale_[item.key];
    if (st.decidedAt && now - *st.decidedAt < options_.lagInterval) return st.desired;
  }
  // The group's lag as KafkaConsumerGroup's lag pass reads it (same code).
  group::KafkaConsumerGroup g;
  g.resource = p.resource;
  g.spec.cluster = p.spec.cluster;
  g.spec.groupId = p.spec.group;
  g.spec.topics = p.spec.sourceTopics;
  std::vector<group::GroupLag> lags;
  {
    std::lock_guard lock(clusterMutex(p.spec.cluster));
    group::GroupReconciler reconciler(*clusters_.at(p.spec.cluster).admin);
    lags = reconciler.observe({g}, nullptr, now);
  }
  std::lock_guard lock(autoscaleMutex_);
  auto& st = autoscale_[item.key];
  const auto window = std::chrono::seconds(a.scaleDownStabilizationSeconds);
  if (!st.started) {
    // A new pipeline (or an operator restart): the current replicas count as a
    // recommendation, so nothing scales down before a whole window was watched.
    if (currentKnown) st.history.record(now, current, window);
    st.started = true;
  }
  st.decidedAt = now;
  if (lags.empty() || lags[0].error) {
    st.desired = from;  // a Kafka outage scales nothing
    st.status = "False";
    st.reason = reason::kKafkaUnavailable;
    st.message = "cannot read the lag of group " + p.spec.group + ": " +
                 (lags.empty() ? std::string("no answer") : lags[0].error->message) + " (replicas stay at " +
                 std::to_string(from) + ")";
    return st.desired;
  }
  group::ScaleInputs in{lags[0].totalLag, lags[0].partitions, lags[0].partitionsWithLag, from};
  const auto d = group::decideScale(target, in, st.history, now);
  st.desired = d.desired;
  st.status = "True";
  if (d.desired != from && currentKnown) {
    st.reason = d.reason;
    st.message = "scaled " + target.kind + "/" + target.name + " from " + std::to_string(from) + " to " +
                 std::to_string(d.desired) + " replicas: lag " + std::to_string(std::max<int64_t>(0, in.totalLag)) +
                 " over " + std::to_string(a.lagPerReplica) + " per replica";
    st.lastScaleTime = now;
    events_.record(item.object, kube::EventType::Normal, "Scaled", st.message);
  } else if (d.reason == "AtDesiredScale" && (st.reason == "ScaledUp" || st.reason == "ScaledDown")) {
    // Still where the last scale put it: the condition keeps saying so (no status write per pass).
  } else if (d.reason == "ScaleDownStabilizing") {
    st.reason = d.reason;
    st.message = "stays at " + std::to_string(d.desired) + " replicas: a higher recommendation is within the " +
                 "scale-down stabilisation window (" + std::to_string(a.scaleDownStabilizationSeconds) + " s)";
  } else {
    st.reason = d.reason == "NotActivated" ? d.reason : "AtDesiredScale";
    st.message = std::to_string(d.desired) + " replica(s), what the lag asks for (lagPerReplica " +
                 std::to_string(a.lagPerReplica) + ", " + std::to_string(a.minReplicas) + "-" +
                 std::to_string(a.maxReplicas) + " replicas)";
  }
  return st.desired;
}

void PipelineController::writeStatus(Item& item, const Json& newStatus) {
  const Json oldStatus = item.object.value("status", Json());
  if (!runtime::statusChanged(oldStatus, newStatus)) return;
  Json patch = newStatus;
  if (oldStatus.is_object())
    for (const auto& [k, v] : oldStatus.items())
      if (!patch.contains(k)) patch[k] = nullptr;
  const auto meta = item.object.value("metadata", Json::object());
  try {
    item.object = client_.patch(kKafkaPipelines, meta.value("namespace", ""), meta.value("name", ""),
                                Json{{"status", patch}}, true);
  } catch (const kube::ApiError& e) {
    if (kube::isNotFound(e)) return;
    item.result = ReconcileResult::error(std::string("writing status: ") + e.what());
  }
}

void PipelineController::refuse(Item& item, const std::string& why, const std::string& message) {
  const int64_t generation = generationOf(item.object);
  Json status = item.object.value("status", Json::object());
  if (!status.is_object()) status = Json::object();
  status["observedGeneration"] = generation;
  const auto before = runtime::findCondition(status, kReadyCondition);
  runtime::setCondition(status, {kReadyCondition, "False", why, message, generation, ""}, options_.now());
  // Once per refusal, not on every resync or recheck.
  if (!before || before->reason != why || before->message != message || before->observedGeneration != generation)
    events_.record(item.object, kube::EventType::Warning, why, message);
  writeStatus(item, status);
  if (!item.result) item.result = ReconcileResult::terminal(why + ": " + message);
}

}  // namespace tributary::op::controllers
