#include "operator/runtime/controller.h"

#include <exception>

#include "common/log/log.h"
#include "operator/runtime/errors.h"

namespace tributary::op::runtime {

namespace {

// Adapts a one-key Reconciler so the worker loop has a single (batch) shape.
std::vector<ReconcileResult> reconcileOneByOne(Reconciler& reconciler, const std::vector<std::string>& keys) {
  std::vector<ReconcileResult> results;
  results.reserve(keys.size());
  for (const auto& key : keys) {
    try {
      results.push_back(reconciler.reconcile(key));
    } catch (const std::exception& e) {
      results.push_back(ReconcileResult::error(std::string("reconciler threw: ") + e.what()));
    } catch (...) {
      results.push_back(ReconcileResult::error("reconciler threw a non-standard exception"));
    }
  }
  return results;
}

}  // namespace

Controller::Controller(ControllerOptions& options)
    : name_(options.name),
      workers_(options.workers),
      maxBatch_(options.maxBatch),
      clock_(options.clock ? options.clock : std::make_shared<SystemClock>()),
      tracer_(options.tracer) {
  if (name_.empty()) throw ControllerRuntimeError("Controller: options.name is required");
  if (workers_ == 0) throw ControllerRuntimeError("Controller " + name_ + ": options.workers must be at least 1");
  if (maxBatch_ == 0) throw ControllerRuntimeError("Controller " + name_ + ": options.maxBatch must be at least 1");
  auto limiter = options.rateLimiter ? std::move(options.rateLimiter) : makeDefaultControllerRateLimiter(clock_);
  WorkQueueMetrics queueMetrics;
  if (options.registry) {
    auto& registry = *options.registry;
    queueMetrics = WorkQueueMetrics(registry, name_);
    auto& total = prometheus::BuildCounter()
                      .Name("tributary_operator_reconcile_total")
                      .Help("Reconciles by controller and result (success, requeue, error, terminal).")
                      .Register(registry);
    success_ = &total.Add({{"controller", name_}, {"result", "success"}});
    requeue_ = &total.Add({{"controller", name_}, {"result", "requeue"}});
    error_ = &total.Add({{"controller", name_}, {"result", "error"}});
    terminal_ = &total.Add({{"controller", name_}, {"result", "terminal"}});
    duration_ = &prometheus::BuildHistogram()
                     .Name("tributary_operator_reconcile_duration_seconds")
                     .Help("Time per reconcile call (per batch for batch reconcilers).")
                     .Register(registry)
                     .Add({{"controller", name_}},
                          prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                                                                  10, 30, 60});
  }
  queue_ = std::make_unique<WorkQueue>(clock_, std::move(limiter), queueMetrics);
}

Controller::Controller(ControllerOptions options, std::shared_ptr<Reconciler> reconciler) : Controller(options) {
  if (!reconciler) throw ControllerRuntimeError("Controller " + name_ + ": reconciler is required");
  reconciler_ = std::move(reconciler);
  maxBatch_ = 1;  // one key per call: batching buys nothing for a one-key reconciler
}

Controller::Controller(ControllerOptions options, std::shared_ptr<BatchReconciler> reconciler)
    : Controller(options) {
  if (!reconciler) throw ControllerRuntimeError("Controller " + name_ + ": reconciler is required");
  batchReconciler_ = std::move(reconciler);
}

Controller::~Controller() { stop(); }

void Controller::start() {
  std::lock_guard guard(lifecycleMutex_);
  if (started_) throw ControllerRuntimeError("Controller " + name_ + ": start() called twice");
  started_ = true;
  log::info("controller starting", {{"controller", name_}, {"workers", std::to_string(workers_)}});
  for (std::size_t i = 0; i < workers_; ++i) threads_.emplace_back([this] { workerLoop(); });
}

void Controller::stop() {
  std::lock_guard guard(lifecycleMutex_);
  if (stopped_) return;
  stopped_ = true;
  queue_->shutDownWithDrain();
  for (auto& t : threads_) t.join();
  threads_.clear();
  if (started_) log::info("controller stopped", {{"controller", name_}});
}

void Controller::workerLoop() {
  while (true) {
    std::vector<std::string> keys = queue_->getBatch(maxBatch_);
    if (keys.empty()) return;  // shut down

    const auto started = clock_->now();
    std::vector<tracing::ActiveSpan> spans;
    if (tracer_)
      for (std::size_t i = 0; i < keys.size(); ++i)
        spans.push_back(tracer_->start("reconcile " + name_, tracing::Span::Kind::Internal, std::nullopt));
    std::vector<ReconcileResult> results;
    if (reconciler_) {
      results = reconcileOneByOne(*reconciler_, keys);
    } else {
      try {
        results = batchReconciler_->reconcile(keys);
        if (results.size() != keys.size()) {
          const std::string message = "batch reconciler returned " + std::to_string(results.size()) +
                                      " results for " + std::to_string(keys.size()) + " keys";
          results.assign(keys.size(), ReconcileResult::error(message));
        }
      } catch (const std::exception& e) {
        results.assign(keys.size(), ReconcileResult::error(std::string("reconciler threw: ") + e.what()));
      } catch (...) {
        results.assign(keys.size(), ReconcileResult::error("reconciler threw a non-standard exception"));
      }
    }
    if (duration_) duration_->Observe(std::chrono::duration<double>(clock_->now() - started).count());
    if (tracer_) endSpans(spans, keys, results);

    for (std::size_t i = 0; i < keys.size(); ++i) {
      handle(keys[i], results[i]);
      queue_->done(keys[i]);
    }
  }
}

void Controller::endSpans(std::vector<tracing::ActiveSpan>& spans, const std::vector<std::string>& keys,
                          const std::vector<ReconcileResult>& results) {
  static const char* kResult[] = {"success", "requeue", "error", "terminal"};
  const int64_t end = tracing::unixNanosNow();
  for (std::size_t i = 0; i < spans.size(); ++i) {
    tracing::Span& s = spans[i].span;
    s.endUnixNanos = end;
    const std::string& key = keys[i];
    const auto slash = key.find('/');
    s.set("tributary.controller", name_);
    s.set("tributary.resource.key", key);
    if (slash != std::string::npos) s.set("k8s.namespace.name", key.substr(0, slash));
    s.set("tributary.resource.name", slash == std::string::npos ? key : key.substr(slash + 1));
    s.set("tributary.reconcile.result", std::string(kResult[static_cast<int>(results[i].kind())]));
    if (keys.size() > 1) s.set("tributary.reconcile.batch_size", static_cast<int64_t>(keys.size()));
    if (results[i].kind() == ReconcileResult::Kind::Error || results[i].kind() == ReconcileResult::Kind::Terminal) {
      s.status = tracing::Span::Status::Error;
      s.statusMessage = results[i].message();
    }
    tracer_->end(std::move(spans[i]));
  }
}

void Controller::handle(const std::string& key, const ReconcileResult& result) {
  switch (result.kind()) {
    case ReconcileResult::Kind::Done:
      queue_->forget(key);
      if (success_) success_->Increment();
      break;
    case ReconcileResult::Kind::RequeueAfter:
      queue_->forget(key);
      queue_->addAfter(key, result.after());
      if (requeue_) requeue_->Increment();
      break;
    case ReconcileResult::Kind::Error:
      // Before addRateLimited so the log shows the attempt that just failed.
      log::warn("reconcile failed, retrying with backoff",
                {{"controller", name_},
                 {"key", key},
                 {"error", result.message()},
                 {"requeues", std::to_string(queue_->numRequeues(key))}});
      queue_->addRateLimited(key);
      if (error_) error_->Increment();
      break;
    case ReconcileResult::Kind::Terminal:
      log::warn("reconcile failed permanently, not retrying",
                {{"controller", name_}, {"key", key}, {"error", result.message()}});
      queue_->forget(key);
      if (terminal_) terminal_->Increment();
      break;
  }
}

}  // namespace tributary::op::runtime
