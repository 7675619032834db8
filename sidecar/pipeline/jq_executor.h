#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tributary::sidecar::pipeline {

// jq programs (libjq), compiled once and evaluated over JSON texts, for the
// pipeline steps' expressions (filter, transform, setKey, setHeaders, route).
//
// Every libjq call of the process runs on this executor's own thread; other
// threads hand it work and wait for the answer. libjq 1.6 (Debian bookworm) is
// not safe to use from several threads even with a jq_state each: its allocator
// sets up its thread-local state only for the first thread that uses libjq, and
// other threads crash (jq issues #2483 and #2545, fixed in jq 1.7 by PR #2546,
// which bookworm does not have). One thread per process is also what makes
// compile-time validation in the operator safe next to its reconcile workers.
//
// Thread safety: every public method may be called from any thread.
class JqExecutor {
 public:
  using ProgramId = size_t;

  struct Compiled {
    std::optional<ProgramId> id;  // set when the expression compiled
    std::string error;            // libjq's words otherwise
  };

  struct Outputs {
    std::vector<std::string> values;  // each output as compact JSON text, in order
    std::string error;                // a runtime error (the outputs before it are dropped)
    bool ok() const { return error.empty(); }
  };

  // At most this many outputs per run: an expression such as `range(1e9)` is
  // refused as an error rather than filling memory.
  static constexpr size_t kMaxOutputs = 10'000;

  JqExecutor();
  ~JqExecutor();
  JqExecutor(const JqExecutor&) = delete;
  JqExecutor& operator=(const JqExecutor&) = delete;

  // Compiles `expression`. `variables` are names (without `$`) the expression
  // may use; their values are given to each run, in the same order.
  Compiled compile(const std::string& expression, const std::vector<std::string>& variables = {});

  // Compiles `expression` only to say whether it compiles (the error, or ""),
  // keeping nothing: for validation in a long-lived process (the operator).
  std::string check(const std::string& expression, const std::vector<std::string>& variables = {});

  // Runs a compiled program with `input` (JSON text) as `.` and the variables'
  // values (JSON texts). An input or value that is not JSON is an error.
  // Waits for the executor's thread; see runHere() for work already on it.
  Outputs run(ProgramId id, const std::string& input, const std::vector<std::string>& variableValues = {});

  // Runs `task` on the executor's thread, later (tasks run in the order given);
  // returns at once. Inside it, runHere() evaluates without a hand-over: the
  // pipeline runs all of a record's steps in one task.
  void execute(std::function<void()> task);
  // run(), on the executor's thread only (from inside an execute() task).
  Outputs runHere(ProgramId id, const std::string& input, const std::vector<std::string>& variableValues);
  bool onExecutorThread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  struct Program;
  static Program* newProgram(const std::string& expression, const std::vector<std::string>& variables,
                             std::string& error);
  void post(std::function<void()> task);
  void loop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;  // guarded by mutex_
  bool stopping_ = false;                    // guarded by mutex_
  std::vector<Program*> programs_;           // the executor thread's only
  std::thread thread_;
};

}  // namespace tributary::sidecar::pipeline
