// Bad input gets the documented status and errorCode, nothing reaches Kafka,
// and the server keeps serving the next request.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/record_reader.h"
#include "tests/support/sidecar_fixture.h"

using Json = nlohmann::json;

namespace {

constexpr const char* kToken = "s3cret-token";

struct BadCase {
  const char* name;
  std::string method;
  std::string path;
  std::string body;
  std::string contentType = "application/json";
  httplib::Headers headers = {{"Authorization", std::string("Bearer ") + kToken}};
  int status = 0;
  std::string errorCode;
  bool chunked = false;
};

BadCase mk(const char* name, std::string method, std::string path, std::string body, int status, std::string code) {
  BadCase c{name, std::move(method), std::move(path), std::move(body)};
  c.status = status;
  c.errorCode = std::move(code);
  return c;
}
BadCase withHeaders(BadCase c, httplib::Headers h) {
  c.headers = std::move(h);
  return c;
}
BadCase chunked(BadCase c) {
  c.chunked = true;
  return c;
}

// Test names in ctest output: the case name, not the bytes of the struct.
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

std::string repeat(char c, size_t n) { return std::string(n, c); }

std::vector<BadCase> badCases() {
  const std::string ok = R"({"records":[{"value":1}]})";
  const std::string rec = "/v1/topics/orders/records";
  std::vector<BadCase> v = {
      mk("truncated JSON", "POST", rec, R"({"records":[{"value":1})", 400, "INVALID_JSON"),
      mk("empty JSON body", "POST", rec, "", 400, "INVALID_JSON"),
      mk("body is an array", "POST", rec, "[1,2]", 400, "INVALID_REQUEST"),
      mk("records is an object", "POST", rec, R"({"records":{}})", 400, "INVALID_REQUEST"),
      mk("records is empty", "POST", rec, R"({"records":[]})", 400, "INVALID_REQUEST"),
      mk("misspelt envelope field", "POST", rec, R"({"record":[{"value":1}]})", 400,
       "INVALID_REQUEST"),
      mk("record is a number", "POST", rec, R"({"records":[1]})", 400, "INVALID_REQUEST"),
      mk("unknown record field", "POST", rec, R"({"records":[{"valeu":1}]})", 400,
       "INVALID_REQUEST"),
      mk("key and keyBase64", "POST", rec, R"({"records":[{"key":"a","keyBase64":"YQ=="}]})", 400,
       "INVALID_REQUEST"),
      mk("value and valueBase64", "POST", rec, R"({"records":[{"value":1,"valueBase64":"YQ=="}]})", 400,
       "INVALID_REQUEST"),
      mk("valueBase64 not base64", "POST", rec, R"({"records":[{"valueBase64":"!!!!"}]})", 400,
       "INVALID_BASE64"),
      mk("keyBase64 without padding", "POST", rec, R"({"records":[{"keyBase64":"YQ"}]})", 400,
       "INVALID_BASE64"),
      mk("valueBase64 a number", "POST", rec, R"({"records":[{"valueBase64":12}]})", 400,
       "INVALID_REQUEST"),
      mk("headers an array", "POST", rec, R"({"records":[{"value":1,"headers":["a"]}]})", 400,
       "INVALID_REQUEST"),
      mk("header value a number", "POST", rec, R"({"records":[{"value":1,"headers":{"a":1}}]})", 400,
       "INVALID_REQUEST"),
      mk("negative partition", "POST", rec, R"({"records":[{"value":1,"partition":-1}]})", 400,
       "INVALID_REQUEST"),
      mk("partition a string", "POST", rec, R"({"records":[{"value":1,"partition":"0"}]})", 400,
       "INVALID_REQUEST"),
      mk("partition a fraction", "POST", rec, R"({"records":[{"value":1,"partition":1.5}]})", 400,
       "INVALID_REQUEST"),
      mk("invalid UTF-8 in a JSON string", "POST", rec, "{\"records\":[{\"value\":\"\xc3\x28\"}]}", 400,
       "INVALID_JSON"),
      mk("lone UTF-16 surrogate escape", "POST", rec, R"({"records":[{"value":"\ud800"}]})", 400,
       "INVALID_JSON"),
      mk("nesting 10k levels deep", "POST", rec,
       R"({"records":[{"value":)" + repeat('[', 10000) + repeat(']', 10000) + "}]}", 400,
       "INVALID_JSON"),
      mk("huge key over the body limit", "POST", rec,
       R"({"records":[{"key":")" + repeat('k', 100 * 1024) + R"(","value":1}]})", 413,
       "PAYLOAD_TOO_LARGE"),
      mk("20 MiB body", "POST", rec, repeat('x', 20 << 20), 413, "PAYLOAD_TOO_LARGE"),
      chunked(mk("20 MiB chunked body", "POST", rec, repeat('x', 20 << 20), 413, "PAYLOAD_TOO_LARGE")),
      mk("record larger than Kafka's message.max.bytes", "POST", rec,
       R"({"records":[{"value":")" + repeat('v', 30000) + R"("}]})", 413, "RECORD_TOO_LARGE"),
      withHeaders(mk("missing token", "POST", rec, ok, 401, "UNAUTHORIZED"), {}),
      withHeaders(mk("wrong token", "POST", rec, ok, 401,
       "UNAUTHORIZED"), {{"Authorization", "Bearer nope"}}),
      withHeaders(mk("token without Bearer", "GET", "/v1/info", "", 401,
       "UNAUTHORIZED"), {{"Authorization", kToken}}),
      mk("topic not allowed", "POST", "/v1/topics/payroll/records", ok, 403,
       "TOPIC_NOT_ALLOWED"),
      mk("topic with a space", "POST", "/v1/topics/bad%20topic/records", ok, 400,
       "INVALID_TOPIC"),
      mk("topic with a dollar", "POST", "/v1/topics/a$b/records", ok, 400, "INVALID_TOPIC"),
      mk("topic of 250 characters", "POST", "/v1/topics/" + repeat('t', 250) + "/records", ok, 400,
       "INVALID_TOPIC"),
      mk("partition the topic lacks", "POST", rec, R"({"records":[{"value":1,"partition":99}]})", 404,
       "UNKNOWN_PARTITION"),
      mk("async neither true nor false", "POST", rec + "?async=maybe", ok, 400,
       "INVALID_REQUEST"),
      mk("unknown route", "GET", "/v2/nothing", "", 404, "NOT_FOUND"),
      mk("unknown route under /v1", "POST", "/v1/topics/orders", ok, 404, "NOT_FOUND"),
      mk("DELETE on records", "DELETE", rec, "", 405, "METHOD_NOT_ALLOWED"),
      mk("GET on records", "GET", rec, "", 405, "METHOD_NOT_ALLOWED"),
      mk("POST on info", "POST", "/v1/info", ok, 405, "METHOD_NOT_ALLOWED"),
  };
  return v;
}

class BadInput : public tributary::test::SidecarTest, public ::testing::WithParamInterface<BadCase> {
 protected:
  void configure(tributary::sidecar::SidecarConfig& c) override {
    c.api.token = kToken;
    c.api.allowedTopics = {"orders"};
    c.api.maxBodyBytes = 64 * 1024;
    c.kafka.properties["message.max.bytes"] = "20000";
  }

  httplib::Result send(const BadCase& c) {
    if (c.method == "GET") return client->Get(c.path.c_str(), c.headers);
    if (c.method == "DELETE") return client->Delete(c.path.c_str(), c.headers);
    if (c.chunked) {
      const std::string body = c.body;
      return client->Post(
          c.path.c_str(), c.headers,
          [body](size_t offset, httplib::DataSink& sink) {
            const size_t n = std::min<size_t>(64 * 1024, body.size() - offset);
            sink.write(body.data() + offset, n);
            if (offset + n == body.size()) sink.done();
            return true;
          },
          c.contentType.c_str());
    }
    return client->Post(c.path.c_str(), c.headers, c.body, c.contentType.c_str());
  }
};

TEST_P(BadInput, GetsItsStatusAndErrorCodeAndTheServerKeepsServing) {
  const BadCase& c = GetParam();
  auto res = send(c);
  ASSERT_TRUE(res) << "no answer: " << httplib::to_string(res.error());
  EXPECT_EQ(res->status, c.status) << res->body;
  auto body = Json::parse(res->body, nullptr, false);
  ASSERT_TRUE(body.is_object()) << "error body is not JSON: " << res->body.substr(0, 200);
  EXPECT_EQ(body.value("errorCode", ""), c.errorCode) << res->body;
  EXPECT_FALSE(body.value("error", "").empty()) << "an error must say what went wrong";
  if (c.status == 401) {
    EXPECT_EQ(res->get_header_value("WWW-Authenticate"), "Bearer");
  }
  if (c.status == 405) {
    EXPECT_FALSE(res->get_header_value("Allow").empty());
  }

  // The same client (its connection, if the server kept it) still gets served.
  auto next = client->Post("/v1/topics/orders/records", {{"Authorization", std::string("Bearer ") + kToken}},
                           R"({"records":[{"value":"after"}]})", "application/json");
  ASSERT_TRUE(next) << httplib::to_string(next.error());
  EXPECT_EQ(next->status, 200) << next->body;

  // Nothing of the bad request reached Kafka: only the good record is there.
  auto records = tributary::test::readAll(sidecar->bootstrapServers(), "orders");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].value, R"("after")");
}

INSTANTIATE_TEST_SUITE_P(Table, BadInput, ::testing::ValuesIn(badCases()), [](const auto& info) {
  std::string n;
  for (char ch : std::string(info.param.name)) n += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return n;
});

}  // namespace
