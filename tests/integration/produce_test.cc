// Records produced over HTTP arrive in Kafka byte-exact, read back with a plain
// librdkafka consumer from the embedded cluster.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <map>
#include <thread>

#include "common/codec/base64.h"
#include "tests/support/record_reader.h"
#include "tests/support/sidecar_fixture.h"

using tributary::base64Encode;
using tributary::test::readAll;
using Json = nlohmann::json;

namespace {

class Produce : public tributary::test::SidecarTest {};

TEST_F(Produce, JsonRecordArrivesAsCompactJsonWithTextKeyAndHeaders) {
  auto res = postJson("orders",
                      R"({"records":[{"key":"user-1","value":{"id": 7, "items": [1, 2]},"headers":{"trace":"abc"}}]})");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto body = Json::parse(res->body);
  ASSERT_EQ(body["offsets"].size(), 1u);
  EXPECT_GE(body["offsets"][0]["offset"].get<int64_t>(), 0);

  auto records = readAll(sidecar->bootstrapServers(), "orders");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].key, "user-1");
  EXPECT_EQ(records[0].value, R"({"id":7,"items":[1,2]})");
  ASSERT_EQ(records[0].headers.size(), 1u);
  EXPECT_EQ(records[0].headers[0], std::make_pair(std::string("trace"), std::string("abc")));
  EXPECT_EQ(records[0].partition, body["offsets"][0]["partition"].get<int>());
  EXPECT_EQ(records[0].offset, body["offsets"][0]["offset"].get<int64_t>());
}

// A DOM round trip would re-sort members, re-print numbers and drop digits of
// big integers; the bytes in Kafka are the bytes sent, minus whitespace.
TEST_F(Produce, JsonValuesArriveByteForByteMinusWhitespace) {
  const std::string sent[] = {
      R"({"z": 1, "a": [1.0, 1e3, -0], "id": 123456789012345678901234567890})",
      R"({"sig":"caf\u00e9\/x","amount":9007199254740993,"a":1,"a":2})",
      R"(  -0.50e-3 )",
  };
  const std::string expected[] = {
      R"({"z":1,"a":[1.0,1e3,-0],"id":123456789012345678901234567890})",
      R"({"sig":"caf\u00e9\/x","amount":9007199254740993,"a":1,"a":2})",
      R"(-0.50e-3)",
  };
  std::string body = R"({"records":[)";
  for (size_t i = 0; i < 3; ++i) body += (i ? "," : "") + std::string(R"({"partition":0,"value":)") + sent[i] + "}";
  body += "]}";
  auto res = postJson("exact", body);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto records = readAll(sidecar->bootstrapServers(), "exact");
  ASSERT_EQ(records.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(records[i].value, expected[i]);
}

TEST_F(Produce, Base64BytesArriveExactlyIncludingZeroBytes) {
  std::string key("\x00\x01\xff", 3), value;
  for (int i = 0; i < 256; ++i) value += static_cast<char>(i);
  Json req{{"records", {{{"keyBase64", base64Encode(key)}, {"valueBase64", base64Encode(value)}}}}};
  auto res = postJson("bytes", req.dump());
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto records = readAll(sidecar->bootstrapServers(), "bytes");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].key, key);
  EXPECT_EQ(records[0].value, value);
}

TEST_F(Produce, NonJsonBodyIsOneRecordWithKafkaKeyAndContentTypeHeader) {
  const std::string payload = "plain text,\nwith a newline and \xc3\xa9";
  httplib::Headers h{{"Kafka-Key", "device-9"}};
  auto res = client->Post("/v1/topics/raw/records", h, payload, "text/plain; charset=utf-8");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto records = readAll(sidecar->bootstrapServers(), "raw");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].key, "device-9");
  EXPECT_EQ(records[0].value, payload);
  ASSERT_EQ(records[0].headers.size(), 1u);
  EXPECT_EQ(records[0].headers[0].first, "content-type");
  EXPECT_EQ(records[0].headers[0].second, "text/plain; charset=utf-8");
}

TEST_F(Produce, NullAndAbsentValuesAreTombstonesAndNonStringKeysAreJson) {
  auto res = postJson("nulls", R"({"records":[{"key":42,"value":null},{"key":{"a":1}}]})");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto records = readAll(sidecar->bootstrapServers(), "nulls");
  ASSERT_EQ(records.size(), 2u);
  std::map<std::string, std::optional<std::string>> byKey;
  for (auto& r : records) byKey[*r.key] = r.value;
  EXPECT_EQ(byKey.count("42"), 1u);
  EXPECT_EQ(byKey.count(R"({"a":1})"), 1u);
  for (auto& [k, v] : byKey) EXPECT_FALSE(v.has_value()) << k;
}

TEST_F(Produce, ExplicitPartitionsAreHonouredAndOffsetsComeInRequestOrder) {
  Json recs = Json::array();
  for (int i = 0; i < 8; ++i) recs.push_back({{"value", i}, {"partition", i % 4}});
  auto res = postJson("parts", Json{{"records", recs}}.dump());
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto offsets = Json::parse(res->body)["offsets"];
  ASSERT_EQ(offsets.size(), 8u);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(offsets[i]["partition"], i % 4);
    EXPECT_EQ(offsets[i]["offset"], i / 4);
  }
  auto records = readAll(sidecar->bootstrapServers(), "parts");
  ASSERT_EQ(records.size(), 8u);
  for (auto& r : records) EXPECT_EQ(std::stoi(*r.value) % 4, r.partition);
}

TEST_F(Produce, RecordsOfOneKeyStayInOrderAcrossRequests) {
  for (int i = 0; i < 50; ++i) {
    Json recs = Json::array();
    for (int k = 0; k < 5; ++k) recs.push_back({{"key", "key-" + std::to_string(k)}, {"value", i}});
    auto res = postJson("ordered", Json{{"records", recs}}.dump());
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
  }
  std::map<std::string, std::vector<int>> seen;
  std::map<std::string, std::set<int>> partitionsOfKey;
  for (auto& r : readAll(sidecar->bootstrapServers(), "ordered")) {
    seen[*r.key].push_back(std::stoi(*r.value));
    partitionsOfKey[*r.key].insert(r.partition);
  }
  ASSERT_EQ(seen.size(), 5u);
  for (auto& [key, values] : seen) {
    ASSERT_EQ(values.size(), 50u) << key;
    for (int i = 0; i < 50; ++i) EXPECT_EQ(values[i], i) << key;
    EXPECT_EQ(partitionsOfKey[key].size(), 1u) << key << " was spread over partitions";
  }
}

TEST_F(Produce, ConcurrentClientsAllGetOffsetsAndEveryRecordArrivesOnce) {
  constexpr int kClients = 8, kRequests = 40;
  std::vector<std::thread> threads;
  std::vector<std::vector<std::pair<int, int64_t>>> acked(kClients);
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      auto cl = apiClient();
      for (int i = 0; i < kRequests; ++i) {
        Json req{{"records", {{{"key", "c" + std::to_string(c)}, {"value", c * 1000 + i}}}}};
        auto res = cl->Post("/v1/topics/concurrent/records", req.dump(), "application/json");
        ASSERT_TRUE(res);
        ASSERT_EQ(res->status, 200) << res->body;
        auto o = Json::parse(res->body)["offsets"][0];
        acked[c].emplace_back(o["partition"].get<int>(), o["offset"].get<int64_t>());
      }
    });
  }
  for (auto& t : threads) t.join();
  auto records = readAll(sidecar->bootstrapServers(), "concurrent");
  ASSERT_EQ(records.size(), static_cast<size_t>(kClients * kRequests));
  std::map<std::pair<int, int64_t>, int> byPosition;
  for (auto& r : records) byPosition[{r.partition, r.offset}] = std::stoi(*r.value);
  for (int c = 0; c < kClients; ++c)
    for (int i = 0; i < kRequests; ++i) EXPECT_EQ(byPosition[acked[c][i]], c * 1000 + i);
  EXPECT_EQ(metricValue(R"(tributary_produce_records_total{result="success",topic="concurrent"})"),
            kClients * kRequests);
  EXPECT_EQ(metricValue(R"(tributary_produce_requests_total{code="200",topic="concurrent"})"), kClients * kRequests);
}

TEST_F(Produce, AsyncAnswers202AndTheRecordsStillArrive) {
  auto res = postJson("async", R"({"records":[{"value":1},{"value":2}]})", "?async=true");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 202) << res->body;
  EXPECT_EQ(Json::parse(res->body)["accepted"], 2);
  // Async records are acknowledged later; a readback that sees both proves it.
  std::vector<tributary::test::ConsumedRecord> records;
  for (int attempt = 0; attempt < 50 && records.size() < 2; ++attempt)
    records = readAll(sidecar->bootstrapServers(), "async");
  EXPECT_EQ(records.size(), 2u);
}

TEST_F(Produce, InfoReportsVersionAndPolicy) {
  auto res = client->Get("/v1/info");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  auto info = Json::parse(res->body);
  EXPECT_EQ(info["version"], TRIBUTARY_VERSION);
  EXPECT_EQ(info["mode"], "cluster");
  EXPECT_EQ(info["allowedTopics"], "*");
  EXPECT_FALSE(info.contains("bootstrapServers"));
}

TEST_F(Produce, HealthAndReadinessAndMetricsAreServed) {
  auto admin = adminClient();
  auto health = admin->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  // Ready once a metadata request was answered: awaited, not slept for.
  int status = 0;
  for (int i = 0; i < 100 && status != 200; ++i) {
    auto r = admin->Get("/readyz");
    ASSERT_TRUE(r);
    status = r->status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(status, 200);
  auto m = admin->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_NE(m->get_header_value("Content-Type").find("text/plain; version=0.0.4"), std::string::npos);
  for (const char* name : {"tributary_producer_queue_messages", "process_resident_memory_bytes",
                           "process_cpu_seconds_total", "tributary_produce_duration_seconds_bucket"})
    EXPECT_NE(m->body.find(name), std::string::npos) << name;
}

}  // namespace

namespace {

class FastStatistics : public tributary::test::SidecarTest {
 protected:
  void configure(tributary::sidecar::SidecarConfig& c) override {
    c.kafka.properties["statistics.interval.ms"] = "100";
  }
};

TEST_F(FastStatistics, BrokerGaugesFromLibrdkafkaStatisticsAppearInMetrics) {
  auto res = postJson("stats", R"({"records":[{"value":1}]})");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  // Statistics arrive every 100 ms; await the first per-broker lines.
  std::string body;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    body = adminClient()->Get("/metrics")->body;
    if (body.find("tributary_kafka_broker_rtt_seconds{") != std::string::npos &&
        body.find("tributary_kafka_broker_up{") != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(body.find("tributary_kafka_broker_rtt_seconds{"), std::string::npos) << body;
  EXPECT_NE(body.find("tributary_kafka_broker_outbuf_requests{"), std::string::npos);
  EXPECT_NE(body.find("tributary_kafka_broker_up{"), std::string::npos);
}

}  // namespace

namespace {

// 128 clients connecting at once all get served: the listen backlog is raised
// from httplib's 5 (with 5, about 40 % of such a burst failed to connect).
TEST_F(Produce, ABurstOfNewConnectionsIsServedWithoutConnectionErrors) {
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 128; ++i)
    clients.emplace_back([&] {
      httplib::Client c("127.0.0.1", sidecar->adminPort());
      auto r = c.Get("/healthz");
      (r && r->status == 200 ? ok : failed)++;
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(ok.load(), 128);
}

}  // namespace
