#pragma once
// The KafkaConsumerGroup controller: offset resets (once per requestId, only
// while the group is empty), finalizers for deletionPolicy Delete, and the
// lag pass (one per cluster per lagInterval for every group together) whose
// results become status — written only when it moved enough — and metrics.
// The lag pass never writes status itself: it keeps the latest view of each
// group and queues the keys whose status should change, so that status has
// one writer (the reconcile of that key) and never races.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "operator/controllers/topic_controller.h"
#include "operator/group/group_reconciler.h"
#include "operator/group/kafka_consumer_group.h"
#include "operator/kube/event_recorder.h"
#include "operator/kube/kube_client.h"
#include "operator/runtime/controller.h"

namespace tributary::op::controllers {

inline const kube::ResourceRef kKafkaConsumerGroups{"tributary.dev", "v1alpha1", "kafkaconsumergroups", true};

// Condition types on a KafkaConsumerGroup (plus Ready and ReconciliationPaused).
inline constexpr const char* kOffsetsResetCondition = "OffsetsReset";
inline constexpr const char* kScalingCondition = "Scaling";

struct ConsumerGroupControllerOptions {
  std::chrono::milliseconds lagInterval{30'000};
  // Status gets a lag that moved by less than lagChangeFraction (relative to
  // what status shows) at most once per statusInterval.
  std::chrono::milliseconds statusInterval{5 * 60 * 1000};
  double lagChangeFraction = 0.10;
  size_t maxMembersListed = 20;
  // Also tributary_consumer_group_partition_lag{...,topic,partition}.
  bool partitionLagMetrics = false;
  prometheus::Registry* registry = nullptr;  // metrics when set; must outlive the controller
  std::function<std::chrono::system_clock::time_point()> now = [] { return std::chrono::system_clock::now(); };
};

// Threads: reconcile() from the controller's workers (different keys at
// once); lagPass() from the lag thread. Per-cluster admin calls are
// serialised by a mutex each; the snapshots map by its own mutex.
class ConsumerGroupController final : public runtime::BatchReconciler {
 public:
  ConsumerGroupController(kube::KubeClient& client, ObjectStoreView store, std::map<std::string, ClusterTarget> clusters,
                          kube::EventRecorder& events, ConsumerGroupControllerOptions options = {});

  std::vector<runtime::ReconcileResult> reconcile(const std::vector<std::string>& keys) override;

  // One lag pass over `objects` (every KafkaConsumerGroup the informer holds):
  // per cluster one GroupReconciler::observe; updates metrics; calls
  // `enqueue` for each key whose status should be written. Returns the number
  // of keys queued.
  size_t lagPass(const std::vector<nlohmann::json>& objects, const std::function<void(const std::string&)>& enqueue);

  // Forget a deleted resource's view and metrics. Any thread.
  void forget(const nlohmann::json& object);

 private:
  struct Item;
  struct Snapshot {
    group::GroupLag lag;
    std::chrono::system_clock::time_point at;
  };
  std::optional<Snapshot> snapshotOf(const std::string& key) const;
  // Whether status should take `s` (see statusInterval / lagChangeFraction).
  bool lagWorthWriting(const nlohmann::json& status, const Snapshot& s) const;
  void applyLag(nlohmann::json& status, const Snapshot& s, int64_t generation) const;
  void updateMetrics(const std::string& key, const group::KafkaConsumerGroup& g, const group::GroupLag& lag);
  bool ensureFinalizer(Item& item, bool wanted);
  void writeStatus(Item& item, const nlohmann::json& newStatus);
  void refuse(Item& item, const std::string& reason, const std::string& message);
  std::mutex& clusterMutex(const std::string& cluster);

  kube::KubeClient& client_;
  const ObjectStoreView store_;
  const std::map<std::string, ClusterTarget> clusters_;
  kube::EventRecorder& events_;
  const ConsumerGroupControllerOptions options_;
  std::map<std::string, std::unique_ptr<std::mutex>> clusterMutexes_;
  std::map<std::string, std::unique_ptr<group::LagHistory>> histories_;  // per cluster, used under its mutex

  mutable std::mutex snapshotsMutex_;
  std::map<std::string, Snapshot> snapshots_;  // by key
  std::map<std::string, std::map<std::string, std::string>> metricLabels_;  // key -> base labels
  // key -> the labels of its per-topic / per-partition series, so that a topic
  // or partition that left the view takes its series with it.
  using Labels = std::map<std::string, std::string>;
  std::map<std::string, std::set<Labels>> topicSeries_, partitionSeries_;

  prometheus::Family<prometheus::Gauge>* lagGauge_ = nullptr;
  prometheus::Family<prometheus::Gauge>* partitionLagGauge_ = nullptr;
  prometheus::Family<prometheus::Gauge>* lagSecondsGauge_ = nullptr;
  prometheus::Family<prometheus::Gauge>* membersGauge_ = nullptr;
  prometheus::Family<prometheus::Gauge>* stateGauge_ = nullptr;
};

}  // namespace tributary::op::controllers
