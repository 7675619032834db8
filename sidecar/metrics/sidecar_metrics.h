#pragma once
#include <memory>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace tributary::sidecar {

// Every metric the sidecar exports, built once at construction. Tests read
// these counters instead of parsing logs. Thread safe (prometheus-cpp).
struct SidecarMetrics {
  SidecarMetrics();

  std::shared_ptr<prometheus::Registry> registry;
  // {topic, code}: one per produce request, code = the HTTP status answered.
  prometheus::Family<prometheus::Counter>& produceRequests;
  // {topic, result}: one per record; result = "success" or the errorCode in lower case.
  prometheus::Family<prometheus::Counter>& produceRecords;
  // Request received → every record acknowledged by the broker (sync requests).
  prometheus::Histogram& produceDuration;
  // Records in librdkafka's queue, refreshed at each scrape.
  prometheus::Gauge& producerQueue;
  // Consume path, by subscription. outcome: success | retry | dead_letter | dropped.
  prometheus::Family<prometheus::Counter>& deliveries;
  prometheus::Family<prometheus::Histogram>& deliveryDuration;  // per attempt
  prometheus::Family<prometheus::Histogram>& deliveryAttempts;  // per settled record
  prometheus::Family<prometheus::Gauge>& inflight;
  prometheus::Family<prometheus::Counter>& deadLetters;
  prometheus::Family<prometheus::Gauge>& pausedPartitions;
  // {subscription, topic, partition}: high watermark minus the oldest unsettled offset.
  prometheus::Family<prometheus::Gauge>& consumerLag;
  // librdkafka's statistics of each subscription's consumer (every
  // statistics.interval.ms): {subscription, topic, partition} records and
  // bytes fetched and waiting in librdkafka's queue; librdkafka's consumer_lag
  // (end of the partition minus the committed offset); {subscription, broker,
  // id} round-trip time and connection state.
  prometheus::Family<prometheus::Gauge>& consumerFetchQueueMessages;
  prometheus::Family<prometheus::Gauge>& consumerFetchQueueBytes;
  prometheus::Family<prometheus::Gauge>& consumerCommittedLag;
  prometheus::Family<prometheus::Gauge>& consumerBrokerRtt;
  prometheus::Family<prometheus::Gauge>& consumerBrokerUp;
  // Produce requests whose `traceparent` header was not valid W3C trace
  // context (ignored, as the spec says; the request is served as without it).
  prometheus::Counter& invalidTraceparent;
  // 1 while the process is up.
  prometheus::Gauge& info;
};

}  // namespace tributary::sidecar
