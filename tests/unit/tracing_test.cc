// W3C trace context parsing and formatting, the Tracer (sampling, bounded
// queue, drops), the OTLP JSON body, the `tracing:` config section, and where
// the sidecar puts trace context on a delivery (push headers, batch members,
// pull fields).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <prometheus/registry.h>

#include <condition_variable>
#include <mutex>

#include "common/tracing/otlp_http_exporter.h"
#include "common/tracing/otlp_json.h"
#include "common/tracing/trace_context.h"
#include "common/tracing/tracer.h"
#include "sidecar/api/pull_api.h"
#include "sidecar/config/sidecar_config.h"
#include "sidecar/consume/deliverer.h"

using namespace tributary::tracing;
using namespace std::chrono_literals;
using Json = nlohmann::json;
using testing::HasSubstr;
using testing::Not;

namespace {

const std::string kTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
const std::string kSpan = "00f067aa0ba902b7";
const std::string kValid = "00-" + kTrace + "-" + kSpan + "-01";

TEST(Traceparent, AValidValueIsParsedAndFormatsBackTheSame) {
  auto c = parseTraceparent(kValid);
  ASSERT_TRUE(c);
  EXPECT_EQ(toHex(c->traceId), kTrace);
  EXPECT_EQ(toHex(c->spanId), kSpan);
  EXPECT_TRUE(c->sampled());
  EXPECT_EQ(formatTraceparent(*c), kValid);

  auto unsampled = parseTraceparent("00-" + kTrace + "-" + kSpan + "-00");
  ASSERT_TRUE(unsampled);
  EXPECT_FALSE(unsampled->sampled());
  EXPECT_EQ(formatTraceparent(*unsampled), "00-" + kTrace + "-" + kSpan + "-00");
}

TEST(Traceparent, SurroundingWhitespaceIsIgnored) {
  EXPECT_TRUE(parseTraceparent(" \t" + kValid + " "));
}

TEST(Traceparent, FlagsOtherThanSampledAreNotPassedOn) {
  auto c = parseTraceparent("00-" + kTrace + "-" + kSpan + "-03");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->sampled());
  EXPECT_EQ(formatTraceparent(*c), kValid);
}

TEST(Traceparent, AFutureVersionIsReadAsVersion00WhenItOnlyAppendsFields) {
  auto c = parseTraceparent("cc-" + kTrace + "-" + kSpan + "-01-what-the-future-holds");
  ASSERT_TRUE(c);
  EXPECT_EQ(formatTraceparent(*c), kValid);  // passed on as the version this code speaks
  EXPECT_TRUE(parseTraceparent("cc-" + kTrace + "-" + kSpan + "-01"));
  EXPECT_FALSE(parseTraceparent("cc-" + kTrace + "-" + kSpan + "-01x"));  // no '-' after the flags
}

TEST(Traceparent, InvalidVersions) {
  EXPECT_FALSE(parseTraceparent("ff-" + kTrace + "-" + kSpan + "-01"));  // forbidden version
  EXPECT_FALSE(parseTraceparent("0g-" + kTrace + "-" + kSpan + "-01"));  // not hex
  EXPECT_FALSE(parseTraceparent("0A-" + kTrace + "-" + kSpan + "-01"));  // uppercase
  EXPECT_FALSE(parseTraceparent("00-" + kTrace + "-" + kSpan + "-01-extra"));  // version 00 has 4 fields
  EXPECT_FALSE(parseTraceparent("0-" + kTrace + "-" + kSpan + "-01"));
}

TEST(Traceparent, AllZeroIdsAreInvalid) {
  EXPECT_FALSE(parseTraceparent("00-00000000000000000000000000000000-" + kSpan + "-01"));
  EXPECT_FALSE(parseTraceparent("00-" + kTrace + "-0000000000000000-01"));
}

TEST(Traceparent, UppercaseHexIsInvalid) {
  EXPECT_FALSE(parseTraceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-" + kSpan + "-01"));
  EXPECT_FALSE(parseTraceparent("00-" + kTrace + "-00F067AA0BA902B7-01"));
  EXPECT_FALSE(parseTraceparent("00-" + kTrace + "-" + kSpan + "-0A"));
}

TEST(Traceparent, WrongLengthsAndSeparatorsAreInvalid) {
  EXPECT_FALSE(parseTraceparent(""));
  EXPECT_FALSE(parseTraceparent("00-" + kTrace.substr(1) + "-" + kSpan + "-01"));        // trace id 31
  EXPECT_FALSE(parseTraceparent("00-" + kTrace + "0-" + kSpan + "-01"));                 // trace id 33
  EXPECT_FALSE(parseTraceparent("00-" + kTrace + "-" + kSpan.substr(1) + "-01"));        // span id 15
  EXPECT_FALSE(parseTraceparent("00-" + kTrace + "-" + kSpan + "0-01"));                 // span id 17
  EXPECT_FALSE(parseTraceparent("00-" + kTrace + "-" + kSpan + "-1"));                   // flags 1
  EXPECT_FALSE(parseTraceparent("00_" + kTrace + "_" + kSpan + "_01"));
  EXPECT_FALSE(parseTraceparent("00-" + kTrace + "-" + kSpan + "-01 garbage"));
}

TEST(Tracestate, IsKeptWhenPrintableAndShortEnough) {
  EXPECT_EQ(sanitizeTracestate(" rojo=00f067aa0ba902b7,congo=t61rcWkgMzE "), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  EXPECT_EQ(sanitizeTracestate(std::string(513, 'a')), "");
  EXPECT_EQ(sanitizeTracestate("a=b\nc=d"), "");
}

TEST(Traceparent, ARecordsContextIsItsLastValidTraceparentHeader) {
  std::vector<std::pair<std::string, std::string>> h{{"traceparent", "junk"}, {"tracestate", "a=1"},
                                                     {"traceparent", kValid}};
  auto c = fromRecordHeaders(h);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->traceState, "a=1");
  EXPECT_FALSE(fromRecordHeaders({{"traceparent", "junk"}}));
  EXPECT_FALSE(fromRecordHeaders({{"Traceparent", kValid}}));  // Kafka header names are case-sensitive
  EXPECT_FALSE(fromRecordHeaders({}));
}

// An exporter the test controls: records batches, can fail, can hold the
// export thread until released.
class FakeExporter final : public SpanExporter {
 public:
  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<Span> spans;
    int calls = 0;
    bool hold = false;
    bool fail = false;
  };
  explicit FakeExporter(std::shared_ptr<State> s) : s_(std::move(s)) {}
  bool exportSpans(const std::vector<Span>& spans, std::string& error) override {
    std::unique_lock lock(s_->mutex);
    ++s_->calls;
    s_->cv.notify_all();
    s_->cv.wait(lock, [&] { return !s_->hold; });
    if (s_->fail) {
      error = "collector says no";
      return false;
    }
    s_->spans.insert(s_->spans.end(), spans.begin(), spans.end());
    return true;
  }

 private:
  std::shared_ptr<State> s_;
};

TracerOptions options(double ratio = 1.0, size_t maxQueue = 4096) {
  TracerOptions o;
  o.serviceName = "test";
  o.samplingRatio = ratio;
  o.maxQueue = maxQueue;
  return o;
}

TEST(Tracer, AChildContinuesItsParentsTraceAndHonoursItsSampledFlag) {
  auto state = std::make_shared<FakeExporter::State>();
  Tracer tracer(options(0.0), std::make_unique<FakeExporter>(state), nullptr);
  auto parent = parseTraceparent(kValid);
  parent->traceState = "k=v";
  ActiveSpan child = tracer.start("publish orders", Span::Kind::Producer, parent);
  EXPECT_TRUE(child.recording) << "a sampled parent wins over samplingRatio 0";
  EXPECT_EQ(toHex(child.span.traceId), kTrace);
  EXPECT_EQ(toHex(child.span.parentSpanId), kSpan);
  EXPECT_NE(toHex(child.span.spanId), kSpan);
  EXPECT_EQ(child.context().traceState, "k=v");
  EXPECT_EQ(formatTraceparent(child.context()), "00-" + kTrace + "-" + toHex(child.span.spanId) + "-01");

  auto unsampled = parseTraceparent("00-" + kTrace + "-" + kSpan + "-00");
  Tracer always(options(1.0), std::make_unique<FakeExporter>(state), nullptr);
  ActiveSpan notRecorded = always.start("publish orders", Span::Kind::Producer, unsampled);
  EXPECT_FALSE(notRecorded.recording) << "an unsampled parent wins over samplingRatio 1";
  EXPECT_EQ(toHex(notRecorded.span.traceId), kTrace) << "the context still propagates";
  EXPECT_FALSE(notRecorded.context().sampled());
}

TEST(Tracer, RootsAreSampledByRatio) {
  auto state = std::make_shared<FakeExporter::State>();
  Tracer none(options(0.0), std::make_unique<FakeExporter>(state), nullptr);
  Tracer all(options(1.0), std::make_unique<FakeExporter>(state), nullptr);
  Tracer half(options(0.5), std::make_unique<FakeExporter>(state), nullptr);
  int sampled = 0;
  for (int i = 0; i < 2000; ++i) {
    EXPECT_FALSE(none.start("x", Span::Kind::Internal, std::nullopt).recording);
    auto root = all.start("x", Span::Kind::Internal, std::nullopt);
    EXPECT_TRUE(root.recording);
    EXPECT_EQ(toHex(root.span.parentSpanId), "0000000000000000");
    sampled += half.start("x", Span::Kind::Internal, std::nullopt).recording ? 1 : 0;
  }
  // Random trace ids: 0.5 ± far more than 6 standard deviations (22).
  EXPECT_GT(sampled, 800);
  EXPECT_LT(sampled, 1200);
}

TEST(Tracer, EndedSpansAreExportedAndUnsampledOnesAreNot) {
  auto state = std::make_shared<FakeExporter::State>();
  Tracer tracer(options(), std::make_unique<FakeExporter>(state), nullptr);
  for (int i = 0; i < 3; ++i) tracer.end(tracer.start("s" + std::to_string(i), Span::Kind::Internal, std::nullopt));
  tracer.end(tracer.start("unsampled", Span::Kind::Internal, parseTraceparent("00-" + kTrace + "-" + kSpan + "-00")));
  ASSERT_TRUE(tracer.flush(10s));
  std::lock_guard lock(state->mutex);
  ASSERT_EQ(state->spans.size(), 3u);
  EXPECT_EQ(state->spans[0].name, "s0");
  EXPECT_GT(state->spans[0].endUnixNanos, 0);
  EXPECT_GE(state->spans[0].endUnixNanos, state->spans[0].startUnixNanos);
  EXPECT_EQ(tracer.exported(), 3u);
  EXPECT_EQ(tracer.dropped(), 0u);
}

TEST(Tracer, AFullQueueDropsAndCountsInsteadOfWaiting) {
  auto state = std::make_shared<FakeExporter::State>();
  state->hold = true;  // the collector does not answer
  prometheus::Registry registry;
  Tracer tracer(options(1.0, 10), std::make_unique<FakeExporter>(state), &registry);
  tracer.end(tracer.start("first", Span::Kind::Internal, std::nullopt));
  tracer.flush(0ms);  // wakes the export thread, which takes "first" and hangs
  {
    std::unique_lock lock(state->mutex);
    ASSERT_TRUE(state->cv.wait_for(lock, 30s, [&] { return state->calls == 1; }));
  }
  for (int i = 0; i < 15; ++i) tracer.end(tracer.start("more", Span::Kind::Internal, std::nullopt));
  EXPECT_EQ(tracer.dropped(), 5u) << "10 fit the queue, 5 do not";
  {
    std::lock_guard lock(state->mutex);
    state->hold = false;
  }
  state->cv.notify_all();
  ASSERT_TRUE(tracer.flush(30s));
  EXPECT_EQ(tracer.exported(), 11u);
  bool found = false;
  for (const auto& family : registry.Collect())
    if (family.name == "tributary_tracing_spans_dropped_total") {
      found = true;
      EXPECT_EQ(family.metric.at(0).counter.value, 5);
    }
  EXPECT_TRUE(found);
}

TEST(Tracer, AFailedExportDropsAndCountsItsSpans) {
  auto state = std::make_shared<FakeExporter::State>();
  state->fail = true;
  Tracer tracer(options(), std::make_unique<FakeExporter>(state), nullptr);
  for (int i = 0; i < 4; ++i) tracer.end(tracer.start("s", Span::Kind::Internal, std::nullopt));
  ASSERT_TRUE(tracer.flush(30s));
  EXPECT_EQ(tracer.dropped(), 4u);
  EXPECT_EQ(tracer.exported(), 0u);
}

TEST(OtlpJson, TheBodyIsAnExportTraceServiceRequest) {
  Span s;
  s.traceId = parseTraceparent(kValid)->traceId;
  s.spanId = newSpanId();
  s.parentSpanId = parseTraceparent(kValid)->spanId;
  s.name = "publish orders";
  s.kind = Span::Kind::Producer;
  s.startUnixNanos = 1'700'000'000'000'000'000;
  s.endUnixNanos = 1'700'000'000'001'000'000;
  s.set("messaging.system", std::string("kafka"));
  s.set("messaging.kafka.offset", int64_t{42});
  s.set("flag", true);
  s.status = Span::Status::Error;
  s.statusMessage = "broken";
  Span root = s;
  root.parentSpanId = {};
  Json doc = Json::parse(otlpJson({s, root}, "checkout"));
  const Json& rs = doc["resourceSpans"][0];
  EXPECT_EQ(rs["resource"]["attributes"][0], Json::parse(R"({"key":"service.name","value":{"stringValue":"checkout"}})"));
  const Json& span = rs["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(span["traceId"], kTrace);
  EXPECT_EQ(span["parentSpanId"], kSpan);
  EXPECT_EQ(span["kind"], 4);
  EXPECT_EQ(span["startTimeUnixNano"], "1700000000000000000");
  EXPECT_EQ(span["attributes"][1], Json::parse(R"({"key":"messaging.kafka.offset","value":{"intValue":"42"}})"));
  EXPECT_EQ(span["attributes"][2]["value"]["boolValue"], true);
  EXPECT_EQ(span["status"], Json::parse(R"({"code":2,"message":"broken"})"));
  EXPECT_FALSE(rs["scopeSpans"][0]["spans"][1].contains("parentSpanId")) << "a root has no parent";
}

TEST(OtlpJson, TheTracesPathIsAppendedOnce) {
  EXPECT_EQ(otlpTracesUrl("http://collector:4318"), "http://collector:4318/v1/traces");
  EXPECT_EQ(otlpTracesUrl("http://collector:4318/"), "http://collector:4318/v1/traces");
  EXPECT_EQ(otlpTracesUrl("https://x/otlp/v1/traces"), "https://x/otlp/v1/traces");
  EXPECT_EQ(redactedUrl("https://user:pw@x:4318/v1/traces"), "https://***@x:4318/v1/traces");
  EXPECT_EQ(redactedUrl("http://x:4318/a@b"), "http://x:4318/a@b");
}

// The `tracing:` section of the sidecar's config.
using tributary::sidecar::parseSidecarConfig;

TEST(TracingConfig, DefaultsAreNoSpansAndEveryKeyIsRead) {
  auto d = parseSidecarConfig("", {});
  ASSERT_TRUE(d.config);
  EXPECT_FALSE(d.config->tracing.spansEnabled());
  EXPECT_EQ(d.config->tracing.serviceName, "tributary-sidecar");
  EXPECT_EQ(d.config->tracing.samplingRatio, 1.0);
  EXPECT_EQ(d.config->tracing.timeout, 10s);

  auto r = parseSidecarConfig(R"(
tracing:
  otlpEndpoint: http://otel-collector:4318
  serviceName: checkout-sidecar
  samplingRatio: 0.25
  headers: {x-api-key: s3cret}
  timeout: 2s
)", {});
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0]);
  const auto& t = r.config->tracing;
  EXPECT_TRUE(t.spansEnabled());
  EXPECT_EQ(t.otlpEndpoint, "http://otel-collector:4318");
  EXPECT_EQ(t.serviceName, "checkout-sidecar");
  EXPECT_EQ(t.samplingRatio, 0.25);
  EXPECT_EQ(t.headers.at("x-api-key"), "s3cret");
  EXPECT_EQ(t.timeout, 2s);
}

TEST(TracingConfig, EnvironmentOverrides) {
  auto r = parseSidecarConfig("tracing: {otlpEndpoint: http://a:4318}\n",
                              {{"TRIBUTARY_TRACING_OTLP_ENDPOINT", "http://b:4318"},
                               {"TRIBUTARY_TRACING_SAMPLING_RATIO", "0.1"},
                               {"TRIBUTARY_TRACING_SERVICE_NAME", "svc"}});
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->tracing.otlpEndpoint, "http://b:4318");
  EXPECT_EQ(r.config->tracing.samplingRatio, 0.1);
  EXPECT_EQ(r.config->tracing.serviceName, "svc");
  auto bad = parseSidecarConfig("", {{"TRIBUTARY_TRACING_SAMPLING_RATIO", "2"}});
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_EQ(bad.errors[0], "tracing.samplingRatio (from TRIBUTARY_TRACING_SAMPLING_RATIO): must be between 0 and 1, got 2");
}

TEST(TracingConfig, AnEndpointNeedsSchemeAndHost) {
  for (const char* ok : {"http://x", "https://collector.observability:4318", "http://[::1]:4318/prefix"})
    EXPECT_TRUE(parseSidecarConfig(std::string("tracing: {otlpEndpoint: \"") + ok + "\"}\n", {}).config) << ok;
  for (const char* bad : {"http://", "https:///v1/traces", "ftp://x", "http://a b"})
    EXPECT_FALSE(parseSidecarConfig(std::string("tracing: {otlpEndpoint: \"") + bad + "\"}\n", {}).config) << bad;
}

TEST(TracingConfig, ErrorsNameTheKeyAndNeverEchoAHeaderValue) {
  auto r = parseSidecarConfig(R"(
tracing:
  otlpEndpoint: collector:4318
  serviceName: ""
  samplingRatio: 1.5
  headers: {"bad name": x, x-api-key: [s3cret]}
  timeout: 10
  sampler: always
)", {});
  ASSERT_FALSE(r.config);
  std::string all;
  for (const auto& e : r.errors) all += e + "\n";
  EXPECT_THAT(all, HasSubstr("tracing.sampler: unknown key (known keys here: headers, otlpEndpoint, samplingRatio, "
                             "serviceName, timeout)"));
  EXPECT_THAT(all, HasSubstr("tracing.otlpEndpoint: \"collector:4318\" must be the http:// or https:// URL of an "
                             "OTLP/HTTP receiver, e.g. http://otel-collector:4318"));
  EXPECT_THAT(all, HasSubstr("tracing.serviceName: must not be empty"));
  EXPECT_THAT(all, HasSubstr("tracing.samplingRatio: must be between 0 and 1, got 1.5"));
  EXPECT_THAT(all, HasSubstr("tracing.headers: \"bad name\" is not an HTTP header name"));
  EXPECT_THAT(all, HasSubstr("tracing.headers.x-api-key: must be a one-line string"));
  EXPECT_THAT(all, HasSubstr("tracing.timeout: \"10\" is not a duration"));
  EXPECT_THAT(all, Not(HasSubstr("s3cret")));
  EXPECT_EQ(r.errors.size(), 7u) << all;
}

// Where a delivery carries the record's trace context.
using tributary::sidecar::ConsumedRecord;

ConsumedRecord tracedRecord() {
  ConsumedRecord r;
  r.tp = {"orders", 2};
  r.offset = 7;
  r.value = R"({"a":1})";
  r.headers = {{"traceparent", kValid}, {"tracestate", "rojo=1"}, {"other", "x"}};
  return r;
}

TEST(TraceDelivery, PushSendsTraceparentAndTheCloudEventsTracingExtension) {
  std::map<std::string, std::string> h;
  for (auto& [k, v] : tributary::sidecar::cloudEventHeaders(tracedRecord(), 1, "kafka://b:9092")) h[k] = v;
  EXPECT_EQ(h["traceparent"], kValid);
  EXPECT_EQ(h["ce-traceparent"], kValid);
  EXPECT_EQ(h["tracestate"], "rojo=1");
  EXPECT_EQ(h["ce-tracestate"], "rojo=1");
  EXPECT_EQ(h["Kafka-Header-traceparent"], kValid) << "record headers still travel as they are";

  ConsumedRecord invalid = tracedRecord();
  invalid.headers = {{"traceparent", "00-nonsense"}, {"tracestate", "rojo=1"}};
  h.clear();
  for (auto& [k, v] : tributary::sidecar::cloudEventHeaders(invalid, 1, "kafka://b:9092")) h[k] = v;
  EXPECT_EQ(h.count("traceparent"), 0u);
  EXPECT_EQ(h.count("ce-traceparent"), 0u);
  EXPECT_EQ(h.count("tracestate"), 0u);
}

TEST(TraceDelivery, EachEventOfABatchCarriesItsOwnTraceContext) {
  ConsumedRecord a = tracedRecord(), b = tracedRecord();
  b.headers.clear();
  Json batch = Json::parse(tributary::sidecar::cloudEventBatch({{&a, 1}, {&b, 2}}, "kafka://b:9092"));
  EXPECT_EQ(batch[0]["traceparent"], kValid);
  EXPECT_EQ(batch[0]["tracestate"], "rojo=1");
  EXPECT_FALSE(batch[1].contains("traceparent"));
}

TEST(TraceDelivery, PullReturnsTraceparentAndTracestateFields) {
  auto r = std::make_shared<const ConsumedRecord>(tracedRecord());
  Json out = Json::parse(tributary::sidecar::leasesToJson({{"id-1", r, 1}}));
  EXPECT_EQ(out["records"][0]["traceparent"], kValid);
  EXPECT_EQ(out["records"][0]["tracestate"], "rojo=1");
}

}  // namespace
