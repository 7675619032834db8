// With a tracer, the controller makes one span per reconciled key (issue 13):
// the resource's key, its namespace and name, the result, an error status for
// failures.
#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "operator/runtime/controller.h"
#include "tests/operator/runtime/runtime_test_support.h"

namespace tributary::op::runtime {
namespace {

using namespace std::chrono_literals;

class CollectingExporter final : public tracing::SpanExporter {
 public:
  struct Collected {
    std::mutex mutex;
    std::vector<tracing::Span> spans;
  };
  explicit CollectingExporter(std::shared_ptr<Collected> c) : c_(std::move(c)) {}
  bool exportSpans(const std::vector<tracing::Span>& spans, std::string&) override {
    std::lock_guard lock(c_->mutex);
    c_->spans.insert(c_->spans.end(), spans.begin(), spans.end());
    return true;
  }

 private:
  std::shared_ptr<Collected> c_;
};

class KeyedReconciler : public Reconciler {
 public:
  ReconcileResult reconcile(const std::string& key) override {
    if (key == "ns/bad") return ReconcileResult::terminal("partitions cannot decrease");
    return ReconcileResult::done();
  }
};

std::map<std::string, std::string> attributes(const tracing::Span& s) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : s.attributes)
    out[k] = std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : std::to_string(std::get<int64_t>(v));
  return out;
}

TEST(ReconcileSpans, EveryReconciledKeyIsASpanWithItsKeyAndResult) {
  auto collected = std::make_shared<CollectingExporter::Collected>();
  tracing::TracerOptions to;
  to.serviceName = "tributary-operator";
  tracing::Tracer tracer(to, std::make_unique<CollectingExporter>(collected), nullptr);
  auto clock = std::make_shared<FakeClock>();
  ControllerOptions o;
  o.name = "kafkatopic";
  o.clock = clock;
  o.tracer = &tracer;
  Controller controller(std::move(o), std::make_shared<KeyedReconciler>());
  controller.start();
  controller.queue().add("ns/good");
  controller.queue().add("ns/bad");
  ASSERT_TRUE(testing::eventually([&] {
    tracer.flush(1s);
    std::lock_guard lock(collected->mutex);
    return collected->spans.size() == 2;
  }));
  controller.stop();
  std::lock_guard lock(collected->mutex);
  std::map<std::string, const tracing::Span*> byKey;
  for (const auto& s : collected->spans) byKey[attributes(s)["tributary.resource.key"]] = &s;
  ASSERT_TRUE(byKey.count("ns/good") && byKey.count("ns/bad"));
  const auto good = attributes(*byKey["ns/good"]);
  EXPECT_EQ(byKey["ns/good"]->name, "reconcile kafkatopic");
  EXPECT_EQ(good.at("k8s.namespace.name"), "ns");
  EXPECT_EQ(good.at("tributary.resource.name"), "good");
  EXPECT_EQ(good.at("tributary.controller"), "kafkatopic");
  EXPECT_EQ(good.at("tributary.reconcile.result"), "success");
  EXPECT_EQ(byKey["ns/good"]->status, tracing::Span::Status::Unset);
  EXPECT_GE(byKey["ns/good"]->endUnixNanos, byKey["ns/good"]->startUnixNanos);
  EXPECT_EQ(attributes(*byKey["ns/bad"]).at("tributary.reconcile.result"), "terminal");
  EXPECT_EQ(byKey["ns/bad"]->status, tracing::Span::Status::Error);
  EXPECT_EQ(byKey["ns/bad"]->statusMessage, "partitions cannot decrease");
  EXPECT_NE(tracing::toHex(byKey["ns/good"]->traceId), tracing::toHex(byKey["ns/bad"]->traceId)) << "each reconcile is a trace of its own";
}

}  // namespace
}  // namespace tributary::op::runtime

// The operator's `tracing:` section: the sidecar's keys and rules.
#include "operator/app/operator_config.h"

namespace tributary::op::app {
namespace {

TEST(OperatorTracingConfig, KeysAreReadAndCheckedLikeTheSidecars) {
  auto d = parseOperatorConfig("clusters: {default: {bootstrapServers: k:9092}}\n");
  ASSERT_TRUE(d.config);
  EXPECT_FALSE(d.config->tracing.spansEnabled());
  EXPECT_EQ(d.config->tracing.serviceName, "tributary-operator");

  auto r = parseOperatorConfig(
      "tracing: {otlpEndpoint: http://otel:4318, serviceName: op, samplingRatio: 0.5, headers: {x-key: s3cret}, "
      "timeout: 2s}\n");
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0]);
  EXPECT_EQ(r.config->tracing.otlpEndpoint, "http://otel:4318");
  EXPECT_EQ(r.config->tracing.serviceName, "op");
  EXPECT_EQ(r.config->tracing.samplingRatio, 0.5);
  EXPECT_EQ(r.config->tracing.headers.at("x-key"), "s3cret");
  EXPECT_EQ(r.config->tracing.timeout, std::chrono::seconds(2));

  auto bad = parseOperatorConfig(
      "tracing: {otlpEndpoint: otel:4318, samplingRatio: 2, headers: {x-key: [s3cret]}, timeout: 1ms, sampler: x}\n");
  ASSERT_FALSE(bad.config);
  std::string all;
  for (const auto& e : bad.errors) all += e + "\n";
  EXPECT_NE(all.find("tracing.sampler: unknown key"), std::string::npos) << all;
  EXPECT_NE(all.find("tracing.otlpEndpoint: \"otel:4318\" must be the http:// or https:// URL"), std::string::npos) << all;
  EXPECT_NE(all.find("tracing.samplingRatio: must be a number from 0 to 1, got \"2\""), std::string::npos) << all;
  EXPECT_NE(all.find("tracing.headers.x-key: must be a one-line string"), std::string::npos) << all;
  EXPECT_NE(all.find("tracing.timeout: must be a duration of at least 100ms"), std::string::npos) << all;
  EXPECT_EQ(all.find("s3cret"), std::string::npos);
  EXPECT_EQ(bad.errors.size(), 5u) << all;
}

}  // namespace
}  // namespace tributary::op::app
