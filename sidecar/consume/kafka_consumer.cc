#include "sidecar/consume/kafka_consumer.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

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

// librdkafka's prefetch (the consumer queue of fetched, not yet polled
// records) is bounded by these unless kafka.properties sets them. librdkafka
// 2.0.2's defaults (100 000 records, 64 MiB per consumer) would let every
// subscription hold up to 64 MiB besides the runner's own buffer. 4 MiB (may be
// overshot by one fetch response, fetch.message.max.bytes per partition) is a
// few fetch responses: all a runner that polls continuously needs, and the
// bench drains no slower with it than with 64 MiB (bench/RESULTS.md).
constexpr const char* kQueuedMinMessages = "20000";
constexpr const char* kQueuedMaxKbytes = "4096";
// How long a broker may hold a fetch that finds no new data. Apache Kafka
// answers as soon as data arrives, so on a real cluster this only sets how
// often an idle partition is asked again (10×/s per broker instead of 2×/s);
// but librdkafka keeps one fetch per broker outstanding, and a partition
// resumed after backpressure, or a broker that holds fetches for the full wait
// (the embedded dev-mode cluster does), waits for it: 500 ms (librdkafka's
// default) put p50 delivery latency at ~280 ms and halved drain throughput
// in bench/RESULTS.md; 100 ms gives ~60 ms and 2×.
constexpr const char* kFetchWaitMaxMs = "100";

// librdkafka's statistics as gauges of one subscription. Runs on the
// subscription's thread (statistics are served from consumer poll), the
// destructor on whichever thread destroys the consumer (prometheus-cpp's
// families are thread-safe).
class ConsumerStatistics {
 public:
  ConsumerStatistics(SidecarMetrics& m, std::string subscription) : m_(m), subscription_(std::move(subscription)) {}
  ~ConsumerStatistics() {
    for (auto& [key, g] : series_) key.family->Remove(g);
  }

  void update(const char* json, size_t len) {
    auto stats = nlohmann::json::parse(json, json + len, nullptr, false);
    if (stats.is_discarded()) return;
    std::map<Key, prometheus::Gauge*> seen;
    auto set = [&](prometheus::Family<prometheus::Gauge>& family, prometheus::Labels labels, double value) {
      labels["subscription"] = subscription_;
      Key key{&family, labels};
      auto it = series_.find(key);
      prometheus::Gauge* g = it != series_.end() ? it->second : &family.Add(labels);
      g->Set(value);
      seen[key] = g;
    };
    if (auto b = stats.find("brokers"); b != stats.end() && b->is_object())
      for (const auto& [name, broker] : b->items()) {
        if (broker.value("nodeid", -1) < 0) continue;  // bootstrap placeholders
        prometheus::Labels labels{{"broker", broker.value("nodename", name)},
                                  {"id", std::to_string(broker.value("nodeid", -1))}};
        if (broker.contains("rtt")) set(m_.consumerBrokerRtt, labels, broker["rtt"].value("avg", 0) / 1e6);
        set(m_.consumerBrokerUp, labels, broker.value("state", "") == "UP" ? 1 : 0);
      }
    if (auto t = stats.find("topics"); t != stats.end() && t->is_object())
      for (const auto& [topic, ts] : t->items()) {
        if (!ts.contains("partitions") || !ts["partitions"].is_object()) continue;
        for (const auto& [_, p] : ts["partitions"].items()) {
          const int partition = p.value("partition", -1);
          // Only partitions this member fetches; -1 is librdkafka's internal UA partition.
          if (partition < 0 || p.value("fetch_state", "none") == "none") continue;
          prometheus::Labels labels{{"topic", topic}, {"partition", std::to_string(partition)}};
          set(m_.consumerFetchQueueMessages, labels, static_cast<double>(p.value("fetchq_cnt", int64_t{0})));
          set(m_.consumerFetchQueueBytes, labels, static_cast<double>(p.value("fetchq_size", int64_t{0})));
          // -1 until there is a committed offset and a known end of the partition.
          if (const int64_t lag = p.value("consumer_lag", int64_t{-1}); lag >= 0)
            set(m_.consumerCommittedLag, labels, static_cast<double>(lag));
        }
      }
    // Series of partitions and brokers this consumer no longer has go.
    for (auto& [key, g] : series_)
      if (!seen.count(key)) key.family->Remove(g);
    series_ = std::move(seen);
  }

 private:
  struct Key {
    prometheus::Family<prometheus::Gauge>* family;
    prometheus::Labels labels;
    bool operator<(const Key& o) const { return std::tie(family, labels) < std::tie(o.family, o.labels); }
  };
  SidecarMetrics& m_;
  const std::string subscription_;
  std::map<Key, prometheus::Gauge*> series_;
};

class KafkaConsumer final : public Consumer {
 public:
  KafkaConsumer(RebalanceListener& listener, SidecarMetrics* metrics, const std::string& subscription)
      : listener_(listener) {
    if (metrics) stats_ = std::make_unique<ConsumerStatistics>(*metrics, subscription);
  }

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
    if (!kafka.properties.count("queued.min.messages")) props["queued.min.messages"] = kQueuedMinMessages;
    if (!kafka.properties.count("queued.max.messages.kbytes")) props["queued.max.messages.kbytes"] = kQueuedMaxKbytes;
    if (!kafka.properties.count("fetch.wait.max.ms")) props["fetch.wait.max.ms"] = kFetchWaitMaxMs;
    // As the producer: the tributary_consumer_* gauges (0 turns them off).
    if (!kafka.properties.count("statistics.interval.ms")) props["statistics.interval.ms"] = "10000";
    for (const auto& [k, v] : props) {
      if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
        error = "subscription " + sub.name + ": " + k + ": " + err;
        rd_kafka_conf_destroy(conf);
        return false;
      }
    }
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_rebalance_cb(conf, &KafkaConsumer::onRebalance);
    if (stats_) rd_kafka_conf_set_stats_cb(conf, &KafkaConsumer::onStats);
    rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk_) {
      rd_kafka_conf_destroy(conf);  // rd_kafka_new takes the conf only when it succeeds
      error = "subscription " + sub.name + ": cannot create the Kafka consumer: " + err;
      return false;
    }
    rd_kafka_poll_set_consumer(rk_);
    queue_ = rd_kafka_queue_get_consumer(rk_);
    {
      // How long a partition may go without records, with records to fetch
      // and nothing queued, before poll() nudges its fetcher (see nudgeStalled).
      const auto it = kafka.properties.find("fetch.wait.max.ms");
      const long wait = std::strtol(it != kafka.properties.end() ? it->second.c_str() : kFetchWaitMaxMs, nullptr, 10);
      stallAfter_ = std::max(std::chrono::milliseconds(200), std::chrono::milliseconds(2 * wait));
    }
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
    if (!m) {
      nudgeStalled();
      return std::nullopt;
    }
    std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> guard(m, rd_kafka_message_destroy);
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        log::warn("consume error", {{"error", rd_kafka_message_errstr(m)}});
      return std::nullopt;
    }
    ConsumedRecord r;
    r.tp = {rd_kafka_topic_name(m->rkt), m->partition};
    r.offset = m->offset;
    auto& state = partitions_[r.tp];
    state.next = m->offset + 1;
    state.lastRecord = Clock::now();
    state.nudgeAfter = stallAfter_;
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
    for (const auto& tp : tps) paused_.insert(tp);
    auto* list = toList(tps);
    rd_kafka_pause_partitions(rk_, list);
    rd_kafka_topic_partition_list_destroy(list);
  }

  void resume(const std::vector<TopicPartition>& tps) override {
    for (const auto& tp : tps) paused_.erase(tp);
    auto* list = toList(tps);
    rd_kafka_resume_partitions(rk_, list);
    rd_kafka_topic_partition_list_destroy(list);
    // librdkafka 2.0.2 applies a resume on its main thread and does not wake
    // the partition leader's broker thread (rd_kafka_toppar_pause_resume()):
    // the broker thread decides to fetch the partition again only when it next
    // wakes up, on I/O or after up to 1 s (rd_kafka_max_block_ms). With every
    // partition of that broker paused there is no I/O, so each resume cost
    // 0.5–1 s without records. A seek to an absolute offset does wake it
    // (rd_kafka_toppar_seek() → rd_kafka_broker_wakeup()), and it is served
    // after the resume on the same partition queue, so the fetch starts at
    // once. The offset is the one the resume would use anyway: the record after
    // the last one poll() returned (pausing purged everything fetched beyond).
    // No seek for a partition nothing was polled from yet: librdkafka resolves
    // its logical start offset itself.
    seekToNext(tps);
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
  using Clock = std::chrono::steady_clock;

  // Seeks each partition to the record after the last one poll() returned
  // (partitions nothing was polled from yet are left alone: librdkafka
  // resolves their logical start offset itself). Asynchronous (timeout 0):
  // errors are not reported; a partition revoked meanwhile is not fetched.
  void seekToNext(const std::vector<TopicPartition>& tps) {
    auto* positions = rd_kafka_topic_partition_list_new(static_cast<int>(tps.size()));
    for (const auto& tp : tps)
      if (auto it = partitions_.find(tp); it != partitions_.end())
        rd_kafka_topic_partition_list_add(positions, tp.topic.c_str(), tp.partition)->offset = it->second.next;
    if (positions->cnt > 0)
      if (rd_kafka_error_t* e = rd_kafka_seek_partitions(rk_, positions, 0)) rd_kafka_error_destroy(e);
    rd_kafka_topic_partition_list_destroy(positions);
  }

  // librdkafka 2.0.2 stops fetching every partition of the consumer once its
  // queue holds queued.min.messages records or queued.max.messages.kbytes
  // (the check counts the shared consumer queue), and re-decides only when the
  // broker thread next wakes up — up to 1 s later (librdkafka#2879; 2.1's
  // fetch.queue.backoff.ms fixes it upstream). Draining the queue does not wake
  // it. So a subscription draining a backlog faster than it could be fetched
  // stalled for 0.5–0.8 s every few tens of thousands of records (the consume
  // bench's pull scenario, bench/RESULTS.md). When nothing is queued, a
  // partition that is not paused, has records to fetch (high watermark beyond
  // the next offset) and has returned none for stallAfter_ is sought to its
  // next offset: the seek wakes the broker thread, and with nothing queued
  // it throws nothing away.
  void nudgeStalled() {
    const auto now = Clock::now();
    if (now - lastNudgeCheck_ < std::chrono::milliseconds(50)) return;
    lastNudgeCheck_ = now;
    if (rd_kafka_queue_length(queue_) > 0) return;
    std::vector<TopicPartition> stalled;
    for (auto& [tp, state] : partitions_) {
      if (paused_.count(tp) || now - state.lastRecord < stallAfter_ || now - state.lastNudge < state.nudgeAfter)
        continue;
      auto high = highWatermark(tp);
      if (!high || *high <= state.next) continue;
      // A nudge that brings no record doubles the wait for the next one (up to
      // 5 s): records below the high watermark that are never returned (a
      // transaction marker at the end of the log) must not cause a seek every
      // 200 ms forever.
      if (state.lastNudge > state.lastRecord)
        state.nudgeAfter = std::min<std::chrono::milliseconds>(2 * state.nudgeAfter, std::chrono::seconds(5));
      state.lastNudge = now;
      stalled.push_back(tp);
    }
    if (stalled.empty()) return;
    seekToNext(stalled);
    log::debug("fetch nudged: partitions with records to fetch returned none", {{"partitions", std::to_string(stalled.size())}});
  }

  static int onStats(rd_kafka_t*, char* json, size_t len, void* opaque) {
    static_cast<KafkaConsumer*>(opaque)->stats_->update(json, len);
    return 0;  // librdkafka frees the buffer
  }

  static void onRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                          void* opaque) {
    auto* self = static_cast<KafkaConsumer*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      rd_kafka_assign(rk, parts);
      self->listener_.onAssigned(toVector(parts));
    } else {
      const auto revoked = toVector(parts);
      self->listener_.onRevoked(revoked);
      // An application pause outlives the assignment in librdkafka: clear it,
      // or a partition paused when it was revoked would stay paused if the
      // group gives it back to this member.
      rd_kafka_resume_partitions(rk, parts);
      for (const auto& tp : revoked) {
        self->partitions_.erase(tp);
        self->paused_.erase(tp);
      }
      rd_kafka_assign(rk, nullptr);
    }
  }

  RebalanceListener& listener_;
  std::unique_ptr<ConsumerStatistics> stats_;  // outlives rd_kafka_destroy (the destructor body): no callback finds it gone
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_queue_t* queue_ = nullptr;
  bool closed_ = false;
  struct PartitionState {
    int64_t next = 0;  // the offset after the last record poll() returned: where a resumed partition continues
    Clock::time_point lastRecord{};
    Clock::time_point lastNudge{};
    std::chrono::milliseconds nudgeAfter{200};  // since the last nudge; reset by every record
  };
  std::map<TopicPartition, PartitionState> partitions_;  // partitions poll() returned a record of
  std::set<TopicPartition> paused_;
  std::chrono::milliseconds stallAfter_{200};
  Clock::time_point lastNudgeCheck_{};
};

}  // namespace

std::unique_ptr<Consumer> makeKafkaConsumer(const KafkaConfig& kafka, const std::string& bootstrapServers,
                                            const SubscriptionConfig& subscription, RebalanceListener& listener,
                                            std::string& error, SidecarMetrics* metrics) {
  auto c = std::make_unique<KafkaConsumer>(listener, metrics, subscription.name);
  if (!c->start(kafka, bootstrapServers, subscription, error)) return nullptr;
  return c;
}

}  // namespace tributary::sidecar
