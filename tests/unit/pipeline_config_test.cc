// The pipeline file (tributary-sidecar --pipeline FILE): what a valid file
// becomes, and every mistake reported at once, naming its key.
#include <gtest/gtest.h>

#include <algorithm>

#include "sidecar/pipeline/pipeline_config.h"

using namespace tributary::sidecar;
using namespace tributary::sidecar::pipeline;

namespace {

// The issue's example, verbatim.
const char* kExample = R"(
source: {topics: [orders], group: orders-enricher, startFrom: earliest}
steps:
  - filter: '.amount > 10'
  - transform: '{id: .id, cents: (.amount * 100)}'
  - setKey: '.id | tostring'
  - setHeaders: {origin: '"pipeline"'}
  - route: [{when: '.cents >= 100000', sink: audit}]      # no match: the sink named default
sinks:
  default: {topic: big-orders}
  audit: {http: {url: 'http://auditor:8080/events', timeout: 5s}}
deadLetterTopic: orders.dlq
processing: atLeastOnce
)";

bool hasError(const std::vector<std::string>& errors, const std::string& part) {
  return std::any_of(errors.begin(), errors.end(), [&](const auto& e) { return e.find(part) != std::string::npos; });
}

std::string joined(const std::vector<std::string>& errors) {
  std::string s;
  for (const auto& e : errors) s += e + "\n";
  return s;
}

TEST(PipelineConfig, TheIssuesExampleParses) {
  auto r = parsePipelineConfig(kExample, {});
  ASSERT_TRUE(r.config) << joined(r.errors);
  const PipelineConfig& c = *r.config;
  EXPECT_EQ(c.topics, std::vector<std::string>{"orders"});
  EXPECT_EQ(c.group, "orders-enricher");
  EXPECT_EQ(c.name, "orders-enricher");  // the group, when no name is given
  EXPECT_EQ(c.startFrom, SubscriptionConfig::StartFrom::Earliest);
  ASSERT_EQ(c.steps.size(), 5u);
  EXPECT_EQ(c.steps[0].kind, StepConfig::Kind::Filter);
  EXPECT_EQ(c.steps[0].expression, ".amount > 10");
  EXPECT_EQ(c.steps[3].kind, StepConfig::Kind::SetHeaders);
  ASSERT_EQ(c.steps[3].headers.size(), 1u);
  EXPECT_EQ(c.steps[3].headers[0].first, "origin");
  ASSERT_EQ(c.steps[4].routes.size(), 1u);
  EXPECT_EQ(c.steps[4].routes[0].sink, "audit");
  ASSERT_EQ(c.sinks.size(), 2u);
  EXPECT_EQ(c.sinks.at("default").kind, SinkConfig::Kind::Topic);
  EXPECT_EQ(c.sinks.at("default").topic, "big-orders");
  EXPECT_EQ(c.sinks.at("audit").kind, SinkConfig::Kind::Http);
  EXPECT_EQ(c.sinks.at("audit").url, "http://auditor:8080/events");
  EXPECT_EQ(c.sinks.at("audit").timeout, std::chrono::seconds(5));
  EXPECT_EQ(c.defaultSink, "default");
  EXPECT_EQ(c.deadLetterTopic, "orders.dlq");
  EXPECT_EQ(c.onExhausted, SubscriptionConfig::OnExhausted::DeadLetter);
  EXPECT_EQ(c.processing, PipelineConfig::Processing::AtLeastOnce);
  EXPECT_EQ(c.maxInFlight, 256);  // a pipeline's default (a push subscription's is 64)
  EXPECT_TRUE(c.runtime.embeddedKafka());  // no kafka section: the embedded cluster, as the sidecar
  EXPECT_TRUE(checkPipelineFile(kExample).empty()) << joined(checkPipelineFile(kExample));

  const SubscriptionConfig s = c.subscription();
  EXPECT_EQ(s.name, "orders-enricher");
  EXPECT_EQ(s.topics, c.topics);
  EXPECT_EQ(s.deadLetterTopic, "orders.dlq");
}

TEST(PipelineConfig, ASingleSinkTakesEveryRecordWithoutARoute) {
  auto r = parsePipelineConfig("source: {topics: [a], group: g}\nsinks: {out: {topic: b}}\n", {});
  ASSERT_TRUE(r.config) << joined(r.errors);
  EXPECT_EQ(r.config->defaultSink, "out");
  EXPECT_TRUE(r.config->steps.empty());
}

TEST(PipelineConfig, TheSidecarsSectionsAndTheirOverridesApply) {
  auto r = parsePipelineConfig(R"(
source: {topics: [a], group: g}
sinks: {out: {topic: b}}
kafka: {bootstrapServers: 'k:9092', properties: {compression.type: lz4}}
admin: {listen: '0.0.0.0:9300'}
log: {level: debug}
)",
                               {{"TRIBUTARY_KAFKA_BOOTSTRAP_SERVERS", "kafka-0:9092"}});
  ASSERT_TRUE(r.config) << joined(r.errors);
  EXPECT_EQ(r.config->runtime.kafka.bootstrapServers, "kafka-0:9092");
  EXPECT_EQ(r.config->runtime.kafka.properties.at("compression.type"), "lz4");
  EXPECT_EQ(r.config->runtime.admin.listen.port, 9300);
  EXPECT_EQ(r.config->runtime.logLevel, "debug");
}

TEST(PipelineConfig, EveryMistakeIsReportedNamingItsKey) {
  auto r = parsePipelineConfig(R"(
source: {topics: ['bad topic!'], startFrom: yesterday}
steps:
  - filter: '.a'
    transform: '.b'
  - explode: '.'
  - route: [{when: '.x', sink: nowhere}]
  - setHeaders: []
sinks:
  one: {topic: orders2, http: {url: 'http://x'}}
  two: {http: {url: 'ftp://x'}}
  three: {topic: {name: t3, cluster: dr}}
retry: {maxAttempts: 0}
onExhausted: deadLetter
processing: sometimes
surprise: 1
)",
                               {});
  ASSERT_FALSE(r.config);
  const auto& e = r.errors;
  EXPECT_TRUE(hasError(e, "source.topics[0]: \"bad topic!\" is not a valid Kafka topic name")) << joined(e);
  EXPECT_TRUE(hasError(e, "source.group: is required")) << joined(e);
  EXPECT_TRUE(hasError(e, "source.startFrom: must be one of earliest, latest")) << joined(e);
  EXPECT_TRUE(hasError(e, "steps[0]: must be a mapping with exactly one of")) << joined(e);
  EXPECT_TRUE(hasError(e, "steps[1].explode: unknown step")) << joined(e);
  EXPECT_TRUE(hasError(e, "steps[2].route[0].sink: \"nowhere\" is not a name of sinks")) << joined(e);
  EXPECT_TRUE(hasError(e, "steps[3].setHeaders: must be a mapping")) << joined(e);
  EXPECT_TRUE(hasError(e, "sinks.one: set either topic or http, not both")) << joined(e);
  EXPECT_TRUE(hasError(e, "sinks.two.http.url: \"ftp://x\" must be an http:// or https:// URL")) << joined(e);
  EXPECT_TRUE(hasError(e, "sinks.three.topic.cluster: \"dr\" is not a name of clusters")) << joined(e);
  EXPECT_TRUE(hasError(e, "retry.maxAttempts: must be between 1 and 1000")) << joined(e);
  EXPECT_TRUE(hasError(e, "onExhausted: deadLetter needs deadLetterTopic")) << joined(e);
  EXPECT_TRUE(hasError(e, "processing: must be one of atLeastOnce, exactlyOnce")) << joined(e);
  EXPECT_TRUE(hasError(e, "surprise: unknown key")) << joined(e);
}

TEST(PipelineConfig, RecordsThatWouldLoopOrGoNowhereAreRefused) {
  auto r = parsePipelineConfig(R"(
source: {topics: [orders], group: g}
sinks:
  back: {topic: orders}
  lonely: {topic: elsewhere}
deadLetterTopic: orders
)",
                               {});
  ASSERT_FALSE(r.config);
  EXPECT_TRUE(hasError(r.errors, "sinks.back.topic: \"orders\" is a source topic")) << joined(r.errors);
  EXPECT_TRUE(hasError(r.errors, "deadLetterTopic: must not be a source topic")) << joined(r.errors);
  EXPECT_TRUE(hasError(r.errors, "sinks: with several sinks, add a route step or name one sink `default`"))
      << joined(r.errors);
}

TEST(PipelineConfig, ExactlyOnceNeedsTopicSinksOnTheSourcesCluster) {
  auto r = parsePipelineConfig(R"(
source: {topics: [orders], group: g}
steps: [{route: [{when: '.x', sink: hook}, {when: '.y', sink: dr}]}]
sinks:
  default: {topic: out}
  hook: {http: {url: 'http://h:8080/'}}
  dr: {topic: {name: out, cluster: backup}}
clusters: {backup: {bootstrapServers: 'dr:9092'}}
processing: exactlyOnce
)",
                               {});
  ASSERT_FALSE(r.config);
  EXPECT_TRUE(hasError(r.errors, "processing: exactlyOnce needs topic sinks on the source's cluster; sinks.hook is an http sink"))
      << joined(r.errors);
  EXPECT_TRUE(hasError(r.errors, "sinks.dr writes to cluster backup")) << joined(r.errors);
}

TEST(PipelineConfig, TheTransactionalIdComesFromTheFileTheEnvironmentOrTheName) {
  const std::string base = "source: {topics: [a], group: g}\nsinks: {out: {topic: b}}\nprocessing: exactlyOnce\n";
  auto fromName = parsePipelineConfig(base, {});
  ASSERT_TRUE(fromName.config) << joined(fromName.errors);
  EXPECT_EQ(fromName.config->transactionalId, "tributary-pipeline-g");
  auto fromEnv = parsePipelineConfig(base, {{kTransactionalIdVariable, "pipe-2"}});
  ASSERT_TRUE(fromEnv.config);
  EXPECT_EQ(fromEnv.config->transactionalId, "pipe-2");
  auto fromFile = parsePipelineConfig(base + "transactionalId: mine\n", {{kTransactionalIdVariable, "pipe-2"}});
  ASSERT_TRUE(fromFile.config);
  EXPECT_EQ(fromFile.config->transactionalId, "mine");
  auto notEos = parsePipelineConfig("source: {topics: [a], group: g}\nsinks: {out: {topic: b}}\ntransactionalId: x\n", {});
  EXPECT_TRUE(hasError(notEos.errors, "transactionalId: is for processing: exactlyOnce only")) << joined(notEos.errors);
}

TEST(PipelineConfig, TheOperatorsCheckCompilesEveryExpression) {
  const auto errors = checkPipelineFile(R"(
source: {topics: [a], group: g}
steps:
  - filter: '.amount >'
  - setHeaders: {ok: '"fine"', broken: '{'}
sinks: {out: {topic: b}}
)");
  ASSERT_EQ(errors.size(), 2u) << joined(errors);
  EXPECT_TRUE(hasError(errors, "steps[0].filter: \".amount >\" does not compile")) << joined(errors);
  EXPECT_TRUE(hasError(errors, "steps[1].setHeaders.broken: \"{\" does not compile")) << joined(errors);
  // A reference to a Secret file that lives in another pod is checked, not read.
  EXPECT_TRUE(checkPipelineFile("source: {topics: [a], group: g}\nsinks: {out: {topic: b}}\n"
                                "kafka: {bootstrapServers: 'k:9092', properties: {sasl.password: '${file:/etc/s/p}'}}\n")
                  .empty());
}

TEST(PipelineConfig, NotYamlOrNotAMappingSaysSo) {
  EXPECT_TRUE(hasError(parsePipelineConfig("source: [", {}).errors, "pipeline file is not valid YAML"));
  EXPECT_TRUE(hasError(parsePipelineConfig("- a\n", {}).errors, "(top level)"));
  EXPECT_TRUE(hasError(loadPipelineConfig("/nonexistent/p.yaml", {}).errors, "cannot read pipeline file /nonexistent/p.yaml"));
}

}  // namespace
