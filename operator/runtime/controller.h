#pragma once
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "common/tracing/tracer.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/rate_limiter.h"
#include "operator/runtime/work_queue.h"

namespace tributary::op::runtime {

// What a reconcile asks the controller to do next with its key.
class ReconcileResult {
 public:
  enum class Kind {
    Done,          // converged: forget the backoff
    RequeueAfter,  // converged for now, look again after `after()` (forget + addAfter)
    Error,         // failed, retry with per-key backoff (addRateLimited)
    Terminal,      // failed for good (the reconciler wrote a condition saying why): no retry
  };

  static ReconcileResult done() { return ReconcileResult(Kind::Done, {}, {}); }
  static ReconcileResult requeueAfter(Clock::Duration after) { return ReconcileResult(Kind::RequeueAfter, after, {}); }
  static ReconcileResult error(std::string message) { return ReconcileResult(Kind::Error, {}, std::move(message)); }
  static ReconcileResult terminal(std::string message) {
    return ReconcileResult(Kind::Terminal, {}, std::move(message));
  }

  Kind kind() const { return kind_; }
  Clock::Duration after() const { return after_; }
  const std::string& message() const { return message_; }

 private:
  ReconcileResult(Kind kind, Clock::Duration after, std::string message)
      : kind_(kind), after_(after), message_(std::move(message)) {}
  Kind kind_;
  Clock::Duration after_;
  std::string message_;
};

// Reconciles one key ("namespace/name"). Called from the controller's worker
// threads: concurrently for different keys, never concurrently for the same
// key. An exception thrown out of reconcile() counts as Error (retried).
class Reconciler {
 public:
  virtual ~Reconciler() = default;
  virtual ReconcileResult reconcile(const std::string& key) = 0;
};

// Reconciles several distinct keys in one call (so N resources cost N/batch
// round trips to Kafka). Must return one result per key, in the same order:
// one bad item never sinks the others. Same threading as Reconciler. If it
// throws, or returns the wrong number of results, every key of the batch is
// an Error.
class BatchReconciler {
 public:
  virtual ~BatchReconciler() = default;
  virtual std::vector<ReconcileResult> reconcile(const std::vector<std::string>& keys) = 0;
};

struct ControllerOptions {
  std::string name;                 // metrics label `controller`, queue `name`, log field
  std::size_t workers = 1;          // worker threads
  std::size_t maxBatch = 1;         // keys per BatchReconciler call (ignored for a Reconciler)
  std::shared_ptr<Clock> clock;     // default: SystemClock
  std::unique_ptr<RateLimiter> rateLimiter;  // default: makeDefaultControllerRateLimiter
  prometheus::Registry* registry = nullptr;  // metrics go here when set; must outlive the controller
  // Spans go here when set (one "reconcile <name>" span per key); must outlive the controller.
  tracing::Tracer* tracer = nullptr;
};

// N worker threads over one WorkQueue (controller-runtime's controller): each
// worker takes a key (or a batch), reconciles it, and acts on the result.
// Metrics: tributary_operator_reconcile_total{controller,result} with result
// success|requeue|error|terminal, tributary_operator_reconcile_duration_seconds{controller}
// (measured on the controller's clock), plus the queue's series. With a tracer,
// every key reconciled is a span "reconcile <name>" (the root of a trace of its
// own; a batch's keys share its start and end) with the key and the result.
//
// Threads: construct, start() and stop() from one owning thread. queue() may be
// used from any thread (informer event handlers add keys to it) at any time,
// also before start(): keys wait until workers run.
class Controller {
 public:
  Controller(ControllerOptions options, std::shared_ptr<Reconciler> reconciler);
  Controller(ControllerOptions options, std::shared_ptr<BatchReconciler> reconciler);
  ~Controller();  // stop()
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  WorkQueue& queue() { return *queue_; }
  const std::string& name() const { return name_; }

  // Starts the workers. Throws ControllerRuntimeError if called twice.
  void start();
  // Stops handing out keys, waits for in-flight reconciles to finish, joins the
  // workers. Idempotent. Queued keys are dropped (see WorkQueue).
  void stop();

 private:
  Controller(ControllerOptions& options);
  void workerLoop();
  void handle(const std::string& key, const ReconcileResult& result);
  void endSpans(std::vector<tracing::ActiveSpan>& spans, const std::vector<std::string>& keys,
                const std::vector<ReconcileResult>& results);

  std::string name_;
  std::size_t workers_;
  std::size_t maxBatch_;
  std::shared_ptr<Clock> clock_;
  tracing::Tracer* tracer_ = nullptr;
  std::shared_ptr<Reconciler> reconciler_;
  std::shared_ptr<BatchReconciler> batchReconciler_;
  std::unique_ptr<WorkQueue> queue_;

  prometheus::Counter* success_ = nullptr;
  prometheus::Counter* requeue_ = nullptr;
  prometheus::Counter* error_ = nullptr;
  prometheus::Counter* terminal_ = nullptr;
  prometheus::Histogram* duration_ = nullptr;

  std::mutex lifecycleMutex_;
  bool started_ = false;
  bool stopped_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace tributary::op::runtime
