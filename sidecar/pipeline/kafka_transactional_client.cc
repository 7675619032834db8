#include "sidecar/pipeline/kafka_transactional_client.h"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <set>
#include <utility>

#include "common/log/log.h"

namespace tributary::sidecar::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

int ms(std::chrono::milliseconds d) { return static_cast<int>(std::max<int64_t>(0, d.count())); }

bool isFencing(rd_kafka_resp_err_t code) {
  return code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
         code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH || code == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID;
}

// The producer's fatal error, when it has one: after it nothing may be written.
TxnError fatalOf(rd_kafka_t* producer, const std::string& what) {
  char buf[512];
  const rd_kafka_resp_err_t code = rd_kafka_fatal_error(producer, buf, sizeof buf);
  if (!code) return {};
  return {isFencing(code) ? TxnError::Kind::Fenced : TxnError::Kind::Fatal, what + ": " + buf};
}

// librdkafka's classification of a transactional call's error, which is what
// tells the caller what to do next: fatal (fenced or not) beats abortable
// beats retriable; an error that is none of them (a call in the wrong state)
// is a bug, treated as fatal.
TxnError classify(rd_kafka_error_t* e, const std::string& what) {
  if (!e) return {};
  TxnError out;
  out.message = what + ": " + rd_kafka_error_string(e);
  if (rd_kafka_error_is_fatal(e))
    out.kind = isFencing(rd_kafka_error_code(e)) ? TxnError::Kind::Fenced : TxnError::Kind::Fatal;
  else if (rd_kafka_error_txn_requires_abort(e))
    out.kind = TxnError::Kind::Abortable;
  else if (rd_kafka_error_is_retriable(e))
    out.kind = TxnError::Kind::Retriable;
  else
    out.kind = TxnError::Kind::Fatal;
  rd_kafka_error_destroy(e);
  return out;
}

std::vector<TopicPartition> toVector(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  for (int i = 0; list && i < list->cnt; ++i) out.push_back({list->elems[i].topic, list->elems[i].partition});
  return out;
}

rd_kafka_topic_partition_list_t* toList(const std::map<TopicPartition, int64_t>& offsets) {
  auto* list = rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size()));
  for (const auto& [tp, off] : offsets)
    rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition)->offset = off;
  return list;
}

void onLog(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  log::write(level <= 3 ? log::Level::Error : level <= 5 ? log::Level::Warn : log::Level::Debug, buf,
             {{"component", "librdkafka"}, {"facility", fac}});
}

class KafkaTransactionalClient final : public TransactionalClient {
 public:
  explicit KafkaTransactionalClient(TxnRebalanceListener& listener) : listener_(listener) {}

  bool start(const KafkaTransactionalConfig& c, std::string& error) {
    char err[512];
    auto build = [&](bool producer, std::map<std::string, std::string> own) -> rd_kafka_conf_t* {
      rd_kafka_conf_t* conf = rd_kafka_conf_new();
      std::map<std::string, std::string> props = c.properties;
      for (auto& [k, v] : own) props[k] = v;
      for (const auto& [k, v] : props)
        if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
          error = (c.properties.count(k) && !own.count(k) ? "kafka.properties." + k : k) + ": " + err;
          rd_kafka_conf_destroy(conf);
          return nullptr;
        }
      rd_kafka_conf_set_opaque(conf, this);
      rd_kafka_conf_set_log_cb(conf, &onLog);
      if (producer) rd_kafka_conf_set_dr_msg_cb(conf, &KafkaTransactionalClient::onDelivery);
      else rd_kafka_conf_set_rebalance_cb(conf, &KafkaTransactionalClient::onRebalance);
      return conf;
    };
    // The producer: transactions imply idempotence and acks=all; set both so
    // that kafka.properties cannot weaken them.
    rd_kafka_conf_t* pconf = build(true, {{"bootstrap.servers", c.bootstrapServers},
                                          {"transactional.id", c.transactionalId},
                                          {"enable.idempotence", "true"},
                                          {"acks", "all"},
                                          {"client.id", c.clientId}});
    if (!pconf) return false;
    producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof err);
    if (!producer_) {
      rd_kafka_conf_destroy(pconf);
      error = std::string("cannot create the transactional producer: ") + err;
      return false;
    }
    // The consumer: offsets are committed only inside transactions, and only
    // committed records of the source are read (a source written by another
    // transactional pipeline must not leak its aborted records).
    std::map<std::string, std::string> own = {{"bootstrap.servers", c.bootstrapServers},
                                              {"group.id", c.group},
                                              {"client.id", c.clientId},
                                              {"enable.auto.commit", "false"},
                                              {"enable.auto.offset.store", "false"},
                                              {"isolation.level", "read_committed"},
                                              {"auto.offset.reset", c.startFromEarliest ? "earliest" : "latest"}};
    // As the subscription consumer (kafka_consumer.cc): a broker that holds
    // empty fetches for the full wait (the embedded cluster does) delays every
    // batch by it; 100 ms instead of librdkafka's 500.
    if (!c.properties.count("fetch.wait.max.ms")) own["fetch.wait.max.ms"] = "100";
    rd_kafka_conf_t* cconf = build(false, own);
    if (!cconf) return false;
    consumer_ = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, err, sizeof err);
    if (!consumer_) {
      rd_kafka_conf_destroy(cconf);
      error = std::string("cannot create the source consumer: ") + err;
      return false;
    }
    rd_kafka_poll_set_consumer(consumer_);
    queue_ = rd_kafka_queue_get_consumer(consumer_);
    auto* topics = rd_kafka_topic_partition_list_new(static_cast<int>(c.topics.size()));
    for (const auto& t : c.topics) rd_kafka_topic_partition_list_add(topics, t.c_str(), RD_KAFKA_PARTITION_UA);
    const rd_kafka_resp_err_t e = rd_kafka_subscribe(consumer_, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
      error = std::string("subscribe failed: ") + rd_kafka_err2str(e);
      return false;
    }
    return true;
  }

  ~KafkaTransactionalClient() override {
    if (abandoned_) return;
    close();
    if (queue_) rd_kafka_queue_destroy(queue_);
    if (consumer_) rd_kafka_destroy(consumer_);
    if (producer_) rd_kafka_destroy(producer_);
  }

  TxnError initTransactions(std::chrono::milliseconds timeout) override {
    return classify(rd_kafka_init_transactions(producer_, ms(timeout)), "init transactions");
  }

  std::vector<PipelineRecord> poll(size_t maxRecords, std::chrono::milliseconds maxWait) override {
    std::vector<PipelineRecord> out;
    const auto deadline = Clock::now() + maxWait;
    while (out.size() < maxRecords && !woken_.exchange(false)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      // Once the batch has records, take what is already fetched without waiting.
      rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_, out.empty() ? ms(left) : 0);
      if (!m) {
        if (!out.empty() || Clock::now() >= deadline) break;
        continue;
      }
      std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> guard(m, rd_kafka_message_destroy);
      if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
          log::warn("pipeline source consume error", {{"error", rd_kafka_message_errstr(m)}});
        continue;
      }
      PipelineRecord r;
      r.topic = rd_kafka_topic_name(m->rkt);
      r.partition = m->partition;
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
      out.push_back(std::move(r));
    }
    return out;
  }

  TxnError beginTransaction() override {
    ++generation_;
    deliveryError_ = {};
    deliveryPurged_ = false;
    return classify(rd_kafka_begin_transaction(producer_), "begin transaction");
  }

  TxnError produce(const TxnRecord& r, std::chrono::milliseconds timeout) override {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      rd_kafka_headers_t* headers = nullptr;
      if (!r.headers.empty()) {
        headers = rd_kafka_headers_new(r.headers.size());
        for (const auto& [name, value] : r.headers)
          rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                              static_cast<ssize_t>(value.size()));
      }
      void* key = r.key ? const_cast<char*>(r.key->data()) : nullptr;
      void* value = r.value ? const_cast<char*>(r.value->data()) : nullptr;
      const size_t keyLen = r.key ? r.key->size() : 0;  // the macros cast without parentheses
      const size_t valueLen = r.value ? r.value->size() : 0;
      const rd_kafka_resp_err_t err = rd_kafka_producev(
          producer_, RD_KAFKA_V_TOPIC(r.topic.c_str()), RD_KAFKA_V_KEY(key, keyLen),
          RD_KAFKA_V_VALUE(value, valueLen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(generation_)), RD_KAFKA_V_END);
      if (!err) {
        rd_kafka_poll(producer_, 0);  // serve delivery reports as we go
        return {};
      }
      if (headers) rd_kafka_headers_destroy(headers);
      // A full local queue drains as acknowledgements come: wait for some.
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && Clock::now() < deadline) {
        rd_kafka_poll(producer_, 50);
        continue;
      }
      if (TxnError f = fatalOf(producer_, "produce to " + r.topic)) return f;
      // The record is not in the transaction: it must not commit without it.
      return {TxnError::Kind::Abortable, "produce to " + r.topic + ": " + rd_kafka_err2str(err)};
    }
  }

  TxnError flush(std::chrono::milliseconds timeout) override {
    const rd_kafka_resp_err_t err = rd_kafka_flush(producer_, ms(timeout));
    if (deliveryError_) {
      if (TxnError f = fatalOf(producer_, deliveryError_.message)) return f;
      return deliveryError_;
    }
    if (err == RD_KAFKA_RESP_ERR__TIMED_OUT)
      return {TxnError::Kind::Retriable, "records not acknowledged within " + std::to_string(timeout.count()) + " ms"};
    return {};
  }

  TxnError sendOffsets(const std::map<TopicPartition, int64_t>& next, std::chrono::milliseconds timeout) override {
    auto* list = toList(next);
    // Member id and generation travel with the offsets: a member the group
    // has moved on from cannot commit them (KIP-447).
    rd_kafka_consumer_group_metadata_t* cgmd = rd_kafka_consumer_group_metadata(consumer_);
    rd_kafka_error_t* e = rd_kafka_send_offsets_to_transaction(producer_, list, cgmd, ms(timeout));
    rd_kafka_consumer_group_metadata_destroy(cgmd);
    rd_kafka_topic_partition_list_destroy(list);
    return classify(e, "send offsets to the transaction");
  }

  TxnError commitTransaction(std::chrono::milliseconds timeout) override {
    return classify(rd_kafka_commit_transaction(producer_, ms(timeout)), "commit transaction");
  }

  TxnError abortTransaction(std::chrono::milliseconds timeout) override {
    TxnError e = classify(rd_kafka_abort_transaction(producer_, ms(timeout)), "abort transaction");
    // The aborted records' reports ("purged") are queued now: serve them here
    // rather than inside the next transaction (onDelivery ignores them anyway).
    if (!e) rd_kafka_poll(producer_, 0);
    return e;
  }

  void seek(const std::map<TopicPartition, int64_t>& offsets, std::chrono::milliseconds timeout) override {
    std::map<TopicPartition, int64_t> assigned;
    rd_kafka_topic_partition_list_t* current = nullptr;
    if (rd_kafka_assignment(consumer_, &current) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const auto owned = toVector(current);
      const std::set<TopicPartition> ownedSet(owned.begin(), owned.end());
      for (const auto& [tp, off] : offsets)
        if (ownedSet.count(tp)) assigned[tp] = off;
    }
    if (current) rd_kafka_topic_partition_list_destroy(current);
    if (assigned.empty()) return;
    auto* list = toList(assigned);
    if (rd_kafka_error_t* e = rd_kafka_seek_partitions(consumer_, list, ms(timeout))) {
      log::warn("pipeline source seek failed", {{"error", rd_kafka_error_string(e)}});
      rd_kafka_error_destroy(e);
    }
    for (int i = 0; i < list->cnt; ++i)
      if (list->elems[i].err)
        log::warn("pipeline source seek failed", {{"topic", list->elems[i].topic},
                                                  {"partition", std::to_string(list->elems[i].partition)},
                                                  {"error", rd_kafka_err2str(list->elems[i].err)}});
    rd_kafka_topic_partition_list_destroy(list);
  }

  void wakeup() override {
    woken_ = true;
    if (queue_) rd_kafka_queue_yield(queue_);
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    if (consumer_) rd_kafka_consumer_close(consumer_);
    if (producer_) rd_kafka_flush(producer_, 0);  // serve what is left of the delivery reports
  }

  void abandon() override {
    if (abandoned_ || closed_) return;
    abandoned_ = true;
    // As a killed process: the consumer does not leave the group (its
    // partitions move after the session timeout) and the producer sends no
    // EndTxn (the coordinator aborts the transaction when the next instance
    // initialises the same transactional.id, or on transaction.timeout.ms).
    rd_kafka_queue_destroy(std::exchange(queue_, nullptr));
    rd_kafka_destroy_flags(std::exchange(consumer_, nullptr), RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    rd_kafka_purge(producer_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT | RD_KAFKA_PURGE_F_NON_BLOCKING);
    rd_kafka_destroy(std::exchange(producer_, nullptr));
  }

 private:
  static void onDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<KafkaTransactionalClient*>(opaque);
    // Reports of an earlier (aborted) transaction's records say nothing about this one.
    if (!m->err || reinterpret_cast<uintptr_t>(m->_private) != self->generation_) return;
    // The first failure, but a record that failed beats one purged because
    // of it (librdkafka purges the rest of a failed transaction's queue).
    const bool purged = m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT;
    if (self->deliveryError_ && (purged || !self->deliveryPurged_)) return;
    self->deliveryPurged_ = purged;
    // A record that failed fails the transaction: librdkafka has put it in
    // the abortable state (or a fatal one, which flush() checks).
    self->deliveryError_ = {TxnError::Kind::Abortable, std::string("write to ") + rd_kafka_topic_name(m->rkt) +
                                                           " failed: " + rd_kafka_err2str(m->err)};
  }

  static void onRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                          void* opaque) {
    auto* self = static_cast<KafkaTransactionalClient*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      rd_kafka_assign(rk, parts);
      self->listener_.onAssigned(toVector(parts));
    } else {
      self->listener_.onRevoked(toVector(parts));
      rd_kafka_assign(rk, nullptr);
    }
  }

  TxnRebalanceListener& listener_;
  rd_kafka_t* producer_ = nullptr;
  rd_kafka_t* consumer_ = nullptr;
  rd_kafka_queue_t* queue_ = nullptr;
  std::atomic<bool> woken_{false};
  TxnError deliveryError_;  // the first delivery failure of the open transaction
  bool deliveryPurged_ = false;  // deliveryError_ is a purge, not a failed write
  uintptr_t generation_ = 0;  // counts transactions; each record carries its own as the opaque
  bool closed_ = false;
  bool abandoned_ = false;
};

}  // namespace

std::unique_ptr<TransactionalClient> makeKafkaTransactionalClient(const KafkaTransactionalConfig& config,
                                                                  TxnRebalanceListener& listener, std::string& error) {
  auto c = std::make_unique<KafkaTransactionalClient>(listener);
  if (!c->start(config, error)) return nullptr;
  return c;
}

}  // namespace tributary::sidecar::pipeline
