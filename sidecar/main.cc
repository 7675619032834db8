// tributary-sidecar: the per-pod Kafka sidecar. See sidecar/README.md.
#include <csignal>
#include <cstring>
#include <iostream>
#include <pthread.h>
#include <unistd.h>

#include "common/config/config_providers.h"
#include "common/log/log.h"
#include "sidecar/app/sidecar.h"
#include "sidecar/config/sidecar_config.h"
#include "sidecar/pipeline/pipeline_app.h"
#include "sidecar/pipeline/pipeline_config.h"

using namespace tributary;

namespace {
constexpr const char* kUsage =
    "usage: tributary-sidecar [--config FILE] [--dev]\n"
    "       tributary-sidecar --pipeline FILE [--dev]\n"
    "  --config FILE  YAML configuration (see sidecar/README.md); TRIBUTARY_* variables override it.\n"
    "                 Without it: the YAML text of $TRIBUTARY_CONFIG_YAML, else the defaults\n"
    "  --pipeline FILE  run the pipeline in FILE (see sidecar/README.md \"Pipelines\") instead of the app API\n"
    "  --dev          run against an embedded 3-broker Kafka cluster (the default when no brokers are configured)\n"
    "  --version      print the version\n";

void applyLogLevel(const std::string& level) {
  if (level == "debug") log::setLevel(log::Level::Debug);
  else if (level == "warn") log::setLevel(log::Level::Warn);
  else if (level == "error") log::setLevel(log::Level::Error);
}

// Blocks the shutdown signals in every thread (threads inherit the mask), so
// that this thread takes them synchronously with sigwait. SIGUSR1 is the
// pipeline's own "cannot go on" (fenced): sent to the process, taken here.
sigset_t blockShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return signals;
}

int runPipeline(const std::string& path, bool dev) {
  auto loaded = sidecar::pipeline::loadPipelineConfig(path, sidecar::processEnvironment());
  if (!loaded.config) {
    std::cerr << "tributary-sidecar: invalid pipeline in " << path << ":\n";
    for (const auto& e : loaded.errors) std::cerr << "  - " << e << "\n";
    return 2;
  }
  sidecar::pipeline::PipelineConfig config = *loaded.config;
  applyLogLevel(config.runtime.logLevel);
  if (dev && !config.runtime.kafka.bootstrapServers.empty()) {
    log::warn("--dev given: ignoring kafka.bootstrapServers and starting the embedded cluster");
    config.runtime.kafka.bootstrapServers.clear();
  }
  sigset_t signals = blockShutdownSignals();
  std::string error;
  auto app = sidecar::pipeline::PipelineApp::start(config, [] { kill(getpid(), SIGUSR1); }, error);
  if (!app) {
    log::error("cannot start the pipeline", {{"error", redactSecrets(error, config.runtime.kafka.properties, {})}});
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  if (sig == SIGUSR1) {
    log::error("the pipeline cannot go on; exiting so that the pod restarts", {{"error", app->fatalError()}});
    app->shutdown();
    return 3;
  }
  log::info("signal received", {{"signal", strsignal(sig)}});
  app->shutdown();
  app.reset();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string configPath;
  std::string pipelinePath;
  bool dev = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) configPath = argv[++i];
    else if (a.rfind("--config=", 0) == 0) configPath = a.substr(9);
    else if (a == "--pipeline" && i + 1 < argc) pipelinePath = argv[++i];
    else if (a.rfind("--pipeline=", 0) == 0) pipelinePath = a.substr(11);
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

  if (!pipelinePath.empty()) {
    if (!configPath.empty()) {
      std::cerr << "tributary-sidecar: --config and --pipeline exclude each other (a pipeline file has the kafka, "
                   "admin and log sections itself)\n";
      return 2;
    }
    return runPipeline(pipelinePath, dev);
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
  applyLogLevel(config.logLevel);
  if (dev && !config.kafka.bootstrapServers.empty()) {
    log::warn("--dev given: ignoring kafka.bootstrapServers and starting the embedded cluster");
    config.kafka.bootstrapServers.clear();
  }

  sigset_t signals = blockShutdownSignals();

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
