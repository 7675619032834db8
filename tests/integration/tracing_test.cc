// W3C trace context end to end (issue 13): a produce request's traceparent
// reaches Kafka (read back with a plain librdkafka consumer), the push app
// (traceparent and ce-traceparent) and the pull app (fields of the record);
// with spans on, a test OTLP collector receives the produce and delivery
// spans with their parent/child links, attributes and status.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "common/tracing/trace_context.h"
#include "tests/support/fake_app.h"
#include "tests/support/otlp_collector.h"
#include "tests/support/record_reader.h"
#include "tests/support/sidecar_fixture.h"

using Json = nlohmann::json;
using tributary::sidecar::SubscriptionConfig;
using tributary::test::FakeApp;
using tributary::test::findSpan;
using tributary::test::OtlpCollector;
using tributary::test::readAll;
using namespace std::chrono_literals;

namespace {

const std::string kTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
const std::string kParent = "00f067aa0ba902b7";
const std::string kSampled = "00-" + kTrace + "-" + kParent + "-01";

std::string header(const tributary::test::ConsumedRecord& r, const std::string& name) {
  std::string v;
  int n = 0;
  for (const auto& [k, value] : r.headers)
    if (k == name) {
      v = value;
      ++n;
    }
  return n == 1 ? v : n == 0 ? "(absent)" : "(repeated)";
}

// Awaits a metric reaching `atLeast` (the sidecar counts on its own threads).
template <typename Get>
double awaitAtLeast(Get get, double atLeast) {
  double v = get();
  for (auto until = std::chrono::steady_clock::now() + 60s; v < atLeast && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(20ms);
    v = get();
  }
  return v;
}

// ---- Propagation (no span exporter) ----

class TracePropagation : public tributary::test::SidecarTest {
 protected:
  httplib::Result post(const std::string& topic, const std::string& body, httplib::Headers headers,
                       const std::string& contentType = "application/json") {
    return client->Post(("/v1/topics/" + topic + "/records").c_str(), headers, body, contentType.c_str());
  }
  double invalidCount() { return metricValue("tributary_tracing_invalid_traceparent_total"); }
};

TEST_F(TracePropagation, TheRequestsTraceparentAndTracestateBecomeRecordHeaders) {
  auto res = post("orders", R"({"records":[{"key":"a","value":1}]})",
                  {{"traceparent", kSampled}, {"tracestate", "rojo=00f067aa0ba902b7"}, {"tracestate", "congo=t61"}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto records = readAll(sidecar->bootstrapServers(), "orders");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(header(records[0], "traceparent"), kSampled) << "without spans the context passes through unchanged";
  EXPECT_EQ(header(records[0], "tracestate"), "rojo=00f067aa0ba902b7,congo=t61") << "several headers are one list";
  EXPECT_EQ(invalidCount(), 0);
}

TEST_F(TracePropagation, ARawBodyCarriesItToo) {
  auto res = post("raw", "temperature=21.5", {{"traceparent", kSampled}, {"Kafka-Key", "d7"}}, "text/plain");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto records = readAll(sidecar->bootstrapServers(), "raw");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(header(records[0], "traceparent"), kSampled);
  EXPECT_EQ(header(records[0], "content-type"), "text/plain");
  EXPECT_EQ(header(records[0], "tracestate"), "(absent)");
}

TEST_F(TracePropagation, InABatchARecordsOwnTraceparentWinsAndTheOthersGetTheRequests) {
  const std::string own = "00-11111111111111111111111111111111-2222222222222222-00";
  Json body{{"records",
             {{{"key", "own"}, {"value", 1}, {"headers", {{"traceparent", own}}}, {"partition", 0}},
              {{"key", "other"}, {"value", 2}, {"headers", {{"source", "checkout"}}}, {"partition", 0}},
              {{"key", "none"}, {"value", 3}, {"partition", 0}}}}};
  auto res = post("batch", body.dump(), {{"traceparent", kSampled}, {"tracestate", "k=v"}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto records = readAll(sidecar->bootstrapServers(), "batch");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(header(records[0], "traceparent"), own);
  EXPECT_EQ(header(records[0], "tracestate"), "(absent)") << "the request's tracestate belongs to the request's trace";
  EXPECT_EQ(header(records[1], "traceparent"), kSampled);
  EXPECT_EQ(header(records[1], "tracestate"), "k=v");
  EXPECT_EQ(header(records[1], "source"), "checkout");
  EXPECT_EQ(header(records[2], "traceparent"), kSampled);
}

TEST_F(TracePropagation, WithoutTraceparentNothingIsAdded) {
  Json body{{"records", {{{"value", 1}}, {{"value", 2}, {"headers", {{"traceparent", kSampled}}}}}}};
  auto res = post("plain", body.dump(), {});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto records = readAll(sidecar->bootstrapServers(), "plain");
  ASSERT_EQ(records.size(), 2u);
  int withHeaders = 0;
  for (const auto& r : records) {
    withHeaders += r.headers.empty() ? 0 : 1;
    if (!r.headers.empty()) {
      EXPECT_EQ(header(r, "traceparent"), kSampled);
    }
  }
  EXPECT_EQ(withHeaders, 1);
}

TEST_F(TracePropagation, AnInvalidTraceparentIsIgnoredAndCountedNeverRefused) {
  const std::vector<std::string> invalid = {
      "00-" + kTrace + "-" + kParent,                                   // no flags
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-" + kParent + "-01",         // uppercase
      "00-00000000000000000000000000000000-" + kParent + "-01",         // all-zero trace id
      "ff-" + kTrace + "-" + kParent + "-01",                           // forbidden version
  };
  for (const auto& tp : invalid) {
    auto res = post("invalid", R"({"records":[{"value":1}]})", {{"traceparent", tp}, {"tracestate", "k=v"}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << tp << ": " << res->body;
  }
  // Two traceparent headers are invalid too (W3C: which one would be right?).
  auto res = post("invalid", R"({"records":[{"value":1}]})", {{"traceparent", kSampled}, {"traceparent", kSampled}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  auto records = readAll(sidecar->bootstrapServers(), "invalid");
  ASSERT_EQ(records.size(), 5u);
  for (const auto& r : records) EXPECT_TRUE(r.headers.empty()) << "an invalid context is treated as absent";
  EXPECT_EQ(invalidCount(), 5);
}

class TracePropagationPush : public TracePropagation {
 protected:
  void SetUp() override {
    app = std::make_unique<FakeApp>();
    TracePropagation::SetUp();
  }
  void TearDown() override {
    TracePropagation::TearDown();
    app.reset();
  }
  void configure(tributary::sidecar::SidecarConfig& c) override {
    SubscriptionConfig s;
    s.name = "orders";
    s.topics = {"orders"};
    s.group = "orders-service";
    s.endpoint = app->endpoint();
    s.startFrom = SubscriptionConfig::StartFrom::Earliest;
    s.timeout = 5s;
    s.retry = {.maxAttempts = 3, .initialBackoff = 10ms, .maxBackoff = 50ms, .multiplier = 2, .jitter = 0};
    adjust(s);
    c.subscriptions = {s};
    kafka->createTopic("orders", 2, 3);
  }
  virtual void adjust(SubscriptionConfig&) {}
  std::unique_ptr<FakeApp> app;
};

TEST_F(TracePropagationPush, ThePushCarriesTraceparentAndTheCloudEventsExtension) {
  auto res = post("orders", R"({"records":[{"key":"a","value":{"n":1}}]})",
                  {{"traceparent", kSampled}, {"tracestate", "rojo=1"}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  ASSERT_TRUE(app->waitFor([](auto& rs) { return !rs.empty(); }, 60s));
  auto r = app->requests().front();
  EXPECT_EQ(r.header("traceparent"), kSampled);
  EXPECT_EQ(r.header("ce-traceparent"), kSampled);
  EXPECT_EQ(r.header("tracestate"), "rojo=1");
  EXPECT_EQ(r.header("ce-tracestate"), "rojo=1");
}

class TracePropagationBatch : public TracePropagationPush {
  void adjust(SubscriptionConfig& s) override { s.batchSize = 10; }
};

TEST_F(TracePropagationBatch, EachEventOfABatchCarriesItsOwnTraceparent) {
  const std::string other = "00-11111111111111111111111111111111-2222222222222222-01";
  Json body{{"records",
             {{{"key", "a"}, {"value", 1}, {"partition", 0}},
              {{"key", "b"}, {"value", 2}, {"partition", 0}, {"headers", {{"traceparent", other}}}}}}};
  auto res = post("orders", body.dump(), {{"traceparent", kSampled}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  std::map<std::string, std::string> byKey;
  ASSERT_TRUE(app->waitFor(
      [&](auto& rs) {
        byKey.clear();
        for (const auto& r : rs)
          for (const auto& e : Json::parse(r.body)) byKey[e["key"].template get<std::string>()] = e.value("traceparent", "");
        return byKey.size() == 2;
      },
      60s));
  EXPECT_EQ(byKey["a"], kSampled);
  EXPECT_EQ(byKey["b"], other);
}

class TracePropagationPull : public TracePropagation {
 protected:
  void configure(tributary::sidecar::SidecarConfig& c) override {
    SubscriptionConfig s;
    s.name = "jobs";
    s.mode = SubscriptionConfig::Mode::Pull;
    s.topics = {"jobs"};
    s.group = "workers";
    s.ordering = SubscriptionConfig::Ordering::None;
    s.startFrom = SubscriptionConfig::StartFrom::Earliest;
    c.subscriptions = {s};
    c.shutdown.gracePeriod = 1s;
    kafka->createTopic("jobs", 1, 3);
  }
  // Polls until a record comes (bounded).
  Json pollOne() {
    for (auto until = std::chrono::steady_clock::now() + 60s; std::chrono::steady_clock::now() < until;) {
      auto res = client->Post("/v1/subscriptions/jobs/poll?max=1&waitMs=1000", "", "application/json");
      if (!res || res->status != 200) return nullptr;
      auto body = Json::parse(res->body);
      if (!body["records"].empty()) return body["records"][0];
    }
    return nullptr;
  }
};

TEST_F(TracePropagationPull, APolledRecordHasTraceparentAndTracestateFields) {
  auto res = post("jobs", R"({"records":[{"value":{"job":1}}]})", {{"traceparent", kSampled}, {"tracestate", "k=v"}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  Json r = pollOne();
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r["traceparent"], kSampled);
  EXPECT_EQ(r["tracestate"], "k=v");
  EXPECT_EQ(r["headers"]["traceparent"], kSampled);
}

// ---- Spans (OTLP export to a test collector) ----

class TraceSpans : public TracePropagationPush {
 protected:
  void SetUp() override {
    collector = std::make_unique<OtlpCollector>();
    TracePropagationPush::SetUp();
  }
  void TearDown() override {
    TracePropagationPush::TearDown();
    collector.reset();
  }
  void configure(tributary::sidecar::SidecarConfig& c) override {
    TracePropagationPush::configure(c);
    c.tracing.otlpEndpoint = collector->endpoint();
    c.tracing.serviceName = "checkout-sidecar";
    c.tracing.headers = {{"x-api-key", "k-123"}};
    c.subscriptions[0].onExhausted = SubscriptionConfig::OnExhausted::Drop;
  }
  // The spans of one trace, once `names` all arrived.
  std::vector<OtlpCollector::Span> awaitTrace(const std::string& traceId, const std::vector<std::string>& names) {
    std::vector<OtlpCollector::Span> out;
    collector->waitFor(
        [&](const auto& spans) {
          out.clear();
          for (const auto& s : spans)
            if (s.traceId == traceId) out.push_back(s);
          for (const auto& n : names)
            if (!findSpan(out, n)) return false;
          return true;
        },
        60s);
    return out;
  }
  std::unique_ptr<OtlpCollector> collector;
};

TEST_F(TraceSpans, ProduceAndDeliverySpansFormOneTraceFromTheProducingAppToTheConsumingApp) {
  auto res = post("orders", R"({"records":[{"key":"user-1","value":{"n":1}}]})", {{"traceparent", kSampled}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const auto offset = Json::parse(res->body)["offsets"][0];
  ASSERT_TRUE(app->waitFor([](auto& rs) { return !rs.empty(); }, 60s));

  auto spans = awaitTrace(kTrace, {"publish orders", "process orders", "POST"});
  ASSERT_EQ(spans.size(), 3u);
  const auto* publish = findSpan(spans, "publish orders");
  const auto* process = findSpan(spans, "process orders");
  const auto* post = findSpan(spans, "POST");
  ASSERT_TRUE(publish && process && post);

  // The producing app's span → publish → process → POST → the consuming app.
  EXPECT_EQ(publish->parentSpanId, kParent);
  EXPECT_EQ(process->parentSpanId, publish->spanId);
  EXPECT_EQ(post->parentSpanId, process->spanId);
  auto records = readAll(sidecar->bootstrapServers(), "orders");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(header(records[0], "traceparent"), "00-" + kTrace + "-" + publish->spanId + "-01");
  const auto got = app->requests().front();
  EXPECT_EQ(got.header("traceparent"), "00-" + kTrace + "-" + post->spanId + "-01");
  EXPECT_EQ(got.header("ce-traceparent"), got.header("traceparent"));

  // OpenTelemetry messaging conventions (Kafka) and HTTP conventions.
  EXPECT_EQ(publish->serviceName, "checkout-sidecar");
  EXPECT_EQ(publish->kind, 4);
  EXPECT_EQ(publish->attribute("messaging.system"), "kafka");
  EXPECT_EQ(publish->attribute("messaging.operation.type"), "publish");
  EXPECT_EQ(publish->attribute("messaging.destination.name"), "orders");
  EXPECT_EQ(publish->attribute("messaging.kafka.message.key"), "user-1");
  EXPECT_EQ(publish->attribute("messaging.destination.partition.id"), std::to_string(offset["partition"].get<int>()));
  EXPECT_EQ(publish->attribute("messaging.kafka.offset"), std::to_string(offset["offset"].get<int64_t>()));
  EXPECT_EQ(publish->statusCode, 0);

  EXPECT_EQ(process->kind, 5);
  EXPECT_EQ(process->attribute("messaging.system"), "kafka");
  EXPECT_EQ(process->attribute("messaging.operation.type"), "process");
  EXPECT_EQ(process->attribute("messaging.destination.name"), "orders");
  EXPECT_EQ(process->attribute("messaging.consumer.group.name"), "orders-service");
  EXPECT_EQ(process->attribute("messaging.destination.partition.id"), std::to_string(offset["partition"].get<int>()));
  EXPECT_EQ(process->attribute("messaging.kafka.offset"), std::to_string(offset["offset"].get<int64_t>()));
  EXPECT_EQ(process->attribute("messaging.kafka.message.key"), "user-1");
  EXPECT_EQ(process->attribute("tributary.attempt"), "1");
  EXPECT_EQ(process->statusCode, 0);

  EXPECT_EQ(post->kind, 3);
  EXPECT_EQ(post->attribute("http.request.method"), "POST");
  EXPECT_EQ(post->attribute("url.full"), app->endpoint());
  EXPECT_EQ(post->attribute("server.address"), "127.0.0.1");
  EXPECT_EQ(post->attribute("http.response.status_code"), "200");
  EXPECT_LE(process->startUnixNanos, post->startUnixNanos);
  EXPECT_LE(post->endUnixNanos, process->endUnixNanos);

  EXPECT_EQ(collector->lastHeaders()["x-api-key"], "k-123");
  EXPECT_EQ(collector->malformed(), 0);
}

TEST_F(TraceSpans, AFailedAttemptIsAnErrorSpanAndTheRetryASpanOfItsOwn) {
  app->setBehaviour([](const FakeApp::Received&, int earlier) { return earlier == 0 ? 503 : 200; });
  auto res = post("orders", R"({"records":[{"key":"k","value":1}]})", {{"traceparent", kSampled}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  std::vector<OtlpCollector::Span> spans;
  ASSERT_TRUE(collector->waitFor(
      [&](const auto& all) {
        spans.clear();
        for (const auto& s : all)
          if (s.traceId == kTrace && s.kind == 5) spans.push_back(s);
        return spans.size() == 2;
      },
      60s));
  std::sort(spans.begin(), spans.end(), [](auto& a, auto& b) { return a.attribute("tributary.attempt") < b.attribute("tributary.attempt"); });
  EXPECT_EQ(spans[0].attribute("tributary.attempt"), "1");
  EXPECT_EQ(spans[0].statusCode, 2);
  EXPECT_NE(spans[0].statusMessage.find("HTTP 503"), std::string::npos) << spans[0].statusMessage;
  EXPECT_EQ(spans[1].attribute("tributary.attempt"), "2");
  EXPECT_EQ(spans[1].statusCode, 0);
  EXPECT_EQ(spans[0].parentSpanId, spans[1].parentSpanId) << "both attempts are children of the publish span";
  auto all = awaitTrace(kTrace, {"POST"});
  int failedPosts = 0;
  for (const auto& s : all)
    if (s.name == "POST" && s.attribute("http.response.status_code") == "503") {
      ++failedPosts;
      EXPECT_EQ(s.statusCode, 2);
      EXPECT_EQ(s.attribute("error.type"), "503");
    }
  EXPECT_EQ(failedPosts, 1);
}

TEST_F(TraceSpans, AnUnsampledTraceIsPropagatedButNotExported) {
  const std::string unsampledTrace = "0af7651916cd43dd8448eb211c80319c";
  auto res = post("orders", R"({"records":[{"value":1,"partition":0}]})",
                  {{"traceparent", "00-" + unsampledTrace + "-b7ad6b7169203331-00"}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  // A sampled request after it: once its spans arrived, the first one's would have too.
  res = post("orders", R"({"records":[{"value":2,"partition":0}]})", {{"traceparent", kSampled}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  awaitTrace(kTrace, {"publish orders", "process orders"});
  for (const auto& s : collector->spans()) EXPECT_NE(s.traceId, unsampledTrace) << s.name;

  auto records = readAll(sidecar->bootstrapServers(), "orders");
  ASSERT_EQ(records.size(), 2u);
  auto ctx = tributary::tracing::parseTraceparent(header(records[0], "traceparent"));
  ASSERT_TRUE(ctx);
  EXPECT_EQ(tributary::tracing::toHex(ctx->traceId), unsampledTrace);
  EXPECT_FALSE(ctx->sampled()) << "downstream must not sample it either";
  ASSERT_TRUE(app->waitFor([](auto& rs) { return rs.size() >= 2; }, 60s));
  for (const auto& r : app->requests())
    if (r.body == "1") {
      EXPECT_EQ(r.header("traceparent").substr(0, 36), "00-" + unsampledTrace + "-");
    }
}

TEST_F(TraceSpans, ARequestWithoutTraceparentStartsATraceTheRecordCarries) {
  auto res = post("orders", R"({"records":[{"value":1}]})", {});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto records = readAll(sidecar->bootstrapServers(), "orders");
  ASSERT_EQ(records.size(), 1u);
  auto ctx = tributary::tracing::parseTraceparent(header(records[0], "traceparent"));
  ASSERT_TRUE(ctx) << "samplingRatio 1: the sidecar's produce span is the root";
  const std::string traceId = tributary::tracing::toHex(ctx->traceId);
  auto spans = awaitTrace(traceId, {"publish orders", "process orders"});
  const auto* publish = findSpan(spans, "publish orders");
  ASSERT_TRUE(publish);
  EXPECT_EQ(publish->parentSpanId, "");
  EXPECT_EQ(publish->spanId, tributary::tracing::toHex(ctx->spanId));
}

class TraceSpansDeadLetter : public TraceSpans {
  void configure(tributary::sidecar::SidecarConfig& c) override {
    TraceSpans::configure(c);
    kafka->createTopic("orders.dlq", 1, 3);
    c.subscriptions[0].deadLetterTopic = "orders.dlq";
    c.subscriptions[0].onExhausted = SubscriptionConfig::OnExhausted::DeadLetter;
  }
};

TEST_F(TraceSpansDeadLetter, ADeadLetterKeepsTheRecordsTraceContext) {
  app->setBehaviour([](const FakeApp::Received&, int) { return 400; });
  auto res = post("orders", R"({"records":[{"value":1}]})", {{"traceparent", kSampled}, {"tracestate", "k=v"}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto original = readAll(sidecar->bootstrapServers(), "orders");
  ASSERT_EQ(original.size(), 1u);
  std::vector<tributary::test::ConsumedRecord> dead;
  for (auto until = std::chrono::steady_clock::now() + 60s; dead.empty() && std::chrono::steady_clock::now() < until;)
    dead = readAll(sidecar->bootstrapServers(), "orders.dlq");
  ASSERT_EQ(dead.size(), 1u);
  // The producer's context, not the delivery span's: the dead letter continues the record's trace.
  EXPECT_EQ(header(dead[0], "traceparent"), header(original[0], "traceparent"));
  EXPECT_EQ(header(dead[0], "tracestate"), "k=v");
  EXPECT_EQ(header(dead[0], "tributary.dlq.error").rfind("HTTP 400", 0), 0u);
  auto spans = awaitTrace(kTrace, {"process orders"});
  const auto* process = findSpan(spans, "process orders");
  ASSERT_TRUE(process);
  EXPECT_EQ(process->statusCode, 2);
  EXPECT_EQ(process->attribute("error.type"), "not_retryable");
}

class TraceSpansPull : public TracePropagationPull {
 protected:
  void SetUp() override {
    collector = std::make_unique<OtlpCollector>();
    TracePropagationPull::SetUp();
  }
  void TearDown() override {
    TracePropagationPull::TearDown();
    collector.reset();
  }
  void configure(tributary::sidecar::SidecarConfig& c) override {
    TracePropagationPull::configure(c);
    c.tracing.otlpEndpoint = collector->endpoint();
  }
  std::unique_ptr<OtlpCollector> collector;
};

TEST_F(TraceSpansPull, TheReceiveSpanRunsFromTheLeaseToTheAck) {
  auto res = post("jobs", R"({"records":[{"value":{"job":1}}]})", {{"traceparent", kSampled}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  Json r = pollOne();
  ASSERT_TRUE(r.is_object());
  auto ctx = tributary::tracing::parseTraceparent(r["traceparent"].get<std::string>());
  ASSERT_TRUE(ctx);
  EXPECT_EQ(tributary::tracing::toHex(ctx->traceId), kTrace);
  auto ack = client->Post("/v1/subscriptions/jobs/ack", Json{{"ids", {r["id"]}}}.dump(), "application/json");
  ASSERT_TRUE(ack);
  ASSERT_EQ(ack->status, 200) << ack->body;
  std::vector<OtlpCollector::Span> spans;
  ASSERT_TRUE(collector->waitFor(
      [&](const auto& all) {
        spans = all;
        return findSpan(all, "receive jobs") && findSpan(all, "publish jobs");
      },
      60s));
  const auto* receive = findSpan(spans, "receive jobs");
  const auto* publish = findSpan(spans, "publish jobs");
  EXPECT_EQ(receive->parentSpanId, publish->spanId);
  EXPECT_EQ(receive->spanId, tributary::tracing::toHex(ctx->spanId)) << "the app continues from the receive span";
  EXPECT_EQ(receive->kind, 5);
  EXPECT_EQ(receive->attribute("messaging.operation.type"), "receive");
  EXPECT_EQ(receive->attribute("messaging.consumer.group.name"), "workers");
  EXPECT_EQ(receive->attribute("tributary.settled"), "ack");
  EXPECT_EQ(receive->statusCode, 0);
}

// ---- The collector down or failing ----

// A loopback port nothing listens on: bound, then closed.
int closedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

class TraceSpansCollectorDown : public TracePropagation {
  void configure(tributary::sidecar::SidecarConfig& c) override {
    c.tracing.otlpEndpoint = "http://127.0.0.1:" + std::to_string(closedPort());
    c.tracing.timeout = 1s;
  }
};

TEST_F(TraceSpansCollectorDown, SpansAreDroppedAndCountedWhileProduceStillAnswers200) {
  for (int i = 0; i < 5; ++i) {
    auto res = post("orders", R"({"records":[{"value":1}]})", {{"traceparent", kSampled}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
  }
  EXPECT_EQ(readAll(sidecar->bootstrapServers(), "orders").size(), 5u);
  EXPECT_EQ(awaitAtLeast([&] { return metricValue("tributary_tracing_spans_dropped_total"); }, 5), 5);
  EXPECT_EQ(metricValue("tributary_tracing_spans_exported_total"), 0);
}

class TraceSpansCollectorFailing : public TracePropagation {
 protected:
  void SetUp() override {
    collector = std::make_unique<OtlpCollector>();
    collector->answer(503);
    TracePropagation::SetUp();
  }
  void TearDown() override {
    TracePropagation::TearDown();
    collector.reset();
  }
  void configure(tributary::sidecar::SidecarConfig& c) override { c.tracing.otlpEndpoint = collector->endpoint(); }
  std::unique_ptr<OtlpCollector> collector;
};

TEST_F(TraceSpansCollectorFailing, RefusedSpansAreCountedAndExportResumesWhenTheCollectorRecovers) {
  auto res = post("orders", R"({"records":[{"value":1}]})", {{"traceparent", kSampled}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(awaitAtLeast([&] { return metricValue("tributary_tracing_spans_dropped_total"); }, 1), 1);
  collector->answer(200);
  res = post("orders", R"({"records":[{"value":2}]})", {{"traceparent", kSampled}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_TRUE(collector->waitFor([](const auto& s) { return findSpan(s, "publish orders") != nullptr; }, 60s));
  EXPECT_EQ(awaitAtLeast([&] { return metricValue("tributary_tracing_spans_exported_total"); }, 1), 1);
}

class TraceSpansCollectorSlow : public TraceSpansCollectorFailing {
  void SetUp() override {
    collector = std::make_unique<OtlpCollector>();
    collector->answer(200, 1000ms);  // answers after a second: longer than tracing.timeout
    TracePropagation::SetUp();
  }
  void configure(tributary::sidecar::SidecarConfig& c) override {
    c.tracing.otlpEndpoint = collector->endpoint();
    c.tracing.timeout = 100ms;
  }
};

TEST_F(TraceSpansCollectorSlow, SpansOfTimedOutExportsAreDroppedAndCountedWhileProduceAnswers200) {
  for (int i = 0; i < 3; ++i) {
    auto res = post("orders", R"({"records":[{"value":1}]})", {{"traceparent", kSampled}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
  }
  EXPECT_EQ(awaitAtLeast([&] { return metricValue("tributary_tracing_spans_dropped_total"); }, 3), 3);
  EXPECT_EQ(metricValue("tributary_tracing_spans_exported_total"), 0);
}

}  // namespace
