#include "sidecar/pipeline/pipeline_deliverer.h"

#include <future>
#include <mutex>

namespace tributary::sidecar::pipeline {
namespace {

// The outputs of one attempt, settled together: the first failure that cannot
// be retried wins, else the first retryable one.
struct FanIn {
  std::mutex mutex;
  size_t remaining;
  AttemptResult result;  // guarded by mutex
  Deliverer::Done done;

  FanIn(size_t outputs, Deliverer::Done d) : remaining(outputs), done(std::move(d)) {
    result.outcome = AttemptOutcome::Delivered;
  }
  void complete(AttemptResult r) {
    Deliverer::Done finish;
    AttemptResult out;
    {
      std::lock_guard lock(mutex);
      result.took = std::max(result.took, r.took);
      const bool worse = r.outcome != AttemptOutcome::Delivered &&
                         (result.outcome == AttemptOutcome::Delivered ||
                          (r.outcome == AttemptOutcome::NotRetryable && result.outcome == AttemptOutcome::Retryable));
      if (worse) {
        const auto took = result.took;
        result = std::move(r);
        result.took = took;
      }
      if (--remaining > 0) return;
      finish = std::move(done);
      out = std::move(result);
    }
    finish(std::move(out));
  }
};

}  // namespace

PipelineDeliverer::PipelineDeliverer(const Steps& steps, std::map<std::string, std::unique_ptr<Sink>> sinks,
                                     PipelineMetrics& metrics)
    : steps_(steps), sinks_(std::move(sinks)), metrics_(metrics) {}

PipelineDeliverer::~PipelineDeliverer() {
  // The executor runs tasks in order: once this one ran, none of ours is left.
  std::promise<void> drained;
  auto wait = drained.get_future();
  steps_.executor().execute([&] { drained.set_value(); });
  wait.get();
}

void PipelineDeliverer::deliver(std::shared_ptr<const ConsumedRecord> record, int attempt, Done done) {
  steps_.executor().execute(
      [this, record = std::move(record), attempt, done = std::move(done)]() mutable { run(record, attempt, done); });
}

void PipelineDeliverer::run(const std::shared_ptr<const ConsumedRecord>& record, int attempt, Done& done) {
  metrics_.recordsIn.Increment();
  PipelineRecord in;
  in.topic = record->tp.topic;
  in.partition = record->tp.partition;
  in.offset = record->offset;
  in.timestampMs = record->timestampMs;
  in.key = record->key;
  in.value = record->value;
  in.headers = record->headers;
  auto result = steps_.processHere(in);
  if (auto* failure = std::get_if<StepFailure>(&result)) {
    metrics_.stepErrors[std::min(failure->step, metrics_.stepErrors.size() - 1)]->Increment();
    AttemptResult r;
    r.outcome = AttemptOutcome::NotRetryable;
    r.error = "steps[" + std::to_string(failure->step) + "]: " + failure->message;
    r.deadLetterHeaders.emplace_back("tributary.dlq.step", std::to_string(failure->step));
    return done(std::move(r));
  }
  auto& outputs = std::get<std::vector<StepOutput>>(result);
  if (outputs.empty()) {
    metrics_.recordsFiltered.Increment();
    AttemptResult r;
    r.outcome = AttemptOutcome::Delivered;
    return done(std::move(r));
  }
  auto fan = std::make_shared<FanIn>(outputs.size(), std::move(done));
  for (uint32_t i = 0; i < outputs.size(); ++i) {
    StepOutput& o = outputs[i];
    const std::string sinkName = o.sink;
    auto it = sinks_.find(sinkName);
    if (it == sinks_.end()) {  // the parser checked every route's sink: cannot happen
      AttemptResult r;
      r.outcome = AttemptOutcome::NotRetryable;
      r.error = "no sink named " + sinkName;
      fan->complete(std::move(r));
      continue;
    }
    prometheus::Counter* out = metrics_.recordsOut[sinkName];
    prometheus::Histogram* duration = metrics_.sinkDuration[sinkName];
    it->second->send(std::move(o), *record, i, attempt, [fan, sinkName, out, duration](AttemptResult r) {
      duration->Observe(r.took.count());
      if (r.outcome == AttemptOutcome::Delivered) {
        out->Increment();
      } else {
        r.error = "sink " + sinkName + ": " + r.error;
        r.deadLetterHeaders.emplace_back("tributary.dlq.sink", sinkName);
      }
      fan->complete(std::move(r));
    });
  }
}

}  // namespace tributary::sidecar::pipeline
