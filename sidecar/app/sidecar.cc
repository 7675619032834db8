#include "sidecar/app/sidecar.h"

#include <atomic>
#include <nlohmann/json.hpp>

#include "common/http/http_server.h"
#include "common/kafka/embedded_cluster.h"
#include "common/log/log.h"
#include "common/metrics/exposition.h"
#include "common/metrics/process_collector.h"
#include "common/tracing/otlp_http_exporter.h"
#include "common/tracing/tracer.h"
#include "sidecar/api/api_routes.h"
#include "sidecar/consume/deliverer.h"
#include "sidecar/consume/kafka_consumer.h"
#include "sidecar/consume/lease_broker.h"
#include "sidecar/consume/subscription_runner.h"
#include "sidecar/consume/tracing_deliverer.h"
#include "sidecar/produce/kafka_producer.h"
#include "sidecar/produce/produce_service.h"

namespace tributary::sidecar {
namespace {

// What the listeners guarantee (sidecar/README.md, "Listeners").
ListenerLimits apiLimits(const ApiConfig& api) {
  ListenerLimits l;
  l.maxConnections = 1024;
  l.maxInflightBytes = api.maxInflightBytes;
  l.priorityPaths = {};  // no probes on the API listener
  return l;
}
ListenerLimits adminLimits() {
  ListenerLimits l;
  l.maxConnections = 256;  // 0.0.0.0: any pod can reach it
  return l;
}

class SidecarImpl final : public Sidecar {
 public:
  explicit SidecarImpl(const SidecarConfig& config)
      : config_(config),
        api_(static_cast<size_t>(config.api.workerThreads), config.api.maxBodyBytes, apiLimits(config.api)),
        admin_(4, 64 * 1024, adminLimits()) {}

  ~SidecarImpl() override { shutdown(); }

  bool start(std::string& error) {
    if (config_.embeddedKafka()) {
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
      bootstrap_ = config_.kafka.bootstrapServers;
    }
    producer_ = makeKafkaProducer(config_.kafka, bootstrap_, *metrics_.registry, error);
    if (!producer_) return false;
    if (config_.tracing.spansEnabled()) {
      tracing::TracerOptions options;
      options.serviceName = config_.tracing.serviceName;
      options.samplingRatio = config_.tracing.samplingRatio;
      tracer_ = std::make_unique<tracing::Tracer>(
          options, tracing::makeOtlpHttpExporter(config_.tracing, config_.tracing.serviceName), metrics_.registry.get());
      log::info("exporting spans over OTLP/HTTP",
                {{"url", tracing::redactedUrl(tracing::otlpTracesUrl(config_.tracing.otlpEndpoint))},
                 {"samplingRatio", std::to_string(config_.tracing.samplingRatio)}});
    }
    service_ = std::make_unique<ProduceService>(*producer_, metrics_, config_.kafka.deliveryTimeout, tracer_.get());

    for (const auto& sub : config_.subscriptions) {
      auto parts = std::make_unique<Subscription>();
      const std::string firstBroker = bootstrap_.substr(0, bootstrap_.find(','));
      // Each push worker keeps one connection to the app: `connections`, by
      // default enough for maxInFlight but at most 16, so that an app with a
      // small thread pool is not flooded with connections it cannot serve.
      if (sub.mode == SubscriptionConfig::Mode::Pull) {
        using O = SubscriptionConfig::Ordering;
        auto broker = std::make_unique<LeaseBroker>(sub.name, sub.ackTimeout,
                                                    sub.ordering == O::Partition ? LeaseBroker::Ordering::Partition
                                                    : sub.ordering == O::Key     ? LeaseBroker::Ordering::Key
                                                                                 : LeaseBroker::Ordering::None);
        parts->leases = broker.get();
        pull_[sub.name] = broker.get();
        parts->deliverer = std::move(broker);
      } else {
        parts->deliverer = makeHttpPushDeliverer(sub.endpoint, sub.timeout, sub.pushConnections(),
                                                 "kafka://" + firstBroker, sub.batchSize);
      }
      if (tracer_) parts->traced = makeTracingDeliverer(*parts->deliverer, *tracer_, sub);
      const KafkaConfig kafka = config_.kafka;
      const std::string bootstrap = bootstrap_;
      parts->runner = std::make_unique<SubscriptionRunner>(
          sub,
          [kafka, bootstrap, sub, metrics = &metrics_](RebalanceListener& l, std::string& err) {
            return makeKafkaConsumer(kafka, bootstrap, sub, l, err, metrics);
          },
          parts->traced ? *parts->traced : *parts->deliverer, *producer_, metrics_);
      if (!parts->runner->start(error)) return false;
      subscriptions_.push_back(std::move(parts));
    }

    installApiRoutes(api_, config_.api, config_.kafka.deliveryTimeout, *service_,
                     {config_.embeddedKafka(), bootstrap_, [this] { return subscriptionsJson(); }, pullSubscriptions()});
    installAdminRoutes();
    if (!api_.bind(config_.api.listen, error)) return false;
    if (!admin_.bind(config_.admin.listen, error)) return false;
    api_.start();
    admin_.start();
    log::info("sidecar listening", {{"api", config_.api.listen.host + ":" + std::to_string(api_.port())},
                                    {"admin", config_.admin.listen.host + ":" + std::to_string(admin_.port())},
                                    {"bootstrapServers", bootstrap_}});
    return true;
  }

  int apiPort() const override { return api_.port(); }
  int adminPort() const override { return admin_.port(); }
  const std::string& bootstrapServers() const override { return bootstrap_; }
  SidecarMetrics& metrics() override { return metrics_; }

  int shutdown() override {
    if (shutDown_.exchange(true)) return unflushed_;
    if (!service_) return 0;  // never started
    const auto deadline = std::chrono::steady_clock::now() + config_.shutdown.gracePeriod;
    auto left = [&] {
      return std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                        deadline - std::chrono::steady_clock::now()));
    };
    log::info("shutting down: refusing new produce requests, flushing the producer",
              {{"gracePeriod", std::to_string(config_.shutdown.gracePeriod.count()) + "ms"},
               {"queued", std::to_string(producer_->queueDepth())}});
    service_->stopAccepting();
    for (auto& [name, broker] : pull_) broker->close();  // waiting polls answer 503 now
    // Subscriptions first: their dead-letter writes go through the producer.
    for (auto& s : subscriptions_) s->runner->stop(left());
    unflushed_ = producer_->flush(left());
    if (unflushed_ > 0) {
      // Grace is over: fail what is left so that every waiting request answers
      // (503 / 504, never 200) and the process exits within the grace period.
      producer_->abandonOutstanding();
    }
    // Requests now write their answers; the delivery reports of abandoned
    // records arrive at once, so this wait is short.
    service_->waitIdle(std::max(left(), std::chrono::milliseconds(2000)));
    api_.stop();
    subscriptions_.clear();
    // The last spans (those of the requests and deliveries just finished), within what is left of the grace period.
    if (tracer_ && !tracer_->flush(left())) log::warn("grace period over before every span was exported");
    admin_.stop();
    if (unflushed_ > 0)
      log::warn("grace period over with records unacknowledged; their requests were answered with an error",
                {{"records", std::to_string(unflushed_)}});
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
      nlohmann::json checks{{"brokers", producer_->metadataAnswered() ? "ok" : "no broker answered a metadata request"},
                            {"shutdown", shutDown_.load() ? "shutting down" : "ok"}};
      bool ready = producer_->metadataAnswered() && !shutDown_.load();
      for (size_t i = 0; i < subscriptions_.size(); ++i) {
        const bool joined = subscriptions_[i]->runner->joined();
        checks["subscription:" + config_.subscriptions[i].name] = joined ? "ok" : "not yet joined its consumer group";
        ready = ready && joined;
      }
      res.status = ready ? 200 : 503;
      res.set_content(nlohmann::json{{"ready", ready}, {"checks", checks}}.dump(), "application/json");
    });
  }

  PullSubscriptions pullSubscriptions() const {
    PullSubscriptions p;
    p.brokers = pull_;
    for (const auto& c : config_.subscriptions)
      if (c.mode == SubscriptionConfig::Mode::Push) p.push.insert(c.name);
    return p;
  }

  std::string subscriptionsJson() const {
    static const char* kOrdering[] = {"partition", "key", "none"};
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < subscriptions_.size(); ++i) {
      const auto& c = config_.subscriptions[i];
      const auto st = subscriptions_[i]->runner->status();
      nlohmann::json parts = nlohmann::json::array();
      for (const auto& p : st.partitions) {
        parts.push_back({{"topic", p.tp.topic},
                         {"partition", p.tp.partition},
                         {"lag", p.lag ? nlohmann::json(*p.lag) : nlohmann::json(nullptr)},
                         {"unsettled", p.unsettled},
                         {"paused", p.paused}});
      }
      nlohmann::json one{{"name", c.name},
                         {"mode", c.mode == SubscriptionConfig::Mode::Pull ? "pull" : "push"},
                         {"group", c.group},
                         {"topics", c.topics},
                         {"ordering", kOrdering[static_cast<int>(c.ordering)]},
                         {"state", st.stopped ? "stopped" : st.joined ? "running" : "joining"},
                         {"assignment", parts}};
      if (const LeaseBroker* leases = subscriptions_[i]->leases) {
        one["ready"] = leases->readyCount();
        one["leased"] = leases->leasedCount();
      } else {
        one["endpoint"] = c.endpoint;
      }
      out.push_back(std::move(one));
    }
    return nlohmann::json{{"subscriptions", out}}.dump();
  }

  const SidecarConfig config_;
  // Declared in dependency order: destroyed in reverse, Kafka last.
  std::unique_ptr<EmbeddedKafka> embedded_;
  std::string bootstrap_;
  SidecarMetrics metrics_;
  std::shared_ptr<ProcessCollector> processCollector_ = std::make_shared<ProcessCollector>();
  std::unique_ptr<tracing::Tracer> tracer_;  // spans enabled: tracing.otlpEndpoint is set
  std::unique_ptr<Producer> producer_;
  std::unique_ptr<ProduceService> service_;
  // The deliverer is declared after the runner, so it is destroyed first: its
  // last callbacks still find the runner.
  struct Subscription {
    std::unique_ptr<SubscriptionRunner> runner;
    std::unique_ptr<Deliverer> traced;  // wraps `deliverer` when spans are exported
    std::unique_ptr<Deliverer> deliverer;
    LeaseBroker* leases = nullptr;  // the deliverer, for pull subscriptions
  };
  std::map<std::string, LeaseBroker*> pull_;  // pull subscriptions by name
  std::vector<std::unique_ptr<Subscription>> subscriptions_;
  HttpServer api_;
  HttpServer admin_;
  std::atomic<bool> shutDown_{false};
  int unflushed_ = 0;
};

}  // namespace

std::unique_ptr<Sidecar> Sidecar::start(const SidecarConfig& config, std::string& error) {
  auto s = std::make_unique<SidecarImpl>(config);
  if (!s->start(error)) return nullptr;
  return s;
}

}  // namespace tributary::sidecar
