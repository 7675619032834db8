#include <gtest/gtest.h>

#include "common/codec/base64.h"
#include "common/codec/json_text.h"
#include "common/config/duration.h"
#include "common/config/listen_address.h"

using namespace tributary;
using namespace std::chrono_literals;

TEST(Base64, RoundTripsEveryLengthAndByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n = 0; n <= all.size(); n += 7) {
    auto s = all.substr(0, n);
    EXPECT_EQ(base64Decode(base64Encode(s)), s);
  }
  EXPECT_EQ(base64Encode("hello"), "aGVsbG8=");
}

TEST(Base64, RefusesWhatIsNotStrictBase64) {
  for (const char* bad : {"a", "aGVsbG8", "aGV=bG8=", "aGVsbG8==", "====", "a\nGVs", "aGVs!G8="})
    EXPECT_FALSE(base64Decode(bad)) << bad;
  EXPECT_EQ(base64Decode(""), std::string());
}

TEST(JsonText, AcceptsEveryJsonDocumentAndNothingElse) {
  for (const char* yes : {"{}", "[]", "42", "-0", "1e3", "\"s\"", "true", "null", " {\"a\" : [1, 2.5]} \n",
                          "123456789012345678901234567890", "{\"a\":1,\"a\":2}"})
    EXPECT_TRUE(isJsonText(yes)) << yes;
  for (const char* no : {"", " ", "plain words", "{", "[1,]", "01", "1e999", "{} {}", "42 x", "\"\\ud800\"",
                         "\"a\tb\"", "nul", "\xc3\x28"})
    EXPECT_FALSE(isJsonText(no)) << no;
  EXPECT_TRUE(isJsonText(std::string(64, '[') + std::string(64, ']')));
  EXPECT_FALSE(isJsonText(std::string(65, '[') + std::string(65, ']'))) << "deeper than 64 levels";
  EXPECT_FALSE(isJsonText(std::string(100000, '{')));
}

TEST(JsonText, StringsAreEscapedByTheJsonLibrary) {
  std::string out = "x";
  appendJsonString(out, "a\"b\\c\n\x01");
  EXPECT_EQ(out, "x\"a\\\"b\\\\c\\n\\u0001\"");
  out.clear();
  appendJsonString(out, std::string("\xff", 1));
  EXPECT_EQ(out, "\"\xef\xbf\xbd\"") << "invalid UTF-8 becomes U+FFFD";
}

TEST(Duration, ParsesUnitsAndCompounds) {
  EXPECT_EQ(parseDuration("50ms"), 50ms);
  EXPECT_EQ(parseDuration("10s"), 10s);
  EXPECT_EQ(parseDuration("1m"), 60s);
  EXPECT_EQ(parseDuration("2h"), 2h);
  EXPECT_EQ(parseDuration("1m30s"), 90s);
  for (const char* bad : {"", "10", "s", "10 s", "-1s", "1.5s", "10sec", "1d"}) EXPECT_FALSE(parseDuration(bad)) << bad;
  EXPECT_EQ(formatDuration(90s), "90s");
  EXPECT_EQ(formatDuration(2min), "2m");
  EXPECT_EQ(formatDuration(250ms), "250ms");
}

TEST(ListenAddress, ParsesHostAndPort) {
  auto a = parseListenAddress("127.0.0.1:9191");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9191);
  EXPECT_EQ(parseListenAddress(":8080")->host, "0.0.0.0");
  EXPECT_EQ(parseListenAddress("[::1]:9191")->host, "::1");
  for (const char* bad : {"", "9191", "host:", "host:abc", "host:70000", "host:-1"})
    EXPECT_FALSE(parseListenAddress(bad)) << bad;
}
