#include "sidecar/pipeline/exactly_once_runner.h"

#include <prometheus/counter.h>

#include <algorithm>

#include "common/log/log.h"
#include "sidecar/pipeline/kafka_transactional_client.h"

namespace tributary::sidecar::pipeline {
namespace {

void add(prometheus::Counter* c, double v) {
  if (c && v > 0) c->Increment(v);
}

std::string where(const PipelineRecord& r) {
  return r.topic + "/" + std::to_string(r.partition) + "@" + std::to_string(r.offset);
}

}  // namespace

const char* stateName(ExactlyOnceStatus::State state) {
  switch (state) {
    case ExactlyOnceStatus::State::Starting: return "starting";
    case ExactlyOnceStatus::State::Running: return "running";
    case ExactlyOnceStatus::State::Stopped: return "stopped";
    case ExactlyOnceStatus::State::Fenced: return "fenced";
    case ExactlyOnceStatus::State::Failed: return "failed";
  }
  return "unknown";
}

ExactlyOnceRunner::ExactlyOnceRunner(ExactlyOnceOptions options, ProcessFn process, ExactlyOnceMetrics metrics,
                                     ExactlyOnceTestHooks hooks)
    : ExactlyOnceRunner(
          std::move(options),
          [process = std::move(process)](const std::vector<PipelineRecord>& batch) {
            std::vector<std::variant<std::vector<StepOutput>, StepFailure>> results;
            results.reserve(batch.size());
            for (const auto& record : batch) results.push_back(process(record));
            return results;
          },
          std::move(metrics), std::move(hooks)) {}

ExactlyOnceRunner::ExactlyOnceRunner(ExactlyOnceOptions options, BatchProcessFn process, ExactlyOnceMetrics metrics,
                                     ExactlyOnceTestHooks hooks)
    : options_(std::move(options)), process_(std::move(process)), metrics_(std::move(metrics)), hooks_(std::move(hooks)) {}

ExactlyOnceRunner::~ExactlyOnceRunner() { stop(std::chrono::milliseconds(0)); }

bool ExactlyOnceRunner::start(std::string& error) {
  const std::string at = "pipeline " + options_.pipeline + ": ";
  if (options_.topics.empty()) error = at + "source.topics: name at least one topic";
  else if (options_.group.empty()) error = at + "source.group: a consumer group is required";
  else if (options_.transactionalId.empty())
    error = at + "transactional.id: exactlyOnce needs a stable id per instance";
  else if (options_.bootstrapServers.empty()) error = at + "kafka.bootstrapServers: no brokers to connect to";
  else if (options_.sinkTopics.empty()) error = at + "sinks: exactlyOnce needs at least one topic sink";
  else if (options_.maxBatchRecords == 0) error = at + "max batch records must be at least 1";
  else if (!process_) error = at + "no steps to run";
  if (!error.empty()) return false;

  std::string why;
  if (hooks_.makeClient) {
    client_ = hooks_.makeClient(*this, why);
  } else {
    KafkaTransactionalConfig c;
    c.bootstrapServers = options_.bootstrapServers;
    c.properties = options_.properties;
    c.transactionalId = options_.transactionalId;
    c.group = options_.group;
    c.topics = options_.topics;
    c.startFromEarliest = options_.startFrom == ExactlyOnceOptions::StartFrom::Earliest;
    c.clientId = "tributary-pipeline-" + options_.pipeline;
    client_ = makeKafkaTransactionalClient(c, *this, why);
  }
  if (!client_) {
    error = at + why;
    return false;
  }
  thread_ = std::thread([this] { run(); });
  return true;
}

void ExactlyOnceRunner::stop(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      stopping_ = true;
      graceDeadline_ = Clock::now() + grace;
    }
  }
  changed_.notify_all();
  {
    std::lock_guard lock(clientMutex_);
    if (client_) client_->wakeup();
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(clientMutex_);
  client_.reset();
}

ExactlyOnceStatus ExactlyOnceRunner::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

bool ExactlyOnceRunner::ready() const {
  std::lock_guard lock(mutex_);
  return status_.state == ExactlyOnceStatus::State::Running;
}

bool ExactlyOnceRunner::stopRequested() const {
  std::lock_guard lock(mutex_);
  return stopping_;
}

bool ExactlyOnceRunner::waitUntilEnded(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return ended_; });
}

bool ExactlyOnceRunner::graceExpired() const {
  std::lock_guard lock(mutex_);
  return stopping_ && Clock::now() >= graceDeadline_;
}

// Each Kafka call gets the operation timeout, or what is left of the grace
// period once stopping (at least a moment, so an abort can still be sent).
std::chrono::milliseconds ExactlyOnceRunner::opTimeout() const {
  std::lock_guard lock(mutex_);
  if (!stopping_) return options_.operationTimeout;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(graceDeadline_ - Clock::now());
  return std::clamp(left, std::chrono::milliseconds(100), options_.operationTimeout);
}

// Waits `d` unless stop() comes first; true when stopping.
bool ExactlyOnceRunner::waitStopping(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, d, [&] { return stopping_; });
}

int64_t ExactlyOnceRunner::nowMs() const {
  if (options_.nowMs) return options_.nowMs();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void ExactlyOnceRunner::end(ExactlyOnceStatus::State state, const std::string& error) {
  if (state == ExactlyOnceStatus::State::Fenced || state == ExactlyOnceStatus::State::Failed)
    log::error("exactly-once pipeline ended", {{"pipeline", options_.pipeline}, {"state", stateName(state)},
                                               {"error", error}});
  else
    log::info("exactly-once pipeline stopped", {{"pipeline", options_.pipeline}});
  {
    std::lock_guard lock(mutex_);
    status_.state = state;
    if (state != ExactlyOnceStatus::State::Stopped) status_.error = error;
    ended_ = true;
  }
  changed_.notify_all();
}

void ExactlyOnceRunner::run() {
  // Register the transactional.id. Retried while the coordinator does not
  // answer (brokers starting, coordinator moving): the pod stays not ready.
  for (;;) {
    if (waitStopping(std::chrono::milliseconds(0))) {
      client_->close();
      return end(ExactlyOnceStatus::State::Stopped, "");
    }
    const TxnError e = client_->initTransactions(opTimeout());
    if (!e) break;
    if (e.kind != TxnError::Kind::Retriable) {
      client_->close();
      return end(e.kind == TxnError::Kind::Fenced ? ExactlyOnceStatus::State::Fenced : ExactlyOnceStatus::State::Failed,
                 e.message);
    }
    log::warn("exactly-once pipeline: transactional.id not registered yet; retrying",
              {{"pipeline", options_.pipeline}, {"error", e.message}});
    waitStopping(std::chrono::seconds(1));
  }
  {
    std::lock_guard lock(mutex_);
    status_.state = ExactlyOnceStatus::State::Running;
  }
  changed_.notify_all();
  log::info("exactly-once pipeline running",
            {{"pipeline", options_.pipeline}, {"transactionalId", options_.transactionalId}});

  while (!waitStopping(std::chrono::milliseconds(0))) {
    revokedDuringPoll_.clear();
    std::vector<PipelineRecord> batch = client_->poll(options_.maxBatchRecords, options_.maxBatchTime);
    // Records of partitions revoked while polling belong to their new owner,
    // which reads them again from the committed offsets (even when the
    // partition came back within the same poll: the position restarts there).
    if (!revokedDuringPoll_.empty())
      batch.erase(std::remove_if(batch.begin(), batch.end(),
                                 [&](const PipelineRecord& r) {
                                   return revokedDuringPoll_.count({r.topic, r.partition}) > 0;
                                 }),
                  batch.end());
    if (batch.empty()) continue;
    switch (runTransaction(batch)) {
      case Outcome::Committed:
        backoff_ = std::chrono::milliseconds(0);
        break;
      case Outcome::Aborted:
        // A persistent abortable error (a sink topic that cannot be written)
        // must not spin: redo the batch after a growing pause.
        backoff_ = backoff_.count() == 0 ? options_.abortBackoffMin
                                         : std::min(options_.abortBackoffMax, backoff_ * 2);
        waitStopping(backoff_);
        break;
      case Outcome::Ended:
        return;
    }
  }
  client_->close();
  end(ExactlyOnceStatus::State::Stopped, "");
}

ExactlyOnceRunner::Outcome ExactlyOnceRunner::runTransaction(std::vector<PipelineRecord>& batch) {
  // Where each partition of the batch starts (to redo it) and the offsets
  // the transaction commits (the record after the batch's last).
  std::map<TopicPartition, int64_t> start, next;
  for (const auto& r : batch) {
    start.emplace(TopicPartition{r.topic, r.partition}, r.offset);
    next[{r.topic, r.partition}] = r.offset + 1;
  }

  if (TxnError e = client_->beginTransaction()) {
    // No transaction to abort: a begin that fails is a state librdkafka cannot
    // leave (fatal), or a bug of ours.
    if (e.kind != TxnError::Kind::Fenced) e.kind = TxnError::Kind::Fatal;
    return handle(e, start);
  }
  txnOpen_ = true;
  uint64_t out = 0, deadLettered = 0;
  std::map<std::string, uint64_t> outBySink;

  auto results = process_(batch);
  for (size_t i = 0; i < batch.size(); ++i) {
    const PipelineRecord& record = batch[i];
    if (graceExpired()) {
      if (!abort("stopping: the grace period ended before the batch was done")) return Outcome::Ended;
      client_->seek(start, opTimeout());
      return Outcome::Aborted;
    }
    auto& result = results[i];
    if (auto* failure = std::get_if<StepFailure>(&result)) {
      if (options_.deadLetterTopic.empty()) {
        const std::string msg = "record " + where(record) + " failed at step " + std::to_string(failure->step) +
                                ": " + failure->message +
                                "; no deadLetterTopic is set and exactlyOnce cannot skip a record — set "
                                "deadLetterTopic, or fix the step or the record";
        if (!abort(msg)) return Outcome::Ended;
        client_->close();
        end(ExactlyOnceStatus::State::Failed, msg);
        return Outcome::Ended;
      }
      // The same headers as a subscription's dead letters (the pipeline's
      // name as the subscription), plus the failing step.
      TxnRecord dl;
      dl.topic = options_.deadLetterTopic;
      dl.key = record.key;
      dl.value = record.value;
      dl.headers = record.headers;
      const std::string now = std::to_string(nowMs());
      dl.headers.emplace_back("tributary.dlq.topic", record.topic);
      dl.headers.emplace_back("tributary.dlq.partition", std::to_string(record.partition));
      dl.headers.emplace_back("tributary.dlq.offset", std::to_string(record.offset));
      dl.headers.emplace_back("tributary.dlq.subscription", options_.pipeline);
      dl.headers.emplace_back("tributary.dlq.attempts", "1");
      dl.headers.emplace_back("tributary.dlq.error", failure->message);
      dl.headers.emplace_back("tributary.dlq.first-attempt-ms", now);
      dl.headers.emplace_back("tributary.dlq.last-attempt-ms", now);
      dl.headers.emplace_back("tributary.dlq.step", std::to_string(failure->step));
      if (TxnError e = client_->produce(dl, opTimeout())) return handle(e, start);
      ++deadLettered;
      continue;
    }
    for (auto& output : std::get<std::vector<StepOutput>>(result)) {
      auto sink = options_.sinkTopics.find(output.sink);
      if (sink == options_.sinkTopics.end()) {
        const std::string msg = "record " + where(record) + " was routed to sink '" + output.sink +
                                "', which is not a topic sink of this pipeline";
        if (!abort(msg)) return Outcome::Ended;
        client_->close();
        end(ExactlyOnceStatus::State::Failed, msg);
        return Outcome::Ended;
      }
      TxnRecord r;
      r.topic = sink->second;
      r.key = std::move(output.key);
      r.value = std::move(output.value);
      r.headers = std::move(output.headers);
      if (TxnError e = client_->produce(r, opTimeout())) return handle(e, start);
      ++out;
      ++outBySink[output.sink];
    }
  }

  if (graceExpired()) {
    if (!abort("stopping: the grace period ended before the batch was committed")) return Outcome::Ended;
    client_->seek(start, opTimeout());
    return Outcome::Aborted;
  }
  // Every record acknowledged (a failed one fails the transaction before its
  // offsets go in), then the offsets, then the commit.
  for (;;) {
    TxnError e = client_->flush(opTimeout());
    if (!e) break;
    if (e.kind != TxnError::Kind::Retriable || graceExpired()) {
      if (e.kind == TxnError::Kind::Retriable) e.kind = TxnError::Kind::Abortable;
      return handle(e, start);
    }
  }
  for (;;) {
    TxnError e = client_->sendOffsets(next, opTimeout());
    if (!e) break;
    if (e.kind != TxnError::Kind::Retriable || graceExpired()) {
      if (e.kind == TxnError::Kind::Retriable) e.kind = TxnError::Kind::Abortable;
      return handle(e, start);
    }
  }
  if (hooks_.beforeCommit && hooks_.beforeCommit()) {
    {
      std::lock_guard lock(clientMutex_);
      client_->abandon();
    }
    txnOpen_ = false;
    end(ExactlyOnceStatus::State::Failed, "test hook: crashed before commit");
    return Outcome::Ended;
  }
  // A commit that timed out is resumed by calling it again (librdkafka keeps
  // the EndTxn going); until the grace period of a stop runs out.
  for (;;) {
    TxnError e = client_->commitTransaction(opTimeout());
    if (!e) break;
    if (e.kind != TxnError::Kind::Retriable || graceExpired()) {
      if (e.kind == TxnError::Kind::Retriable) e.kind = TxnError::Kind::Abortable;
      return handle(e, start);
    }
    log::warn("exactly-once pipeline: commit not confirmed yet; retrying",
              {{"pipeline", options_.pipeline}, {"error", e.message}});
  }
  txnOpen_ = false;
  add(metrics_.transactionsCommitted, 1);
  add(metrics_.recordsIn, static_cast<double>(batch.size()));
  add(metrics_.recordsOut, static_cast<double>(out));
  for (const auto& [sink, n] : outBySink)
    if (auto c = metrics_.recordsOutBySink.find(sink); c != metrics_.recordsOutBySink.end())
      add(c->second, static_cast<double>(n));
  add(metrics_.deadLettered, static_cast<double>(deadLettered));
  {
    std::lock_guard lock(mutex_);
    ++status_.transactionsCommitted;
    status_.recordsIn += batch.size();
    status_.recordsOut += out;
    status_.deadLettered += deadLettered;
  }
  return Outcome::Committed;
}

ExactlyOnceRunner::Outcome ExactlyOnceRunner::handle(const TxnError& e, const std::map<TopicPartition, int64_t>& rewindTo) {
  switch (e.kind) {
    case TxnError::Kind::None:
      return Outcome::Committed;  // not reached: callers pass errors only
    case TxnError::Kind::Retriable:
    case TxnError::Kind::Abortable:
      if (!abort(e.message)) return Outcome::Ended;
      // Back to where the batch started: the next poll reads it again.
      client_->seek(rewindTo, opTimeout());
      return Outcome::Aborted;
    case TxnError::Kind::Fenced:
    case TxnError::Kind::Fatal:
      // Nothing may be written any more; the broker aborts the open
      // transaction (on the next instance's init, or on its timeout).
      txnOpen_ = false;
      client_->close();
      end(e.kind == TxnError::Kind::Fenced ? ExactlyOnceStatus::State::Fenced : ExactlyOnceStatus::State::Failed,
          e.message);
      return Outcome::Ended;
  }
  return Outcome::Ended;
}

bool ExactlyOnceRunner::abort(const std::string& why) {
  log::warn("exactly-once pipeline: aborting the transaction", {{"pipeline", options_.pipeline}, {"reason", why}});
  // A timed-out abort is resumed by calling it again, a few times.
  TxnError e;
  for (int attempt = 0; attempt < 3; ++attempt) {
    e = client_->abortTransaction(opTimeout());
    if (e.kind != TxnError::Kind::Retriable) break;
  }
  txnOpen_ = false;
  if (!e) {
    add(metrics_.transactionsAborted, 1);
    std::lock_guard lock(mutex_);
    ++status_.transactionsAborted;
    status_.error = why;
    return true;
  }
  client_->close();
  end(e.kind == TxnError::Kind::Fenced ? ExactlyOnceStatus::State::Fenced : ExactlyOnceStatus::State::Failed,
      e.message + " (after: " + why + ")");
  return false;
}

void ExactlyOnceRunner::onAssigned(const std::vector<TopicPartition>& partitions) {
  log::info("exactly-once pipeline: partitions assigned",
            {{"pipeline", options_.pipeline}, {"partitions", std::to_string(partitions.size())}});
}

// Runs inside poll() or close(), on the runner's thread. The loop polls only
// between transactions, so no transaction is open here; the guard keeps that
// true should the loop ever poll while one is.
void ExactlyOnceRunner::onRevoked(const std::vector<TopicPartition>& partitions) {
  revokedDuringPoll_.insert(partitions.begin(), partitions.end());
  if (txnOpen_) abort("partitions revoked by a group rebalance");
  log::info("exactly-once pipeline: partitions revoked",
            {{"pipeline", options_.pipeline}, {"partitions", std::to_string(partitions.size())}});
}

}  // namespace tributary::sidecar::pipeline
