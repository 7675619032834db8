#pragma once
// The KafkaPipeline controller: a KafkaPipeline becomes a ConfigMap (the
// pipeline file) and a workload running the sidecar image with `--pipeline`
// (a Deployment; a StatefulSet for exactlyOnce), both controlled by the
// KafkaPipeline (ownerReferences: Kubernetes' garbage collector removes them
// with it, so there is no finalizer).
//
// Order of a reconcile — nothing is written before the spec is known good:
//   parse (the operator's fields) → unknown clusters → the pipeline file
//   rendered and checked by the injected PipelineValidator (the sidecar's own
//   parser, jq expressions compiled) → the source topics' partitions
//   (ClusterAdmin) → replicas (spec.replicas, or spec.autoscale through
//   group::decideScale over the group's lag, as KafkaConsumerGroup's
//   scaleTarget), at most one per partition → ConfigMap, then the workload
//   (pod template annotated with the file's hash: a changed file rolls the
//   pods) → status from the workload's status.
// An invalid spec (or a missing source topic, an unreachable Kafka) leaves the
// ConfigMap and the running workload exactly as they were. Existing objects
// are written only when what the operator renders changed (the workload
// carries a hash of its rendered spec; the API server's defaults are never
// compared), so steady state costs GETs and no writes; status likewise.
//
// Threads: reconcile() from the controller's workers (different keys at once,
// never the same key twice at once); admin calls serialised per cluster by a
// mutex; the autoscale state by its own mutex. forget() from any thread.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "operator/controllers/consumer_group_controller.h"
#include "operator/controllers/topic_controller.h"
#include "operator/group/scale_decision.h"
#include "operator/kafka/rdkafka_cluster_admin.h"
#include "operator/kube/event_recorder.h"
#include "operator/kube/kube_client.h"
#include "operator/pipeline/kafka_pipeline.h"
#include "operator/pipeline/pipeline_resources.h"
#include "operator/runtime/controller.h"

namespace tributary::op::controllers {

inline const kube::ResourceRef kKafkaPipelines{"tributary.dev", "v1alpha1", "kafkapipelines", true};
inline const kube::ResourceRef kDeployments{"apps", "v1", "deployments", true};
inline const kube::ResourceRef kStatefulSets{"apps", "v1", "statefulsets", true};

// Reasons of a KafkaPipeline's Ready condition (and of its Warning Events).
namespace pipeline_reason {
inline constexpr const char* kInvalidPipeline = "InvalidPipeline";        // the validator's (or the operator's) messages
inline constexpr const char* kUnknownCluster = "UnknownCluster";          // spec.cluster or a sink's cluster not configured
inline constexpr const char* kSourceTopicMissing = "SourceTopicMissing";  // looked again every topicRecheck
inline constexpr const char* kKafkaUnavailable = "KafkaUnavailable";
inline constexpr const char* kKafkaError = "KafkaError";
inline constexpr const char* kResourceConflict = "ResourceConflict";  // a ConfigMap/workload of that name not ours
inline constexpr const char* kProgressing = "Progressing";  // rolling out, or fewer ready replicas than wanted
inline constexpr const char* kAvailable = "Available";      // every replica runs the current file
}  // namespace pipeline_reason

struct PipelineControllerOptions {
  pipeline::RenderSettings render;  // the sidecar image (--sidecar-image)
  // Every configured cluster as the operator config writes it (references kept):
  // what the pipeline file's `kafka` / `clusters` say.
  std::map<std::string, kafka::ClusterConnection> connections;
  pipeline::PipelineValidator validator;  // required
  std::chrono::milliseconds topicRecheck{30'000};  // SourceTopicMissing: looked again after this
  std::chrono::milliseconds lagInterval{30'000};   // autoscale: one lag read and decision per interval
  std::function<std::chrono::system_clock::time_point()> now = [] { return std::chrono::system_clock::now(); };
};

class PipelineController final : public runtime::Reconciler {
 public:
  PipelineController(kube::KubeClient& client, ObjectStoreView store, std::map<std::string, ClusterTarget> clusters,
                     kube::EventRecorder& events, PipelineControllerOptions options);

  runtime::ReconcileResult reconcile(const std::string& key) override;

  // A KafkaPipeline went away: drop its autoscale history. Any thread.
  void forget(const nlohmann::json& object);

  // The KafkaPipeline key ("namespace/name") a rendered ConfigMap/workload
  // belongs to (its controller ownerReference), for the workload informers.
  static std::optional<std::string> ownerKeyOf(const nlohmann::json& object);

 private:
  struct Item;
  struct AutoscaleState {
    group::ScaleHistory history;
    bool started = false;
    std::optional<std::chrono::system_clock::time_point> decidedAt;
    int desired = 0;
    std::string status = "True", reason, message;
    std::optional<std::chrono::system_clock::time_point> lastScaleTime;
  };
  // The replicas autoscale asks for now; decides at most once per lagInterval.
  int autoscaleReplicas(Item& item, int current, bool currentKnown);
  void refuse(Item& item, const std::string& reason, const std::string& message);
  void writeStatus(Item& item, const nlohmann::json& newStatus);
  // GET, nullopt on 404; other errors throw.
  std::optional<nlohmann::json> getOptional(const kube::ResourceRef& r, const std::string& ns, const std::string& name);
  std::mutex& clusterMutex(const std::string& cluster);

  kube::KubeClient& client_;
  const ObjectStoreView store_;
  const std::map<std::string, ClusterTarget> clusters_;
  kube::EventRecorder& events_;
  const PipelineControllerOptions options_;
  std::map<std::string, std::unique_ptr<std::mutex>> clusterMutexes_;  // fixed at construction
  std::mutex autoscaleMutex_;
  std::map<std::string, AutoscaleState> autoscale_;  // by key; guarded by autoscaleMutex_
};

}  // namespace tributary::op::controllers
