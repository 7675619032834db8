#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sidecar/consume/consumer.h"
#include "sidecar/consume/retry_policy.h"

namespace tributary::sidecar {

struct AttemptResult {
  AttemptOutcome outcome = AttemptOutcome::Retryable;
  int httpStatus = 0;  // 0: no HTTP answer (timeout, refused, reset)
  std::string error;   // the failure in words, e.g. "HTTP 400: <body>" or "connection refused"
  std::optional<std::chrono::milliseconds> retryAfter;
  std::chrono::duration<double> took{0};
  // Added to the record's dead letter when this failure is its last (a
  // pipeline's tributary.dlq.step).
  std::vector<std::pair<std::string, std::string>> deadLetterHeaders;
};

// Hands one record to the app. Thread safety: deliver() from the subscription's
// thread; `done` is called exactly once, from a deliverer thread.
class Deliverer {
 public:
  using Done = std::function<void(AttemptResult)>;
  virtual ~Deliverer() = default;
  virtual void deliver(std::shared_ptr<const ConsumedRecord> record, int attempt, Done done) = 0;
  // Takes back the records of these partitions that were handed over but have
  // not reached the app yet (their `done` is then never called), so that a
  // revocation or a shutdown does not wait for them. Records already with the
  // app are not withdrawn. Called from the subscription's thread.
  virtual std::vector<std::shared_ptr<const ConsumedRecord>> withdraw(const std::vector<TopicPartition>& partitions) {
    (void)partitions;
    return {};
  }
  // Ordered pull (see LeaseBroker): after an attempt of `failed` failed, the
  // later records of its partition (key) that the deliverer handed back
  // unprocessed; their `done` is never called. Called from the subscription's
  // thread when it takes the failure.
  virtual std::vector<std::shared_ptr<const ConsumedRecord>> takeReturned(const ConsumedRecord& failed) {
    (void)failed;
    return {};
  }
  // The caller handed over every record of one round (a dispatch). A caller
  // that calls it once calls it after every round: a deliverer may then wake
  // its takers (pollers, batching workers) once here for the whole round,
  // not per record, so that they take the round as one batch. Called from the
  // subscription's thread.
  virtual void flush() {}
};

// POSTs records to the app's endpoint from a pool of `workers` threads, each
// with its own keep-alive connection. batchSize 1: one binary-mode CloudEvent
// per request. More: a free worker takes every record waiting, up to
// batchSize, and sends them as one application/cloudevents-batch+json array
// of structured CloudEvents; the answer settles the attempt of each of them.
// `headers` are sent with every request (a pipeline's http sink's `headers`).
std::unique_ptr<Deliverer> makeHttpPushDeliverer(const std::string& endpoint, std::chrono::milliseconds timeout,
                                                 int workers, const std::string& source, int batchSize = 1,
                                                 const std::vector<std::pair<std::string, std::string>>& headers = {});

// The request body of a batch (exposed for tests): a JSON array with one
// structured CloudEvent per record, each with its own attempt number.
std::string cloudEventBatch(const std::vector<std::pair<const ConsumedRecord*, int>>& recordsAndAttempts,
                            const std::string& source);

// The CloudEvent headers of a record (exposed for tests).
std::vector<std::pair<std::string, std::string>> cloudEventHeaders(const ConsumedRecord& r, int attempt,
                                                                  const std::string& source);

}  // namespace tributary::sidecar
