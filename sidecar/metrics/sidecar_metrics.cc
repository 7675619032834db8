#include "sidecar/metrics/sidecar_metrics.h"

namespace tributary::sidecar {
namespace {
std::shared_ptr<prometheus::Registry> newRegistry() { return std::make_shared<prometheus::Registry>(); }
}  // namespace

SidecarMetrics::SidecarMetrics()
    : registry(newRegistry()),
      produceRequests(prometheus::BuildCounter()
                          .Name("tributary_produce_requests_total")
                          .Help("Produce requests by topic and HTTP status code answered")
                          .Register(*registry)),
      produceRecords(prometheus::BuildCounter()
                         .Name("tributary_produce_records_total")
                         .Help("Records in produce requests by topic and result (success or the error code)")
                         .Register(*registry)),
      produceDuration(prometheus::BuildHistogram()
                          .Name("tributary_produce_duration_seconds")
                          .Help("Synchronous produce requests: request received to broker acknowledgement")
                          .Register(*registry)
                          .Add({}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                           0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30})),
      producerQueue(prometheus::BuildGauge()
                        .Name("tributary_producer_queue_messages")
                        .Help("Records waiting in the producer's queue for a broker acknowledgement")
                        .Register(*registry)
                        .Add({})),
      deliveries(prometheus::BuildCounter()
                     .Name("tributary_deliveries_total")
                     .Help("Delivery attempts' outcomes by subscription, topic and outcome")
                     .Register(*registry)),
      deliveryDuration(prometheus::BuildHistogram()
                           .Name("tributary_delivery_duration_seconds")
                           .Help("Push delivery attempts: request sent to the app's answer")
                           .Register(*registry)),
      deliveryAttempts(prometheus::BuildHistogram()
                           .Name("tributary_delivery_attempts")
                           .Help("Attempts a record took until it was settled")
                           .Register(*registry)),
      inflight(prometheus::BuildGauge()
                   .Name("tributary_inflight")
                   .Help("Records fetched and not yet settled, by subscription")
                   .Register(*registry)),
      deadLetters(prometheus::BuildCounter()
                      .Name("tributary_dead_letters_total")
                      .Help("Records written to the dead-letter topic, by subscription and original topic")
                      .Register(*registry)),
      pausedPartitions(prometheus::BuildGauge()
                           .Name("tributary_paused_partitions")
                           .Help("Partitions paused because the app is not keeping up, by subscription")
                           .Register(*registry)),
      consumerLag(prometheus::BuildGauge()
                      .Name("tributary_consumer_lag")
                      .Help("Records not yet settled per partition: high watermark minus the oldest unsettled offset")
                      .Register(*registry)),
      consumerFetchQueueMessages(prometheus::BuildGauge()
                                     .Name("tributary_consumer_fetch_queue_messages")
                                     .Help("Records fetched and waiting in librdkafka's queue, by subscription and partition (librdkafka)")
                                     .Register(*registry)),
      consumerFetchQueueBytes(prometheus::BuildGauge()
                                  .Name("tributary_consumer_fetch_queue_bytes")
                                  .Help("Bytes fetched and waiting in librdkafka's queue, by subscription and partition (librdkafka)")
                                  .Register(*registry)),
      consumerCommittedLag(prometheus::BuildGauge()
                               .Name("tributary_consumer_committed_lag")
                               .Help("Records between the committed offset and the end of the partition, as librdkafka sees it (consumer_lag)")
                               .Register(*registry)),
      consumerBrokerRtt(prometheus::BuildGauge()
                            .Name("tributary_consumer_broker_rtt_seconds")
                            .Help("Average round-trip time from a subscription's consumer to each broker over the last statistics interval (librdkafka)")
                            .Register(*registry)),
      consumerBrokerUp(prometheus::BuildGauge()
                           .Name("tributary_consumer_broker_up")
                           .Help("1 when a subscription's consumer is connected to the broker (librdkafka)")
                           .Register(*registry)),
      invalidTraceparent(prometheus::BuildCounter()
                             .Name("tributary_tracing_invalid_traceparent_total")
                             .Help("Produce requests with a traceparent header that is not valid W3C trace context (ignored)")
                             .Register(*registry)
                             .Add({})),
      info(prometheus::BuildGauge()
               .Name("tributary_sidecar_info")
               .Help("Sidecar build information")
               .Register(*registry)
               .Add({{"version", TRIBUTARY_VERSION}})) {
  info.Set(1);
}

}  // namespace tributary::sidecar
