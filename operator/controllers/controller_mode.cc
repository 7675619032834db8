#include "operator/controllers/controller_mode.h"

#include "common/tracing/otlp_http_exporter.h"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>

#include "common/log/log.h"
#include "operator/app/operator_config.h"
#include "operator/inject/injection_webhook.h"
#include "operator/controllers/operator_manager.h"
#include "operator/kube/curl_kube_client.h"
#include "operator/kube/kube_config.h"

namespace tributary::op::controllers {
namespace {

constexpr int kExitOk = 0, kExitFailed = 1, kExitUsage = 2;

constexpr const char* kUsage =
    "usage: tributary-operator [--config FILE] [--bootstrap-servers LIST] [--kubeconfig PATH]\n"
    "                          [--leader-elect[=true|false]] [--metrics-bind-address ADDR]\n"
    "                          [--health-probe-bind-address ADDR] [--webhook-bind-address ADDR]\n"
    "                          [--webhook-cert-dir DIR] [--sidecar-image IMG] [--sidecar-config FILE]\n"
    "  --config FILE                  clusters, watchNamespaces, resyncPeriod, leaderElection (YAML)\n"
    "  --bootstrap-servers LIST       Kafka brokers of the `default` cluster (overrides the config)\n"
    "  --kubeconfig PATH              else $KUBECONFIG, else the in-cluster service account\n"
    "  --leader-elect=true|false      Lease-based leader election (default: the config's, true)\n"
    "  --metrics-bind-address ADDR    /metrics (default :8080)\n"
    "  --health-probe-bind-address A  /healthz and /readyz (default :8081)\n"
    "  --webhook-bind-address ADDR    the sidecar injector's HTTPS webhook, path /inject (default :9443; 0: off)\n"
    "  --webhook-cert-dir DIR         serve DIR/tls.crt + DIR/tls.key (reloaded on change) instead of the\n"
    "                                 self-managed certificate in the Secret tributary-webhook-tls\n"
    "  --sidecar-image IMG            the injected sidecar's image and KafkaPipelines' (default tributary/sidecar:" TRIBUTARY_VERSION ")\n"
    "  --sidecar-config FILE          the default sidecar config (TRIBUTARY_CONFIG_YAML of injected pods)\n"
    "Environment: POD_NAMESPACE, the namespace of the webhook's Secret (default tributary-system).\n";

struct Flags {
  std::string config, bootstrapServers, kubeconfig;
  std::optional<bool> leaderElect;
  ListenAddress metrics{"0.0.0.0", 8080}, probes{"0.0.0.0", 8081};
  std::optional<ListenAddress> webhook = ListenAddress{"0.0.0.0", 9443};  // nullopt: disabled
  std::string webhookCertDir, sidecarImage = std::string("tributary/sidecar:") + TRIBUTARY_VERSION, sidecarConfig;
  bool help = false;
};

// Collects every usage problem rather than stopping at the first.
Flags parseFlags(const std::vector<std::string>& args, std::vector<std::string>& errors) {
  Flags f;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i], value;
    bool hasValue = false;
    if (auto eq = name.find('='); eq != std::string::npos && name.rfind("--", 0) == 0) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      hasValue = true;
    }
    auto take = [&]() -> std::optional<std::string> {
      if (hasValue) return value;
      if (i + 1 < args.size()) return args[++i];
      errors.push_back(name + " needs a value");
      return std::nullopt;
    };
    auto address = [&](ListenAddress& into) {
      if (auto v = take()) {
        if (auto a = parseListenAddress(*v)) into = *a;
        else errors.push_back(name + ": \"" + *v + "\" is not a listen address; use HOST:PORT or :PORT");
      }
    };
    if (name == "--help" || name == "-h") f.help = true;
    else if (name == "--config") { if (auto v = take()) f.config = *v; }
    else if (name == "--bootstrap-servers") { if (auto v = take()) f.bootstrapServers = *v; }
    else if (name == "--kubeconfig") { if (auto v = take()) f.kubeconfig = *v; }
    else if (name == "--leader-elect") {
      if (!hasValue) f.leaderElect = true;
      else if (value == "true" || value == "false") f.leaderElect = value == "true";
      else errors.push_back("--leader-elect must be true or false, got \"" + value + "\"");
    } else if (name == "--metrics-bind-address") address(f.metrics);
    else if (name == "--health-probe-bind-address") address(f.probes);
    else if (name == "--webhook-bind-address") {
      if (auto v = take()) {
        if (*v == "0") f.webhook.reset();
        else if (auto a = parseListenAddress(*v)) f.webhook = *a;
        else errors.push_back(name + ": \"" + *v + "\" is not a listen address; use HOST:PORT, :PORT or 0 (off)");
      }
    } else if (name == "--webhook-cert-dir") { if (auto v = take()) f.webhookCertDir = *v; }
    else if (name == "--sidecar-image") {
      if (auto v = take()) {
        if (v->empty()) errors.push_back("--sidecar-image must not be empty");
        else f.sidecarImage = *v;
      }
    } else if (name == "--sidecar-config") { if (auto v = take()) f.sidecarConfig = *v; }
    else errors.push_back("unknown flag " + args[i]);
  }
  return f;
}

std::string randomSuffix() {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%06x", static_cast<unsigned>(rd()) & 0xffffff);
  return buf;
}

std::string hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "tributary-operator";
  return buf;
}

}  // namespace

int runControllerMode(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  return runControllerMode(args, out, err, rdkafkaAdminFactory());
}

int runControllerMode(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                      const AdminFactory& admins) {
  std::vector<std::string> errors;
  Flags flags = parseFlags(args, errors);
  if (flags.help) {
    out << kUsage;
    return kExitOk;
  }
  app::OperatorConfig config;
  if (!flags.config.empty()) {
    auto loaded = app::loadOperatorConfig(flags.config);
    for (const auto& e : loaded.errors) errors.push_back(flags.config + ": " + e);
    if (loaded.config) config = *loaded.config;
  }
  if (!flags.bootstrapServers.empty()) config.clusters["default"].bootstrapServers = flags.bootstrapServers;
  if (config.clusters.empty())
    errors.push_back("no Kafka cluster: give --bootstrap-servers or a --config with clusters: {default: "
                     "{bootstrapServers: ...}}");
  if (!errors.empty()) {
    for (const auto& e : errors) err << "tributary-operator: " << e << "\n";
    err << kUsage;
    return kExitUsage;
  }

  kube::ClusterConnection connection;
  try {
    connection = kube::resolveConnection(flags.kubeconfig, kube::processEnvironment());
  } catch (const kube::KubeConfigError& e) {
    for (const auto& p : e.problems()) err << "tributary-operator: " << p << "\n";
    return kExitUsage;
  }

  // Signals are taken synchronously by this thread; every thread started from
  // here inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto registry = std::make_shared<prometheus::Registry>();
  auto client = std::make_shared<kube::CurlKubeClient>(connection, *registry);

  ManagerOptions options;
  options.clusters = config.clusters;
  // A reconcile waits at most this long for Kafka, so that SIGTERM (which lets
  // running reconciles finish) completes well within Kubernetes' default 30 s grace.
  for (auto& [name, cluster] : options.clusters) cluster.requestTimeout = std::chrono::seconds(10);
  options.watchNamespaces = config.watchNamespaces;
  options.resyncPeriod = config.resyncPeriod;
  options.lagInterval = config.consumerGroups.lagInterval;
  options.statusInterval = config.consumerGroups.statusInterval;
  options.lagChangeFraction = config.consumerGroups.lagChangeFraction;
  options.partitionLagMetrics = config.consumerGroups.partitionLagMetrics;
  options.leaderElection = flags.leaderElect.value_or(config.leaderElection.enabled);
  options.lease.leaseName = config.leaderElection.leaseName;
  options.lease.leaseNamespace =
      config.leaderElection.namespace_.empty() ? connection.defaultNamespace : config.leaderElection.namespace_;
  options.lease.identity = hostname() + "_" + randomSuffix();
  options.sidecarImage = flags.sidecarImage;  // also what KafkaPipeline pods run
  options.metrics = flags.metrics;
  options.probes = flags.probes;
  // tracing.otlpEndpoint: one span per reconcile, exported like the sidecar's spans.
  std::unique_ptr<tracing::Tracer> tracer;
  if (config.tracing.spansEnabled()) {
    tracing::TracerOptions to;
    to.serviceName = config.tracing.serviceName;
    to.samplingRatio = config.tracing.samplingRatio;
    tracer = std::make_unique<tracing::Tracer>(
        to, tracing::makeOtlpHttpExporter(config.tracing, config.tracing.serviceName), registry.get());
    options.tracer = tracer.get();
  }

  log::info("tributary-operator starting", {{"version", TRIBUTARY_VERSION},
                                            {"apiServer", connection.server},
                                            {"source", connection.source},
                                            {"identity", options.lease.identity}});
  // The webhook runs on every replica, leader or not: it starts before the
  // manager (whose /readyz waits for its certificate) and stops after it.
  std::unique_ptr<inject::InjectionWebhook> webhook;
  std::string error;
  if (flags.webhook) {
    inject::InjectionWebhookOptions wo;
    wo.listen = *flags.webhook;
    wo.certDir = flags.webhookCertDir;
    wo.sidecarImage = flags.sidecarImage;
    wo.sidecarConfigPath = flags.sidecarConfig;
    if (const char* ns = std::getenv("POD_NAMESPACE"); ns && *ns) wo.namespace_ = ns;
    webhook = std::make_unique<inject::InjectionWebhook>(wo, client, registry);
    if (!webhook->start(error)) {
      err << "tributary-operator: cannot start: " << error << "\n";
      webhook->stop();
      return error.rfind("--sidecar-config", 0) == 0 ? kExitUsage : kExitFailed;
    }
    inject::InjectionWebhook* w = webhook.get();
    options.readinessGates["webhook"] = [w] { return w->ready(); };
  }
  OperatorManager manager(options, client, registry, admins);
  if (!manager.start(error)) {
    err << "tributary-operator: cannot start: " << error << "\n";
    manager.stop();
    if (webhook) webhook->stop();
    return kExitFailed;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  log::info("signal received: stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  manager.stop();
  if (webhook) webhook->stop();
  if (tracer) tracer->flush(std::chrono::seconds(5));  // the last reconciles' spans
  log::info("tributary-operator stopped");
  return kExitOk;
}

}  // namespace tributary::op::controllers
