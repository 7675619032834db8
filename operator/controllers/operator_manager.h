#pragma once
// Controller mode's composition root: the Kubernetes client, leader election,
// the KafkaTopic informer + work queue + controller, Events, and the metrics
// (:8080) and probe (:8081) listeners. main() builds one; e2e tests build
// several in one process (two "operators" electing a leader).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/registry.h>

#include "common/config/listen_address.h"
#include "common/http/http_server.h"
#include "common/tracing/tracer.h"
#include "operator/controllers/topic_controller.h"
#include "operator/kafka/cluster_admin.h"
#include "operator/kafka/rdkafka_cluster_admin.h"
#include "operator/kube/kube_client.h"
#include "operator/kube/event_recorder.h"
#include "operator/kube/leader_elector.h"

namespace tributary::op::controllers {

struct ManagerOptions {
  std::map<std::string, kafka::ClusterConnection> clusters;  // by the name resources use in spec.cluster
  std::vector<std::string> watchNamespaces;                   // empty: all namespaces
  std::chrono::milliseconds resyncPeriod{5 * 60 * 1000};
  bool leaderElection = true;
  kube::LeaderElectionConfig lease;  // identity, lease name/namespace, durations
  ListenAddress metrics{"0.0.0.0", 8080};
  ListenAddress probes{"0.0.0.0", 8081};
  size_t workers = 2;
  size_t maxBatch = 100;  // KafkaTopics per reconcile call (and per admin round trip)
  // Further conditions of /readyz, by name (e.g. "webhook": a serving
  // certificate is loaded), shown in its body; called on the probe's thread.
  std::map<std::string, std::function<bool()>> readinessGates;
  // KafkaConsumerGroups: reconciled when their CRD is served at the start of a
  // leadership term (a cluster without it runs the topic controller alone).
  bool consumerGroups = true;
  std::chrono::milliseconds lagInterval{30'000};      // one lag pass per cluster per interval
  std::chrono::milliseconds statusInterval{300'000};  // small lag moves reach status at most this often
  double lagChangeFraction = 0.10;                    // a larger move is written at once
  bool partitionLagMetrics = false;                   // tributary_consumer_group_partition_lag
  // KafkaPipelines: reconciled when their CRD is served at the start of a term.
  bool pipelines = true;
  std::string sidecarImage = std::string("tributary/sidecar:") + TRIBUTARY_VERSION;  // what pipeline pods run
  // Checks a pipeline file before any rollout; unset: the sidecar's own
  // sidecar::pipeline::checkPipelineFile (jq expressions compiled).
  std::function<std::vector<std::string>(const std::string& pipelineYaml)> pipelineValidator;
  // The informers store objects without metadata.managedFields and the
  // last-applied annotation (kube::stripManagedFieldsAndLastApplied). false
  // keeps objects as the server sent them: for measuring what the strip saves.
  bool stripManagedFields = true;
  // One span per reconcile (see runtime::ControllerOptions::tracer); null: none. Must outlive the manager.
  tracing::Tracer* tracer = nullptr;
};

// Makes the admin client of one configured cluster (tests inject a double).
using AdminFactory = std::function<std::unique_ptr<kafka::ClusterAdmin>(
    const std::string& clusterName, const kafka::ClusterConnection& connection, std::string& error)>;
AdminFactory rdkafkaAdminFactory();

// Threads: start() and stop() from the owning thread. Leadership
// terms start and end on the manager's own thread (the elector's callbacks
// hand them over). isLeader() and the ports from any thread.
class OperatorManager {
 public:
  OperatorManager(ManagerOptions options, std::shared_ptr<kube::KubeClient> client,
                  std::shared_ptr<prometheus::Registry> registry, AdminFactory admins);
  ~OperatorManager();
  OperatorManager(const OperatorManager&) = delete;
  OperatorManager& operator=(const OperatorManager&) = delete;

  // Binds the listeners, creates the admin clients, starts leader election
  // (or the controllers at once without it). False with `error` when a port
  // is taken or a cluster's client cannot be made.
  bool start(std::string& error);
  // Graceful: controllers finish what they reconcile, then the lease is
  // released (a successor takes over at once), listeners close. Idempotent.
  void stop();

  bool isLeader() const;
  bool reconciling() const { return reconciling_.load(); }
  int metricsPort() const { return metricsServer_.port(); }
  int probesPort() const { return probesServer_.port(); }

 private:
  struct Term;  // one leadership term: informer, controller, reconciler
  void post(std::function<void()> task);
  void loop();
  void startTerm();
  void endTerm();
  void startGroups(Term& term, const std::map<std::string, ClusterTarget>& clusters,
                   const std::vector<std::string>& namespaces);
  void startPipelines(Term& term, const std::map<std::string, ClusterTarget>& clusters,
                      const std::vector<std::string>& namespaces);

  const ManagerOptions options_;
  std::shared_ptr<kube::KubeClient> client_;
  std::shared_ptr<prometheus::Registry> registry_;
  AdminFactory adminFactory_;
  std::map<std::string, std::unique_ptr<kafka::ClusterAdmin>> admins_;
  std::unique_ptr<kube::LeaderElector> elector_;
  std::unique_ptr<Term> term_;  // owned by the manager thread
  std::atomic<bool> reconciling_{false};
  std::unique_ptr<kube::EventRecorder> events_;
  HttpServer metricsServer_;
  HttpServer probesServer_;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;  // guarded by mutex_
  bool stopping_ = false;                    // guarded by mutex_
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace tributary::op::controllers
