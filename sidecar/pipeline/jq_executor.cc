#include "sidecar/pipeline/jq_executor.h"

extern "C" {
#include <jq.h>
#include <jv.h>
}

#include <future>

namespace tributary::sidecar::pipeline {
namespace {

// Takes ownership of `v` (libjq's values are consumed by every call).
std::string dumpJson(jv v) {
  jv text = jv_dump_string(v, 0);
  std::string out = jv_string_value(text);
  jv_free(text);
  return out;
}

// The text of an error value: a string as it is, anything else as JSON.
std::string errorText(jv msg) {
  if (jv_get_kind(msg) == JV_KIND_STRING) {
    std::string out = jv_string_value(msg);
    jv_free(msg);
    return out;
  }
  return dumpJson(msg);
}

void collectError(void* data, jv msg) {
  auto* out = static_cast<std::string*>(data);
  if (!out->empty()) *out += "; ";
  *out += errorText(msg);
}

// jq's `debug` would print to stderr, between the sidecar's JSON log lines.
void dropDebug(void*, jv msg) { jv_free(msg); }

}  // namespace

struct JqExecutor::Program {
  jq_state* jq = nullptr;
  size_t variables = 0;
  std::string errors;  // what the error callback collected during the last call
  ~Program() { jq_teardown(&jq); }
};

JqExecutor::JqExecutor() : thread_([this] { loop(); }) {}

JqExecutor::~JqExecutor() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void JqExecutor::post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
  }
  wake_.notify_one();
}

void JqExecutor::loop() {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) break;  // stopping, and nothing left to answer
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
  for (Program* p : programs_) delete p;  // jq_teardown on the thread that used them
  programs_.clear();
}

JqExecutor::Program* JqExecutor::newProgram(const std::string& expression, const std::vector<std::string>& variables,
                                            std::string& error) {
  auto* p = new Program;
  p->jq = jq_init();
  if (p->jq == nullptr) {
    delete p;
    error = "libjq could not allocate a jq state";
    return nullptr;
  }
  jq_set_error_cb(p->jq, &collectError, &p->errors);
  jq_set_debug_cb(p->jq, &dropDebug, nullptr);
  // The input is [value, variable values...]; the expression sees the value
  // as `.` and each variable by its name. It stays in parentheses of its own,
  // so that a trailing pipe or comma belongs to it.
  std::string program = ". as [$tributary_input";
  for (const auto& name : variables) program += ", $" + name;
  program += "] | $tributary_input | (\n" + expression + "\n)";
  p->variables = variables.size();
  if (!jq_compile(p->jq, program.c_str())) {
    error = p->errors.empty() ? "the expression does not compile" : p->errors;
    delete p;
    return nullptr;
  }
  p->errors.clear();
  return p;
}

JqExecutor::Compiled JqExecutor::compile(const std::string& expression, const std::vector<std::string>& variables) {
  std::promise<Compiled> done;
  auto answer = done.get_future();
  post([&] {
    std::string error;
    Program* p = newProgram(expression, variables, error);
    if (p == nullptr) return done.set_value({std::nullopt, error});
    programs_.push_back(p);
    done.set_value({programs_.size() - 1, ""});
  });
  return answer.get();
}

std::string JqExecutor::check(const std::string& expression, const std::vector<std::string>& variables) {
  std::promise<std::string> done;
  auto answer = done.get_future();
  post([&] {
    std::string error;
    delete newProgram(expression, variables, error);
    done.set_value(error);
  });
  return answer.get();
}

void JqExecutor::execute(std::function<void()> task) { post(std::move(task)); }

JqExecutor::Outputs JqExecutor::run(ProgramId id, const std::string& input,
                                    const std::vector<std::string>& variableValues) {
  std::promise<Outputs> done;
  auto answer = done.get_future();
  post([&] { done.set_value(runHere(id, input, variableValues)); });
  return answer.get();
}

JqExecutor::Outputs JqExecutor::runHere(ProgramId id, const std::string& input,
                                        const std::vector<std::string>& variableValues) {
  Outputs out;
  if (id >= programs_.size()) {
    out.error = "no such program";
    return out;
  }
  Program& p = *programs_[id];
  if (variableValues.size() != p.variables) {
    out.error = "the program takes " + std::to_string(p.variables) + " variables, " +
                std::to_string(variableValues.size()) + " given";
    return out;
  }
  jv args = jv_array();
  auto parse = [&](const std::string& text, const char* what) -> bool {
    jv v = jv_parse_sized(text.data(), static_cast<int>(text.size()));
    if (!jv_is_valid(v)) {
      out.error = std::string(what) + " is not JSON: " + errorText(jv_invalid_get_msg(v));
      return false;
    }
    args = jv_array_append(args, v);
    return true;
  };
  if (!parse(input, "the input")) {
    jv_free(args);
    return out;
  }
  for (const auto& value : variableValues)
    if (!parse(value, "a variable's value")) {
      jv_free(args);
      return out;
    }
  p.errors.clear();
  jq_start(p.jq, args, 0);
  while (true) {
    jv result = jq_next(p.jq);
    if (jv_is_valid(result)) {
      if (out.values.size() >= kMaxOutputs) {
        jv_free(result);
        out.error = "the expression gave more than " + std::to_string(kMaxOutputs) + " outputs";
        break;
      }
      out.values.push_back(dumpJson(result));
      continue;
    }
    if (jv_invalid_has_msg(jv_copy(result))) {
      out.error = errorText(jv_invalid_get_msg(result));
    } else {
      jv_free(result);
      if (jq_halted(p.jq)) out.error = "the expression halted";
    }
    break;
  }
  if (!out.ok()) out.values.clear();
  return out;
}

}  // namespace tributary::sidecar::pipeline
