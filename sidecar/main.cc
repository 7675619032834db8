// tributary-sidecar: the per-pod Kafka sidecar. See sidecar/README.md.
#include <csignal>
#include <cstring>
#include <iostream>
#include <pthread.h>

#include "common/config/config_providers.h"
#include "common/log/log.h"
#include "sidecar/app/sidecar.h"
#include "sidecar/config/sidecar_config.h"

using namespace tributary;

namespace {
constexpr const char* kUsage =
    "usage: tributary-sidecar [--config FILE] [--dev]\n"
    "  --config FILE  YAML configuration (see sidecar/README.md); TRIBUTARY_* variables override it.\n"
    "                 Without it: the YAML text of $TRIBUTARY_CONFIG_YAML, else the defaults\n"
    "  --dev          run against an embedded 3-broker Kafka cluster (the default when no brokers are configured)\n"
    "  --version      print the version\n";
}

int main(int argc, char** argv) {
  std::string configPath;
  bool dev = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) configPath = argv[++i];
    else if (a.rfind("--config=", 0) == 0) configPath = a.substr(9);
    else if (a == "--dev") dev = true;
    else if (a == "--version") {
      std::cout << "tributary-sidecar " << TRIBUTARY_VERSION << "\n";
      return 0;
    } else if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else {
      std::cerr << "tributary-sidecar: unknown argument " << a << "\n" << kUsage;
      return 2;
    }
  }

  auto env = sidecar::processEnvironment();
  std::string source;
  auto loaded = sidecar::resolveSidecarConfig(configPath, env, &source);
  if (!loaded.config) {
    std::cerr << "tributary-sidecar: invalid configuration" << (source.empty() ? "" : " in " + source) << ":\n";
    for (const auto& e : loaded.errors) std::cerr << "  - " << e << "\n";
    return 2;
  }
  sidecar::SidecarConfig config = *loaded.config;
  if (config.logLevel == "debug") log::setLevel(log::Level::Debug);
  else if (config.logLevel == "warn") log::setLevel(log::Level::Warn);
  else if (config.logLevel == "error") log::setLevel(log::Level::Error);
  if (dev && !config.kafka.bootstrapServers.empty()) {
    log::warn("--dev given: ignoring kafka.bootstrapServers and starting the embedded cluster");
    config.kafka.bootstrapServers.clear();
  }

  // Block the shutdown signals in every thread (threads inherit the mask), and
  // take them synchronously on this one.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  std::string error;
  auto sidecar = sidecar::Sidecar::start(config, error);
  if (!sidecar) {
    // librdkafka's messages may quote a value: never a secret-bearing one.
    log::error("cannot start", {{"error", redactSecrets(error, config.kafka.properties, {})}});
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  log::info("signal received", {{"signal", strsignal(sig)}});
  sidecar->shutdown();
  sidecar.reset();
  return 0;
}
