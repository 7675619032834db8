#include "sidecar/consume/kafka_consumer.h"

#include <librdkafka/rdkafka.h>

#include "common/log/log.h"

namespace tributary::sidecar {
namespace {

std::vector<TopicPartition> toVector(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  for (int i = 0; list && i < list->cnt; ++i) out.push_back({list->elems[i].topic, list->elems[i].partition});
  return out;
}

rd_kafka_topic_partition_list_t* toList(const std::vector<TopicPartition>& tps) {
  auto* list = rd_kafka_topic_partition_list_new(static_cast<int>(tps.size()));
  for (const auto& tp : tps) rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition);
  return list;
}

class KafkaConsumer final : public Consumer {
 public:
  explicit KafkaConsumer(RebalanceListener& listener) : listener_(listener) {}

  bool start(const KafkaConfig& kafka, const std::string& bootstrap, const SubscriptionConfig& sub,
             std::string& error) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    KafkaProperties props;
    // Producer-only properties in kafka.properties must not break the consumer.
    for (const auto& [k, v] : kafka.properties) {
      if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
        log::warn("kafka property not applied to the consumer", {{"property", k}, {"error", err}});
    }
    props["bootstrap.servers"] = bootstrap;
    props["group.id"] = sub.group;
    props["client.id"] = "tributary-sidecar-" + sub.name;
    props["enable.auto.commit"] = "false";
    props["enable.auto.offset.store"] = "false";
    props["auto.offset.reset"] = sub.startFrom == SubscriptionConfig::StartFrom::Earliest ? "earliest" : "latest";
    for (const auto& [k, v] : props) {
      if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
        error = "subscription " + sub.name + ": " + k + ": " + err;
        rd_kafka_conf_destroy(conf);
        return false;
      }
    }
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_rebalance_cb(conf, &KafkaConsumer::onRebalance);
    rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk_) {
      error = "subscription " + sub.name + ": cannot create the Kafka consumer: " + err;
      return false;
    }
    rd_kafka_poll_set_consumer(rk_);
    queue_ = rd_kafka_queue_get_consumer(rk_);
    auto* topics = rd_kafka_topic_partition_list_new(static_cast<int>(sub.topics.size()));
    for (const auto& t : sub.topics) rd_kafka_topic_partition_list_add(topics, t.c_str(), RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk_, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
      error = "subscription " + sub.name + ": subscribe failed: " + rd_kafka_err2str(e);
      return false;
    }
    return true;
  }

  ~KafkaConsumer() override {
    if (!rk_) return;
    close();
    rd_kafka_queue_destroy(queue_);
    rd_kafka_destroy(rk_);
  }

  std::optional<ConsumedRecord> poll(std::chrono::milliseconds timeout) override {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, static_cast<int>(timeout.count()));
    if (!m) return std::nullopt;
    std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> guard(m, rd_kafka_message_destroy);
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        log::warn("consume error", {{"error", rd_kafka_message_errstr(m)}});
      return std::nullopt;
    }
    ConsumedRecord r;
    r.tp = {rd_kafka_topic_name(m->rkt), m->partition};
    r.offset = m->offset;
    r.timestampMs = rd_kafka_message_timestamp(m, nullptr);
    if (m->key) r.key = std::string(static_cast<const char*>(m->key), m->key_len);
    if (m->payload) r.value = std::string(static_cast<const char*>(m->payload), m->len);
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name;
      const void* val;
      size_t size;
      for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
        r.headers.emplace_back(name, val ? std::string(static_cast<const char*>(val), size) : std::string());
    }
    return r;
  }

  void pause(const std::vector<TopicPartition>& tps) override {
    auto* list = toList(tps);
    rd_kafka_pause_partitions(rk_, list);
    rd_kafka_topic_partition_list_destroy(list);
  }

  void resume(const std::vector<TopicPartition>& tps) override {
    auto* list = toList(tps);
    rd_kafka_resume_partitions(rk_, list);
    rd_kafka_topic_partition_list_destroy(list);
  }

  bool commit(const std::map<TopicPartition, int64_t>& offsets, std::string& error) override {
    if (offsets.empty()) return true;
    auto* list = rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size()));
    for (const auto& [tp, off] : offsets) rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition)->offset = off;
    rd_kafka_resp_err_t e = rd_kafka_commit(rk_, list, 0);
    rd_kafka_topic_partition_list_destroy(list);
    if (e) error = rd_kafka_err2str(e);
    return e == RD_KAFKA_RESP_ERR_NO_ERROR;
  }

  std::optional<int64_t> highWatermark(const TopicPartition& tp) override {
    int64_t low = -1, high = -1;
    if (rd_kafka_get_watermark_offsets(rk_, tp.topic.c_str(), tp.partition, &low, &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        high < 0)
      return std::nullopt;
    return high;
  }

  std::optional<int64_t> position(const TopicPartition& tp) override {
    auto* list = toList({tp});
    std::optional<int64_t> out;
    if (rd_kafka_position(rk_, list) == RD_KAFKA_RESP_ERR_NO_ERROR && list->elems[0].offset >= 0)
      out = list->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(list);
    return out;
  }

  void wakeup() override { rd_kafka_queue_yield(queue_); }

  void close() override {
    if (closed_) return;
    closed_ = true;
    rd_kafka_consumer_close(rk_);
  }

 private:
  static void onRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                          void* opaque) {
    auto* self = static_cast<KafkaConsumer*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      rd_kafka_assign(rk, parts);
      self->listener_.onAssigned(toVector(parts));
    } else {
      self->listener_.onRevoked(toVector(parts));
      rd_kafka_assign(rk, nullptr);
    }
  }

  RebalanceListener& listener_;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_queue_t* queue_ = nullptr;
  bool closed_ = false;
};

}  // namespace

std::unique_ptr<Consumer> makeKafkaConsumer(const KafkaConfig& kafka, const std::string& bootstrapServers,
                                            const SubscriptionConfig& subscription, RebalanceListener& listener,
                                            std::string& error) {
  auto c = std::make_unique<KafkaConsumer>(listener);
  if (!c->start(kafka, bootstrapServers, subscription, error)) return nullptr;
  return c;
}

}  // namespace tributary::sidecar
