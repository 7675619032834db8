#pragma once
// The KafkaTopic controller: the glue between the Kubernetes side (informer
// store, status, finalizers, Events) and the Kafka side (TopicReconciler over a
// ClusterAdmin per cluster). Strimzi's BatchingTopicController in shape: the
// work queue hands over batches of keys, each batch costs a few admin round
// trips per cluster, and every key gets its own result.
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

#include "operator/kafka/cluster_admin.h"
#include "operator/kube/event_recorder.h"
#include "operator/kube/kube_client.h"
#include "operator/runtime/controller.h"
#include "operator/topic/kafka_topic.h"
#include "operator/topic/topic_reconciler.h"

namespace tributary::op::controllers {

inline const kube::ResourceRef kKafkaTopics{"tributary.dev", "v1alpha1", "kafkatopics", true};

// Condition types on a KafkaTopic.
inline constexpr const char* kReadyCondition = "Ready";
inline constexpr const char* kPausedCondition = "ReconciliationPaused";

// What the controller reads objects from: the informer's store (no API calls).
struct ObjectStoreView {
  std::function<std::optional<nlohmann::json>(const std::string& key)> get;
};

// A Kafka cluster the controller may reach, by the name resources give in
// spec.cluster. The admin is used by one thread at a time (the controller
// serialises calls per cluster).
struct ClusterTarget {
  kafka::ClusterAdmin* admin = nullptr;
};

struct TopicControllerOptions {
  size_t adminBatchSize = 500;
  std::function<std::chrono::system_clock::time_point()> now = [] { return std::chrono::system_clock::now(); };
};

// Threads: reconcile() from the controller's workers (several at once for
// different keys); the per-cluster admin calls are serialised by a mutex each.
// Kubernetes writes go through the (thread-safe) KubeClient.
class TopicController final : public runtime::BatchReconciler {
 public:
  TopicController(kube::KubeClient& client, ObjectStoreView store, std::map<std::string, ClusterTarget> clusters,
                  kube::EventRecorder& events, TopicControllerOptions options = {});

  std::vector<runtime::ReconcileResult> reconcile(const std::vector<std::string>& keys) override;

  // The claims index (which resources name which topic in which cluster),
  // kept by the informer's handlers so that conflicts cost no scan of the
  // store: observe() on add/update, forget() on delete. Any thread.
  void observe(const nlohmann::json& object);
  void forget(const nlohmann::json& object);
  // Keys of the other resources that claim the same topic in the same cluster
  // as `object` — to be re-queued when it goes away (one of them inherits the
  // topic). Any thread.
  std::vector<std::string> otherClaimants(const nlohmann::json& object) const;

 private:
  struct Item;
  void reconcileLive(std::vector<Item*>& items);
  void finalizeDeleting(std::vector<Item*>& items);
  struct Claim {
    std::string cluster, topic, creationTimestamp, uid;
    bool deleting = false;
    bool owns = false;  // its status says it manages the topic: it keeps it against newcomers
  };
  // The key of the resource that owns the topic `t` claims, when it is not `t`'s own.
  std::optional<std::string> conflictWinner(const std::string& key, const topic::KafkaTopic& t) const;
  // Keys of live resources other than `key` claiming (cluster, topic).
  std::vector<std::string> claimantsOf(const std::string& cluster, const std::string& topic,
                                       const std::string& key) const;
  bool ensureFinalizer(Item& item, bool wanted);
  void writeStatus(Item& item, const nlohmann::json& newStatus);
  void applyOutcome(Item& item, const topic::TopicOutcome& outcome);
  void refuse(Item& item, const std::string& reason, const std::string& message, bool retryable);
  std::mutex& clusterMutex(const std::string& cluster);

  kube::KubeClient& client_;
  const ObjectStoreView store_;
  const std::map<std::string, ClusterTarget> clusters_;
  kube::EventRecorder& events_;
  const TopicControllerOptions options_;
  std::map<std::string, std::unique_ptr<std::mutex>> clusterMutexes_;  // fixed at construction
  mutable std::mutex claimsMutex_;
  std::map<std::string, Claim> claims_;  // by resource key; guarded by claimsMutex_
  std::map<std::pair<std::string, std::string>, std::set<std::string>> claimants_;  // (cluster, topic) -> keys
};

}  // namespace tributary::op::controllers
