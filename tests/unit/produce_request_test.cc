// The produce envelope: what the app sent is what reaches Kafka, byte for byte
// (minus insignificant whitespace), and bad input is refused with the field named.
#include <gtest/gtest.h>

#include <string>

#include "sidecar/produce/produce_request.h"

using tributary::sidecar::ApiError;
using tributary::sidecar::OutgoingRecord;
using tributary::sidecar::parseJsonRecords;

namespace {

std::vector<OutgoingRecord> ok(const std::string& body) {
  auto r = parseJsonRecords("t", body);
  if (auto* e = std::get_if<ApiError>(&r)) {
    ADD_FAILURE() << body << " -> " << e->code << ": " << e->message;
    return {};
  }
  return std::get<std::vector<OutgoingRecord>>(std::move(r));
}

ApiError bad(const std::string& body) {
  auto r = parseJsonRecords("t", body);
  if (auto* e = std::get_if<ApiError>(&r)) return *e;
  ADD_FAILURE() << body << " was accepted";
  return {};
}

std::string valueOf(const std::string& valueJson) {
  auto recs = ok(R"({"records":[{"value":)" + valueJson + "}]}");
  if (recs.size() != 1 || !recs[0].value) return "<none>";
  return *recs[0].value;
}

TEST(ProduceRequest, ObjectMembersKeepTheirOrder) {
  EXPECT_EQ(valueOf(R"({"z":1,"a":2,"m":{"y":0,"b":1}})"), R"({"z":1,"a":2,"m":{"y":0,"b":1}})");
}

TEST(ProduceRequest, NumbersKeepTheirSpelling) {
  EXPECT_EQ(valueOf("1.0"), "1.0");
  EXPECT_EQ(valueOf("1e3"), "1e3");
  EXPECT_EQ(valueOf("1E+03"), "1E+03");
  EXPECT_EQ(valueOf("-0"), "-0");
  EXPECT_EQ(valueOf("[0.10,-0.0,2.50e-3]"), "[0.10,-0.0,2.50e-3]");
}

TEST(ProduceRequest, IntegersBeyond64BitsKeepEveryDigit) {
  EXPECT_EQ(valueOf("123456789012345678901234567890"), "123456789012345678901234567890");
  EXPECT_EQ(valueOf(R"({"id":9007199254740993})"), R"({"id":9007199254740993})");  // 2^53 + 1
  EXPECT_EQ(valueOf("-18446744073709551617"), "-18446744073709551617");           // -(2^64 + 1)
}

TEST(ProduceRequest, StringEscapesStayAsSent) {
  EXPECT_EQ(valueOf(R"("caf\u00e9 \/ \"q\" \n")"), R"("caf\u00e9 \/ \"q\" \n")");
  EXPECT_EQ(valueOf("\"caf\xc3\xa9\""), "\"caf\xc3\xa9\"");
  EXPECT_EQ(valueOf(R"({"k\u0041":"\ud83d\ude00"})"), R"({"k\u0041":"\ud83d\ude00"})");
}

TEST(ProduceRequest, OnlyInsignificantWhitespaceIsDropped) {
  EXPECT_EQ(valueOf("{ \"a b\" : [ 1 ,\n\t2 ] , \"c\" : \" x \" }"), R"({"a b":[1,2],"c":" x "})");
  EXPECT_EQ(valueOf("  true  "), "true");
  EXPECT_EQ(valueOf("\"s\"\n"), "\"s\"");
}

TEST(ProduceRequest, StringKeyIsItsTextOtherKeysTheirJson) {
  auto recs = ok(R"({"records":[{"key":"user\u002d1","value":1},{"key":1.50},{"key":{"b":1, "a":2}},{"key":null}]})");
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recs[0].key, "user-1");
  EXPECT_EQ(recs[1].key, "1.50");
  EXPECT_EQ(recs[1].value, std::nullopt);
  EXPECT_EQ(recs[2].key, R"({"b":1,"a":2})");
  EXPECT_EQ(recs[3].key, std::nullopt);
}

TEST(ProduceRequest, HeadersPartitionAndBase64) {
  auto recs = ok(R"({"records":[{"valueBase64":"AAH/","keyBase64":"YQ==","headers":{"h1":"v\u00e9","h2":""},"partition":3}]})");
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].value, std::string("\x00\x01\xff", 3));
  EXPECT_EQ(recs[0].key, "a");
  ASSERT_EQ(recs[0].headers.size(), 2u);
  EXPECT_EQ(recs[0].headers[0], std::make_pair(std::string("h1"), std::string("v\xc3\xa9")));
  EXPECT_EQ(recs[0].headers[1], std::make_pair(std::string("h2"), std::string()));
  EXPECT_EQ(recs[0].partition, 3);
  EXPECT_EQ(recs[0].topic, "t");
}

TEST(ProduceRequest, DuplicateMembersOfTheEnvelopeOrARecordAreRefused) {
  auto e = bad(R"({"records":[{"value":1,"value":2}]})");
  EXPECT_EQ(e.code, "INVALID_REQUEST");
  EXPECT_NE(e.message.find("records[0]: the field \"value\" appears twice"), std::string::npos) << e.message;
  e = bad(R"({"records":[{"value":1}],"records":[{"value":2}]})");
  EXPECT_NE(e.message.find("\"records\" appears twice"), std::string::npos) << e.message;
}

TEST(ProduceRequest, DuplicateMembersInsideAValueAreKeptAsSent) {
  EXPECT_EQ(valueOf(R"({"a":1,"a":2})"), R"({"a":1,"a":2})");
}

TEST(ProduceRequest, InvalidJsonAnywhereInAValueIsRefused) {
  for (const char* v : {"[1, tru]", "01", "-", "1.", "\"\\x\"", "\"\\ud800\"", "{\"a\" 1}", "[1,]", "{\"a\":1,}",
                        "1e999", "\"a\tb\"", "nul", "[1 2]"}) {
    auto e = bad(R"({"records":[{"value":)" + std::string(v) + "}]}");
    EXPECT_EQ(e.code, "INVALID_JSON") << v << ": " << e.message;
  }
}

TEST(ProduceRequest, InvalidUtf8IsRefused) {
  EXPECT_EQ(bad("{\"records\":[{\"value\":\"\xc3\x28\"}]}").code, "INVALID_JSON");
  EXPECT_EQ(bad("{\"records\":[{\"value\":1,\"headers\":{\"\xff\":\"x\"}}]}").code, "INVALID_JSON");
}

TEST(ProduceRequest, NestingIsBoundedAt64Levels) {
  const std::string at64 = std::string(64, '[') + std::string(64, ']');
  EXPECT_EQ(valueOf(at64), at64);
  auto e = bad(R"({"records":[{"value":)" + std::string(65, '[') + std::string(65, ']') + "}]}");
  EXPECT_EQ(e.code, "INVALID_JSON");
  EXPECT_NE(e.message.find("deeper than 64 levels"), std::string::npos) << e.message;
  e = bad(R"({"records":[{"key":)" + std::string(100000, '{') + "}]}");
  EXPECT_EQ(e.code, "INVALID_JSON");
}

TEST(ProduceRequest, TrailingContentAndTruncationAreRefused) {
  EXPECT_EQ(bad(R"({"records":[{"value":1}]} x)").code, "INVALID_JSON");
  EXPECT_EQ(bad(R"({"records":[{"value":1}]}{})").code, "INVALID_JSON");
  EXPECT_EQ(bad(R"({"records":[{"value":1}])").code, "INVALID_JSON");
  EXPECT_EQ(bad(R"({"records":[{"value":{"a":1})").code, "INVALID_JSON");
  EXPECT_EQ(bad("").code, "INVALID_JSON");
  EXPECT_EQ(bad("   ").code, "INVALID_JSON");
}

TEST(ProduceRequest, EnvelopeShapeErrorsNameTheField) {
  EXPECT_EQ(bad("[1]").message, "body: must be a JSON object {\"records\":[...]}");
  EXPECT_EQ(bad(R"({})").code, "INVALID_REQUEST");
  EXPECT_EQ(bad(R"({"records":[]})").message, "records: must contain at least one record");
  EXPECT_EQ(bad(R"({"records":[{"value":1},2]})").message, "records[1]: must be an object");
  EXPECT_EQ(bad(R"({"records":[{"value":1,"partition":1.0}]})").message,
            "records[0].partition: must be a non-negative integer");
  EXPECT_EQ(bad(R"({"records":[{"value":1,"partition":2147483648}]})").message,
            "records[0].partition: must be a non-negative integer");
  EXPECT_EQ(bad(R"({"records":[{"value":1,"headers":{"a":{"b":1}}}]})").message,
            "records[0].headers.a: must be a string");
  EXPECT_EQ(bad(R"({"records":[{"keyBase64":"YQ==","key":"a"}]})").message,
            "records[0]: set either \"key\" or \"keyBase64\", not both");
  EXPECT_EQ(bad(R"({"records":[{"valueBase64":"!"}]})").code, "INVALID_BASE64");
}

TEST(ProduceRequest, ManyRecordsInOrder) {
  std::string body = R"({"records":[)";
  for (int i = 0; i < 1000; ++i) body += (i ? "," : "") + std::string(R"({"key":"k)") + std::to_string(i) + R"(","value":{"n":)" + std::to_string(i) + "}}";
  body += "]}";
  auto recs = ok(body);
  ASSERT_EQ(recs.size(), 1000u);
  EXPECT_EQ(recs[999].key, "k999");
  EXPECT_EQ(recs[999].value, R"({"n":999})");
}

}  // namespace
