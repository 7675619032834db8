// parseSidecarConfig: every key, every TRIBUTARY_* override, every error message.
// The messages are pinned exactly: they are the sidecar's user interface at start-up.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <ostream>

#include "tests/support/temp_dir.h"
#include "sidecar/config/sidecar_config.h"

using namespace tributary::sidecar;
using namespace std::chrono_literals;
using testing::ElementsAre;
using testing::ElementsAreArray;
using testing::HasSubstr;
using testing::Matcher;
using testing::StartsWith;

namespace {

std::string errorsOf(const ConfigResult& r) {
  std::string s;
  for (const auto& e : r.errors) s += "\n  " + e;
  return s;
}

// Parses text that must be valid and returns the configuration.
SidecarConfig parseValid(const std::string& yaml, const Environment& env = {}) {
  auto r = parseSidecarConfig(yaml, env);
  EXPECT_TRUE(r.errors.empty()) << errorsOf(r);
  EXPECT_TRUE(r.config);
  return r.config.value_or(SidecarConfig{});
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : "|") + x;
  return s;
}

using tributary::test::TempDir;

}  // namespace

// ---------------------------------------------------------------------------
// Defaults and every key

TEST(SidecarConfig, EmptyFileGivesTheDocumentedDefaults) {
  auto r = parseSidecarConfig("", {});
  ASSERT_TRUE(r.config) << errorsOf(r);
  EXPECT_TRUE(r.errors.empty());
  const SidecarConfig& c = *r.config;
  EXPECT_TRUE(c.embeddedKafka());
  EXPECT_EQ(c.kafka.bootstrapServers, "");
  EXPECT_TRUE(c.kafka.properties.empty());
  EXPECT_EQ(c.kafka.deliveryTimeout, 30s);
  EXPECT_EQ(c.api.listen.toString(), "127.0.0.1:9191");
  EXPECT_EQ(c.api.token, "");
  EXPECT_EQ(c.api.maxBodyBytes, 1048576u);
  EXPECT_TRUE(c.api.allowedTopics.empty());
  EXPECT_EQ(c.api.workerThreads, 128);
  EXPECT_EQ(c.admin.listen.toString(), "0.0.0.0:9192");
  EXPECT_EQ(c.shutdown.gracePeriod, 20s);
  EXPECT_EQ(c.logLevel, "info");
}

TEST(SidecarConfig, EmptySectionsAndCommentsGiveTheDefaults) {
  auto c = parseValid("# nothing set\nkafka:\napi:\nadmin:\nshutdown:\nlog:\nsubscriptions:\n");
  EXPECT_TRUE(c.embeddedKafka());
  EXPECT_EQ(c.api.listen.toString(), "127.0.0.1:9191");
  EXPECT_EQ(c.shutdown.gracePeriod, 20s);
}

TEST(SidecarConfig, EveryKeyIsRead) {
  auto c = parseValid(R"(
kafka:
  bootstrapServers: kafka-0.kafka:9092,kafka-1.kafka:9092
  deliveryTimeout: 45s
  properties:
    compression.type: lz4
    linger.ms: 10
    socket.keepalive.enable: true
api:
  listen: 0.0.0.0:8080
  token: s3cret
  maxBodyBytes: 4096
  allowedTopics: [orders, payments.v1, audit_log-2]
  workerThreads: 16
admin:
  listen: "[::1]:9300"
shutdown:
  gracePeriod: 1m30s
log:
  level: debug
subscriptions: []
)");
  EXPECT_FALSE(c.embeddedKafka());
  EXPECT_EQ(c.kafka.bootstrapServers, "kafka-0.kafka:9092,kafka-1.kafka:9092");
  EXPECT_EQ(c.kafka.deliveryTimeout, 45s);
  EXPECT_EQ(c.kafka.properties,
            (tributary::KafkaProperties{{"compression.type", "lz4"}, {"linger.ms", "10"},
                                        {"socket.keepalive.enable", "true"}}));
  EXPECT_EQ(c.api.listen.host, "0.0.0.0");
  EXPECT_EQ(c.api.listen.port, 8080);
  EXPECT_EQ(c.api.token, "s3cret");
  EXPECT_EQ(c.api.maxBodyBytes, 4096u);
  EXPECT_THAT(c.api.allowedTopics, ElementsAre("orders", "payments.v1", "audit_log-2"));
  EXPECT_EQ(c.api.workerThreads, 16);
  EXPECT_EQ(c.admin.listen.host, "::1");
  EXPECT_EQ(c.admin.listen.port, 9300);
  EXPECT_EQ(c.admin.listen.toString(), "[::1]:9300");
  EXPECT_EQ(c.shutdown.gracePeriod, 90s);
  EXPECT_EQ(c.logLevel, "debug");
}

TEST(SidecarConfig, ListenAddressForms) {
  auto c = parseValid("api: {listen: ':8080'}\nadmin: {listen: '127.0.0.1:0'}\n");
  EXPECT_EQ(c.api.listen.toString(), "0.0.0.0:8080");  // empty host: every interface
  EXPECT_EQ(c.admin.listen.port, 0);                   // port 0: the kernel picks one
}

TEST(SidecarConfig, LimitsAreInclusive) {
  auto low = parseValid(
      "kafka: {deliveryTimeout: 100ms}\napi: {maxBodyBytes: 1024, workerThreads: 1}\nshutdown: {gracePeriod: 0s}\n");
  EXPECT_EQ(low.kafka.deliveryTimeout, 100ms);
  EXPECT_EQ(low.api.maxBodyBytes, 1024u);
  EXPECT_EQ(low.api.workerThreads, 1);
  EXPECT_EQ(low.shutdown.gracePeriod, 0ms);
  auto high = parseValid("api: {maxBodyBytes: 268435456, workerThreads: 4096}\n");
  EXPECT_EQ(high.api.maxBodyBytes, 268435456u);
  EXPECT_EQ(high.api.workerThreads, 4096);
}

TEST(SidecarConfig, TheInflightByteBudgetDefaultsTo8MiBAndAlwaysFitsTheLargestBody) {
  EXPECT_EQ(parseValid("").api.maxInflightBytes, 8u * 1024 * 1024);
  EXPECT_EQ(parseValid("api: {maxInflightBytes: 2048, maxBodyBytes: 2048}\n").api.maxInflightBytes, 2048u);
  EXPECT_EQ(parseValid("api: {maxBodyBytes: 33554432}\n").api.maxInflightBytes, 33554432u)
      << "unset, it grows with a larger body limit";
  auto r = parseSidecarConfig("api: {maxInflightBytes: 4096}\n", {});
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].rfind("api.maxInflightBytes: must be at least api.maxBodyBytes (1048576)", 0), 0u)
      << r.errors[0];
}

TEST(SidecarConfig, EveryLogLevelIsAccepted) {
  for (const char* level : {"debug", "info", "warn", "error"})
    EXPECT_EQ(parseValid(std::string("log: {level: ") + level + "}\n").logLevel, level);
}

TEST(SidecarConfig, TokenFileIsReadAndItsLineEndIsTrimmed) {
  TempDir dir;
  EXPECT_EQ(parseValid("api: {tokenFile: " + dir.write("token", "file-token\n") + "}\n").api.token, "file-token");
  EXPECT_EQ(parseValid("api: {tokenFile: " + dir.write("crlf", "abc def \r\n") + "}\n").api.token, "abc def");
  EXPECT_EQ(parseValid("api: {tokenFile: " + dir.write("bare", "t0ken") + "}\n").api.token, "t0ken");
}

TEST(SidecarConfig, TokenFileErrorsNameTheFileAndTheReason) {
  TempDir dir;
  const std::string empty = dir.write("empty", "\n");
  auto r = parseSidecarConfig("api: {tokenFile: " + empty + "}\n", {});
  EXPECT_FALSE(r.config);
  EXPECT_THAT(r.errors, ElementsAre("api.tokenFile: " + empty + " is empty"));

  // A directory used to abort the process (std::ios_failure thrown from the read).
  r = parseSidecarConfig("api: {tokenFile: " + dir.path() + "}\n", {});
  EXPECT_FALSE(r.config);
  EXPECT_THAT(r.errors, ElementsAre("api.tokenFile: cannot read " + dir.path() + ": Is a directory"));

  r = parseSidecarConfig("", {{"TRIBUTARY_API_TOKEN_FILE", dir.path() + "/absent"}});
  EXPECT_FALSE(r.config);
  EXPECT_THAT(r.errors, ElementsAre("api.tokenFile (from TRIBUTARY_API_TOKEN_FILE): cannot read " + dir.path() +
                                    "/absent: No such file or directory"));
}

TEST(SidecarConfig, TokenFileFromTheEnvironmentOverridesTheFile) {
  TempDir dir;
  const std::string fromFile = dir.write("a", "from-file\n");
  const std::string fromEnv = dir.write("b", "from-env\n");
  const std::string yaml = "api: {tokenFile: " + fromFile + "}\n";
  EXPECT_EQ(parseValid(yaml).api.token, "from-file");
  EXPECT_EQ(parseValid(yaml, {{"TRIBUTARY_API_TOKEN_FILE", fromEnv}}).api.token, "from-env");
  EXPECT_EQ(parseValid("", {{"TRIBUTARY_API_TOKEN_FILE", fromEnv}}).api.token, "from-env");
}

TEST(SidecarConfig, LoadReadsAFileAndNamesItWhenItCannot) {
  TempDir dir;
  auto r = loadSidecarConfig(dir.write("sidecar.yaml", "api: {workerThreads: 3}\n"), {});
  ASSERT_TRUE(r.config) << errorsOf(r);
  EXPECT_EQ(r.config->api.workerThreads, 3);

  r = loadSidecarConfig(dir.path() + "/absent.yaml", {});
  EXPECT_FALSE(r.config);
  EXPECT_THAT(r.errors,
              ElementsAre("cannot read config file " + dir.path() + "/absent.yaml: No such file or directory"));

  r = loadSidecarConfig(dir.path(), {});
  EXPECT_FALSE(r.config);
  EXPECT_THAT(r.errors, ElementsAre("cannot read config file " + dir.path() + ": Is a directory"));
}

TEST(SidecarConfig, WithoutConfigTheYamlComesFromTributaryConfigYaml) {
  // How the operator's injector passes the default config to a pod.
  const Environment env{{"TRIBUTARY_CONFIG_YAML", "kafka: {bootstrapServers: kafka-0:9092}\napi: {workerThreads: 7}\n"},
                        {"TRIBUTARY_API_WORKER_THREADS", "9"}};
  std::string source;
  auto r = resolveSidecarConfig("", env, &source);
  ASSERT_TRUE(r.config) << errorsOf(r);
  EXPECT_EQ(source, "TRIBUTARY_CONFIG_YAML");
  EXPECT_EQ(r.config->kafka.bootstrapServers, "kafka-0:9092");
  EXPECT_EQ(r.config->api.workerThreads, 9) << "the other TRIBUTARY_* variables still override it";

  // --config wins over the variable.
  TempDir dir;
  r = resolveSidecarConfig(dir.write("sidecar.yaml", "api: {workerThreads: 3}\n"), {{"TRIBUTARY_CONFIG_YAML", "x: 1\n"}},
                           &source);
  ASSERT_TRUE(r.config) << errorsOf(r);
  EXPECT_EQ(r.config->api.workerThreads, 3);
  EXPECT_EQ(source, dir.path() + "/sidecar.yaml");

  // An invalid inline config is refused like a file, every problem named.
  r = resolveSidecarConfig("", {{"TRIBUTARY_CONFIG_YAML", "kafka: {bootstrapServer: x}\n"}}, &source);
  EXPECT_FALSE(r.config);
  EXPECT_EQ(source, "TRIBUTARY_CONFIG_YAML");
  EXPECT_THAT(r.errors, ElementsAre(StartsWith("kafka.bootstrapServer: unknown key")));

  // Neither: the defaults (dev mode).
  r = resolveSidecarConfig("", {}, &source);
  ASSERT_TRUE(r.config);
  EXPECT_EQ(source, "");
  EXPECT_TRUE(r.config->embeddedKafka());
}

// ---------------------------------------------------------------------------
// Environment overrides: each variable beats the file's value.

struct EnvCase {
  const char* name;
  const char* variable;
  const char* value;
  std::string yaml;  // sets the same key to something else
  std::function<std::string(const SidecarConfig&)> get;
  std::string fromFile;
  std::string fromEnv;
};

void PrintTo(const EnvCase& c, std::ostream* os) { *os << c.variable << "=" << c.value; }

class EnvOverride : public testing::TestWithParam<EnvCase> {};

TEST_P(EnvOverride, BeatsTheFile) {
  const EnvCase& c = GetParam();
  EXPECT_EQ(c.get(parseValid(c.yaml)), c.fromFile);
  EXPECT_EQ(c.get(parseValid(c.yaml, {{c.variable, c.value}})), c.fromEnv);
  // Also when the file does not mention the key at all.
  EXPECT_EQ(c.get(parseValid("", {{c.variable, c.value}})), c.fromEnv);
}

std::string ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

INSTANTIATE_TEST_SUITE_P(
    SidecarConfig, EnvOverride,
    testing::Values(
        EnvCase{"KafkaBootstrapServers", "TRIBUTARY_KAFKA_BOOTSTRAP_SERVERS", "env-a:9092,env-b:9092",
                "kafka: {bootstrapServers: 'file:9092'}",
                [](const SidecarConfig& c) { return c.kafka.bootstrapServers; }, "file:9092", "env-a:9092,env-b:9092"},
        EnvCase{"KafkaDeliveryTimeout", "TRIBUTARY_KAFKA_DELIVERY_TIMEOUT", "2m", "kafka: {deliveryTimeout: 5s}",
                [](const SidecarConfig& c) { return ms(c.kafka.deliveryTimeout); }, "5000ms", "120000ms"},
        EnvCase{"ApiListen", "TRIBUTARY_API_LISTEN", "0.0.0.0:7000", "api: {listen: '127.0.0.1:6000'}",
                [](const SidecarConfig& c) { return c.api.listen.toString(); }, "127.0.0.1:6000", "0.0.0.0:7000"},
        EnvCase{"ApiToken", "TRIBUTARY_API_TOKEN", "env-token", "api: {token: file-token}",
                [](const SidecarConfig& c) { return c.api.token; }, "file-token", "env-token"},
        EnvCase{"ApiMaxBodyBytes", "TRIBUTARY_API_MAX_BODY_BYTES", "65536", "api: {maxBodyBytes: 2048}",
                [](const SidecarConfig& c) { return std::to_string(c.api.maxBodyBytes); }, "2048", "65536"},
        EnvCase{"ApiAllowedTopics", "TRIBUTARY_API_ALLOWED_TOPICS", "orders,payments,audit.v1",
                "api: {allowedTopics: [file-topic]}", [](const SidecarConfig& c) { return join(c.api.allowedTopics); },
                "file-topic", "orders|payments|audit.v1"},
        EnvCase{"ApiWorkerThreads", "TRIBUTARY_API_WORKER_THREADS", "32", "api: {workerThreads: 8}",
                [](const SidecarConfig& c) { return std::to_string(c.api.workerThreads); }, "8", "32"},
        EnvCase{"AdminListen", "TRIBUTARY_ADMIN_LISTEN", "127.0.0.1:9400", "admin: {listen: '0.0.0.0:9300'}",
                [](const SidecarConfig& c) { return c.admin.listen.toString(); }, "0.0.0.0:9300", "127.0.0.1:9400"},
        EnvCase{"ShutdownGracePeriod", "TRIBUTARY_SHUTDOWN_GRACE_PERIOD", "45s", "shutdown: {gracePeriod: 5s}",
                [](const SidecarConfig& c) { return ms(c.shutdown.gracePeriod); }, "5000ms", "45000ms"},
        EnvCase{"LogLevel", "TRIBUTARY_LOG_LEVEL", "error", "log: {level: warn}",
                [](const SidecarConfig& c) { return c.logLevel; }, "warn", "error"}),
    [](const testing::TestParamInfo<EnvCase>& info) { return std::string(info.param.name); });

TEST(SidecarConfig, AllowedTopicsFromTheEnvironmentSkipEmptyItems) {
  EXPECT_THAT(parseValid("", {{"TRIBUTARY_API_ALLOWED_TOPICS", "a,,b,"}}).api.allowedTopics, ElementsAre("a", "b"));
  // An empty variable is an empty list: every topic is allowed, whatever the file says.
  auto c = parseValid("api: {allowedTopics: [a]}", {{"TRIBUTARY_API_ALLOWED_TOPICS", ""}});
  EXPECT_TRUE(c.api.allowedTopics.empty());
}

TEST(SidecarConfig, OtherVariablesAreIgnored) {
  // Kubernetes injects <SERVICE>_PORT and <SERVICE>_SERVICE_HOST for every Service in
  // the namespace: a Service named "tributary" must not break the sidecar.
  auto c = parseValid("", {{"TRIBUTARY_PORT", "tcp://10.0.0.1:9191"},
                           {"TRIBUTARY_SERVICE_HOST", "10.0.0.1"},
                           {"KAFKA_BOOTSTRAP_SERVERS", "elsewhere:9092"}});
  EXPECT_TRUE(c.embeddedKafka());
}

TEST(SidecarConfig, EveryVariableAtOnce) {
  auto c = parseValid("", {{"TRIBUTARY_KAFKA_BOOTSTRAP_SERVERS", "k:9092"},
                           {"TRIBUTARY_KAFKA_DELIVERY_TIMEOUT", "10s"},
                           {"TRIBUTARY_API_LISTEN", ":9000"},
                           {"TRIBUTARY_API_TOKEN", "t"},
                           {"TRIBUTARY_API_MAX_BODY_BYTES", "2048"},
                           {"TRIBUTARY_API_ALLOWED_TOPICS", "x"},
                           {"TRIBUTARY_API_WORKER_THREADS", "2"},
                           {"TRIBUTARY_ADMIN_LISTEN", ":9001"},
                           {"TRIBUTARY_SHUTDOWN_GRACE_PERIOD", "1s"},
                           {"TRIBUTARY_LOG_LEVEL", "warn"}});
  EXPECT_EQ(c.kafka.bootstrapServers, "k:9092");
  EXPECT_EQ(c.kafka.deliveryTimeout, 10s);
  EXPECT_EQ(c.api.listen.toString(), "0.0.0.0:9000");
  EXPECT_EQ(c.api.token, "t");
  EXPECT_EQ(c.api.maxBodyBytes, 2048u);
  EXPECT_THAT(c.api.allowedTopics, ElementsAre("x"));
  EXPECT_EQ(c.api.workerThreads, 2);
  EXPECT_EQ(c.admin.listen.toString(), "0.0.0.0:9001");
  EXPECT_EQ(c.shutdown.gracePeriod, 1s);
  EXPECT_EQ(c.logLevel, "warn");
}

// ---------------------------------------------------------------------------
// Bad input: each row is a document (and environment) and every message it must produce.

struct BadCase {
  const char* name;
  std::string yaml;
  std::vector<Matcher<const std::string&>> errors;
  Environment env = {};
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name << ": " << c.yaml; }

class BadConfig : public testing::TestWithParam<BadCase> {};

TEST_P(BadConfig, IsRefusedWithEveryMessage) {
  const BadCase& c = GetParam();
  auto r = parseSidecarConfig(c.yaml, c.env);
  EXPECT_FALSE(r.config) << "a configuration with errors must not be returned";
  EXPECT_THAT(r.errors, ElementsAreArray(c.errors));
}

const std::string kTopKeys = "(known keys here: admin, api, kafka, log, shutdown, subscriptions, tracing)";
const std::string kApiKeys =
    "(known keys here: allowedTopics, listen, maxBodyBytes, maxInflightBytes, token, tokenFile, workerThreads)";
const std::string kDurationHint = "write e.g. \"500ms\", \"10s\" or \"1m\"";
const std::string kListenHint = "write host:port, e.g. \"127.0.0.1:9191\"";
const std::string kLevels = "must be one of debug, info, warn, error";
const std::string kAcksAll = "Tributary always produces with acks=all so that a 200 means the record is replicated";

INSTANTIATE_TEST_SUITE_P(
    Document, BadConfig,
    testing::Values(
        BadCase{"YamlSyntax",
                "kafka:\n  bootstrapServers: [a, b\n",
                {testing::AllOf(StartsWith("config is not valid YAML: "), HasSubstr("(line 3, column 1)"))}},
        BadCase{"YamlTabIndent", "log:\n  level: debug\n\tapi: x\n",
                {testing::AllOf(StartsWith("config is not valid YAML: "), HasSubstr("tab"),
                                HasSubstr("(line 3, column 1)"))}},
        BadCase{"TopLevelList", "- kafka\n- api\n", {"(top level): must be a mapping"}},
        BadCase{"TopLevelScalar", "just some text\n", {"(top level): must be a mapping"}},
        BadCase{"TopLevelNonStringKey", "? [a, b]\n: 1\n",
                {"(top level): keys must be plain names, not lists or mappings"}},
        BadCase{"UnknownTopLevelKey", "kafak: {}\n", {"kafak: unknown key " + kTopKeys}},
        BadCase{"UnknownApiKey", "api:\n  lisen: 127.0.0.1:9191\n", {"api.lisen: unknown key " + kApiKeys}},
        BadCase{"UnknownKafkaKey", "kafka: {bootstrap: k:9092}\n",
                {"kafka.bootstrap: unknown key (known keys here: bootstrapServers, deliveryTimeout, properties)"}},
        BadCase{"UnknownAdminKey", "admin: {port: 9192}\n", {"admin.port: unknown key (known keys here: listen)"}},
        BadCase{"UnknownShutdownKey", "shutdown: {timeout: 5s}\n",
                {"shutdown.timeout: unknown key (known keys here: gracePeriod)"}},
        BadCase{"UnknownLogKey", "log: {format: json}\n", {"log.format: unknown key (known keys here: level)"}},
        // Wrong types
        BadCase{"KafkaList", "kafka: [a, b]\n", {"kafka: must be a mapping"}},
        BadCase{"ApiScalar", "api: on\n", {"api: must be a mapping"}},
        BadCase{"AdminList", "admin: [x]\n", {"admin: must be a mapping"}},
        BadCase{"ShutdownScalar", "shutdown: 5s\n", {"shutdown: must be a mapping"}},
        BadCase{"LogScalar", "log: debug\n", {"log: must be a mapping"}},
        BadCase{"BootstrapServersList", "kafka: {bootstrapServers: [a:9092, b:9092]}\n",
                {"kafka.bootstrapServers: must be a string"}},
        BadCase{"TokenMapping", "api: {token: {value: x}}\n", {"api.token: must be a string"}},
        BadCase{"MaxBodyBytesNotANumber", "api: {maxBodyBytes: lots}\n", {"api.maxBodyBytes: must be an integer"}},
        BadCase{"MaxBodyBytesFraction", "api: {maxBodyBytes: 1.5}\n", {"api.maxBodyBytes: must be an integer"}},
        BadCase{"MaxBodyBytesBeyondInt64", "api: {maxBodyBytes: 99999999999999999999999}\n",
                {"api.maxBodyBytes: must be an integer"}},
        BadCase{"MaxBodyBytesTooLarge", "api: {maxBodyBytes: 1000000000000}\n",
                {"api.maxBodyBytes: must be between 1024 and 268435456, got 1000000000000"}},
        BadCase{"MaxBodyBytesTooSmall", "api: {maxBodyBytes: 1023}\n",
                {"api.maxBodyBytes: must be between 1024 and 268435456, got 1023"}},
        BadCase{"MaxBodyBytesNegative", "api: {maxBodyBytes: -1}\n",
                {"api.maxBodyBytes: must be between 1024 and 268435456, got -1"}},
        BadCase{"WorkerThreadsZero", "api: {workerThreads: 0}\n",
                {"api.workerThreads: must be between 1 and 4096, got 0"}},
        BadCase{"WorkerThreadsTooMany", "api: {workerThreads: 4097}\n",
                {"api.workerThreads: must be between 1 and 4096, got 4097"}},
        BadCase{"WorkerThreadsWord", "api: {workerThreads: many}\n", {"api.workerThreads: must be an integer"}},
        BadCase{"AllowedTopicsString", "api: {allowedTopics: orders}\n",
                {"api.allowedTopics: must be a list of strings"}},
        BadCase{"AllowedTopicsMapping", "api: {allowedTopics: {orders: true}}\n",
                {"api.allowedTopics: must be a list of strings"}},
        BadCase{"AllowedTopicsNonScalarItem", "api: {allowedTopics: [orders, {name: payments}]}\n",
                {"api.allowedTopics[1]: must be a string"}},
        BadCase{"AllowedTopicsInvalidName", "api: {allowedTopics: [orders, 'bad topic']}\n",
                {"api.allowedTopics[1]: \"bad topic\" is not a valid Kafka topic name"}},
        BadCase{"AllowedTopicsDotDot", "api: {allowedTopics: ['..']}\n",
                {"api.allowedTopics[0]: \"..\" is not a valid Kafka topic name"}},
        BadCase{"AllowedTopicsEmptyName", "api: {allowedTopics: ['']}\n",
                {"api.allowedTopics[0]: \"\" is not a valid Kafka topic name"}},
        BadCase{"AllowedTopicsNameTooLong", "api: {allowedTopics: [" + std::string(250, 't') + "]}\n",
                {"api.allowedTopics[0]: \"" + std::string(250, 't') + "\" is not a valid Kafka topic name"}},
        // Each item is named by its position as written, also after a bad item.
        BadCase{"AllowedTopicsIndicesAfterABadItem", "api: {allowedTopics: [[x], ok, 'bad/name']}\n",
                {"api.allowedTopics[0]: must be a string",
                 "api.allowedTopics[2]: \"bad/name\" is not a valid Kafka topic name"}},
        // Durations
        BadCase{"DurationWithoutUnit", "kafka: {deliveryTimeout: 10}\n",
                {"kafka.deliveryTimeout: \"10\" is not a duration; " + kDurationHint}},
        BadCase{"DurationInWords", "kafka: {deliveryTimeout: ten seconds}\n",
                {"kafka.deliveryTimeout: \"ten seconds\" is not a duration; " + kDurationHint}},
        BadCase{"DurationBelowMinimum", "kafka: {deliveryTimeout: 99ms}\n",
                {"kafka.deliveryTimeout: must be at least 100ms"}},
        BadCase{"DurationZero", "kafka: {deliveryTimeout: 0s}\n", {"kafka.deliveryTimeout: must be at least 100ms"}},
        BadCase{"DurationMapping", "kafka: {deliveryTimeout: {seconds: 10}}\n",
                {"kafka.deliveryTimeout: must be a duration string such as \"500ms\", \"10s\" or \"1m\""}},
        BadCase{"GracePeriodWithoutUnit", "shutdown: {gracePeriod: 5}\n",
                {"shutdown.gracePeriod: \"5\" is not a duration; " + kDurationHint}},
        BadCase{"GracePeriodNegative", "shutdown: {gracePeriod: -1s}\n",
                {"shutdown.gracePeriod: \"-1s\" is not a duration; " + kDurationHint}},
        // Listen addresses
        BadCase{"ListenWithoutPort", "api: {listen: localhost}\n",
                {"api.listen: \"localhost\" is not a listen address; " + kListenHint}},
        BadCase{"ListenPortOutOfRange", "api: {listen: '127.0.0.1:65536'}\n",
                {"api.listen: \"127.0.0.1:65536\" is not a listen address; " + kListenHint}},
        BadCase{"ListenPortByName", "admin: {listen: '127.0.0.1:http'}\n",
                {"admin.listen: \"127.0.0.1:http\" is not a listen address; " + kListenHint}},
        BadCase{"ListenList", "admin: {listen: [':1', ':2']}\n", {"admin.listen: must be a string"}},
        // librdkafka properties
        BadCase{"PropertiesList", "kafka: {properties: [linger.ms]}\n",
                {"kafka.properties: must be a mapping of librdkafka property names to values"}},
        BadCase{"PropertyValueList", "kafka: {properties: {linger.ms: [5]}}\n",
                {"kafka.properties.linger.ms: must be a string, number or boolean"}},
        BadCase{"PropertyValueEmpty", "kafka:\n  properties:\n    linger.ms:\n",
                {"kafka.properties.linger.ms: must be a string, number or boolean"}},
        BadCase{"UnknownProperty", "kafka: {properties: {no.such.property: 1}}\n",
                {testing::AllOf(StartsWith("kafka.properties.no.such.property: "),
                                HasSubstr("No such configuration property"))}},
        BadCase{"InvalidPropertyValue", "kafka: {properties: {compression.type: zstd2}}\n",
                {testing::AllOf(StartsWith("kafka.properties.compression.type: "),
                                HasSubstr("Invalid value \"zstd2\""))}},
        BadCase{"PropertiesTributaryOwns",
                "kafka:\n  properties:\n    acks: 1\n    enable.idempotence: false\n    bootstrap.servers: k:9092\n"
                "    message.timeout.ms: 5000\n",
                {"kafka.properties.acks: may not be set: " + kAcksAll,
                 "kafka.properties.bootstrap.servers: may not be set: set kafka.bootstrapServers instead",
                 "kafka.properties.enable.idempotence: may not be set: Tributary always uses the idempotent producer "
                 "so that retries never duplicate",
                 "kafka.properties.message.timeout.ms: may not be set: set kafka.deliveryTimeout instead"}},
        BadCase{"PropertyAliasesTributaryOwns",
                "kafka:\n  properties:\n    request.required.acks: -1\n    metadata.broker.list: k:9092\n"
                "    delivery.timeout.ms: 5000\n",
                {"kafka.properties.delivery.timeout.ms: may not be set: set kafka.deliveryTimeout instead",
                 "kafka.properties.metadata.broker.list: may not be set: set kafka.bootstrapServers instead",
                 "kafka.properties.request.required.acks: may not be set: " + kAcksAll}},
        // Token
        BadCase{"TokenAndTokenFile", "api: {token: abc, tokenFile: /etc/token}\n",
                {"api.tokenFile: set either api.token or api.tokenFile, not both"}},
        BadCase{"TokenFileMissing", "api: {tokenFile: /nonexistent/tributary-token}\n",
                {"api.tokenFile: cannot read /nonexistent/tributary-token: No such file or directory"}},
        // Log level
        BadCase{"LogLevelUnknown", "log: {level: verbose}\n", {"log.level: " + kLevels + ", got \"verbose\""}},
        BadCase{"LogLevelUpperCase", "log: {level: INFO}\n", {"log.level: " + kLevels + ", got \"INFO\""}},
        BadCase{"LogLevelList", "log: {level: [debug]}\n", {"log.level: must be a string"}},
        // Subscriptions (consuming is issue #3)
        BadCase{"SubscriptionsMapping", "subscriptions: {orders: {}}\n", {"subscriptions: must be a list"}}),
    [](const testing::TestParamInfo<BadCase>& info) { return std::string(info.param.name); });

// Every problem is reported at once, in document order, so one restart fixes them all.
INSTANTIATE_TEST_SUITE_P(
    CollectAll, BadConfig,
    testing::Values(
        BadCase{"ThreeSections",
                "kafka: {deliveryTimeout: 10}\napi: {maxBodyBytes: lots}\nlog: {level: loud}\n",
                {"kafka.deliveryTimeout: \"10\" is not a duration; " + kDurationHint,
                 "api.maxBodyBytes: must be an integer", "log.level: " + kLevels + ", got \"loud\""}},
        BadCase{"OneSection",
                "api:\n  listen: nowhere\n  lisen: ':1'\n  workerThreads: 0\n  allowedTopics: ['a b', ok, 'c d']\n",
                {"api.lisen: unknown key " + kApiKeys,
                 "api.listen: \"nowhere\" is not a listen address; " + kListenHint,
                 "api.allowedTopics[0]: \"a b\" is not a valid Kafka topic name",
                 "api.allowedTopics[2]: \"c d\" is not a valid Kafka topic name",
                 "api.workerThreads: must be between 1 and 4096, got 0"}},
        BadCase{"EverySection",
                "kafak: {}\n"
                "kafka: {bootstrapServers: [x], properties: {acks: 0}}\n"
                "api: {token: a, tokenFile: /b}\n"
                "admin: {listen: nope}\n"
                "shutdown: {gracePeriod: soon}\n"
                "log: {level: trace}\n"
                "subscriptions: [{name: s, topics: [t], group: g, mode: pull, endpoint: 'http://x'}]\n",
                {"kafak: unknown key " + kTopKeys, "kafka.bootstrapServers: must be a string",
                 "kafka.properties.acks: may not be set: " + kAcksAll,
                 "api.tokenFile: set either api.token or api.tokenFile, not both",
                 "admin.listen: \"nope\" is not a listen address; " + kListenHint,
                 "shutdown.gracePeriod: \"soon\" is not a duration; " + kDurationHint,
                 "log.level: " + kLevels + ", got \"trace\"",
                 "subscriptions[s].endpoint: is for mode push only; a pull subscription is read with POST "
                 "/v1/subscriptions/s/poll"}},
        BadCase{"FileAndEnvironment",
                "api: {maxBodyBytes: 10}\n",
                {"api.maxBodyBytes: must be between 1024 and 268435456, got 10",
                 "api.workerThreads (from TRIBUTARY_API_WORKER_THREADS): must be an integer",
                 "log.level (from TRIBUTARY_LOG_LEVEL): " + kLevels + ", got \"loud\""},
                {{"TRIBUTARY_API_WORKER_THREADS", "lots"}, {"TRIBUTARY_LOG_LEVEL", "loud"}}}),
    [](const testing::TestParamInfo<BadCase>& info) { return std::string(info.param.name); });

// An invalid value from the environment names the variable it came from.
INSTANTIATE_TEST_SUITE_P(
    EnvValue, BadConfig,
    testing::Values(
        BadCase{"KafkaDeliveryTimeout", "",
                {"kafka.deliveryTimeout (from TRIBUTARY_KAFKA_DELIVERY_TIMEOUT): \"30\" is not a duration; " +
                 kDurationHint},
                {{"TRIBUTARY_KAFKA_DELIVERY_TIMEOUT", "30"}}},
        BadCase{"ApiListen", "",
                {"api.listen (from TRIBUTARY_API_LISTEN): \"9191\" is not a listen address; " + kListenHint},
                {{"TRIBUTARY_API_LISTEN", "9191"}}},
        BadCase{"ApiTokenFile", "",
                {"api.tokenFile (from TRIBUTARY_API_TOKEN_FILE): cannot read /nonexistent/tributary-token: No such "
                 "file or directory"},
                {{"TRIBUTARY_API_TOKEN_FILE", "/nonexistent/tributary-token"}}},
        BadCase{"ApiMaxBodyBytes", "api: {maxBodyBytes: 4096}\n",
                {"api.maxBodyBytes (from TRIBUTARY_API_MAX_BODY_BYTES): must be an integer"},
                {{"TRIBUTARY_API_MAX_BODY_BYTES", "1MB"}}},
        BadCase{"ApiMaxBodyBytesRange", "",
                {"api.maxBodyBytes (from TRIBUTARY_API_MAX_BODY_BYTES): must be between 1024 and 268435456, got 0"},
                {{"TRIBUTARY_API_MAX_BODY_BYTES", "0"}}},
        BadCase{"ApiAllowedTopics", "",
                {"api.allowedTopics[1] (from TRIBUTARY_API_ALLOWED_TOPICS): \"bad topic\" is not a valid Kafka topic "
                 "name"},
                {{"TRIBUTARY_API_ALLOWED_TOPICS", "orders,bad topic"}}},
        BadCase{"ApiWorkerThreads", "",
                {"api.workerThreads (from TRIBUTARY_API_WORKER_THREADS): must be between 1 and 4096, got 0"},
                {{"TRIBUTARY_API_WORKER_THREADS", "0"}}},
        BadCase{"AdminListen", "",
                {"admin.listen (from TRIBUTARY_ADMIN_LISTEN): \"admin\" is not a listen address; " + kListenHint},
                {{"TRIBUTARY_ADMIN_LISTEN", "admin"}}},
        BadCase{"ShutdownGracePeriod", "",
                {"shutdown.gracePeriod (from TRIBUTARY_SHUTDOWN_GRACE_PERIOD): \"soon\" is not a duration; " +
                 kDurationHint},
                {{"TRIBUTARY_SHUTDOWN_GRACE_PERIOD", "soon"}}},
        BadCase{"LogLevel", "", {"log.level (from TRIBUTARY_LOG_LEVEL): " + kLevels + ", got \"trace\""},
                {{"TRIBUTARY_LOG_LEVEL", "trace"}}},
        // A token from the environment and a tokenFile in the file: the message says where the token came from.
        BadCase{"ApiTokenWithFileTokenFile", "api: {tokenFile: /etc/token}\n",
                {"api.tokenFile: set either api.token or api.tokenFile, not both (api.token is set by "
                 "TRIBUTARY_API_TOKEN)"},
                {{"TRIBUTARY_API_TOKEN", "abc"}}},
        // An override does not paper over a section the file got wrong.
        BadCase{"OverrideIntoABadSection", "kafka: [a]\n", {"kafka: must be a mapping"},
                {{"TRIBUTARY_KAFKA_BOOTSTRAP_SERVERS", "k:9092"}}},
        BadCase{"OverrideWithABadTopLevel", "- a\n", {"(top level): must be a mapping"},
                {{"TRIBUTARY_LOG_LEVEL", "info"}}}),
    [](const testing::TestParamInfo<BadCase>& info) { return std::string(info.param.name); });

// The subscriptions of the consume path (issue #3).
namespace {

std::vector<std::string> subscriptionErrors(const std::string& entry) {
  auto r = parseSidecarConfig("subscriptions:\n" + entry, {});
  EXPECT_EQ(r.config.has_value(), r.errors.empty());
  return r.errors;
}

TEST(SubscriptionConfig, AValidPushEntryIsAcceptedWithEveryKey) {
  EXPECT_EQ(subscriptionErrors("  - name: orders\n"
                               "    mode: push\n"
                               "    topics: [orders, returns]\n"
                               "    group: orders-service\n"
                               "    endpoint: http://127.0.0.1:8080/events\n"
                               "    ordering: key\n"
                               "    maxInFlight: 16\n"
                               "    batchSize: 10\n"
                               "    connections: 4\n"
                               "    timeout: 5s\n"
                               "    startFrom: earliest\n"
                               "    retry: {maxAttempts: 3, initialBackoff: 100ms, maxBackoff: 5s, multiplier: 3, "
                               "jitter: 0.1}\n"
                               "    deadLetterTopic: orders.dlq\n"),
            std::vector<std::string>{});
  auto r = parseSidecarConfig("subscriptions:\n  - {name: orders, topics: [orders, returns], group: svc, "
                              "endpoint: 'http://127.0.0.1:8080/events', ordering: key, maxInFlight: 16, "
                              "batchSize: 10, connections: 4, timeout: 5s, startFrom: earliest, deadLetterTopic: orders.dlq, "
                              "retry: {maxAttempts: 3, initialBackoff: 100ms, maxBackoff: 5s, multiplier: 3, "
                              "jitter: 0.1}}\n",
                              {});
  ASSERT_TRUE(r.config);
  ASSERT_EQ(r.config->subscriptions.size(), 1u);
  const auto& sub = r.config->subscriptions[0];
  EXPECT_EQ(sub.name, "orders");
  EXPECT_EQ(sub.mode, SubscriptionConfig::Mode::Push);
  EXPECT_EQ(sub.topics, (std::vector<std::string>{"orders", "returns"}));
  EXPECT_EQ(sub.group, "svc");
  EXPECT_EQ(sub.endpoint, "http://127.0.0.1:8080/events");
  EXPECT_EQ(sub.ordering, SubscriptionConfig::Ordering::Key);
  EXPECT_EQ(sub.maxInFlight, 16);
  EXPECT_EQ(sub.batchSize, 10);
  EXPECT_EQ(sub.connections, 4);
  EXPECT_EQ(sub.pushConnections(), 4);
  EXPECT_EQ(sub.timeout, std::chrono::seconds(5));
  EXPECT_EQ(sub.startFrom, SubscriptionConfig::StartFrom::Earliest);
  EXPECT_EQ(sub.retry.maxAttempts, 3);
  EXPECT_EQ(sub.retry.initialBackoff, std::chrono::milliseconds(100));
  EXPECT_EQ(sub.retry.maxBackoff, std::chrono::seconds(5));
  EXPECT_EQ(sub.retry.multiplier, 3);
  EXPECT_EQ(sub.retry.jitter, 0.1);
  EXPECT_EQ(sub.deadLetterTopic, "orders.dlq");
  EXPECT_EQ(sub.onExhausted, SubscriptionConfig::OnExhausted::DeadLetter) << "the default with a dead-letter topic";
  auto defaults = parseSidecarConfig("subscriptions: [{name: a, topics: [t], group: g, endpoint: 'http://x/'}]", {});
  ASSERT_TRUE(defaults.config);
  EXPECT_EQ(defaults.config->subscriptions[0].onExhausted, SubscriptionConfig::OnExhausted::Block);
  EXPECT_EQ(defaults.config->subscriptions[0].ordering, SubscriptionConfig::Ordering::Partition);
  EXPECT_EQ(defaults.config->subscriptions[0].startFrom, SubscriptionConfig::StartFrom::Latest);
}

TEST(SubscriptionConfig, APullEntryNeedsNoEndpointAndKeepsItsAckTimeout) {
  auto r = parseSidecarConfig("subscriptions:\n  - {name: jobs, mode: pull, topics: [jobs], group: workers, "
                              "ackTimeout: 45s}\n",
                              {});
  ASSERT_TRUE(r.config) << r.errors.front();
  EXPECT_EQ(r.config->subscriptions[0].mode, SubscriptionConfig::Mode::Pull);
  EXPECT_EQ(r.config->subscriptions[0].ackTimeout, std::chrono::seconds(45));
  EXPECT_TRUE(r.config->subscriptions[0].endpoint.empty());
}

TEST(SubscriptionConfig, EveryProblemNamesTheSubscriptionAndKey) {
  struct Case {
    std::string entry;
    std::vector<std::string> errors;
  };
  const std::vector<Case> cases = {
      {"  - {topics: [t], group: g, endpoint: 'http://x/'}\n", {"subscriptions[0].name: is required"}},
      {"  - {name: Orders, topics: [t], group: g, endpoint: 'http://x/'}\n",
       {"subscriptions[0].name: \"Orders\" must be 1-63 characters of a-z, 0-9 and '-', not starting or ending with "
        "'-'"}},
      {"  - {name: a, group: g, endpoint: 'http://x/'}\n", {"subscriptions[a].topics: is required: list at least one topic"}},
      {"  - {name: a, topics: ['bad topic'], group: g, endpoint: 'http://x/'}\n",
       {"subscriptions[a].topics[0]: \"bad topic\" is not a valid Kafka topic name"}},
      {"  - {name: a, topics: [t], endpoint: 'http://x/'}\n",
       {"subscriptions[a].group: is required: the consumer group id the sidecars of this app share"}},
      {"  - {name: a, topics: [t], group: g}\n",
       {"subscriptions[a].endpoint: is required for mode push: the app's URL, e.g. http://127.0.0.1:8080/events"}},
      {"  - {name: a, topics: [t], group: g, endpoint: 'ftp://x'}\n",
       {"subscriptions[a].endpoint: \"ftp://x\" must be an http:// or https:// URL"}},
      {"  - {name: a, topics: [t], group: g, mode: pull, endpoint: 'http://x'}\n",
       {"subscriptions[a].endpoint: is for mode push only; a pull subscription is read with POST "
        "/v1/subscriptions/a/poll"}},
      {"  - {name: a, topics: [t], group: g, mode: stream}\n",
       {"subscriptions[a].mode: must be one of push, pull, got \"stream\"",
        "subscriptions[a].endpoint: is required for mode push: the app's URL, e.g. http://127.0.0.1:8080/events"}},
      {"  - {name: a, topics: [t], group: g, endpoint: 'http://x/', ordering: random}\n",
       {"subscriptions[a].ordering: must be one of partition, key, none, got \"random\""}},
      {"  - {name: a, topics: [t], group: g, endpoint: 'http://x/', maxInFlight: 0}\n",
       {"subscriptions[a].maxInFlight: must be between 1 and 10000, got 0"}},
      {"  - {name: a, topics: [t], group: g, endpoint: 'http://x/', batchSize: 1001}\n",
       {"subscriptions[a].batchSize: must be between 1 and 1000, got 1001"}},
      {"  - {name: a, topics: [t], group: g, endpoint: 'http://x/', connections: 0}\n",
       {"subscriptions[a].connections: must be between 1 and 256, got 0"}},
      {"  - {name: a, topics: [t], group: g, mode: pull, connections: 4}\n",
       {"subscriptions[a].connections: is for mode push only; a pull subscription's app opens its own connections"}},
      {"  - {name: a, topics: [t], group: g, mode: pull, batchSize: 10}\n",
       {"subscriptions[a].batchSize: is for mode push only; a pull subscription sets its batch size per poll "
        "(?max=)"}},
      {"  - {name: a, topics: [t], group: g, endpoint: 'http://x/', ackTimeout: 10ms}\n",
       {"subscriptions[a].ackTimeout: must be at least 1s"}},
      {"  - {name: a, topics: [t], group: g, endpoint: 'http://x/', startFrom: middle}\n",
       {"subscriptions[a].startFrom: must be one of earliest, latest, got \"middle\""}},
      {"  - {name: a, topics: [t], group: g, endpoint: 'http://x/', retry: {maxAttempts: 0, multiplier: 0.5, jitter: 2}}\n",
       {"subscriptions[a].retry.maxAttempts: must be between 1 and 1000, got 0",
        "subscriptions[a].retry.multiplier: must be between 1 and 100, got 0.5",
        "subscriptions[a].retry.jitter: must be between 0 and 1, got 2"}},
      {"  - {name: a, topics: [t], group: g, endpoint: 'http://x/', retry: {initialBackoff: 10s, maxBackoff: 1s}}\n",
       {"subscriptions[a].retry.maxBackoff: must not be shorter than retry.initialBackoff"}},
      {"  - {name: a, topics: [t], group: g, endpoint: 'http://x/', retry: {tries: 3}}\n",
       {"subscriptions[a].retry.tries: unknown key (known keys here: initialBackoff, jitter, maxAttempts, "
        "maxBackoff, multiplier)"}},
      {"  - {name: a, topics: [t], group: g, endpoint: 'http://x/', deadLetterTopic: t}\n",
       {"subscriptions[a].deadLetterTopic: must not be one of the subscription's own topics (dead letters would "
        "loop)"}},
      {"  - {name: a, topics: [t], group: g, endpoint: 'http://x/', onExhausted: deadLetter}\n",
       {"subscriptions[a].onExhausted: deadLetter needs deadLetterTopic"}},
      {"  - {name: a, topics: [t], group: g, endpoint: 'http://x/'}\n  - {name: a, topics: [u], group: h, endpoint: 'http://x/'}\n",
       {"subscriptions[1].name: \"a\" is used by another subscription"}},
  };
  for (const auto& c : cases) EXPECT_EQ(subscriptionErrors(c.entry), c.errors) << c.entry;
}

}  // namespace

TEST(SubscriptionConfig, PushConnectionsDefaultToMaxInFlightCappedAtSixteen) {
  SubscriptionConfig s;
  EXPECT_EQ(s.pushConnections(), 16) << "maxInFlight 64 by default";
  s.maxInFlight = 8;
  EXPECT_EQ(s.pushConnections(), 8);
  s.connections = 32;
  EXPECT_EQ(s.pushConnections(), 32) << "set explicitly, it is taken as is";
}

TEST(SidecarConfig, TheTopicAllowListAppliesToSubscriptions) {
  const std::string subs =
      "subscriptions:\n"
      "  - {name: orders, topics: [orders, audit], group: g, endpoint: 'http://127.0.0.1:8080/', deadLetterTopic: orders.dlq}\n"
      "  - {name: jobs, mode: pull, topics: [jobs], group: w}\n";
  auto r = parseSidecarConfig("api: {allowedTopics: [orders, jobs]}\n" + subs, {});
  EXPECT_FALSE(r.config);
  EXPECT_THAT(r.errors,
              ElementsAre("subscriptions[orders].topics: \"audit\" is not in api.allowedTopics (orders, jobs); add it "
                          "there, or remove it from the subscription",
                          "subscriptions[orders].deadLetterTopic: \"orders.dlq\" is not in api.allowedTopics (orders, "
                          "jobs); dead letters are written to it, so add it there"));
  r = parseSidecarConfig(subs, {{"TRIBUTARY_API_ALLOWED_TOPICS", "orders,audit"}});
  EXPECT_THAT(r.errors, testing::Contains(StartsWith("subscriptions[jobs].topics: \"jobs\" is not in api.allowedTopics "
                                                     "(from TRIBUTARY_API_ALLOWED_TOPICS) (orders, audit)")));
  // Every topic listed (or no list at all): fine.
  parseValid("api: {allowedTopics: [orders, audit, orders.dlq, jobs]}\n" + subs);
  parseValid(subs);
}
