#include "sidecar/pipeline/jq_executor.h"

extern "C" {
#include <jq.h>
#include <jv.h>
}

#include <cctype>
#include <future>
#include <new>

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

static_assert(sizeof(jv) == 16, "JqValue keeps a jv in 16 bytes");
static_assert(alignof(jv) <= 8, "JqValue aligns its jv to 8 bytes");

namespace {
jv& raw(unsigned char* storage) { return *reinterpret_cast<jv*>(storage); }
const jv& raw(const unsigned char* storage) { return *reinterpret_cast<const jv*>(storage); }
void put(unsigned char* storage, jv v) { new (storage) jv(v); }

// Whether `expression` names the variable `$name` (not `$names`): jq has no
// other way to reach a variable, so a program that does not name one need not
// bind it. A false positive (the text inside a string literal) only binds it.
bool names(const std::string& expression, const std::string& name) {
  const std::string needle = "$" + name;
  for (size_t at = expression.find(needle); at != std::string::npos; at = expression.find(needle, at + 1)) {
    const size_t end = at + needle.size();
    if (end == expression.size()) return true;
    const char c = expression[end];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return true;
  }
  return false;
}
// Whether `word` appears in `text` as a whole identifier (not `environment`).
bool mentionsWord(const std::string& text, const std::string& word) {
  auto ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
    const bool startOk = at == 0 || (!ident(text[at - 1]) && text[at - 1] != '$');
    const bool endOk = at + word.size() == text.size() || !ident(text[at + word.size()]);
    if (startOk && endOk) return true;
  }
  return false;
}
}  // namespace

JqValue::JqValue() { put(jv_, jv_null()); }
JqValue::~JqValue() { jv_free(raw(jv_)); }
JqValue::JqValue(const JqValue& other) { put(jv_, jv_copy(raw(other.jv_))); }
JqValue& JqValue::operator=(const JqValue& other) {
  if (this != &other) {
    jv_free(raw(jv_));
    put(jv_, jv_copy(raw(other.jv_)));
  }
  return *this;
}
JqValue::JqValue(JqValue&& other) noexcept {
  put(jv_, raw(other.jv_));
  put(other.jv_, jv_null());
}
JqValue& JqValue::operator=(JqValue&& other) noexcept {
  if (this != &other) {
    jv_free(raw(jv_));
    put(jv_, raw(other.jv_));
    put(other.jv_, jv_null());
  }
  return *this;
}

JqValue JqValue::parse(std::string_view json, std::string* error) {
  JqValue out;
  jv v = jv_parse_sized(json.data(), static_cast<int>(json.size()));
  if (!jv_is_valid(v) && error) *error = errorText(jv_invalid_get_msg(jv_copy(v)));
  jv_free(raw(out.jv_));
  put(out.jv_, v);
  return out;
}
JqValue JqValue::string(std::string_view text) {
  JqValue out;
  put(out.jv_, jv_string_sized(text.data(), static_cast<int>(text.size())));
  return out;
}
JqValue JqValue::number(double n) {
  JqValue out;
  put(out.jv_, jv_number(n));
  return out;
}
JqValue JqValue::object(const std::vector<std::pair<std::string, std::string>>& stringMembers) {
  jv o = jv_object();
  for (const auto& [name, value] : stringMembers)
    o = jv_object_set(o, jv_string_sized(name.data(), static_cast<int>(name.size())),
                      jv_string_sized(value.data(), static_cast<int>(value.size())));
  JqValue out;
  put(out.jv_, o);
  return out;
}
JqValue::Kind JqValue::kind() const {
  switch (jv_get_kind(raw(jv_))) {
    case JV_KIND_INVALID: return Kind::Invalid;
    case JV_KIND_NULL: return Kind::Null;
    case JV_KIND_FALSE: return Kind::False;
    case JV_KIND_TRUE: return Kind::True;
    case JV_KIND_NUMBER: return Kind::Number;
    case JV_KIND_STRING: return Kind::String;
    case JV_KIND_ARRAY: return Kind::Array;
    case JV_KIND_OBJECT: return Kind::Object;
  }
  return Kind::Invalid;
}
std::string JqValue::json() const { return dumpJson(jv_copy(raw(jv_))); }
std::string JqValue::stringValue() const {
  if (jv_get_kind(raw(jv_)) != JV_KIND_STRING) return "";
  const jv& v = raw(jv_);
  return std::string(jv_string_value(v), static_cast<size_t>(jv_string_length_bytes(jv_copy(v))));
}

struct JqExecutor::Program {
  jq_state* jq = nullptr;
  size_t variables = 0;            // declared
  std::vector<size_t> used;        // indexes of the declared variables the expression names
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
  bool wake;
  {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
    // The executor takes every task waiting at once: it needs waking only when
    // it may be asleep, not once per record.
    wake = idle_;
  }
  if (wake) wake_.notify_one();
}

void JqExecutor::loop() {
  std::deque<std::function<void()>> batch;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      idle_ = true;
      wake_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
      idle_ = false;
      if (tasks_.empty()) break;  // stopping, and nothing left to answer
      batch.swap(tasks_);
    }
    for (auto& task : batch) task();
    batch.clear();
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
  p->variables = variables.size();
  for (size_t i = 0; i < variables.size(); ++i)
    if (names(expression, variables[i])) p->used.push_back(i);
  std::string program;
  if (p->used.empty()) {
    program = "(\n" + expression + "\n)";
  } else {
    program = ". as [$tributary_input";
    for (size_t i : p->used) program += ", $" + variables[i];
    program += "] | $tributary_input | (\n" + expression + "\n)";
  }
  // `env` and `$ENV` would hand an expression the process's environment
  // (Kafka credentials from Secrets among it) to write into a sink: both are
  // an empty object here. Only where the text names them: binding costs.
  if (names(expression, "ENV") || mentionsWord(expression, "env")) program = "def env: {}; {} as $ENV | " + program;
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
    if (p == nullptr) return done.set_value({std::nullopt, error, {}});
    programs_.push_back(p);
    Compiled c{programs_.size() - 1, "", std::vector<bool>(variables.size(), false)};
    for (size_t i : p->used) c.uses[i] = true;
    done.set_value(std::move(c));
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
  post([&] {
    Outputs out;
    std::string error;
    JqValue in = JqValue::parse(input, &error);
    if (!in.valid()) {
      out.error = "the input is not JSON: " + error;
      return done.set_value(std::move(out));
    }
    std::vector<JqValue> variables;
    for (const auto& text : variableValues) {
      variables.push_back(JqValue::parse(text, &error));
      if (!variables.back().valid()) {
        out.error = "a variable's value is not JSON: " + error;
        return done.set_value(std::move(out));
      }
    }
    auto values = runHere(id, in, variables);
    out.error = std::move(values.error);
    for (const auto& v : values.values) out.values.push_back(v.json());
    done.set_value(std::move(out));
  });
  return answer.get();
}

JqExecutor::ValueOutputs JqExecutor::runHere(ProgramId id, const JqValue& input,
                                             const std::vector<JqValue>& variables) {
  ValueOutputs out;
  if (id >= programs_.size()) {
    out.error = "no such program";
    return out;
  }
  Program& p = *programs_[id];
  if (variables.size() != p.variables) {
    out.error = "the program takes " + std::to_string(p.variables) + " variables, " +
                std::to_string(variables.size()) + " given";
    return out;
  }
  jv args;
  if (p.used.empty()) {
    args = jv_copy(raw(input.jv_));
  } else {
    args = jv_array_sized(static_cast<int>(p.used.size() + 1));
    args = jv_array_append(args, jv_copy(raw(input.jv_)));
    for (size_t i : p.used) args = jv_array_append(args, jv_copy(raw(variables[i].jv_)));
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
      out.values.emplace_back();
      jv_free(raw(out.values.back().jv_));
      put(out.values.back().jv_, result);
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
