#include "sidecar/produce/kafka_producer.h"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <prometheus/gauge.h>
#include <thread>

#include "common/log/log.h"

namespace tributary::sidecar {
namespace {

ProduceError classify(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
      return ProduceError::None;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
      return ProduceError::QueueFull;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
      return ProduceError::DeliveryTimeout;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
      return ProduceError::UnknownTopic;
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      return ProduceError::UnknownPartition;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
      return ProduceError::RecordTooLarge;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
      return ProduceError::NotAuthorized;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
      return ProduceError::BrokersUnavailable;
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
      return ProduceError::ShuttingDown;
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
      return ProduceError::DeliveryTimeout;  // a request was on the wire: it may have been written
    default:
      return ProduceError::KafkaError;
  }
}

// What a delivery report needs to find its listener. A single record (the
// dead-letter writes) gets its own; a request's records share one BatchContext
// whose `slots` array gives each message a distinct opaque pointer, from which
// the record's index is its distance to the array's start.
struct MessageContext {
  std::shared_ptr<DeliveryListener> listener;
  size_t index;
};

struct BatchContext;
struct BatchSlot {
  BatchContext* batch;
};
struct BatchContext {
  std::shared_ptr<DeliveryListener> listener;
  std::unique_ptr<BatchSlot[]> slots;
  // Reports still to come, plus one held by the enqueuing thread until its loop
  // ends: whoever takes it to zero deletes the context.
  std::atomic<size_t> outstanding;

  static void release(BatchContext* b) {
    if (b->outstanding.fetch_sub(1, std::memory_order_acq_rel) == 1) delete b;
  }
};

// Distinguishes the two kinds of opaque pointer in a delivery report.
constexpr uintptr_t kBatchTag = 1;

class KafkaProducer final : public Producer {
 public:
  KafkaProducer(prometheus::Registry& registry)
      : rtt_(prometheus::BuildGauge()
                 .Name("tributary_kafka_broker_rtt_seconds")
                 .Help("Average round-trip time to each broker over the last statistics interval (librdkafka)")
                 .Register(registry)),
        outbuf_(prometheus::BuildGauge()
                    .Name("tributary_kafka_broker_outbuf_requests")
                    .Help("Requests waiting to be sent to each broker (librdkafka)")
                    .Register(registry)),
        up_(prometheus::BuildGauge()
                .Name("tributary_kafka_broker_up")
                .Help("1 when the connection to the broker is up (librdkafka)")
                .Register(registry)) {}

  bool start(const KafkaConfig& config, const std::string& bootstrap, std::string& error) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    auto set = [&](const std::string& k, const std::string& v) {
      if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
        error = "kafka.properties." + k + ": " + err;
        return false;
      }
      return true;
    };
    // Tuned for HTTP traffic: a 1 ms linger still batches the records of
    // concurrent requests into one ProduceRequest, and a synchronous request
    // waits 1 ms instead of 5 (bench/RESULTS.md: p50 at 1000 requests/s 1.5 ms
    // instead of 5.3; 1 and 16 clients 3.5x the requests/s; 64 clients and
    // batches unchanged). Users may override these.
    KafkaProperties props = {{"linger.ms", "1"},
                             {"statistics.interval.ms", "10000"},
                             {"client.id", "tributary-sidecar"}};
    for (const auto& [k, v] : config.properties) props[k] = v;
    // What Tributary's guarantees rest on (validation refuses overriding these).
    props["bootstrap.servers"] = bootstrap;
    props["enable.idempotence"] = "true";
    props["acks"] = "all";
    props["message.timeout.ms"] = std::to_string(config.deliveryTimeout.count());
    for (const auto& [k, v] : props)
      if (!set(k, v)) {
        rd_kafka_conf_destroy(conf);
        return false;
      }
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_dr_msg_cb(conf, &KafkaProducer::onDeliveryReport);
    rd_kafka_conf_set_error_cb(conf, &KafkaProducer::onError);
    rd_kafka_conf_set_stats_cb(conf, &KafkaProducer::onStats);
    rd_kafka_conf_set_log_cb(conf, &KafkaProducer::onLog);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (rk_ == nullptr) {
      rd_kafka_conf_destroy(conf);  // rd_kafka_new takes the conf only when it succeeds
      error = std::string("cannot create the Kafka producer: ") + err;
      return false;
    }
    pollThread_ = std::thread([this] { pollLoop(); });
    healthThread_ = std::thread([this] { healthLoop(); });
    return true;
  }

  ~KafkaProducer() override {
    if (rk_ == nullptr) return;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    healthThread_.join();
    // Whatever was not flushed by the owner fails now, so every listener hears once.
    rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    stopPoll_ = true;
    pollThread_.join();
    rd_kafka_flush(rk_, 1000);  // serves the purge's delivery reports
    rd_kafka_destroy(rk_);
  }

  ProduceError enqueue(const OutgoingRecord& r, std::shared_ptr<DeliveryListener> listener, size_t index,
                       std::string& message) override {
    if (brokersDown_.load(std::memory_order_relaxed)) {
      message = "all brokers are down";
      return ProduceError::BrokersUnavailable;
    }
    auto* ctx = new MessageContext{std::move(listener), index};
    rd_kafka_resp_err_t err = produce(r, ctx);
    if (err) {
      delete ctx;
      message = rd_kafka_err2str(err);
      return classify(err);
    }
    return ProduceError::None;
  }

  void enqueueAll(const std::vector<OutgoingRecord>& records, std::shared_ptr<DeliveryListener> listener,
                  std::vector<ProduceError>& refused, std::vector<std::string>& messages) override {
    refused.assign(records.size(), ProduceError::None);
    messages.assign(records.size(), std::string());
    if (brokersDown_.load(std::memory_order_relaxed)) {
      refused.assign(records.size(), ProduceError::BrokersUnavailable);
      messages.assign(records.size(), "all brokers are down");
      return;
    }
    auto* batch = new BatchContext{std::move(listener), std::make_unique<BatchSlot[]>(records.size()), {records.size() + 1}};
    for (size_t i = 0; i < records.size(); ++i) {
      batch->slots[i].batch = batch;
      // The low bit tags the pointer as a batch slot (BatchSlot is pointer-aligned).
      void* opaque = reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(&batch->slots[i]) | kBatchTag);
      if (rd_kafka_resp_err_t err = produce(records[i], opaque)) {
        refused[i] = classify(err);
        messages[i] = rd_kafka_err2str(err);
        BatchContext::release(batch);  // no report will come for this one
      }
    }
    BatchContext::release(batch);
  }

  int flush(std::chrono::milliseconds timeout) override {
    // The poll thread keeps serving delivery reports; we only wait for it to
    // report an empty queue, so listeners never run on two threads.
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return rd_kafka_outq_len(rk_) == 0; });
    return rd_kafka_outq_len(rk_);
  }

  void abandonOutstanding() override {
    rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT | RD_KAFKA_PURGE_F_NON_BLOCKING);
  }

  int queueDepth() const override { return rd_kafka_outq_len(rk_); }
  bool brokersReachable() const override { return !brokersDown_.load(); }
  bool metadataAnswered() const override { return metadataOk_.load(); }

 private:
  // rd_kafka_producev with the value copied; on failure the headers are freed
  // here and no delivery report will come.
  rd_kafka_resp_err_t produce(const OutgoingRecord& r, void* opaque) {
    rd_kafka_headers_t* headers = nullptr;
    if (!r.headers.empty()) {
      headers = rd_kafka_headers_new(r.headers.size());
      for (const auto& [name, value] : r.headers)
        rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                            static_cast<ssize_t>(value.size()));
    }
    void* key = r.key ? const_cast<char*>(r.key->data()) : nullptr;
    const size_t keyLen = r.key ? r.key->size() : 0;
    void* value = r.value ? const_cast<char*>(r.value->data()) : nullptr;
    const size_t valueLen = r.value ? r.value->size() : 0;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk_, RD_KAFKA_V_TOPIC(r.topic.c_str()), RD_KAFKA_V_PARTITION(r.partition),
        RD_KAFKA_V_KEY(key, keyLen), RD_KAFKA_V_VALUE(value, valueLen),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(opaque),
        RD_KAFKA_V_END);
    if (err && headers) rd_kafka_headers_destroy(headers);
    return err;
  }

  void pollLoop() {
    while (!stopPoll_.load()) {
      rd_kafka_poll(rk_, 50);
      if (rd_kafka_outq_len(rk_) == 0) cv_.notify_all();
    }
  }

  void healthLoop() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      const rd_kafka_metadata_t* md = nullptr;
      rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 0, nullptr, &md, 5000);
      if (md) rd_kafka_metadata_destroy(md);
      const bool ok = err == RD_KAFKA_RESP_ERR_NO_ERROR;
      if (ok != metadataOk_.load()) log::info(ok ? "Kafka brokers answer" : "Kafka brokers do not answer",
                                             {{"error", ok ? "" : rd_kafka_err2str(err)}});
      metadataOk_ = ok;
      if (ok) brokersDown_ = false;  // set only by librdkafka's ALL_BROKERS_DOWN
      lock.lock();
      cv_.wait_for(lock, std::chrono::seconds(2), [&] { return stopping_; });
    }
  }

  static void onDeliveryReport(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<KafkaProducer*>(opaque);
    DeliveryReport report;
    report.error = classify(m->err);
    report.partition = m->partition;
    report.offset = m->offset;
    if (m->err) report.message = rd_kafka_err2str(m->err);
    else self->brokersDown_.store(false, std::memory_order_relaxed);
    const auto tagged = reinterpret_cast<uintptr_t>(m->_private);
    if (tagged & kBatchTag) {
      auto* slot = reinterpret_cast<BatchSlot*>(tagged & ~kBatchTag);
      BatchContext* batch = slot->batch;
      batch->listener->onDelivery(static_cast<size_t>(slot - batch->slots.get()), std::move(report));
      BatchContext::release(batch);
      return;
    }
    std::unique_ptr<MessageContext> ctx(static_cast<MessageContext*>(m->_private));
    ctx->listener->onDelivery(ctx->index, std::move(report));
  }

  static void onError(rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaProducer*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) self->brokersDown_ = true;
    log::warn("Kafka client error", {{"error", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))},
                                     {"reason", reason}});
  }

  static void onLog(const rd_kafka_t*, int level, const char* fac, const char* buf) {
    log::write(level <= 3 ? log::Level::Error : level <= 5 ? log::Level::Warn : log::Level::Debug, buf,
               {{"component", "librdkafka"}, {"facility", fac}});
  }

  static int onStats(rd_kafka_t*, char* json, size_t len, void* opaque) {
    auto* self = static_cast<KafkaProducer*>(opaque);
    auto stats = nlohmann::json::parse(json, json + len, nullptr, false);
    if (stats.is_discarded() || !stats.contains("brokers")) return 0;
    for (const auto& [name, b] : stats["brokers"].items()) {
      if (b.value("nodeid", -1) < 0) continue;  // bootstrap placeholders
      prometheus::Labels labels{{"broker", b.value("nodename", name)}, {"id", std::to_string(b.value("nodeid", -1))}};
      self->rtt_.Add(labels).Set(b["rtt"].value("avg", 0) / 1e6);
      self->outbuf_.Add(labels).Set(b.value("outbuf_cnt", 0));
      self->up_.Add(labels).Set(b.value("state", "") == "UP" ? 1 : 0);
    }
    return 0;  // librdkafka frees the buffer
  }

  rd_kafka_t* rk_ = nullptr;
  std::thread pollThread_;
  std::thread healthThread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mutex_
  std::atomic<bool> stopPoll_{false};
  std::atomic<bool> brokersDown_{false};
  std::atomic<bool> metadataOk_{false};
  prometheus::Family<prometheus::Gauge>& rtt_;
  prometheus::Family<prometheus::Gauge>& outbuf_;
  prometheus::Family<prometheus::Gauge>& up_;
};

}  // namespace

std::unique_ptr<Producer> makeKafkaProducer(const KafkaConfig& config, const std::string& bootstrapServers,
                                            prometheus::Registry& registry, std::string& error) {
  auto p = std::make_unique<KafkaProducer>(registry);
  if (!p->start(config, bootstrapServers, error)) return nullptr;
  return p;
}

}  // namespace tributary::sidecar
