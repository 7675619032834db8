#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "sidecar/pipeline/steps.h"
#include "sidecar/pipeline/transactional_client.h"

namespace prometheus {
class Counter;
}

namespace tributary::sidecar::pipeline {

// What an exactly-once pipeline instance runs with (`processing: exactlyOnce`).
// Immutable once given to the runner.
struct ExactlyOnceOptions {
  std::string pipeline;  // its name: logs, and the dead letters' tributary.dlq.subscription header
  std::vector<std::string> topics;
  std::string group;
  enum class StartFrom { Earliest, Latest };
  StartFrom startFrom = StartFrom::Earliest;  // when the group has no committed offset
  // Stable per instance (replica): a restarted instance with the same id
  // fences its predecessor and the broker aborts the predecessor's open transaction.
  std::string transactionalId;
  std::string bootstrapServers;
  std::map<std::string, std::string> properties;  // librdkafka, for both clients
  std::map<std::string, std::string> sinkTopics;  // sink name → topic (topic sinks on the source's cluster only)
  // Where a record a step failed on is written, in the same transaction.
  // Empty: such a record stops the pipeline (Failed) — exactly-once cannot skip it silently.
  std::string deadLetterTopic;
  size_t maxBatchRecords = 500;                   // per transaction
  std::chrono::milliseconds maxBatchTime{100};    // to fill a batch
  std::chrono::milliseconds operationTimeout{30'000};  // each init / flush / send-offsets / commit / abort
  // Backoff after an aborted transaction before the batch is redone: doubles from min to max.
  std::chrono::milliseconds abortBackoffMin{100};
  std::chrono::milliseconds abortBackoffMax{5'000};
  std::function<int64_t()> nowMs;  // wall clock for the dead-letter timestamps; system clock when empty
};

// The pipeline's steps over one record (Steps::process, or anything of that shape).
using ProcessFn = std::function<std::variant<std::vector<StepOutput>, StepFailure>(const PipelineRecord&)>;
// The same over a whole batch, one result per record in order: one hand-over
// to the jq thread per transaction instead of one per record.
using BatchProcessFn =
    std::function<std::vector<std::variant<std::vector<StepOutput>, StepFailure>>(const std::vector<PipelineRecord>&)>;

// Counters the runner increments (any may be null). Records are counted when
// their transaction commits — what a read_committed reader will see.
// Suggested wiring: tributary_pipeline_transactions_total{outcome=commit|abort},
// tributary_pipeline_records_total{direction=in|out}, tributary_pipeline_dead_letters_total.
struct ExactlyOnceMetrics {
  prometheus::Counter* transactionsCommitted = nullptr;
  prometheus::Counter* transactionsAborted = nullptr;
  prometheus::Counter* recordsIn = nullptr;
  prometheus::Counter* recordsOut = nullptr;
  prometheus::Counter* deadLettered = nullptr;
  std::map<std::string, prometheus::Counter*> recordsOutBySink;  // by sink name
};

struct ExactlyOnceStatus {
  enum class State {
    Starting,  // initialising the transactional.id (retried while the coordinator does not answer)
    Running,
    Stopped,   // stop() ended it
    Fenced,    // another instance took the transactional.id over: exit non-zero, the pod restarts
    Failed,    // a fatal error (message in `error`): exit non-zero
  };
  State state = State::Starting;
  std::string error;  // Fenced, Failed: why; Running: the last abort's reason, for logs
  uint64_t transactionsCommitted = 0;
  uint64_t transactionsAborted = 0;
  uint64_t recordsIn = 0;  // committed: the three counts are what read_committed readers see
  uint64_t recordsOut = 0;
  uint64_t deadLettered = 0;
};

const char* stateName(ExactlyOnceStatus::State state);

// Test seams. Production code leaves them empty.
struct ExactlyOnceTestHooks {
  // Runs on the runner's thread once a batch's records and offsets are in the
  // transaction, before the commit. Returning true simulates a crash there:
  // the loop ends without commit or abort, the clients are abandoned as a
  // killed process leaves them (TransactionalClient::abandon), the state is Failed.
  std::function<bool()> beforeCommit;
  // Replaces the librdkafka client (e.g. a fake).
  std::function<std::unique_ptr<TransactionalClient>(TxnRebalanceListener&, std::string& error)> makeClient;
};

// The exactly-once loop of one pipeline instance, on a thread of its own:
// poll up to maxBatchRecords (or for maxBatchTime) → run the steps over each
// record → in ONE transaction: every output to its sink topic (key, headers
// carried), every step failure to the dead-letter topic, and the source
// offsets after the batch (with the group's generation) → commit. An
// abortable error aborts the transaction, moves the source back to where the
// batch started and redoes it after a backoff. Fenced or fatal: the loop ends
// and status() says why.
//
// Thread safety: the constructor, start(), stop() and the destructor from one
// owning thread; status(), ready() and waitUntilEnded() from any thread. The
// process function runs on the runner's thread, one record at a time.
class ExactlyOnceRunner final : private TxnRebalanceListener {
 public:
  ExactlyOnceRunner(ExactlyOnceOptions options, ProcessFn process, ExactlyOnceMetrics metrics = {},
                    ExactlyOnceTestHooks hooks = {});
  ExactlyOnceRunner(ExactlyOnceOptions options, BatchProcessFn process, ExactlyOnceMetrics metrics = {},
                    ExactlyOnceTestHooks hooks = {});
  ~ExactlyOnceRunner() override;  // stop(0) when still running
  ExactlyOnceRunner(const ExactlyOnceRunner&) = delete;
  ExactlyOnceRunner& operator=(const ExactlyOnceRunner&) = delete;

  // Creates the clients (a refused librdkafka property is reported here, named)
  // and starts the thread. Once. Checks the options: `error` names the field.
  bool start(std::string& error);

  // Takes no new batch; the batch in progress is finished and committed if
  // that completes within `grace`, aborted otherwise; then leaves the group
  // and closes. Returns when the thread has ended. Idempotent.
  void stop(std::chrono::milliseconds grace);

  ExactlyOnceStatus status() const;
  bool ready() const;  // Running
  bool stopRequested() const;  // stop() was called (e.g. /readyz may turn not ready at once)
  // True once the loop has ended (Stopped, Fenced or Failed), waiting up to `timeout`.
  bool waitUntilEnded(std::chrono::milliseconds timeout) const;

 private:
  using Clock = std::chrono::steady_clock;
  enum class Outcome { Committed, Aborted, Ended };

  void run();
  Outcome runTransaction(std::vector<PipelineRecord>& batch);
  // Aborts the open transaction; false when that failed fatally (the loop ended).
  bool abort(const std::string& why);
  Outcome handle(const TxnError& e, const std::map<TopicPartition, int64_t>& rewindTo);
  void end(ExactlyOnceStatus::State state, const std::string& error);
  bool graceExpired() const;
  std::chrono::milliseconds opTimeout() const;
  bool waitStopping(std::chrono::milliseconds d);
  int64_t nowMs() const;

  void onAssigned(const std::vector<TopicPartition>& partitions) override;
  void onRevoked(const std::vector<TopicPartition>& partitions) override;

  const ExactlyOnceOptions options_;
  const BatchProcessFn process_;
  const ExactlyOnceMetrics metrics_;
  const ExactlyOnceTestHooks hooks_;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  ExactlyOnceStatus status_;        // guarded by mutex_
  bool stopping_ = false;           // guarded by mutex_
  bool ended_ = false;              // guarded by mutex_
  Clock::time_point graceDeadline_; // guarded by mutex_, set with stopping_

  std::mutex clientMutex_;  // held to destroy/abandon the client and to wake it up
  std::unique_ptr<TransactionalClient> client_;
  std::thread thread_;

  // The runner thread's only.
  bool txnOpen_ = false;
  std::set<TopicPartition> revokedDuringPoll_;
  std::chrono::milliseconds backoff_{0};
};

}  // namespace tributary::sidecar::pipeline
