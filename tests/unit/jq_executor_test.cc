// jq expressions for pipeline steps: compiled once, run on the executor's own
// thread (libjq 1.6 cannot be used from several threads), errors as values.
#include <gtest/gtest.h>

#include <thread>

#include "sidecar/pipeline/jq_executor.h"

using tributary::sidecar::pipeline::JqExecutor;

namespace {

TEST(JqExecutor, FilterTransformAndSeveralOutputs) {
  JqExecutor jq;
  auto filter = jq.compile(".amount > 10");
  ASSERT_TRUE(filter.id) << filter.error;
  EXPECT_EQ(jq.run(*filter.id, R"({"amount":12})").values, std::vector<std::string>{"true"});
  EXPECT_EQ(jq.run(*filter.id, R"({"amount":3})").values, std::vector<std::string>{"false"});

  auto transform = jq.compile("{id: .id, cents: (.amount * 100)}");
  ASSERT_TRUE(transform.id) << transform.error;
  EXPECT_EQ(jq.run(*transform.id, R"({"id":7,"amount":2.5,"x":1})").values,
            std::vector<std::string>{R"({"id":7,"cents":250})"});

  auto split = jq.compile(".items[]");
  ASSERT_TRUE(split.id);
  EXPECT_EQ(jq.run(*split.id, R"({"items":[1,"two",{"three":3}]})").values,
            (std::vector<std::string>{"1", "\"two\"", R"({"three":3})"}));
  EXPECT_TRUE(jq.run(*split.id, R"({"items":[]})").values.empty()) << "zero outputs is not an error";
}

TEST(JqExecutor, VariablesCarryTheRecordsOtherFields) {
  JqExecutor jq;
  auto p = jq.compile("{v: ., k: $key, h: $headers.origin}", {"key", "headers"});
  ASSERT_TRUE(p.id) << p.error;
  auto out = jq.run(*p.id, "1", {R"("user-1")", R"({"origin":"web"})"});
  ASSERT_TRUE(out.ok()) << out.error;
  EXPECT_EQ(out.values, std::vector<std::string>{R"({"v":1,"k":"user-1","h":"web"})"});
  EXPECT_FALSE(jq.run(*p.id, "1", {R"("only one")"}).ok()) << "the variables' count is checked";
}

TEST(JqExecutor, ACompileErrorSaysWhatLibjqSaid) {
  JqExecutor jq;
  auto bad = jq.compile(".amount >");
  EXPECT_FALSE(bad.id);
  EXPECT_NE(bad.error.find("syntax error"), std::string::npos) << bad.error;
  auto unknown = jq.compile("nosuchfunction(1)");
  EXPECT_FALSE(unknown.id);
  EXPECT_NE(unknown.error.find("nosuchfunction/1 is not defined"), std::string::npos) << unknown.error;
  auto unbound = jq.compile("$nope");
  EXPECT_FALSE(unbound.id);
  EXPECT_NE(unbound.error.find("$nope is not defined"), std::string::npos) << unbound.error;
}

TEST(JqExecutor, ARuntimeErrorIsAnErrorNotACrash) {
  JqExecutor jq;
  auto p = jq.compile(".a + 1");
  ASSERT_TRUE(p.id);
  auto out = jq.run(*p.id, R"({"a":"text"})");
  EXPECT_FALSE(out.ok());
  EXPECT_NE(out.error.find("cannot be added"), std::string::npos) << out.error;
  EXPECT_TRUE(out.values.empty());
  auto thrown = jq.compile(R"(error("bad record"))");
  ASSERT_TRUE(thrown.id);
  EXPECT_EQ(jq.run(*thrown.id, "{}").error, "bad record");
  auto notJson = jq.run(*p.id, "not json");
  EXPECT_FALSE(notJson.ok());
  EXPECT_NE(notJson.error.find("the input is not JSON"), std::string::npos) << notJson.error;
  EXPECT_EQ(jq.run(*p.id, R"({"a":1})").values, std::vector<std::string>{"2"}) << "the program still works";
}

TEST(JqExecutor, AnExpressionCannotReadTheProcessEnvironment) {
  setenv("TRIBUTARY_TEST_SECRET", "canary-5f1e", 1);
  JqExecutor jq;
  for (const std::string expression : {"$ENV.TRIBUTARY_TEST_SECRET", "env.TRIBUTARY_TEST_SECRET", "[env, $ENV]",
                                       "env | tostring", ".x | env.TRIBUTARY_TEST_SECRET"}) {
    auto p = jq.compile(expression);
    ASSERT_TRUE(p.id) << expression << ": " << p.error;
    auto out = jq.run(*p.id, R"({"x":1})");
    ASSERT_TRUE(out.ok()) << expression << ": " << out.error;
    for (const auto& v : out.values) EXPECT_EQ(v.find("canary-5f1e"), std::string::npos) << expression << " → " << v;
  }
  // A name that merely contains the word is left alone.
  auto p = jq.compile("{environment: .x}");
  ASSERT_TRUE(p.id) << p.error;
  EXPECT_EQ(jq.run(*p.id, R"({"x":1})").values, std::vector<std::string>{R"({"environment":1})"});
  unsetenv("TRIBUTARY_TEST_SECRET");
}

TEST(JqExecutor, OutputsAreBounded) {
  JqExecutor jq;
  auto p = jq.compile("range(1000000)");
  ASSERT_TRUE(p.id);
  auto out = jq.run(*p.id, "null");
  EXPECT_FALSE(out.ok());
  EXPECT_NE(out.error.find("more than 10000 outputs"), std::string::npos) << out.error;
}

TEST(JqExecutor, CallersOnManyThreadsShareTheOneJqThread) {
  JqExecutor jq;
  auto p = jq.compile(".n * 2");
  ASSERT_TRUE(p.id);
  std::vector<std::thread> callers;
  std::vector<int> wrong(8, 0);
  for (int t = 0; t < 8; ++t)
    callers.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const int n = t * 1000 + i;
        auto out = jq.run(*p.id, R"({"n":)" + std::to_string(n) + "}");
        if (out.values != std::vector<std::string>{std::to_string(2 * n)}) ++wrong[t];
      }
    });
  for (auto& c : callers) c.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(wrong[t], 0) << "caller " << t;
}

}  // namespace
