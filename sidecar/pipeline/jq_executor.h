#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace tributary::sidecar::pipeline {

// A libjq value (a `jv`), owned: copies share it (libjq counts references).
// Created, used and destroyed on the JqExecutor's thread only: libjq's
// allocator is not safe to use from other threads (see JqExecutor).
class JqValue {
 public:
  enum class Kind { Invalid, Null, False, True, Number, String, Array, Object };

  JqValue();  // null
  ~JqValue();
  JqValue(const JqValue& other);
  JqValue& operator=(const JqValue& other);
  JqValue(JqValue&& other) noexcept;
  JqValue& operator=(JqValue&& other) noexcept;

  // JSON text → value; invalid (with `error` set) when it is not one JSON value.
  static JqValue parse(std::string_view json, std::string* error = nullptr);
  static JqValue string(std::string_view text);  // UTF-8 (invalid sequences replaced)
  static JqValue number(double n);
  static JqValue object(const std::vector<std::pair<std::string, std::string>>& stringMembers);

  Kind kind() const;
  bool valid() const { return kind() != Kind::Invalid; }
  // jq's truthiness: everything but false and null.
  bool truthy() const { return kind() != Kind::False && kind() != Kind::Null; }
  std::string json() const;         // compact JSON text
  std::string stringValue() const;  // the text of a String; "" otherwise

 private:
  friend class JqExecutor;
  // A jv is 16 bytes of plain data (checked in the .cc), kept here so that
  // no libjq header leaks out of the adapter.
  alignas(8) unsigned char jv_[16];
};

// jq programs (libjq), compiled once and evaluated over values, for the
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
// Thread safety: compile(), check(), run() and execute() from any thread;
// runHere() and JqValue on the executor's thread only (inside execute()).
class JqExecutor {
 public:
  using ProgramId = size_t;

  struct Compiled {
    std::optional<ProgramId> id;  // set when the expression compiled
    std::string error;            // libjq's words otherwise
    // Per declared variable: whether the expression names it. Only those are
    // bound per run (binding costs more than a simple expression's evaluation).
    std::vector<bool> uses;
  };

  struct Outputs {
    std::vector<std::string> values;  // each output as compact JSON text, in order
    std::string error;                // a runtime error (the outputs before it are dropped)
    bool ok() const { return error.empty(); }
  };
  struct ValueOutputs {
    std::vector<JqValue> values;
    std::string error;
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
  // Waits for the executor's thread.
  Outputs run(ProgramId id, const std::string& input, const std::vector<std::string>& variableValues = {});

  // Runs `task` on the executor's thread, later (tasks run in the order given);
  // returns at once. The pipeline runs all of a record's steps in one task.
  void execute(std::function<void()> task);
  // A run on the executor's thread only (inside an execute() task), over
  // values: `variables` holds every declared variable's value, in order (those
  // the expression does not use may be null).
  ValueOutputs runHere(ProgramId id, const JqValue& input, const std::vector<JqValue>& variables);
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
  bool idle_ = false;                        // guarded by mutex_: the executor waits (or is about to)
  std::vector<Program*> programs_;           // the executor thread's only
  std::thread thread_;
};

}  // namespace tributary::sidecar::pipeline
