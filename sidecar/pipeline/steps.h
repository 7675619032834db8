#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "sidecar/pipeline/jq_executor.h"

namespace tributary::sidecar::pipeline {

// One `steps:` entry, as the pipeline file writes it (validated by the config parser).
struct StepConfig {
  enum class Kind { Filter, Transform, SetKey, SetHeaders, Route };
  struct Route {
    std::string when;  // jq expression
    std::string sink;  // a name of `sinks`
  };
  Kind kind = Kind::Filter;
  std::string expression;                          // filter, transform, setKey
  std::vector<std::pair<std::string, std::string>> headers;  // setHeaders: name → expression
  std::vector<Route> routes;                       // route, first match wins
};

// A record as the steps see it. `value` is bytes; the steps see it as `.`:
// parsed when it is JSON, a JSON string when it is other UTF-8 text, null when
// it is binary or absent (then `$valueBase64` has it).
struct PipelineRecord {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  int64_t timestampMs = -1;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::string>> headers;
};

// What the steps made of one input record: zero or more records, each for a sink.
struct StepOutput {
  std::optional<std::string> key;
  std::optional<std::string> value;  // JSON text when a step wrote it; the input's bytes otherwise
  std::vector<std::pair<std::string, std::string>> headers;
  std::string sink;
};

// Why a record could not go through: a non-retryable failure, dead-lettered
// with the step's index and the message.
struct StepFailure {
  size_t step = 0;  // index in `steps:`
  std::string message;
};

// The steps of one pipeline, compiled once (on the executor's thread). The
// variables an expression may use: $key, $headers, $topic, $partition, $offset,
// $timestamp, $valueBase64.
//
// Thread safety: process() may be called from any thread (the executor
// serialises the jq work), processHere() from the executor's thread; compile()
// once, before.
class Steps {
 public:
  // Compiles every expression; each error names the step's index, its kind and the expression.
  static std::variant<Steps, std::vector<std::string>> compile(JqExecutor& jq, const std::vector<StepConfig>& steps,
                                                              const std::string& defaultSink);

  // Says whether every expression compiles (each error as compile() words it),
  // keeping nothing compiled: the operator's check of a spec.
  static std::vector<std::string> check(JqExecutor& jq, const std::vector<StepConfig>& steps);

  using Result = std::variant<std::vector<StepOutput>, StepFailure>;
  // Runs the steps over one record. Outputs in order; none when filtered out.
  // Any thread; waits for the executor's thread.
  Result process(const PipelineRecord& record) const;
  // The same, on the executor's thread only (inside JqExecutor::execute()).
  Result processHere(const PipelineRecord& record) const;
  JqExecutor& executor() const { return *jq_; }

 private:
  struct Compiled {
    StepConfig::Kind kind;
    JqExecutor::ProgramId program = 0;
    std::vector<std::pair<std::string, JqExecutor::ProgramId>> headers;
    std::vector<std::pair<JqExecutor::ProgramId, std::string>> routes;
  };
  Steps(JqExecutor& jq, std::vector<Compiled> steps, std::string defaultSink)
      : jq_(&jq), steps_(std::move(steps)), defaultSink_(std::move(defaultSink)) {}

  JqExecutor* jq_;
  std::vector<Compiled> steps_;
  std::string defaultSink_;  // empty: an unrouted record is a failure
};

const char* stepKindName(StepConfig::Kind kind);

}  // namespace tributary::sidecar::pipeline
