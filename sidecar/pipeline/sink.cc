#include "sidecar/pipeline/sink.h"

#include <chrono>

namespace tributary::sidecar::pipeline {
namespace {

class OneRecordListener final : public DeliveryListener {
 public:
  OneRecordListener(Sink::Done done, std::string topic)
      : done_(std::move(done)), topic_(std::move(topic)), start_(std::chrono::steady_clock::now()) {}
  void onDelivery(size_t, DeliveryReport report) override {
    AttemptResult r;
    r.took = std::chrono::steady_clock::now() - start_;
    if (report.error == ProduceError::None) {
      r.outcome = AttemptOutcome::Delivered;
    } else {
      r.outcome = report.error == ProduceError::RecordTooLarge ? AttemptOutcome::NotRetryable : AttemptOutcome::Retryable;
      r.error = "writing to topic " + topic_ + " failed: " + report.message;
    }
    done_(std::move(r));
  }

 private:
  Sink::Done done_;
  const std::string topic_;
  const std::chrono::steady_clock::time_point start_;
};

class TopicSink final : public Sink {
 public:
  TopicSink(Producer& producer, std::string topic) : producer_(producer), topic_(std::move(topic)) {}

  void send(StepOutput output, const ConsumedRecord&, uint32_t, int, Done done) override {
    OutgoingRecord record;
    record.topic = topic_;
    record.key = std::move(output.key);
    record.value = std::move(output.value);
    record.headers = std::move(output.headers);
    auto listener = std::make_shared<OneRecordListener>(std::move(done), topic_);
    std::string why;
    if (ProduceError e = producer_.enqueue(record, listener, 0, why); e != ProduceError::None)
      listener->onDelivery(0, {e, -1, -1, why});  // refused at once: never reported by the producer
  }

 private:
  Producer& producer_;
  const std::string topic_;
};

class HttpSink final : public Sink {
 public:
  HttpSink(const SinkConfig& config, int connections, const std::string& source)
      : deliverer_(makeHttpPushDeliverer(config.url, config.timeout, connections, source, 1, config.headers)) {}

  void send(StepOutput output, const ConsumedRecord& source, uint32_t index, int attempt, Done done) override {
    auto record = std::make_shared<ConsumedRecord>();
    record->output = index;
    record->tp = source.tp;
    record->offset = source.offset;
    record->timestampMs = source.timestampMs;
    record->key = std::move(output.key);
    record->value = std::move(output.value);
    record->headers = std::move(output.headers);
    deliverer_->deliver(std::move(record), attempt, std::move(done));
  }

 private:
  std::unique_ptr<Deliverer> deliverer_;
};

}  // namespace

std::unique_ptr<Sink> makeTopicSink(Producer& producer, std::string topic) {
  return std::make_unique<TopicSink>(producer, std::move(topic));
}

std::unique_ptr<Sink> makeHttpSink(const SinkConfig& config, int connections, const std::string& source) {
  return std::make_unique<HttpSink>(config, connections, source);
}

}  // namespace tributary::sidecar::pipeline
