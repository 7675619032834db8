#include "operator/controllers/operator_manager.h"

#include <future>
#include <nlohmann/json.hpp>
#include <prometheus/histogram.h>

#include "common/log/log.h"
#include "common/metrics/exposition.h"
#include "operator/kafka/admin_metrics.h"
#include "operator/kafka/reloading_cluster_admin.h"
#include "operator/kube/informer.h"
#include "operator/controllers/consumer_group_controller.h"
#include "operator/controllers/pipeline_controller.h"
#include "operator/controllers/topic_controller.h"
#include "operator/runtime/controller.h"
#include "operator/runtime/predicates.h"
#include "sidecar/pipeline/pipeline_config.h"

namespace tributary::op::controllers {

AdminFactory rdkafkaAdminFactory() {
  // ${file:...} / ${env:...} in the cluster's properties: resolved here, and
  // files re-read when they change (new clients get the new values).
  return [](const std::string& name, const kafka::ClusterConnection& connection,
            std::string& error) -> std::unique_ptr<kafka::ClusterAdmin> {
    return kafka::ReloadingClusterAdmin::create(
        connection, "clusters." + name + ".properties",
        [](const kafka::ClusterConnection& resolved, std::string& e) -> std::unique_ptr<kafka::ClusterAdmin> {
          return kafka::RdKafkaClusterAdmin::create(resolved, e);
        },
        error);
  };
}

struct OperatorManager::Term {
  std::shared_ptr<TopicController> reconciler;
  std::unique_ptr<runtime::Controller> controller;
  std::vector<std::unique_ptr<kube::Informer>> informers;  // one per watched namespace, or one for all

  std::map<std::string, kube::Informer*> byNamespace;  // "" when one informer watches all namespaces

  // KafkaConsumerGroups (when their CRD is served): informers, controller, the lag thread.
  std::shared_ptr<ConsumerGroupController> groups;
  std::unique_ptr<runtime::Controller> groupController;
  std::vector<std::unique_ptr<kube::Informer>> groupInformers;
  std::map<std::string, kube::Informer*> groupsByNamespace;
  std::thread lagThread;
  std::mutex lagMutex;
  std::condition_variable lagCv;
  bool lagStopping = false;  // guarded by lagMutex

  // KafkaPipelines (when their CRD is served): informers on them and on the
  // workloads they own (a Deployment's ready replicas become the pipeline's status).
  std::shared_ptr<PipelineController> pipelines;
  std::unique_ptr<runtime::Controller> pipelineController;
  std::vector<std::unique_ptr<kube::Informer>> pipelineInformers, workloadInformers;
  std::map<std::string, kube::Informer*> pipelinesByNamespace;

  kube::Informer* pipelineInformerFor(const std::string& key) {
    if (pipelineInformers.size() == 1) return pipelineInformers[0].get();
    auto it = pipelinesByNamespace.find(key.substr(0, key.find('/')));
    return it == pipelinesByNamespace.end() ? nullptr : it->second;
  }

  kube::Informer* groupInformerFor(const std::string& key) {
    if (groupInformers.size() == 1) return groupInformers[0].get();
    auto it = groupsByNamespace.find(key.substr(0, key.find('/')));
    return it == groupsByNamespace.end() ? nullptr : it->second;
  }

  // The informer whose store holds `key` ("namespace/name"), without asking each of them.
  kube::Informer* informerFor(const std::string& key) {
    if (informers.size() == 1) return informers[0].get();
    auto it = byNamespace.find(key.substr(0, key.find('/')));
    return it == byNamespace.end() ? nullptr : it->second;
  }
};

// What the metrics and probes listeners guarantee (operator/README.md): at most
// 256 connections each, a request within 10 s of its first byte, idle and slow
// clients held by the acceptor, not by the 4 workers; /healthz and /readyz on
// a worker of their own.
namespace {
ListenerLimits listenerLimits(bool probes) {
  ListenerLimits l;
  l.maxConnections = 256;
  if (!probes) l.priorityPaths = {};
  return l;
}
}  // namespace

OperatorManager::OperatorManager(ManagerOptions options, std::shared_ptr<kube::KubeClient> client,
                                 std::shared_ptr<prometheus::Registry> registry, AdminFactory admins)
    : options_(std::move(options)),
      client_(std::move(client)),
      registry_(std::move(registry)),
      adminFactory_(std::move(admins)),
      metricsServer_(4, 64 * 1024, listenerLimits(false)),
      probesServer_(4, 64 * 1024, listenerLimits(true)) {}

OperatorManager::~OperatorManager() { stop(); }

bool OperatorManager::start(std::string& error) {
  auto adminMetrics = std::make_shared<kafka::AdminMetrics>(*registry_);
  for (const auto& [name, connection] : options_.clusters) {
    auto admin = adminFactory_(name, connection, error);
    if (!admin) {
      error = "cluster \"" + name + "\": " + error;
      return false;
    }
    admins_[name] = std::make_unique<kafka::InstrumentedClusterAdmin>(std::move(admin), adminMetrics);
  }
  events_ = std::make_unique<kube::EventRecorder>(*client_, "tributary-operator", *registry_);

  metricsServer_.routes().Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(renderMetrics({registry_}), kPrometheusContentType);
  });
  probesServer_.routes().Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  probesServer_.routes().Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    // A standby is ready (to take over): answering 503 there would stall every
    // rolling update of a Deployment with more than one replica. The leader is
    // ready once its controllers run. The body says who leads.
    const bool leader = isLeader(), running = reconciling_.load();
    bool ready = !leader || running;
    nlohmann::json body{{"leader", leader}, {"identity", options_.lease.identity}, {"reconciling", running}};
    for (const auto& [name, gate] : options_.readinessGates) {
      const bool ok = gate();
      body[name] = ok;
      ready = ready && ok;
    }
    body["ready"] = ready;
    res.status = ready ? 200 : 503;
    res.set_content(body.dump(), "application/json");
  });
  if (!metricsServer_.bind(options_.metrics, error)) return false;
  if (!probesServer_.bind(options_.probes, error)) return false;
  metricsServer_.start();
  probesServer_.start();

  thread_ = std::thread([this] { loop(); });
  if (options_.leaderElection) {
    try {
      kube::validate(options_.lease);
    } catch (const std::exception& e) {
      error = std::string("leader election: ") + e.what();
      return false;
    }
    elector_ = std::make_unique<kube::LeaderElector>(
        *client_, options_.lease,
        kube::LeaderCallbacks{[this] { post([this] { startTerm(); }); }, [this] { post([this] { endTerm(); }); }},
        *registry_);
    elector_->start();
  } else {
    post([this] { startTerm(); });
  }
  log::info("operator started",
            {{"metrics", std::to_string(metricsServer_.port())},
             {"probes", std::to_string(probesServer_.port())},
             {"leaderElection", options_.leaderElection ? "on" : "off"},
             {"identity", options_.lease.identity}});
  return true;
}

bool OperatorManager::isLeader() const { return options_.leaderElection ? (elector_ && elector_->isLeader()) : true; }

void OperatorManager::post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    tasks_.push_back(std::move(task));
  }
  cv_.notify_all();
}

void OperatorManager::loop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping, nothing left
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

void OperatorManager::startTerm() {
  if (term_) return;
  auto term = std::make_unique<Term>();
  Term* t = term.get();
  std::map<std::string, ClusterTarget> clusters;
  for (auto& [name, admin] : admins_) clusters[name] = ClusterTarget{admin.get()};
  ObjectStoreView store{[t](const std::string& key) -> std::optional<nlohmann::json> {
    kube::Informer* i = t->informerFor(key);
    return i ? i->get(key) : std::nullopt;
  }};
  t->reconciler = std::make_shared<TopicController>(*client_, store, clusters, *events_,
                                                     TopicControllerOptions{options_.maxBatch});
  runtime::ControllerOptions copts;
  copts.name = "kafkatopic";
  copts.workers = options_.workers;
  copts.maxBatch = options_.maxBatch;
  copts.registry = registry_.get();
  copts.tracer = options_.tracer;
  t->controller = std::make_unique<runtime::Controller>(std::move(copts), t->reconciler);

  runtime::WorkQueue& queue = t->controller->queue();
  TopicController& reconciler = *t->reconciler;
  kube::InformerHandlers handlers{
      [&queue, &reconciler](const nlohmann::json& o) {
        reconciler.observe(o);
        queue.add(kube::Informer::keyOf(o));
      },
      [&queue, &reconciler](const nlohmann::json& old, const nlohmann::json& now) {
        reconciler.observe(now);
        // Our own status writes change neither generation, labels, annotations
        // nor deletion: they do not come back as work.
        if (runtime::reconcileWorthyUpdate(old, now)) queue.add(kube::Informer::keyOf(now));
      },
      [&queue, &reconciler](const nlohmann::json& last) {
        reconciler.forget(last);
        // Another resource naming the same topic may inherit it now.
        for (const auto& k : reconciler.otherClaimants(last)) queue.add(k);
      }};
  std::vector<std::string> namespaces = options_.watchNamespaces;
  if (namespaces.empty()) namespaces.push_back("");
  for (const auto& ns : namespaces) {
    kube::InformerOptions io;
    io.ns = ns;
    io.resyncPeriod = options_.resyncPeriod;
    if (!options_.stripManagedFields) io.transform = nullptr;
    t->informers.push_back(std::make_unique<kube::Informer>(*client_, kKafkaTopics, io, handlers));
    t->byNamespace[ns] = t->informers.back().get();
  }
  t->controller->start();
  for (auto& i : t->informers) i->start();
  if (options_.consumerGroups) startGroups(*t, clusters, namespaces);
  if (options_.pipelines) startPipelines(*t, clusters, namespaces);
  term_ = std::move(term);
  reconciling_ = true;
  log::info("reconciling KafkaTopics", {{"identity", options_.lease.identity}});
}

void OperatorManager::startGroups(Term& t, const std::map<std::string, ClusterTarget>& clusters,
                                  const std::vector<std::string>& namespaces) {
  // Only when the CRD is served: a 404 here means it is not installed.
  try {
    kube::ListOptions probe;
    probe.limit = 1;
    client_->list(kKafkaConsumerGroups, namespaces.front(), probe);
  } catch (const std::exception& e) {
    log::warn("KafkaConsumerGroups are not reconciled: cannot list them (is crds/kafkaconsumergroup.yaml installed?)",
              {{"error", e.what()}});
    return;
  }
  Term* tp = &t;
  ObjectStoreView store{[tp](const std::string& key) -> std::optional<nlohmann::json> {
    kube::Informer* i = tp->groupInformerFor(key);
    return i ? i->get(key) : std::nullopt;
  }};
  ConsumerGroupControllerOptions gopts;
  gopts.lagInterval = options_.lagInterval;
  gopts.statusInterval = options_.statusInterval;
  gopts.lagChangeFraction = options_.lagChangeFraction;
  gopts.partitionLagMetrics = options_.partitionLagMetrics;
  gopts.registry = registry_.get();
  t.groups = std::make_shared<ConsumerGroupController>(*client_, store, clusters, *events_, gopts);
  runtime::ControllerOptions copts;
  copts.name = "kafkaconsumergroup";
  copts.workers = options_.workers;
  copts.maxBatch = options_.maxBatch;
  copts.registry = registry_.get();
  copts.tracer = options_.tracer;
  t.groupController = std::make_unique<runtime::Controller>(std::move(copts), t.groups);
  runtime::WorkQueue& queue = t.groupController->queue();
  ConsumerGroupController& groups = *t.groups;
  kube::InformerHandlers handlers{
      [&queue](const nlohmann::json& o) { queue.add(kube::Informer::keyOf(o)); },
      [&queue](const nlohmann::json& old, const nlohmann::json& now) {
        if (runtime::reconcileWorthyUpdate(old, now)) queue.add(kube::Informer::keyOf(now));
      },
      [&groups](const nlohmann::json& last) { groups.forget(last); }};
  for (const auto& ns : namespaces) {
    kube::InformerOptions io;
    io.ns = ns;
    io.resyncPeriod = options_.resyncPeriod;
    if (!options_.stripManagedFields) io.transform = nullptr;
    t.groupInformers.push_back(std::make_unique<kube::Informer>(*client_, kKafkaConsumerGroups, io, handlers));
    t.groupsByNamespace[ns] = t.groupInformers.back().get();
  }
  t.groupController->start();
  for (auto& i : t.groupInformers) i->start();
  // The lag thread: one pass per lagInterval over every group of the store,
  // all groups of a cluster together; it queues the keys whose status moved.
  // How long a pass takes (all clusters, admin round trips included): what
  // says whether lagInterval is too short for the number of groups.
  prometheus::Histogram* passSeconds =
      &prometheus::BuildHistogram()
           .Name("tributary_operator_lag_pass_duration_seconds")
           .Help("Duration of one lag pass over every KafkaConsumerGroup")
           .Register(*registry_)
           .Add({}, prometheus::Histogram::BucketBoundaries{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
  t.lagThread = std::thread([tp, passSeconds, interval = options_.lagInterval] {
    for (;;) {
      {
        std::unique_lock lock(tp->lagMutex);
        if (tp->lagCv.wait_for(lock, interval, [tp] { return tp->lagStopping; })) return;
      }
      // One object parsed at a time, its status dropped at once: the pass reads
      // metadata and spec only (status is read per key when deciding to write),
      // and 1000 groups' statuses of 12 partitions each, parsed together, were
      // ~30 MiB of short-lived DOM on every pass — what set the operator's peak RSS.
      std::vector<nlohmann::json> objects;
      for (auto& i : tp->groupInformers)
        for (const auto& key : i->keys())
          if (auto o = i->get(key)) {
            o->erase("status");
            objects.push_back(std::move(*o));
          }
      const auto started = std::chrono::steady_clock::now();
      try {
        tp->groups->lagPass(objects, [tp](const std::string& key) { tp->groupController->queue().add(key); });
      } catch (const std::exception& e) {
        log::warn("lag pass failed", {{"error", e.what()}});
      }
      passSeconds->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
  });
  log::info("reconciling KafkaConsumerGroups", {{"lagInterval", std::to_string(options_.lagInterval.count()) + "ms"}});
}

void OperatorManager::startPipelines(Term& t, const std::map<std::string, ClusterTarget>& clusters,
                                     const std::vector<std::string>& namespaces) {
  try {
    kube::ListOptions probe;
    probe.limit = 1;
    client_->list(kKafkaPipelines, namespaces.front(), probe);
  } catch (const std::exception& e) {
    log::warn("KafkaPipelines are not reconciled: cannot list them (is crds/kafkapipeline.yaml installed?)",
              {{"error", e.what()}});
    return;
  }
  Term* tp = &t;
  ObjectStoreView store{[tp](const std::string& key) -> std::optional<nlohmann::json> {
    kube::Informer* i = tp->pipelineInformerFor(key);
    return i ? i->get(key) : std::nullopt;
  }};
  PipelineControllerOptions popts;
  popts.render.image = options_.sidecarImage;
  popts.connections = options_.clusters;
  popts.lagInterval = options_.lagInterval;
  popts.validator = options_.pipelineValidator;
  if (!popts.validator)
    popts.validator = [](const std::string& yaml) { return sidecar::pipeline::checkPipelineFile(yaml); };
  t.pipelines = std::make_shared<PipelineController>(*client_, store, clusters, *events_, popts);
  runtime::ControllerOptions copts;
  copts.name = "kafkapipeline";
  copts.workers = options_.workers;
  copts.registry = registry_.get();
  copts.tracer = options_.tracer;
  t.pipelineController = std::make_unique<runtime::Controller>(std::move(copts), t.pipelines);
  runtime::WorkQueue& queue = t.pipelineController->queue();
  PipelineController& pipelines = *t.pipelines;
  kube::InformerHandlers handlers{
      [&queue](const nlohmann::json& o) { queue.add(kube::Informer::keyOf(o)); },
      [&queue](const nlohmann::json& old, const nlohmann::json& now) {
        if (runtime::reconcileWorthyUpdate(old, now)) queue.add(kube::Informer::keyOf(now));
      },
      [&pipelines](const nlohmann::json& last) { pipelines.forget(last); }};
  // A workload's every change (its status above all) goes to its pipeline; so
  // does its deletion (someone deleted the Deployment: it is created again).
  auto toOwner = [&queue](const nlohmann::json& o) {
    if (auto key = PipelineController::ownerKeyOf(o)) queue.add(*key);
  };
  kube::InformerHandlers workloadHandlers{toOwner, [toOwner](const nlohmann::json&, const nlohmann::json& now) { toOwner(now); },
                                          toOwner};
  for (const auto& ns : namespaces) {
    kube::InformerOptions io;
    io.ns = ns;
    io.resyncPeriod = options_.resyncPeriod;
    if (!options_.stripManagedFields) io.transform = nullptr;
    t.pipelineInformers.push_back(std::make_unique<kube::Informer>(*client_, kKafkaPipelines, io, handlers));
    t.pipelinesByNamespace[ns] = t.pipelineInformers.back().get();
    // Only the operator's own workloads: labelled with the pipeline's name.
    kube::InformerOptions wo;
    wo.ns = ns;
    wo.labelSelector = pipeline::kPipelineLabel;
    for (const auto* ref : {&kDeployments, &kStatefulSets})
      t.workloadInformers.push_back(std::make_unique<kube::Informer>(*client_, *ref, wo, workloadHandlers));
  }
  t.pipelineController->start();
  for (auto& i : t.pipelineInformers) i->start();
  for (auto& i : t.workloadInformers) i->start();
  log::info("reconciling KafkaPipelines", {{"sidecarImage", options_.sidecarImage}});
}

void OperatorManager::endTerm() {
  if (!term_) return;
  reconciling_ = false;
  // The lag thread is told first and joined last: a pass waiting for Kafka
  // (at most one request timeout) overlaps the controllers' own last reconciles.
  {
    std::lock_guard lock(term_->lagMutex);
    term_->lagStopping = true;
  }
  term_->lagCv.notify_all();
  for (auto& i : term_->pipelineInformers) i->stop();
  for (auto& i : term_->workloadInformers) i->stop();
  if (term_->pipelineController) term_->pipelineController->stop();
  for (auto& i : term_->groupInformers) i->stop();
  if (term_->groupController) term_->groupController->stop();
  for (auto& i : term_->informers) i->stop();
  term_->controller->stop();  // in-flight reconciles finish
  if (term_->lagThread.joinable()) term_->lagThread.join();
  term_.reset();
  log::info("stopped reconciling", {{"identity", options_.lease.identity}});
}

void OperatorManager::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (thread_.joinable()) {
    // The term ends before the lease is released, so that two replicas never
    // reconcile at once.
    std::promise<void> ended;
    post([this, &ended] {
      endTerm();
      ended.set_value();
    });
    ended.get_future().wait();
  }
  if (elector_) elector_->stop();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    tasks_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // The controllers are gone: write what Events are queued (bounded), then stop the writer.
  events_.reset();
  metricsServer_.stop();
  probesServer_.stop();
}

}  // namespace tributary::op::controllers
