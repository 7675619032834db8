#pragma once
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/config_providers.h"
#include "common/config/listen_address.h"
#include "common/kafka/client_properties.h"
#include "common/tracing/tracer.h"
#include "sidecar/consume/retry_policy.h"

namespace tributary::sidecar {

// The sidecar's configuration, parsed and validated once at start-up. Runtime
// objects take these structs, never YAML. Every key is documented in
// sidecar/README.md; the defaults below are the documented defaults.
struct KafkaConfig {
  std::string bootstrapServers;  // empty: start the embedded cluster (dev mode)
  KafkaProperties properties;    // passed to librdkafka as they are, ${file:...}/${env:...} resolved
  std::chrono::milliseconds deliveryTimeout{30'000};  // request received → broker ack, else 504
};

struct ApiConfig {
  ListenAddress listen{"127.0.0.1", 9191};
  std::string token;  // empty: no authentication (from `token` or the contents of `tokenFile`)
  size_t maxBodyBytes = 1'048'576;
  std::vector<std::string> allowedTopics;  // empty: every topic
  int workerThreads = 128;  // HTTP worker threads (requests served at once)
  // Request bytes all requests in flight may hold together; past it 503 with
  // Retry-After. At least maxBodyBytes.
  size_t maxInflightBytes = 8 * 1'048'576;
};

struct AdminConfig {
  ListenAddress listen{"0.0.0.0", 9192};
};

struct ShutdownConfig {
  std::chrono::milliseconds gracePeriod{20'000};
};

// One `subscriptions:` entry (the consume path; see sidecar/README.md).
struct SubscriptionConfig {
  enum class Mode { Push, Pull };
  enum class Ordering { Partition, Key, None };
  enum class StartFrom { Earliest, Latest };
  enum class OnExhausted { DeadLetter, Block, Drop };

  std::string name;  // [a-z0-9-], unique: used in URLs, metrics and dead-letter headers
  Mode mode = Mode::Push;
  std::vector<std::string> topics;
  std::string group;     // consumer group id
  std::string endpoint;  // push only: http(s)://host[:port]/path
  Ordering ordering = Ordering::Partition;
  int maxInFlight = 64;
  // push only: records per request. 1: one binary-mode CloudEvent per request;
  // more: what is waiting for a free connection, up to this many, as one
  // application/cloudevents-batch+json array (never waits to fill a batch).
  int batchSize = 1;
  // push only: keep-alive connections to the app (one delivery worker each).
  // 0 (not set): min(maxInFlight, 16).
  int connections = 0;
  int pushConnections() const { return connections > 0 ? connections : std::min(maxInFlight, 16); }
  std::chrono::milliseconds timeout{10'000};     // per push attempt
  std::chrono::milliseconds ackTimeout{30'000};  // pull lease
  StartFrom startFrom = StartFrom::Latest;
  RetryConfig retry;
  std::string deadLetterTopic;  // empty: none
  OnExhausted onExhausted = OnExhausted::Block;  // DeadLetter when deadLetterTopic is set, unless given
  // Not a YAML key: set by pipeline mode when every sink is a topic. The
  // deliverer writes records in the order it is handed them (the jq thread
  // takes them in order; the idempotent producer keeps a partition's order), so
  // ordering partition/key may keep a run of a partition's records in flight
  // instead of one: a record that failed still holds back the ones after it.
  bool deliveryKeepsOrder = false;
};

struct SidecarConfig {
  KafkaConfig kafka;
  ApiConfig api;
  AdminConfig admin;
  ShutdownConfig shutdown;
  std::string logLevel = "info";
  std::vector<SubscriptionConfig> subscriptions;
  // W3C trace context always propagates; spans are exported only with
  // tracing.otlpEndpoint (see "Tracing" in sidecar/README.md).
  tracing::TracingConfig tracing = defaultTracing();

  static tracing::TracingConfig defaultTracing() {
    tracing::TracingConfig t;
    t.serviceName = "tributary-sidecar";
    return t;
  }
  bool embeddedKafka() const { return kafka.bootstrapServers.empty(); }
};

using Environment = std::map<std::string, std::string>;

struct ConfigResult {
  std::optional<SidecarConfig> config;  // set when errors is empty
  std::vector<std::string> errors;      // every problem found, each naming its key
};

// Parses YAML text, applies TRIBUTARY_* environment overrides, validates.
// `${file:...}` / `${env:...}` references in kafka.properties are resolved with
// `providers` (common/config/config_providers.h), once: a changed Secret takes
// effect when the sidecar restarts. nullptr: their syntax is checked and nothing
// is read (the operator checks a config whose files live in another pod).
ConfigResult parseSidecarConfig(std::string_view yaml, const Environment& env,
                                const ConfigProviderSource* providers = &systemConfigProviderSource());
// Same, from a file; a missing or unreadable file is an error naming the path.
ConfigResult loadSidecarConfig(const std::string& path, const Environment& env,
                               const ConfigProviderSource* providers = &systemConfigProviderSource());
// What the sidecar starts with: the file `path` when one is given (--config);
// else the YAML text of the environment variable TRIBUTARY_CONFIG_YAML (how the
// operator's injector passes the default config inline); else the defaults.
// TRIBUTARY_* overrides apply in every case. `source` (optional) is set to a
// description for messages: the path, "TRIBUTARY_CONFIG_YAML", or "".
ConfigResult resolveSidecarConfig(const std::string& path, const Environment& env, std::string* source = nullptr,
                                  const ConfigProviderSource* providers = &systemConfigProviderSource());
inline constexpr const char* kConfigYamlVariable = "TRIBUTARY_CONFIG_YAML";

// The TRIBUTARY_* variables of this process.
Environment processEnvironment();

}  // namespace tributary::sidecar
