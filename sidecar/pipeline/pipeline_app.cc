#include "sidecar/pipeline/pipeline_app.h"

#include <algorithm>
#include <atomic>
#include <future>
#include <thread>
#include <mutex>
#include <nlohmann/json.hpp>

#include "common/http/http_server.h"
#include "common/kafka/embedded_cluster.h"
#include "common/log/log.h"
#include "common/metrics/exposition.h"
#include "common/metrics/process_collector.h"
#include "sidecar/consume/kafka_consumer.h"
#include "sidecar/consume/subscription_runner.h"
#include "sidecar/pipeline/exactly_once_runner.h"
#include "sidecar/pipeline/jq_executor.h"
#include "sidecar/pipeline/pipeline_deliverer.h"
#include "sidecar/pipeline/pipeline_metrics.h"
#include "sidecar/pipeline/sink.h"
#include "sidecar/produce/kafka_producer.h"

namespace tributary::sidecar::pipeline {
namespace {

ListenerLimits adminLimits() {
  ListenerLimits l;
  l.maxConnections = 256;
  return l;
}

std::vector<std::string> sinkNames(const PipelineConfig& c) {
  std::vector<std::string> names;
  for (const auto& [name, sink] : c.sinks) names.push_back(name);
  return names;
}

class PipelineAppImpl final : public PipelineApp {
 public:
  PipelineAppImpl(const PipelineConfig& config, std::function<void()> onFatal)
      : config_(config),
        onFatal_(std::move(onFatal)),
        pipelineMetrics_(*metrics_.registry, config.name, config.steps.size(), sinkNames(config)),
        admin_(4, 64 * 1024, adminLimits()) {}

  ~PipelineAppImpl() override { shutdown(); }

  bool start(std::string& error) {
    const KafkaConfig& kafka = config_.runtime.kafka;
    if (config_.runtime.embeddedKafka()) {
      try {
        embedded_ = std::make_unique<EmbeddedKafka>(3);
      } catch (const std::exception& e) {
        error = e.what();
        return false;
      }
      bootstrap_ = embedded_->bootstrapServers();
      log::info("started the embedded Kafka cluster (dev mode: 3 brokers, topics auto-created)",
                {{"bootstrapServers", bootstrap_}});
    } else {
      bootstrap_ = kafka.bootstrapServers;
    }

    auto compiled = Steps::compile(jq_, config_.steps, config_.defaultSink);
    if (auto* errors = std::get_if<std::vector<std::string>>(&compiled)) {
      error = "the pipeline's steps do not compile:";
      for (const auto& e : *errors) error += "\n  - " + e;
      return false;
    }
    steps_ = std::make_unique<Steps>(std::move(std::get<Steps>(compiled)));

    producer_ = makeKafkaProducer(kafka, bootstrap_, *metrics_.registry, error);
    if (!producer_) return false;
    if (config_.processing == PipelineConfig::Processing::ExactlyOnce) {
      if (!startExactlyOnce(error)) return false;
      return startAdmin(error);
    }
    const std::string firstBroker = bootstrap_.substr(0, bootstrap_.find(','));
    std::map<std::string, std::unique_ptr<Sink>> sinks;
    for (const auto& [name, sink] : config_.sinks) {
      if (sink.kind == SinkConfig::Kind::Http) {
        sinks[name] = makeHttpSink(sink, std::min(config_.maxInFlight, 16), "kafka://" + firstBroker);
        continue;
      }
      Producer* producer = producer_.get();
      if (!sink.cluster.empty()) {
        auto& other = clusterProducers_[sink.cluster];
        if (!other) {
          const ClusterConfig& cluster = config_.clusters.at(sink.cluster);
          KafkaConfig k;
          k.bootstrapServers = cluster.bootstrapServers;
          k.properties = cluster.properties;
          k.deliveryTimeout = kafka.deliveryTimeout;
          // Its librdkafka statistics would share the main producer's series.
          other = makeKafkaProducer(k, k.bootstrapServers, unexportedRegistry_, error);
          if (!other) {
            error = "clusters." + sink.cluster + ": " + error;
            return false;
          }
        }
        producer = other.get();
      }
      sinks[name] = makeTopicSink(*producer, sink.topic);
    }
    deliverer_ = std::make_unique<PipelineDeliverer>(*steps_, std::move(sinks), pipelineMetrics_);

    const SubscriptionConfig sub = config_.subscription();
    const std::string bootstrap = bootstrap_;
    runner_ = std::make_unique<SubscriptionRunner>(
        sub,
        [kafka, bootstrap, sub, metrics = &metrics_](RebalanceListener& l, std::string& err) {
          return makeKafkaConsumer(kafka, bootstrap, sub, l, err, metrics);
        },
        *deliverer_, *producer_, metrics_);
    if (!runner_->start(error)) return false;
    return startAdmin(error);
  }

  bool startAdmin(std::string& error) {
    installAdminRoutes();
    if (!admin_.bind(config_.runtime.admin.listen, error)) return false;
    admin_.start();
    log::info("pipeline running",
              {{"pipeline", config_.name},
               {"processing", config_.processing == PipelineConfig::Processing::ExactlyOnce ? "exactlyOnce" : "atLeastOnce"},
               {"steps", std::to_string(config_.steps.size())},
               {"sinks", std::to_string(config_.sinks.size())},
               {"admin", config_.runtime.admin.listen.host + ":" + std::to_string(admin_.port())},
               {"bootstrapServers", bootstrap_}});
    started_ = true;
    return true;
  }

  // processing: exactlyOnce — the transactional loop instead of the subscription engine.
  bool startExactlyOnce(std::string& error) {
    ExactlyOnceOptions o;
    o.pipeline = config_.name;
    o.topics = config_.topics;
    o.group = config_.group;
    o.startFrom = config_.startFrom == SubscriptionConfig::StartFrom::Earliest ? ExactlyOnceOptions::StartFrom::Earliest
                                                                               : ExactlyOnceOptions::StartFrom::Latest;
    o.transactionalId = config_.transactionalId;
    o.bootstrapServers = bootstrap_;
    o.properties = config_.runtime.kafka.properties;
    for (const auto& [name, sink] : config_.sinks) o.sinkTopics[name] = sink.topic;
    o.deadLetterTopic = config_.deadLetterTopic;
    ExactlyOnceMetrics m;
    m.transactionsCommitted = &pipelineMetrics_.transactionsCommitted;
    m.transactionsAborted = &pipelineMetrics_.transactionsAborted;
    m.recordsOutBySink = pipelineMetrics_.recordsOut;
    m.deadLettered = &metrics_.deadLetters.Add({{"subscription", config_.name}, {"topic", config_.topics.front()}});
    // A batch's steps in one hand-over to the jq thread. Records in, filtered
    // and step errors count per attempt, as at-least-once counts them.
    Steps* steps = steps_.get();
    PipelineMetrics* pm = &pipelineMetrics_;
    auto process = [steps, pm](const std::vector<PipelineRecord>& batch) {
      std::vector<Steps::Result> results;
      results.reserve(batch.size());
      std::promise<void> done;
      auto finished = done.get_future();
      steps->executor().execute([&] {
        for (const auto& record : batch) {
          results.push_back(steps->processHere(record));
          pm->recordsIn.Increment();
          if (auto* failure = std::get_if<StepFailure>(&results.back()))
            pm->stepErrors[std::min(failure->step, pm->stepErrors.size() - 1)]->Increment();
          else if (std::get<std::vector<StepOutput>>(results.back()).empty())
            pm->recordsFiltered.Increment();
        }
        done.set_value();
      });
      finished.get();
      return results;
    };
    eos_ = std::make_unique<ExactlyOnceRunner>(std::move(o), BatchProcessFn(process), std::move(m));
    if (!eos_->start(error)) return false;
    // Fenced by another instance, or a fatal error: the process must exit
    // non-zero (the pod restarts); a stop() of ours ends it as Stopped.
    eosWatcher_ = std::thread([this] {
      eos_->waitUntilEnded(std::chrono::hours(24 * 365 * 100));
      const auto st = eos_->status();
      if (st.state == ExactlyOnceStatus::State::Fenced || st.state == ExactlyOnceStatus::State::Failed) {
        {
          std::lock_guard lock(fatalMutex_);
          fatal_ = std::string(stateName(st.state)) + ": " + st.error;
        }
        log::error("exactly-once pipeline ended", {{"pipeline", config_.name}, {"state", stateName(st.state)},
                                                   {"error", st.error}});
        if (onFatal_) onFatal_();
      }
    });
    return true;
  }

  int adminPort() const override { return admin_.port(); }
  const std::string& bootstrapServers() const override { return bootstrap_; }
  SidecarMetrics& metrics() override { return metrics_; }
  bool ready() const override {
    return !shutDown_.load() && producer_ && producer_->metadataAnswered() && joined();
  }
  bool joined() const { return (runner_ && runner_->joined()) || (eos_ && eos_->ready()); }
  std::string fatalError() const override {
    std::lock_guard lock(fatalMutex_);
    return fatal_;
  }

  int shutdown() override {
    if (shutDown_.exchange(true)) return unflushed_;
    if (!started_) {
      if (eos_) eos_->stop(std::chrono::milliseconds(0));
      if (eosWatcher_.joinable()) eosWatcher_.join();
      eos_.reset();
      runner_.reset();
      deliverer_.reset();
      return 0;
    }
    const auto deadline = std::chrono::steady_clock::now() + config_.runtime.shutdown.gracePeriod;
    auto left = [&] {
      return std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                        deadline - std::chrono::steady_clock::now()));
    };
    log::info("shutting down the pipeline: finishing what is in flight, committing what is settled",
              {{"pipeline", config_.name},
               {"gracePeriod", std::to_string(config_.runtime.shutdown.gracePeriod.count()) + "ms"}});
    if (runner_) runner_->stop(left());
    if (eos_) eos_->stop(left());  // finishes and commits the open transaction, or aborts it
    if (eosWatcher_.joinable()) eosWatcher_.join();
    unflushed_ = producer_->flush(left());
    for (auto& [name, p] : clusterProducers_) unflushed_ += p->flush(left());
    if (unflushed_ > 0) {
      producer_->abandonOutstanding();
      for (auto& [name, p] : clusterProducers_) p->abandonOutstanding();
      log::warn("grace period over with outputs unacknowledged; their source records were not committed and "
                "will be processed again",
                {{"records", std::to_string(unflushed_)}});
    }
    runner_.reset();
    eos_.reset();
    deliverer_.reset();
    admin_.stop();
    log::info("shutdown complete");
    return unflushed_;
  }

 private:
  void installAdminRoutes() {
    auto& s = admin_.routes();
    s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      metrics_.producerQueue.Set(producer_->queueDepth());
      res.set_content(renderMetrics({metrics_.registry, processCollector_}), kPrometheusContentType);
    });
    s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok"})", "application/json");
    });
    s.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
      const bool brokers = producer_->metadataAnswered();
      const bool joined = this->joined();
      nlohmann::json checks{{"brokers", brokers ? "ok" : "no broker answered a metadata request"},
                            {"pipeline:" + config_.name, joined ? "ok" : "not yet joined its consumer group"},
                            {"shutdown", shutDown_.load() ? "shutting down" : "ok"}};
      const bool ok = brokers && joined && !shutDown_.load();
      res.status = ok ? 200 : 503;
      res.set_content(nlohmann::json{{"ready", ok}, {"checks", checks}}.dump(), "application/json");
    });
  }

  const PipelineConfig config_;
  std::function<void()> onFatal_;
  // Declared in dependency order: destroyed in reverse, Kafka last.
  std::unique_ptr<EmbeddedKafka> embedded_;
  std::string bootstrap_;
  SidecarMetrics metrics_;
  PipelineMetrics pipelineMetrics_;
  prometheus::Registry unexportedRegistry_;
  std::shared_ptr<ProcessCollector> processCollector_ = std::make_shared<ProcessCollector>();
  std::unique_ptr<Producer> producer_;
  std::map<std::string, std::unique_ptr<Producer>> clusterProducers_;
  JqExecutor jq_;
  std::unique_ptr<Steps> steps_;
  std::unique_ptr<PipelineDeliverer> deliverer_;
  std::unique_ptr<SubscriptionRunner> runner_;  // atLeastOnce
  std::unique_ptr<ExactlyOnceRunner> eos_;       // exactlyOnce
  std::thread eosWatcher_;                       // calls onFatal_ when eos_ ends Fenced or Failed
  HttpServer admin_;
  std::atomic<bool> shutDown_{false};
  std::atomic<bool> started_{false};
  int unflushed_ = 0;
  mutable std::mutex fatalMutex_;
  std::string fatal_;  // guarded by fatalMutex_
};

}  // namespace

std::unique_ptr<PipelineApp> PipelineApp::start(const PipelineConfig& config, std::function<void()> onFatal,
                                                std::string& error) {
  auto app = std::make_unique<PipelineAppImpl>(config, std::move(onFatal));
  if (!app->start(error)) return nullptr;
  return app;
}

}  // namespace tributary::sidecar::pipeline
