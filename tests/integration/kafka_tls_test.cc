// Kafka TLS/SASL from mounted secrets, end to end:
// - librdkafka accepts the properties as the sidecar resolves them: a TLS
//   handshake with the client certificate completes against a loopback TLS
//   listener that requires it (certificates made with the openssl CLI);
// - against a real SASL/TLS broker when TRIBUTARY_TEST_BOOTSTRAP and
//   TRIBUTARY_TEST_KAFKA_PROPERTIES (a properties file) are given;
// - secrets never leave the process: a canary value in every secret-bearing
//   property is looked for in the logs (debug level, librdkafka debug on),
//   /v1/info, /metrics, /readyz and error answers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <prometheus/registry.h>
#include <sstream>

#include "tests/support/temp_dir.h"
#include "common/config/config_providers.h"
#include "common/kafka/client_properties.h"
#include "operator/kafka/reloading_cluster_admin.h"
#include "sidecar/app/sidecar.h"
#include "sidecar/config/sidecar_config.h"
#include "sidecar/produce/kafka_producer.h"
#include "tests/support/sidecar_fixture.h"
#include "tests/support/subprocess.h"
#include "tests/support/tls_listener.h"

using namespace tributary;
using namespace std::chrono_literals;
using Json = nlohmann::json;
using testing::HasSubstr;
using testing::Not;

namespace {

const std::string kCanary = "CANARY-7f3a9c-do-not-leak";

using tributary::test::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The base64 body of a PEM file (what must not leak of a private key).
std::string pemBody(const std::string& pem) {
  std::string body;
  std::istringstream in(pem);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("-----", 0) != 0) body += line;
  return body.substr(0, 40);
}

class KafkaTls : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    auto c = test::makeTestCertificates(dir.path(), kCanary, error);
    ASSERT_TRUE(c) << error;
    certs = *c;
    listener = std::make_unique<test::TlsListener>(certs);
  }

  // The sidecar's configuration parser, as at start-up.
  sidecar::SidecarConfig parse(const std::string& properties) {
    auto r = sidecar::parseSidecarConfig("kafka:\n  bootstrapServers: " + listener->bootstrap() +
                                             "\n  properties:\n" + properties,
                                         {});
    EXPECT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0]);
    return r.config.value_or(sidecar::SidecarConfig{});
  }

  // Starts the sidecar's producer with `config` and returns the handshake the listener saw.
  std::optional<test::TlsListener::Handshake> connect(const sidecar::SidecarConfig& config) {
    prometheus::Registry registry;
    std::string error;
    auto producer = sidecar::makeKafkaProducer(config.kafka, config.kafka.bootstrapServers, registry, error);
    EXPECT_TRUE(producer) << error;
    if (!producer) return std::nullopt;
    return listener->awaitHandshake(30s);  // the producer's metadata request connects at once
  }

  TempDir dir;
  test::TestCertificates certs;
  std::unique_ptr<test::TlsListener> listener;
};

}  // namespace

// Strimzi's KafkaUser Secret mounted as files (ca.crt from the cluster CA
// Secret), the key's passphrase from a file reference.
TEST_F(KafkaTls, StrimziUserSecretFilesCompleteTheHandshake) {
  const auto pass = dir.write("user.password", kCanary + "\n");
  auto config = parse("    security.protocol: SSL\n"
                      "    ssl.ca.location: " + certs.caCrt + "\n"
                      "    ssl.certificate.location: " + certs.userCrt + "\n"
                      "    ssl.key.location: " + certs.userKeyEncrypted + "\n"
                      "    ssl.key.password: ${file:" + pass + "}\n");
  auto h = connect(config);
  ASSERT_TRUE(h) << "no TLS handshake completed; failed: " << listener->failedHandshakes();
  EXPECT_EQ(h->clientSubject, certs.userSubject);
  EXPECT_EQ(h->apiKey, 18);  // ApiVersions: librdkafka spoke Kafka over the TLS session
}

// The same material inline as PEM, every value from ${file:...}.
TEST_F(KafkaTls, PemContentsFromFileReferencesCompleteTheHandshake) {
  auto config = parse("    security.protocol: SSL\n"
                      "    ssl.ca.pem: ${file:" + certs.caCrt + "}\n"
                      "    ssl.certificate.pem: ${file:" + certs.userCrt + "}\n"
                      "    ssl.key.pem: ${file:" + certs.userKey + "}\n");
  auto h = connect(config);
  ASSERT_TRUE(h) << "no TLS handshake completed; failed: " << listener->failedHandshakes();
  EXPECT_EQ(h->clientSubject, certs.userSubject);
}

// SASL/SCRAM-SHA-512 over TLS, the password from the environment: librdkafka
// accepts the SASL configuration and opens the TLS session (the listener is no
// SASL server: it sees the first request and hangs up).
TEST_F(KafkaTls, ScramOverTlsWithThePasswordFromTheEnvironment) {
  ::setenv("TRIBUTARY_TEST_SCRAM_PASSWORD", kCanary.c_str(), 1);
  auto config = parse("    security.protocol: SASL_SSL\n"
                      "    sasl.mechanisms: SCRAM-SHA-512\n"
                      "    sasl.username: app\n"
                      "    sasl.password: ${env:TRIBUTARY_TEST_SCRAM_PASSWORD}\n"
                      "    ssl.ca.location: " + certs.caCrt + "\n"
                      "    ssl.certificate.location: " + certs.userCrt + "\n"
                      "    ssl.key.location: " + certs.userKey + "\n");
  ::unsetenv("TRIBUTARY_TEST_SCRAM_PASSWORD");
  EXPECT_EQ(config.kafka.properties.at("sasl.password"), kCanary);
  auto h = connect(config);
  ASSERT_TRUE(h) << "no TLS handshake completed; failed: " << listener->failedHandshakes();
  EXPECT_EQ(h->clientSubject, certs.userSubject);
}

TEST_F(KafkaTls, AWrongKeyPassphraseIsRefusedWithoutShowingIt) {
  const auto pass = dir.write("wrong.password", "CANARY-wrong-passphrase\n");
  auto config = parse("    security.protocol: SSL\n"
                      "    ssl.ca.location: " + certs.caCrt + "\n"
                      "    ssl.certificate.location: " + certs.userCrt + "\n"
                      "    ssl.key.location: " + certs.userKeyEncrypted + "\n"
                      "    ssl.key.password: ${file:" + pass + "}\n");
  prometheus::Registry registry;
  std::string error;
  auto producer = sidecar::makeKafkaProducer(config.kafka, config.kafka.bootstrapServers, registry, error);
  EXPECT_FALSE(producer);
  EXPECT_THAT(error, HasSubstr("ssl.key"));
  EXPECT_THAT(error, Not(HasSubstr("CANARY")));
}

// ---- a real broker

// TRIBUTARY_TEST_BOOTSTRAP=host:port TRIBUTARY_TEST_KAFKA_PROPERTIES=/path/client.properties
// (Java properties: security.protocol, sasl.*, ssl.*; ${file:...} and ${env:...}
// allowed, as in kafka.properties). The sidecar produces a record through it,
// and the operator's admin client describes the topic.
TEST(KafkaRealBroker, ProducesAndAdministersWithTheGivenSecurityProperties) {
  const char* bootstrap = std::getenv("TRIBUTARY_TEST_BOOTSTRAP");
  const char* propertiesFile = std::getenv("TRIBUTARY_TEST_KAFKA_PROPERTIES");
  if (!bootstrap || !propertiesFile)
    GTEST_SKIP() << "no SASL/TLS broker given: set TRIBUTARY_TEST_BOOTSTRAP=host:port and "
                    "TRIBUTARY_TEST_KAFKA_PROPERTIES=/path/to/client.properties to run this against one";
  std::string why;
  auto text = systemConfigProviderSource().readFile(propertiesFile, why);
  ASSERT_TRUE(text) << propertiesFile << ": " << why;
  auto resolved = resolveConfigReferences(parseJavaProperties(*text), "TRIBUTARY_TEST_KAFKA_PROPERTIES");
  ASSERT_TRUE(resolved.errors.empty()) << resolved.errors[0];
  resolved.properties.erase("bootstrap.servers");

  auto config = test::testConfig(bootstrap);
  config.kafka.properties = resolved.properties;
  std::string error;
  auto sidecar = sidecar::Sidecar::start(config, error);
  ASSERT_TRUE(sidecar) << error;
  httplib::Client client("127.0.0.1", sidecar->apiPort());
  const std::string topic = "tributary-tls-test";
  auto res = client.Post("/v1/topics/" + topic + "/records", R"({"records":[{"value":{"hello":"tls"}}]})",
                         "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  sidecar->shutdown();

  op::kafka::ClusterConnection connection{bootstrap, parseJavaProperties(*text), 30s};
  connection.properties.erase("bootstrap.servers");
  auto admin = op::kafka::ReloadingClusterAdmin::create(
      connection, "TRIBUTARY_TEST_KAFKA_PROPERTIES",
      [](const op::kafka::ClusterConnection& c, std::string& e) -> std::unique_ptr<op::kafka::ClusterAdmin> {
        return op::kafka::RdKafkaClusterAdmin::create(c, e);
      },
      error);
  ASSERT_TRUE(admin) << error;
  auto described = admin->describeTopics({topic});
  ASSERT_EQ(described.size(), 1u);
  EXPECT_FALSE(described[0].error) << described[0].error->message;
}

// ---- secrets never leave the process

namespace {

int portFrom(const std::string& logLine, const char* field) {
  auto j = Json::parse(logLine);
  std::string addr = j[field];
  return std::stoi(addr.substr(addr.rfind(':') + 1));
}

}  // namespace

// Every secret-bearing property holds the canary (the key's passphrase too, so
// the client starts; ssl.key.pem holds the key encrypted with it, whose PEM
// body is looked for as well), librdkafka's debug logging is on, the log level is debug,
// the "broker" takes the TLS session and hangs up: the canary must appear in no
// log line, no /v1/info, /metrics or /readyz answer and no error answer.
TEST_F(KafkaTls, SecretsNeverLeaveTheSidecar) {
  const auto secret = dir.write("secret", kCanary + "\n");
  const auto oauth = dir.write("oauth.properties", "config=principal=" + kCanary + "\n");
  ::setenv("TRIBUTARY_TEST_CANARY", kCanary.c_str(), 1);
  // Debian's librdkafka 2.0.2 is built without OIDC (no libcurl): there the
  // OIDC client secret cannot be set at all, so it cannot leak either.
  const bool oidc = validateProducerProperties({{"sasl.oauthbearer.client.secret", "x"}}, "k").empty();
  const std::string config = dir.write(
      "sidecar.yaml",
      "kafka:\n  bootstrapServers: " + listener->bootstrap() + "\n  deliveryTimeout: 500ms\n  properties:\n"
      "    security.protocol: SASL_SSL\n"
      "    sasl.mechanisms: PLAIN\n"
      "    sasl.username: app\n"
      "    sasl.password: ${file:" + secret + "}\n"
      "    ssl.ca.location: " + certs.caCrt + "\n"
      "    ssl.certificate.location: " + certs.userCrt + "\n"
      "    ssl.key.pem: ${file:" + certs.userKeyEncrypted + "}\n"
      "    ssl.key.password: ${file:" + secret + "}\n"
      "    ssl.keystore.password: ${env:TRIBUTARY_TEST_CANARY}\n"
      + (oidc ? "    sasl.oauthbearer.client.secret: ${file:" + secret + "}\n" : std::string()) +
      "    sasl.oauthbearer.config: ${file:" + oauth + ":config}\n"
      "    debug: all\n"
      "api:\n  listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\nlog:\n  level: debug\n"
      "shutdown:\n  gracePeriod: 1s\n"
      "subscriptions:\n  - {name: canary, mode: pull, topics: [orders], group: canary-group}\n");
  test::Subprocess sidecar(test::binDir() + "/tributary-sidecar", {"--config", config});
  ::unsetenv("TRIBUTARY_TEST_CANARY");
  auto listening = sidecar.waitForLine("sidecar listening", 30s);
  ASSERT_TRUE(listening) << sidecar.output();
  ASSERT_TRUE(listener->awaitHandshake(30s)) << "the TLS code paths did not run";

  std::string answers;
  httplib::Client api("127.0.0.1", portFrom(*listening, "api"));
  httplib::Client admin("127.0.0.1", portFrom(*listening, "admin"));
  api.set_read_timeout(30, 0);
  auto keep = [&](const httplib::Result& r, const std::string& what) {
    ASSERT_TRUE(r) << what;
    answers += what + " " + std::to_string(r->status) + " " + r->body + "\n";
  };
  keep(api.Get("/v1/info"), "info");
  keep(api.Get("/v1/subscriptions"), "subscriptions");
  keep(api.Post("/v1/topics/orders/records", R"({"records":[{"value":1}]})", "application/json"), "produce");
  keep(api.Post("/v1/topics/orders/records?async=true", R"({"records":[{"value":1}]})", "application/json"),
       "produce async");
  keep(admin.Get("/metrics"), "metrics");
  keep(admin.Get("/readyz"), "readyz");
  EXPECT_THAT(answers, HasSubstr("produce 50"));  // the record failed (503 or 504): an error answer was read
  sidecar.signal(SIGTERM);
  EXPECT_EQ(sidecar.wait(30s), 0);

  const std::string logs = sidecar.output();
  EXPECT_THAT(logs, HasSubstr("\"component\":\"librdkafka\""));  // librdkafka's debug lines were there to leak
  for (const std::string& canary : {kCanary, pemBody(slurp(certs.userKeyEncrypted))}) {
    EXPECT_THAT(logs, Not(HasSubstr(canary)));
    EXPECT_THAT(answers, Not(HasSubstr(canary)));
  }
}

// A client that cannot start (the key's passphrase is wrong, and is the
// canary) says why without showing it.
TEST_F(KafkaTls, SecretsNeverLeaveTheSidecarWhenItCannotStart) {
  const auto secret = dir.write("secret", "CANARY-wrong-" + kCanary + "\n");
  const std::string config = dir.write(
      "sidecar.yaml",
      "kafka:\n  bootstrapServers: " + listener->bootstrap() + "\n  properties:\n"
      "    security.protocol: SSL\n"
      "    ssl.ca.location: " + certs.caCrt + "\n"
      "    ssl.certificate.location: " + certs.userCrt + "\n"
      "    ssl.key.location: " + certs.userKeyEncrypted + "\n"
      "    ssl.key.password: ${file:" + secret + "}\n"
      "    debug: all\n"
      "api:\n  listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\nlog:\n  level: debug\n");
  test::Subprocess sidecar(test::binDir() + "/tributary-sidecar", {"--config", config});
  EXPECT_EQ(sidecar.wait(30s), 1);
  EXPECT_THAT(sidecar.output(), HasSubstr("cannot start"));
  EXPECT_THAT(sidecar.output(), Not(HasSubstr("CANARY")));
}
