// ${file:...} / ${env:...} references in Kafka client properties
// (common/config/config_providers.h) and how the sidecar's config uses them.
// Messages are pinned: they are what a user reads when a Secret is not mounted.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/support/temp_dir.h"
#include "common/config/config_providers.h"
#include "operator/inject/sidecar_config_check.h"
#include "sidecar/config/sidecar_config.h"

using namespace tributary;
using testing::ElementsAre;
using testing::HasSubstr;
using testing::IsEmpty;
using testing::Not;

namespace {

using tributary::test::TempDir;

// Files from the disk, variables from a map (the process environment is not touched).
class MapEnvSource final : public ConfigProviderSource {
 public:
  explicit MapEnvSource(std::map<std::string, std::string> env) : env_(std::move(env)) {}
  std::optional<std::string> readFile(const std::string& path, std::string& why) const override {
    return systemConfigProviderSource().readFile(path, why);
  }
  std::optional<std::string> environment(const std::string& name) const override {
    auto it = env_.find(name);
    return it == env_.end() ? std::nullopt : std::optional<std::string>(it->second);
  }

 private:
  std::map<std::string, std::string> env_;
};

const std::string kSecret = "s3cr3t-CANARY-value";

}  // namespace

TEST(ConfigProviders, WholeFileHasItsTrailingLineEndTrimmedAndInnerLinesKept) {
  TempDir dir;
  const auto pw = dir.write("password", kSecret + "\n");
  const auto crlf = dir.write("crlf", kSecret + "\r\n");
  const auto pem = dir.write("user.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  auto r = resolveConfigReferences({{"sasl.password", "${file:" + pw + "}"},
                                    {"ssl.key.password", "${file:" + crlf + "}"},
                                    {"ssl.key.pem", "${file:" + pem + "}"},
                                    {"security.protocol", "SASL_SSL"}},
                                   "kafka.properties");
  EXPECT_THAT(r.errors, IsEmpty());
  EXPECT_EQ(r.properties["sasl.password"], kSecret);
  EXPECT_EQ(r.properties["ssl.key.password"], kSecret);
  EXPECT_EQ(r.properties["ssl.key.pem"], "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----");
  EXPECT_EQ(r.properties["security.protocol"], "SASL_SSL");
  EXPECT_EQ(r.files, (std::set<std::string>{pw, crlf, pem}));
  EXPECT_EQ(r.fromProviders, (std::set<std::string>{"sasl.password", "ssl.key.password", "ssl.key.pem"}));
}

TEST(ConfigProviders, KeyOfAPropertiesFileAsKafkasFileConfigProviderReadsIt) {
  TempDir dir;
  const auto creds = dir.write("creds.properties",
                               "# comment\n"
                               "! another comment\n"
                               "username = alice\n"
                               "password=" + kSecret + "\n"
                               "colon:separated value\n"
                               "spaced   value with spaces  \n"
                               "continued = first \\\n"
                               "            second\n"
                               "escaped\\ key = tab\\there\\u00e9\n"
                               "password.url=http://x:8080/a\n");
  auto r = resolveConfigReferences({{"sasl.username", "${file:" + creds + ":username}"},
                                    {"sasl.password", "${file:" + creds + ":password}"},
                                    {"a", "${file:" + creds + ":colon}"},
                                    {"b", "${file:" + creds + ":spaced}"},
                                    {"c", "${file:" + creds + ":continued}"},
                                    {"d", "${file:" + creds + ":escaped key}"},
                                    {"e", "${file:" + creds + ":password.url}"}},
                                   "p");
  EXPECT_THAT(r.errors, IsEmpty());
  EXPECT_EQ(r.properties["sasl.username"], "alice");
  EXPECT_EQ(r.properties["sasl.password"], kSecret);
  EXPECT_EQ(r.properties["a"], "separated value");
  EXPECT_EQ(r.properties["b"], "value with spaces  ");
  EXPECT_EQ(r.properties["c"], "first second");
  EXPECT_EQ(r.properties["d"], "tab\there\xc3\xa9");
  EXPECT_EQ(r.properties["e"], "http://x:8080/a");
  EXPECT_EQ(r.files.size(), 1u);  // one file, read once
}

TEST(ConfigProviders, EnvironmentVariablesAndReferencesInsideLongerValues) {
  TempDir dir;
  const auto user = dir.write("user", "alice\n");
  MapEnvSource env({{"KAFKA_PASSWORD", kSecret}, {"EMPTY", ""}});
  auto r = resolveConfigReferences({{"sasl.password", "${env:KAFKA_PASSWORD}"},
                                    {"sasl.oauthbearer.config", "principal=${file:" + user + "} scope=${env:EMPTY}x"},
                                    {"client.id", "app-${notaref}-${ also not"}},
                                   "kafka.properties", env);
  EXPECT_THAT(r.errors, IsEmpty());
  EXPECT_EQ(r.properties["sasl.password"], kSecret);
  EXPECT_EQ(r.properties["sasl.oauthbearer.config"], "principal=alice scope=x");
  EXPECT_EQ(r.properties["client.id"], "app-${notaref}-${ also not");  // not references: kept as written
  EXPECT_EQ(r.fromProviders, (std::set<std::string>{"sasl.password", "sasl.oauthbearer.config"}));
}

TEST(ConfigProviders, ErrorsNameThePropertyAndThePathOrVariableNeverAValue) {
  TempDir dir;
  const auto creds = dir.write("creds", "username=alice\npassword=" + kSecret + "\n");
  const std::string absent = dir.path() + "/absent";
  MapEnvSource env({});
  auto r = resolveConfigReferences({{"sasl.password", "${file:" + absent + "}"},
                                    {"sasl.username", "${file:" + creds + ":user}"},
                                    {"ssl.key.password", "${env:KEY_PASSWORD}"},
                                    {"ssl.key.pem", "${vault:secret/kafka}"},
                                    {"x", "${file:}"},
                                    {"y", "${env:}"}},
                                   "kafka.properties", env);
  EXPECT_THAT(r.errors,
              ElementsAre("kafka.properties.sasl.password: ${file:" + absent + "}: cannot read " + absent +
                              ": No such file or directory (is the Secret mounted there, and readable by the container's user?)",
                          "kafka.properties.sasl.username: ${file:" + creds + ":user}: " + creds +
                              " has no key \"user\" (keys there: password, username)",
                          "kafka.properties.ssl.key.password: ${env:KEY_PASSWORD}: the environment variable KEY_PASSWORD is "
                          "not set (in Kubernetes: env or envFrom of the container, e.g. a secretKeyRef)",
                          "kafka.properties.ssl.key.pem: ${vault:secret/kafka}: unknown config provider \"vault\"; Tributary "
                          "resolves ${file:/path}, ${file:/path:key} and ${env:NAME}",
                          "kafka.properties.x: ${file:}: names no file; write ${file:/path} or ${file:/path:key}",
                          "kafka.properties.y: ${env:}: names no variable; write ${env:NAME}"));
  for (const auto& e : r.errors) EXPECT_THAT(e, Not(HasSubstr(kSecret)));
  // A property that failed keeps its reference, never a partial value.
  EXPECT_EQ(r.properties["sasl.password"], "${file:" + absent + "}");
}

// "Unreadable" is played by a directory: tests may run as root, who reads any
// file whatever its mode. As another user a mode-000 file is tried too.
TEST(ConfigProviders, AnUnreadableFileIsAnErrorNamingIt) {
  TempDir dir;
  auto r = resolveConfigReferences({{"ssl.key.pem", "${file:" + dir.path() + "}"}}, "kafka.properties");
  EXPECT_THAT(r.errors, ElementsAre("kafka.properties.ssl.key.pem: ${file:" + dir.path() + "}: cannot read " + dir.path() +
                                    ": Is a directory (is the Secret mounted there, and readable by the container's user?)"));
  if (::geteuid() != 0) {
    const auto locked = dir.write("locked", kSecret);
    ::chmod(locked.c_str(), 0);
    r = resolveConfigReferences({{"sasl.password", "${file:" + locked + "}"}}, "kafka.properties");
    EXPECT_THAT(r.errors, ElementsAre(HasSubstr(locked + ": Permission denied")));
  }
}

TEST(ConfigProviders, SyntaxCheckReadsNothing) {
  EXPECT_THAT(checkConfigReferences({{"sasl.password", "${file:/nowhere/pw}"}, {"a", "${env:X}"}}, "k"), IsEmpty());
  EXPECT_THAT(checkConfigReferences({{"a", "${secret:x}"}}, "k"),
              ElementsAre(HasSubstr("k.a: ${secret:x}: unknown config provider \"secret\"")));
  EXPECT_TRUE(hasConfigReference("x ${env:A} y"));
  EXPECT_FALSE(hasConfigReference("x ${A} y"));
}

TEST(ConfigProviders, RedactionHidesSecretValuesAndValuesFromReferences) {
  const std::map<std::string, std::string> props{
      {"sasl.password", "pw"}, {"sasl.mechanisms", "NOT-A-MECHANISM"}, {"linger.ms", "5"}};
  EXPECT_EQ(redactSecrets("Invalid value \"NOT-A-MECHANISM\" (pw) 5", props, {"sasl.mechanisms"}),
            "Invalid value \"[redacted]\" ([redacted]) 5");
  EXPECT_TRUE(isSecretProperty("ssl.key.password"));
  EXPECT_TRUE(isSecretProperty("sasl.oauthbearer.client.secret"));
  EXPECT_FALSE(isSecretProperty("sasl.username"));
}

TEST(ConfigProviders, FingerprintChangesWhenAFileIsReplaced) {
  TempDir dir;
  const auto f = dir.write("pw", "one");
  auto before = fingerprint(f);
  ASSERT_TRUE(before);
  // Kubernetes swaps a symlink; a rename onto the path is the same for stat().
  std::filesystem::rename(dir.write("pw.new", "one"), f);
  auto after = fingerprint(f);
  ASSERT_TRUE(after);
  EXPECT_FALSE(*before == *after);
  EXPECT_FALSE(fingerprint(dir.path() + "/absent"));
}

// ---- the sidecar's kafka.properties

TEST(SidecarKafkaSecrets, KafkaPropertiesResolveAtStartUp) {
  TempDir dir;
  const auto pw = dir.write("password", kSecret + "\n");
  const auto ca = dir.write("ca.crt", "-----BEGIN CERTIFICATE-----\n");
  auto r = sidecar::parseSidecarConfig("kafka:\n  bootstrapServers: k:9093\n  properties:\n"
                                       "    security.protocol: SASL_SSL\n"
                                       "    sasl.mechanisms: SCRAM-SHA-512\n"
                                       "    sasl.username: app\n"
                                       "    sasl.password: ${file:" + pw + "}\n"
                                       "    ssl.ca.location: " + ca + "\n",
                                       {});
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0]);
  EXPECT_EQ(r.config->kafka.properties.at("sasl.password"), kSecret);
}

TEST(SidecarKafkaSecrets, UnresolvedReferencesAreConfigurationErrorsWithoutValues) {
  TempDir dir;
  MapEnvSource env({{"PROTOCOL", kSecret}});
  auto r = sidecar::parseSidecarConfig("kafka:\n  properties:\n"
                                       "    sasl.password: ${file:" + dir.path() + "/absent}\n"
                                       "    security.protocol: ${env:PROTOCOL}\n",
                                       {}, &env);
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_THAT(r.errors[0], HasSubstr("kafka.properties.sasl.password: ${file:" + dir.path() + "/absent}: cannot read"));
  // librdkafka refuses the value (it echoes it in its message): redacted.
  EXPECT_THAT(r.errors[1], HasSubstr("kafka.properties.security.protocol: "));
  EXPECT_THAT(r.errors[1], HasSubstr("[redacted]"));
  for (const auto& e : r.errors) EXPECT_THAT(e, Not(HasSubstr(kSecret)));
}

TEST(SidecarKafkaSecrets, TheOperatorChecksReferencesWithoutReadingThePodsFiles) {
  // The operator validates the default sidecar config; the files are in the pod.
  EXPECT_THAT(op::inject::checkSidecarConfig("kafka:\n  properties:\n    sasl.password: ${file:/etc/kafka/pw}\n"
                                             "    sasl.mechanisms: ${env:MECH}\n"),
              IsEmpty());
  EXPECT_THAT(op::inject::checkSidecarConfig("kafka:\n  properties:\n    sasl.password: ${secret:pw}\n"),
              ElementsAre(HasSubstr("kafka.properties.sasl.password: ${secret:pw}: unknown config provider")));
}
