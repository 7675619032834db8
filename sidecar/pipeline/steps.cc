#include "sidecar/pipeline/steps.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <future>

#include "common/codec/base64.h"
#include "common/codec/json_text.h"
#include "common/codec/utf8.h"

namespace tributary::sidecar::pipeline {
namespace {

using Json = nlohmann::json;

// The variables every expression may use, in the order their values are given.
const std::vector<std::string>& variableNames() {
  static const std::vector<std::string> k = {"key", "headers", "topic", "partition", "offset", "timestamp",
                                             "valueBase64"};
  return k;
}

// A record in the middle of the steps: its value as JSON text (what `.` is).
struct Working {
  std::optional<std::string> key;
  std::string valueJson;                  // `.`
  std::optional<std::string> valueBytes;  // the input's bytes while no step changed the value
  bool valueChanged = false;
  std::vector<std::pair<std::string, std::string>> headers;
};

std::string jsonText(const std::string& s) {
  return Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
}

// jq's truthiness: everything but false and null.
bool truthy(const std::string& json) { return json != "false" && json != "null"; }

// An expression's result as Kafka bytes: a JSON string as its text, anything
// else as its JSON text; null as "no bytes".
std::optional<std::string> asBytes(const std::string& json) {
  if (json == "null") return std::nullopt;
  if (!json.empty() && json[0] == '"') return Json::parse(json).get<std::string>();
  return json;
}

}  // namespace

const char* stepKindName(StepConfig::Kind kind) {
  switch (kind) {
    case StepConfig::Kind::Filter: return "filter";
    case StepConfig::Kind::Transform: return "transform";
    case StepConfig::Kind::SetKey: return "setKey";
    case StepConfig::Kind::SetHeaders: return "setHeaders";
    case StepConfig::Kind::Route: return "route";
  }
  return "?";
}

std::variant<Steps, std::vector<std::string>> Steps::compile(JqExecutor& jq, const std::vector<StepConfig>& steps,
                                                            const std::string& defaultSink) {
  std::vector<std::string> errors;
  std::vector<Compiled> compiled;
  auto one = [&](size_t i, const std::string& where, const std::string& expression) -> JqExecutor::ProgramId {
    auto c = jq.compile(expression, variableNames());
    if (!c.id) {
      errors.push_back("steps[" + std::to_string(i) + "]." + where + ": " + jsonText(expression) +
                       " does not compile: " + c.error);
      return 0;
    }
    return *c.id;
  };
  for (size_t i = 0; i < steps.size(); ++i) {
    const StepConfig& s = steps[i];
    Compiled c{s.kind};
    switch (s.kind) {
      case StepConfig::Kind::Filter:
      case StepConfig::Kind::Transform:
      case StepConfig::Kind::SetKey:
        c.program = one(i, stepKindName(s.kind), s.expression);
        break;
      case StepConfig::Kind::SetHeaders:
        for (const auto& [name, expression] : s.headers)
          c.headers.emplace_back(name, one(i, "setHeaders." + name, expression));
        break;
      case StepConfig::Kind::Route:
        for (size_t r = 0; r < s.routes.size(); ++r)
          c.routes.emplace_back(one(i, "route[" + std::to_string(r) + "].when", s.routes[r].when), s.routes[r].sink);
        break;
    }
    compiled.push_back(std::move(c));
  }
  if (!errors.empty()) return errors;
  return Steps(jq, std::move(compiled), defaultSink);
}

std::vector<std::string> Steps::check(JqExecutor& jq, const std::vector<StepConfig>& steps) {
  std::vector<std::string> errors;
  auto one = [&](size_t i, const std::string& where, const std::string& expression) {
    if (std::string error = jq.check(expression, variableNames()); !error.empty())
      errors.push_back("steps[" + std::to_string(i) + "]." + where + ": " + jsonText(expression) +
                       " does not compile: " + error);
  };
  for (size_t i = 0; i < steps.size(); ++i) {
    const StepConfig& s = steps[i];
    switch (s.kind) {
      case StepConfig::Kind::Filter:
      case StepConfig::Kind::Transform:
      case StepConfig::Kind::SetKey:
        one(i, stepKindName(s.kind), s.expression);
        break;
      case StepConfig::Kind::SetHeaders:
        for (const auto& [name, expression] : s.headers) one(i, "setHeaders." + name, expression);
        break;
      case StepConfig::Kind::Route:
        for (size_t r = 0; r < s.routes.size(); ++r) one(i, "route[" + std::to_string(r) + "].when", s.routes[r].when);
        break;
    }
  }
  return errors;
}

Steps::Result Steps::process(const PipelineRecord& record) const {
  std::promise<Result> done;
  auto answer = done.get_future();
  jq_->execute([&] { done.set_value(processHere(record)); });
  return answer.get();
}

Steps::Result Steps::processHere(const PipelineRecord& record) const {
  Working first;
  first.key = record.key;
  first.headers = record.headers;
  first.valueBytes = record.value;
  std::string valueBase64 = "null";
  if (!record.value) first.valueJson = "null";
  else if (isJsonText(*record.value)) first.valueJson = *record.value;
  else if (isValidUtf8(*record.value)) first.valueJson = jsonText(*record.value);
  else {
    first.valueJson = "null";
    valueBase64 = jsonText(base64Encode(*record.value));
  }
  const std::string topic = jsonText(record.topic), partition = std::to_string(record.partition),
                    offset = std::to_string(record.offset), timestamp = std::to_string(record.timestampMs);
  auto variables = [&](const Working& w) {
    Json headers = Json::object();
    for (const auto& [name, value] : w.headers) headers[name] = isValidUtf8(value) ? value : base64Encode(value);
    return std::vector<std::string>{w.key ? jsonText(*w.key) : "null",
                                    headers.dump(-1, ' ', false, Json::error_handler_t::replace),
                                    topic,
                                    partition,
                                    offset,
                                    timestamp,
                                    w.valueChanged ? "null" : valueBase64};
  };

  std::vector<Working> current{std::move(first)};
  std::vector<std::string> sinks(1);  // per working record, once routed
  for (size_t i = 0; i < steps_.size(); ++i) {
    const Compiled& step = steps_[i];
    std::vector<Working> next;
    std::vector<std::string> nextSinks;
    for (size_t w = 0; w < current.size(); ++w) {
      Working& rec = current[w];
      const auto vars = variables(rec);
      auto run = [&](JqExecutor::ProgramId id) { return jq_->runHere(id, rec.valueJson, vars); };
      switch (step.kind) {
        case StepConfig::Kind::Filter: {
          auto out = run(step.program);
          if (!out.ok()) return StepFailure{i, "filter: " + out.error};
          if (!out.values.empty() && truthy(out.values[0])) {
            next.push_back(std::move(rec));
            nextSinks.push_back(sinks[w]);
          }
          break;
        }
        case StepConfig::Kind::Transform: {
          auto out = run(step.program);
          if (!out.ok()) return StepFailure{i, "transform: " + out.error};
          for (auto& value : out.values) {
            Working copy = rec;
            copy.valueJson = std::move(value);
            copy.valueChanged = true;
            next.push_back(std::move(copy));
            nextSinks.push_back(sinks[w]);
          }
          break;
        }
        case StepConfig::Kind::SetKey: {
          auto out = run(step.program);
          if (!out.ok()) return StepFailure{i, "setKey: " + out.error};
          if (out.values.empty()) return StepFailure{i, "setKey: the expression gave no output"};
          rec.key = asBytes(out.values[0]);
          next.push_back(std::move(rec));
          nextSinks.push_back(sinks[w]);
          break;
        }
        case StepConfig::Kind::SetHeaders: {
          for (const auto& [name, program] : step.headers) {
            auto out = run(program);
            if (!out.ok()) return StepFailure{i, "setHeaders." + name + ": " + out.error};
            if (out.values.empty()) return StepFailure{i, "setHeaders." + name + ": the expression gave no output"};
            auto bytes = asBytes(out.values[0]);
            rec.headers.erase(std::remove_if(rec.headers.begin(), rec.headers.end(),
                                             [&](const auto& h) { return h.first == name; }),
                              rec.headers.end());
            if (bytes) rec.headers.emplace_back(name, std::move(*bytes));  // null removes the header
          }
          next.push_back(std::move(rec));
          nextSinks.push_back(sinks[w]);
          break;
        }
        case StepConfig::Kind::Route: {
          std::string sink;
          for (size_t r = 0; r < step.routes.size() && sink.empty(); ++r) {
            auto out = run(step.routes[r].first);
            if (!out.ok()) return StepFailure{i, "route[" + std::to_string(r) + "].when: " + out.error};
            if (!out.values.empty() && truthy(out.values[0])) sink = step.routes[r].second;
          }
          next.push_back(std::move(rec));
          nextSinks.push_back(sink);  // empty: the default sink, decided below
          break;
        }
      }
    }
    current = std::move(next);
    sinks = std::move(nextSinks);
  }

  std::vector<StepOutput> outputs;
  for (size_t w = 0; w < current.size(); ++w) {
    Working& rec = current[w];
    StepOutput o;
    o.key = std::move(rec.key);
    o.headers = std::move(rec.headers);
    // A transform's output is sent as its JSON text (a string with its quotes,
    // as the produce API sends a JSON value); null is a tombstone. A value no
    // step changed is the input's bytes.
    if (!rec.valueChanged) o.value = std::move(rec.valueBytes);
    else if (rec.valueJson != "null") o.value = std::move(rec.valueJson);
    o.sink = sinks[w].empty() ? defaultSink_ : sinks[w];
    if (o.sink.empty())
      return StepFailure{steps_.size(), "no route matched and the pipeline has no sink named \"default\""};
    outputs.push_back(std::move(o));
  }
  return outputs;
}

}  // namespace tributary::sidecar::pipeline
