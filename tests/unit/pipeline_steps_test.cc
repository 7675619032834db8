// Pipeline steps over one record: filter, transform (zero, one or several
// outputs), setKey, setHeaders, route, and failures that name the step.
#include <gtest/gtest.h>

#include "sidecar/pipeline/steps.h"

using namespace tributary::sidecar::pipeline;

namespace {

StepConfig step(StepConfig::Kind kind, std::string expression) {
  StepConfig s;
  s.kind = kind;
  s.expression = std::move(expression);
  return s;
}

PipelineRecord order(const std::string& value) {
  PipelineRecord r;
  r.topic = "orders";
  r.partition = 3;
  r.offset = 41;
  r.timestampMs = 1700000000000;
  r.key = "o-1";
  r.value = value;
  r.headers = {{"origin", "web"}};
  return r;
}

Steps compiled(JqExecutor& jq, const std::vector<StepConfig>& steps, const std::string& defaultSink = "default") {
  auto c = Steps::compile(jq, steps, defaultSink);
  if (auto* errors = std::get_if<std::vector<std::string>>(&c)) {
    for (auto& e : *errors) ADD_FAILURE() << e;
    throw std::runtime_error("does not compile");
  }
  return std::get<Steps>(std::move(c));
}

std::vector<StepOutput> outputs(const Steps& s, const PipelineRecord& r) {
  auto out = s.process(r);
  if (auto* f = std::get_if<StepFailure>(&out)) {
    ADD_FAILURE() << "step " << f->step << ": " << f->message;
    return {};
  }
  return std::get<std::vector<StepOutput>>(out);
}

TEST(PipelineSteps, TheIssuesExamplePipeline) {
  JqExecutor jq;
  StepConfig headers;
  headers.kind = StepConfig::Kind::SetHeaders;
  headers.headers = {{"origin", R"("pipeline")"}, {"source-offset", "$offset"}};
  StepConfig route;
  route.kind = StepConfig::Kind::Route;
  route.routes = {{".cents >= 100000", "audit"}};
  auto s = compiled(jq, {step(StepConfig::Kind::Filter, ".amount > 10"),
                         step(StepConfig::Kind::Transform, "{id: .id, cents: (.amount * 100)}"),
                         step(StepConfig::Kind::SetKey, ".id | tostring"), headers, route});

  EXPECT_TRUE(outputs(s, order(R"({"id":1,"amount":5})")).empty()) << "filtered out";

  auto small = outputs(s, order(R"({"id":2,"amount":12})"));
  ASSERT_EQ(small.size(), 1u);
  EXPECT_EQ(small[0].value, R"({"id":2,"cents":1200})");
  EXPECT_EQ(small[0].key, "2");
  EXPECT_EQ(small[0].sink, "default");
  EXPECT_EQ(small[0].headers,
            (std::vector<std::pair<std::string, std::string>>{{"origin", "pipeline"}, {"source-offset", "41"}}));

  auto big = outputs(s, order(R"({"id":3,"amount":2000})"));
  ASSERT_EQ(big.size(), 1u);
  EXPECT_EQ(big[0].sink, "audit");
}

TEST(PipelineSteps, ATransformMayGiveSeveralRecordsOrNone) {
  JqExecutor jq;
  auto s = compiled(jq, {step(StepConfig::Kind::Transform, ".items[]"),
                         step(StepConfig::Kind::SetKey, "$key + \"-\" + (.sku)")});
  auto out = outputs(s, order(R"({"items":[{"sku":"a"},{"sku":"b"}]})"));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].value, R"({"sku":"a"})");
  EXPECT_EQ(out[0].key, "o-1-a");
  EXPECT_EQ(out[1].key, "o-1-b");
  EXPECT_TRUE(outputs(s, order(R"({"items":[]})")).empty());
}

TEST(PipelineSteps, AnUntouchedValueKeepsItsBytes) {
  JqExecutor jq;
  auto s = compiled(jq, {step(StepConfig::Kind::Filter, ".n >= 1")});
  auto out = outputs(s, order(R"({"n": 1.0, "big": 123456789012345678901234567890})"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value, R"({"n": 1.0, "big": 123456789012345678901234567890})");
  EXPECT_EQ(out[0].key, "o-1");
}

TEST(PipelineSteps, TextAndBinaryValues) {
  JqExecutor jq;
  auto s = compiled(jq, {step(StepConfig::Kind::Transform, "{text: ., b64: $valueBase64}")});
  auto text = outputs(s, order("plain words"));
  ASSERT_EQ(text.size(), 1u);
  EXPECT_EQ(text[0].value, R"({"text":"plain words","b64":null})");
  auto binary = outputs(s, order(std::string("\x00\xff", 2)));
  ASSERT_EQ(binary.size(), 1u);
  EXPECT_EQ(binary[0].value, R"({"text":null,"b64":"AP8="})");
}

TEST(PipelineSteps, NullValueFromATransformIsATombstoneAndNullKeyRemovesIt) {
  JqExecutor jq;
  StepConfig headers;
  headers.kind = StepConfig::Kind::SetHeaders;
  headers.headers = {{"origin", "null"}};
  auto s = compiled(jq, {step(StepConfig::Kind::Transform, "null"), step(StepConfig::Kind::SetKey, "null"), headers});
  auto out = outputs(s, order("{}"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value, std::nullopt);
  EXPECT_EQ(out[0].key, std::nullopt);
  EXPECT_TRUE(out[0].headers.empty());
}

TEST(PipelineSteps, ARuntimeErrorFailsTheRecordNamingTheStep) {
  JqExecutor jq;
  auto s = compiled(jq, {step(StepConfig::Kind::Filter, "true"), step(StepConfig::Kind::Transform, ".a + 1")});
  auto out = s.process(order(R"({"a":"text"})"));
  auto* f = std::get_if<StepFailure>(&out);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->step, 1u);
  EXPECT_NE(f->message.find("transform: "), std::string::npos) << f->message;
  EXPECT_NE(f->message.find("cannot be added"), std::string::npos) << f->message;
}

TEST(PipelineSteps, CompileErrorsNameEveryBadStep) {
  JqExecutor jq;
  StepConfig route;
  route.kind = StepConfig::Kind::Route;
  route.routes = {{".x ==", "audit"}};
  auto c = Steps::compile(jq, {step(StepConfig::Kind::Filter, ".amount >"), step(StepConfig::Kind::SetKey, ".id"),
                               route},
                          "default");
  auto* errors = std::get_if<std::vector<std::string>>(&c);
  ASSERT_NE(errors, nullptr);
  ASSERT_EQ(errors->size(), 2u);
  EXPECT_EQ((*errors)[0].rfind("steps[0].filter: \".amount >\" does not compile: ", 0), 0u) << (*errors)[0];
  EXPECT_EQ((*errors)[1].rfind("steps[2].route[0].when: ", 0), 0u) << (*errors)[1];
}

TEST(PipelineSteps, NoRouteAndNoDefaultSinkIsAFailure) {
  JqExecutor jq;
  StepConfig route;
  route.kind = StepConfig::Kind::Route;
  route.routes = {{".vip", "vip"}};
  auto s = compiled(jq, {route}, "");
  EXPECT_EQ(std::get<std::vector<StepOutput>>(s.process(order(R"({"vip":true})")))[0].sink, "vip");
  auto out = s.process(order(R"({"vip":false})"));
  ASSERT_TRUE(std::holds_alternative<StepFailure>(out));
  EXPECT_NE(std::get<StepFailure>(out).message.find("no route matched"), std::string::npos);
}

}  // namespace
