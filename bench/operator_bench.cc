// tributary-operator-bench: what the operator costs at 1000 and 10 000 KafkaTopics.
// See bench/README.md ("The operator at scale").
//
// Per size N, in a fresh process of its own (so that peak RSS is one size's):
//   1. the test API server runs as a CHILD PROCESS (the built tributary-test-apiserver),
//      so this process's memory is the operator's (plus a small ClusterAdmin double);
//   2. a forked helper registers crds/kafkatopic.yaml and creates N KafkaTopics over
//      HTTP, then exits (its allocations never touch this process's heap);
//   3. the operator runs in this process: OperatorManager without leader election,
//      metrics and probes on port 0, and an AdminFactory returning the ClusterAdmin
//      test double wrapped in a decorator that charges a fixed latency per round trip;
//   4. measured: operator start -> every KafkaTopic Ready=True (seen through a watch),
//      admin round trips and API requests per topic until the operator is idle, then
//      `--steady-seconds` of steady state with a short resync period: writes (target 0),
//      and the process's peak RSS (VmHWM; target <= 64 MiB at 10 000 topics).
//   5. with --groups G (default 1000; 0 = the topics-only run above): G KafkaConsumerGroups
//      created with the topics, each on its own topic of --group-partitions partitions seeded
//      in the double with a steady lag; measured: time and admin round trips per lag pass
//      (tributary_operator_lag_pass_duration_seconds, tributary_operator_kafka_admin_calls_total),
//      API writes per pass in the steady window (target 0), and peak RSS with 10 000 topics +
//      1000 groups (target <= 96 MiB). Objects are created as `kubectl apply` sends them
//      (last-applied annotation) and the test API server adds managedFields, as a real one.
//
// A missed target is a result (printed MISS), never an exit status: the exit status is
// nonzero only when a measurement could not run.
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <spawn.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <prometheus/registry.h>

#include "common/log/log.h"
#include "operator/app/allocator.h"
#include "operator/app/yaml_json.h"
#include "operator/controllers/consumer_group_controller.h"
#include "operator/controllers/operator_manager.h"
#include "operator/controllers/topic_controller.h"
#include "operator/kube/api_error.h"
#include "operator/kube/curl_kube_client.h"
#include "operator/kube/informer.h"
#include "tests/operator/topic/fake_cluster_admin.h"

#ifndef TRIBUTARY_SOURCE_DIR
#define TRIBUTARY_SOURCE_DIR "."
#endif

extern char** environ;

namespace {

namespace op = tributary::op;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

constexpr double kRssTargetMiB = 64.0;  // issue #4: operator peak RSS at 10 000 topics
constexpr size_t kRssTargetTopics = 10'000;
// The KafkaConsumerGroup issue: peak RSS at 10 000 topics and 1000 groups, with the
// managedFields a real API server sends (the test API server writes them too now).
constexpr double kRssTargetGroupsMiB = 96.0;
constexpr size_t kRssTargetGroups = 1'000;

// ---- options ------------------------------------------------------------------------------------------------------

struct Options {
  std::vector<size_t> sizes{1'000, 10'000};
  int latencyMs = 20;       // charged per ClusterAdmin round trip
  int steadySeconds = 60;   // steady-state window after convergence
  int resyncSeconds = 10;   // the operator's resyncPeriod (short: several resyncs per window)
  size_t workers = 2;       // ManagerOptions::workers
  size_t maxBatch = 100;    // ManagerOptions::maxBatch
  size_t creators = 4;      // client threads creating the KafkaTopics
  int timeoutSeconds = 900; // bound on creation, convergence and idling
  std::string apiserver;    // the tributary-test-apiserver binary
  std::string crd = std::string(TRIBUTARY_SOURCE_DIR) + "/crds/kafkatopic.yaml";
  std::string groupCrd = std::string(TRIBUTARY_SOURCE_DIR) + "/crds/kafkaconsumergroup.yaml";
  size_t groups = 1'000;     // KafkaConsumerGroups next to the topics (0: topics only, issue #4's run)
  int groupPartitions = 12;  // partitions of each group's topic
  int lagSeconds = 5;        // the operator's lagInterval (short: several passes per steady window)
  bool keepManagedFields = false;  // ManagerOptions::stripManagedFields = false (to measure the strip)
  std::string logLevel = "warn";  // the operator's log level during the run
  bool resultLine = false;  // internal: one size, print a RESULT line for the parent process
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "%s%susage: tributary-operator-bench [--topics 1000,10000] [--latency-ms 20] [--steady-seconds 60]\n"
               "         [--resync-seconds 10] [--workers 2] [--max-batch 100] [--creators 4]\n"
               "         [--timeout-seconds 900] [--apiserver PATH] [--crd PATH] [--log-level warn]\n"
               "         [--groups 1000] [--group-partitions 12] [--lag-seconds 5] [--group-crd PATH]\n"
               "         [--keep-managed-fields]\n"
               "  N KafkaTopics (and --groups KafkaConsumerGroups) in the test API server (a child process),\n"
               "  the operator in this process with a ClusterAdmin double charging --latency-ms per round\n"
               "  trip. See bench/README.md.\n",
               why.c_str(), why.empty() ? "" : "\n");
  std::exit(why.empty() ? 0 : 2);
}

long parseNumber(const std::string& flag, const std::string& text, long min, long max) {
  long v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < min || v > max)
    usage(flag + " needs a number from " + std::to_string(min) + " to " + std::to_string(max) + ", got \"" + text +
          "\"");
  return v;
}

std::string selfDirectory() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : self.parent_path().string();
}

Options parseArgs(int argc, char** argv) {
  Options o;
  o.apiserver = selfDirectory() + "/tributary-test-apiserver";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--topics") {
      o.sizes.clear();
      std::stringstream list(value());
      for (std::string item; std::getline(list, item, ',');)
        o.sizes.push_back(static_cast<size_t>(parseNumber("--topics", item, 1, 1'000'000)));
      if (o.sizes.empty()) usage("--topics needs at least one size");
    } else if (arg == "--latency-ms") {
      o.latencyMs = static_cast<int>(parseNumber(arg, value(), 0, 60'000));
    } else if (arg == "--steady-seconds") {
      o.steadySeconds = static_cast<int>(parseNumber(arg, value(), 0, 86'400));
    } else if (arg == "--resync-seconds") {
      o.resyncSeconds = static_cast<int>(parseNumber(arg, value(), 0, 86'400));
    } else if (arg == "--workers") {
      o.workers = static_cast<size_t>(parseNumber(arg, value(), 1, 64));
    } else if (arg == "--max-batch") {
      o.maxBatch = static_cast<size_t>(parseNumber(arg, value(), 1, 100'000));
    } else if (arg == "--creators") {
      o.creators = static_cast<size_t>(parseNumber(arg, value(), 1, 64));
    } else if (arg == "--timeout-seconds") {
      o.timeoutSeconds = static_cast<int>(parseNumber(arg, value(), 1, 86'400));
    } else if (arg == "--apiserver") {
      o.apiserver = value();
    } else if (arg == "--crd") {
      o.crd = value();
    } else if (arg == "--groups") {
      o.groups = static_cast<size_t>(parseNumber(arg, value(), 0, 100'000));
    } else if (arg == "--group-partitions") {
      o.groupPartitions = static_cast<int>(parseNumber(arg, value(), 1, 10'000));
    } else if (arg == "--lag-seconds") {
      o.lagSeconds = static_cast<int>(parseNumber(arg, value(), 1, 3'600));
    } else if (arg == "--group-crd") {
      o.groupCrd = value();
    } else if (arg == "--keep-managed-fields") {
      o.keepManagedFields = true;
    } else if (arg == "--log-level") {
      o.logLevel = value();
      if (o.logLevel != "debug" && o.logLevel != "info" && o.logLevel != "warn" && o.logLevel != "error")
        usage("--log-level is one of debug, info, warn, error");
    } else if (arg == "--result-line") {
      o.resultLine = true;
    } else if (arg == "--help" || arg == "-h") {
      usage("");
    } else {
      usage("unknown argument: " + arg);
    }
  }
  if (!fs::exists(o.apiserver)) usage("the test API server binary is not at " + o.apiserver + " (--apiserver PATH)");
  if (!fs::exists(o.crd)) usage("the KafkaTopic CRD is not at " + o.crd + " (--crd PATH)");
  if (o.groups > 0 && !fs::exists(o.groupCrd))
    usage("the KafkaConsumerGroup CRD is not at " + o.groupCrd + " (--group-crd PATH, or --groups 0)");
  return o;
}

// ---- /proc ----------------------------------------------------------------------------------------------------------

// A "VmHWM:   12345 kB" line of /proc/<pid>/status, in MiB; -1 when unreadable.
double statusMiB(const std::string& pid, const std::string& field) {
  std::ifstream in("/proc/" + pid + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field + ":", 0) == 0) return std::strtod(line.c_str() + field.size() + 1, nullptr) / 1024.0;
  return -1;
}

// Resets this process's VmHWM to its current RSS (Linux: clear_refs "5"), so that the
// peak measured later is the operator's run, not whatever came before it.
bool resetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

// Bytes the allocator has handed out and not got back (live heap), in MiB.
double heapInUseMiB() {
  struct mallinfo2 mi = mallinfo2();
  return static_cast<double>(mi.uordblks + mi.hblkhd) / (1024.0 * 1024.0);
}

std::string firstLineOf(const std::string& path, const std::string& prefix) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) {
      auto colon = line.find(':');
      std::string v = colon == std::string::npos ? line : line.substr(colon + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return "?";
}

// ---- the ClusterAdmin double with a latency per round trip --------------------------------------------------------

// Charges a fixed latency per round trip, then forwards to the double: what a
// broker a few milliseconds away costs, the number that makes batching matter.
// Threads: as ClusterAdmin (one caller at a time); the target is thread-safe.
class LatencyClusterAdmin final : public op::kafka::ClusterAdmin {
 public:
  LatencyClusterAdmin(op::kafka::ClusterAdmin& target, std::chrono::milliseconds latency)
      : target_(target), latency_(latency) {}

  std::vector<op::kafka::DescribeResult> describeTopics(const std::vector<std::string>& topics) override {
    roundTrip();
    return target_.describeTopics(topics);
  }
  std::vector<op::kafka::ItemResult> createTopics(const std::vector<op::kafka::NewTopic>& topics,
                                                  bool validateOnly) override {
    roundTrip();
    return target_.createTopics(topics, validateOnly);
  }
  std::vector<op::kafka::ItemResult> createPartitions(const std::vector<op::kafka::PartitionIncrease>& increases,
                                                      bool validateOnly) override {
    roundTrip();
    return target_.createPartitions(increases, validateOnly);
  }
  std::vector<op::kafka::ItemResult> alterConfigs(const std::vector<op::kafka::TopicConfigs>& configs,
                                                  bool validateOnly) override {
    roundTrip();
    return target_.alterConfigs(configs, validateOnly);
  }
  std::vector<op::kafka::ItemResult> deleteTopics(const std::vector<std::string>& topics) override {
    roundTrip();
    return target_.deleteTopics(topics);
  }
  // Groups: one round trip per call, as the ClusterAdmin interface is batch-shaped. The
  // librdkafka adapter sends some of these as several requests in parallel (one per
  // coordinator or partition leader): one round trip of latency, several requests.
  std::vector<op::kafka::GroupDescribeResult> describeGroups(const std::vector<std::string>& groups) override {
    roundTrip();
    return target_.describeGroups(groups);
  }
  std::vector<op::kafka::RecordAt> recordTimestamps(const std::vector<op::kafka::RecordAt>& at) override {
    roundTrip();
    return target_.recordTimestamps(at);
  }
  std::vector<op::kafka::GroupOffsets> listGroupOffsets(const std::vector<std::string>& groups,
                                                        const op::kafka::GroupPartitions& only) override {
    roundTrip();
    return target_.listGroupOffsets(groups, only);
  }
  std::vector<op::kafka::GroupOffsets> alterGroupOffsets(const std::vector<op::kafka::GroupOffsets>& changes) override {
    roundTrip();
    return target_.alterGroupOffsets(changes);
  }
  std::vector<op::kafka::GroupResult> deleteGroups(const std::vector<std::string>& groups) override {
    roundTrip();
    return target_.deleteGroups(groups);
  }
  std::vector<op::kafka::PartitionOffset> listOffsets(const std::vector<op::kafka::OffsetQuery>& queries) override {
    roundTrip();
    return target_.listOffsets(queries);
  }

 private:
  // Sleeping is the model here: the operator's thread waits for the broker exactly so.
  void roundTrip() const {
    if (latency_.count() > 0) std::this_thread::sleep_for(latency_);
  }
  op::kafka::ClusterAdmin& target_;
  const std::chrono::milliseconds latency_;
};

// ---- the test API server as a child process -----------------------------------------------------------------------

// Threads: the owning thread only. The destructor stops the server (SIGTERM, then
// SIGKILL if it does not exit).
class ApiServerProcess {
 public:
  explicit ApiServerProcess(const std::string& binary) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    // Its stderr repeats the address and would mix into the bench's output.
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    std::vector<std::string> args{binary, "--port", "0"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    if (rc != 0) {
      close(out[0]);
      throw std::runtime_error("cannot start " + binary + ": " + std::strerror(rc));
    }
    // "tributary-test-apiserver listening on http://127.0.0.1:PORT"
    std::string line;
    char c = 0;
    while (read(out[0], &c, 1) == 1 && c != '\n') line += c;
    close(out[0]);
    const auto at = line.find("http://");
    if (at == std::string::npos) {
      stop();
      throw std::runtime_error("the test API server did not print its address (got \"" + line + "\")");
    }
    url_ = line.substr(at);
  }
  ~ApiServerProcess() { stop(); }
  ApiServerProcess(const ApiServerProcess&) = delete;
  ApiServerProcess& operator=(const ApiServerProcess&) = delete;

  const std::string& url() const { return url_; }
  pid_t pid() const { return pid_; }

  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {  // up to 5 s for a clean exit
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  std::string url_;
};

// ---- the KafkaTopics --------------------------------------------------------------------------------------------

const op::kube::ResourceRef kCrds{"apiextensions.k8s.io", "v1", "customresourcedefinitions", false};
constexpr const char* kNamespace = "default";

std::string topicName(size_t i) {
  std::string digits = std::to_string(i);
  if (digits.size() < 6) digits.insert(0, 6 - digits.size(), '0');
  return "bench-topic-" + digits;
}

// The index in "bench-topic-NNNNNN", or nullopt for anything else.
std::optional<size_t> topicIndex(const std::string& name) {
  constexpr std::string_view prefix = "bench-topic-";
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  size_t v = 0;
  auto [p, ec] = std::from_chars(name.data() + prefix.size(), name.data() + name.size(), v);
  if (ec != std::errc() || p != name.data() + name.size()) return std::nullopt;
  return v;
}

// As `kubectl apply` sends an object: with the last-applied-configuration
// annotation (the object as applied, compact JSON and a newline). With the
// managedFields the test API server writes, the stored objects are what a real
// API server holds after `kubectl apply -f`.
Json asApplied(Json object) {
  const std::string applied = object.dump() + "\n";
  object["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = applied;
  return object;
}
// kubectl's User-Agent up to the '/' is the manager a real server records for it.
constexpr const char* kKubectlUserAgent = "kubectl-client-side-apply/v1.32.0 (linux/amd64) kubernetes/70d3cc9";

// What a platform team declares: a few partitions, replicated, two config keys.
Json kafkaTopic(size_t i) {
  return asApplied(Json{{"apiVersion", "tributary.dev/v1alpha1"},
                        {"kind", "KafkaTopic"},
                        {"metadata", {{"name", topicName(i)}, {"namespace", kNamespace}, {"labels", {{"team", "bench"}}}}},
                        {"spec",
                         {{"partitions", 3},
                          {"replicationFactor", 3},
                          {"config", {{"retention.ms", "86400000"}, {"cleanup.policy", "delete"}}}}}});
}

// ---- the KafkaConsumerGroups: group i consumes its own topic of --group-partitions partitions ------------------

std::string padded(const char* prefix, size_t i) {
  std::string digits = std::to_string(i);
  if (digits.size() < 6) digits.insert(0, 6 - digits.size(), '0');
  return prefix + digits;
}
std::string groupName(size_t i) { return padded("bench-group-", i); }
std::string lagTopicName(size_t i) { return padded("bench-lag-", i); }

Json kafkaConsumerGroup(size_t i) {
  return asApplied(Json{{"apiVersion", "tributary.dev/v1alpha1"},
                        {"kind", "KafkaConsumerGroup"},
                        {"metadata", {{"name", groupName(i)}, {"namespace", kNamespace}, {"labels", {{"team", "bench"}}}}},
                        {"spec", {{"topics", Json::array({lagTopicName(i)})}}}});
}

// The groups' side of the cluster, in the ClusterAdmin double: each group's topic with
// one record per partition a minute old, the group Stable with one member holding every
// partition, committed at 0: a lag of 1 per partition that does not move (steady).
void seedGroups(op::test::FakeClusterAdmin& admin, const Options& options) {
  const int64_t minuteAgoMs = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch()).count() - 60'000;
  for (size_t i = 0; i < options.groups; ++i) {
    const std::string topic = lagTopicName(i);
    admin.putTopic(topic, {options.groupPartitions, 3, {}});
    op::kafka::GroupMember member{"member-" + std::to_string(i), "bench-consumer", "/10.0.0.1", {}};
    for (int p = 0; p < options.groupPartitions; ++p) {
      admin.produce(topic, p, 1, minuteAgoMs);
      member.assignment.push_back({topic, p});
    }
    admin.join(groupName(i), member);
    for (int p = 0; p < options.groupPartitions; ++p) admin.commit(groupName(i), topic, p, 0);
  }
}

// Runs in a forked child: registers the CRD, creates topics 0..n-1 from `creators`
// threads, returns the exit status. Nothing it allocates stays in the bench's heap.
int registerAndCreate(const std::string& url, const Options& options, size_t n) {
  prometheus::Registry registry;  // the creator's own: not the operator's counters
  op::kube::ClusterConnection connection;
  connection.server = url;
  op::kube::CurlClientOptions clientOptions;
  clientOptions.poolSize = options.creators;
  clientOptions.userAgent = kKubectlUserAgent;
  op::kube::CurlKubeClient client(connection, registry, clientOptions);
  try {
    std::ifstream in(options.crd);
    std::stringstream text;
    text << in.rdbuf();
    auto docs = op::app::yamlDocumentsToJson(text.str());
    if (docs.empty()) throw std::runtime_error("no document in " + options.crd);
    client.create(kCrds, "", docs.front());
    if (options.groups > 0) {
      std::ifstream gin(options.groupCrd);
      std::stringstream gtext;
      gtext << gin.rdbuf();
      auto gdocs = op::app::yamlDocumentsToJson(gtext.str());
      if (gdocs.empty()) throw std::runtime_error("no document in " + options.groupCrd);
      client.create(kCrds, "", gdocs.front());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "operator-bench: registering the CRDs failed: %s\n", e.what());
    return 1;
  }
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < options.creators; ++t)
    threads.emplace_back([&, t] {
      for (size_t i = t; i < n + options.groups && !failed.load(); i += options.creators) {
        for (int attempt = 1;; ++attempt) {
          try {
            if (i < n)
              client.create(op::controllers::kKafkaTopics, kNamespace, kafkaTopic(i));
            else
              client.create(op::controllers::kKafkaConsumerGroups, kNamespace, kafkaConsumerGroup(i - n));
            break;
          } catch (const op::kube::ApiError& e) {
            if (e.kind() == op::kube::ApiError::Kind::AlreadyExists) break;  // a retried create that had gone through
            if (attempt >= 5) {
              std::fprintf(stderr, "operator-bench: creating %s failed: %s\n",
                           (i < n ? topicName(i) : groupName(i - n)).c_str(), e.what());
              failed = true;
              break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
          }
        }
      }
    });
  for (auto& th : threads) th.join();
  return failed ? 1 : 0;
}

// ---- seeing the operator's work from outside: Ready conditions through a watch -------------------------------------

// Watches every KafkaTopic from a resourceVersion on and keeps, per bench topic, whether
// its Ready condition is True for its current generation. Memory: a byte per topic, and
// the one event being read.
// Threads: start()/stop() from the owning thread; the rest from any thread.
class ReadyTracker {
 public:
  ReadyTracker(op::kube::KubeClient& client, size_t topics, std::string fromResourceVersion)
      : client_(client), ready_(topics, 0), resourceVersion_(std::move(fromResourceVersion)) {}
  ~ReadyTracker() { stop(); }

  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }

  // Waits until every topic is Ready or `deadline`; true when all are.
  bool awaitAllReady(Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    return cv_.wait_until(lock, deadline, [&] { return readyCount_ == ready_.size() || broken_; }) &&
           readyCount_ == ready_.size();
  }
  size_t readyCount() const {
    std::lock_guard lock(mu_);
    return readyCount_;
  }
  std::optional<Clock::time_point> firstReadyAt() const {
    std::lock_guard lock(mu_);
    return firstReady_;
  }
  std::optional<Clock::time_point> allReadyAt() const {
    std::lock_guard lock(mu_);
    return allReady_;
  }
  // Modifications of bench topics seen (ADDED/MODIFIED/DELETED), a writes check
  // independent of the operator's own counters.
  uint64_t changesSeen() const { return changes_.load(); }

 private:
  void run() {
    while (!stopping_) {
      std::unique_ptr<op::kube::WatchStream> stream;
      try {
        op::kube::WatchOptions wo;
        wo.resourceVersion = resourceVersion_;
        wo.allowWatchBookmarks = true;
        stream = client_.watch(op::controllers::kKafkaTopics, "", wo);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "operator-bench: watch failed (%s); retrying\n", e.what());
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      op::kube::WatchEvent event;
      while (!stopping_) {
        op::kube::WatchStream::Status status;
        try {
          status = stream->next(std::chrono::milliseconds(200), event);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "operator-bench: watch failed (%s); retrying\n", e.what());
          break;
        }
        if (status == op::kube::WatchStream::Status::Timeout) continue;
        if (status == op::kube::WatchStream::Status::Ended) break;
        if (event.type == op::kube::WatchEvent::Type::Error) {
          // 410 Gone cannot happen here (the test server keeps its whole event log);
          // anything else means the measurement is void.
          std::fprintf(stderr, "operator-bench: the watch reported an error: %s\n", event.object.dump().c_str());
          std::lock_guard lock(mu_);
          broken_ = true;
          cv_.notify_all();
          return;
        }
        if (auto meta = event.object.find("metadata"); meta != event.object.end() && meta->is_object()) {
          auto rv = meta->find("resourceVersion");
          if (rv != meta->end() && rv->is_string()) resourceVersion_ = rv->get<std::string>();
        }
        if (event.type == op::kube::WatchEvent::Type::Bookmark) continue;
        observe(event);
      }
    }
  }

  void observe(const op::kube::WatchEvent& event) {
    const auto metaIt = event.object.find("metadata");
    if (metaIt == event.object.end() || !metaIt->is_object()) return;
    const Json& meta = *metaIt;
    auto index = topicIndex(meta.value("name", ""));
    if (!index || *index >= ready_.size()) return;
    ++changes_;
    bool ready = false;
    if (event.type != op::kube::WatchEvent::Type::Deleted) {
      const int64_t generation = meta.value("generation", int64_t{0});
      const Json status = event.object.value("status", Json::object());
      for (const auto& c : status.value("conditions", Json::array()))
        if (c.value("type", "") == op::controllers::kReadyCondition)
          ready = c.value("status", "") == "True" && c.value("observedGeneration", int64_t{-1}) == generation;
    }
    std::lock_guard lock(mu_);
    char& slot = ready_[*index];
    if (ready == (slot != 0)) return;
    slot = ready ? 1 : 0;
    if (ready) {
      ++readyCount_;
      if (!firstReady_) firstReady_ = Clock::now();
      if (readyCount_ == ready_.size()) {
        allReady_ = Clock::now();
        cv_.notify_all();
      }
    } else {
      --readyCount_;
    }
  }

  op::kube::KubeClient& client_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<char> ready_;  // guarded by mu_
  size_t readyCount_ = 0;    // guarded by mu_
  bool broken_ = false;      // guarded by mu_
  std::optional<Clock::time_point> firstReady_, allReady_;  // guarded by mu_
  std::string resourceVersion_;  // the watch thread's
  std::atomic<uint64_t> changes_{0};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// ---- the operator's own counters ----------------------------------------------------------------------------------

// One reading of the operator's registry: what its /metrics would show.
struct Counters {
  std::map<std::string, double> apiByVerb;   // tributary_operator_api_requests_total by verb
  std::map<std::string, double> adminByOp;   // tributary_operator_kafka_admin_calls_total by operation
  double reconciles = 0;                     // tributary_operator_reconcile_total, every result
  double reconcileErrors = 0;
  double queueAdds = 0;                      // tributary_operator_workqueue_adds_total
  double queueDepth = 0;                     // tributary_operator_workqueue_depth
  double eventsPending = 0;                  // tributary_operator_events_pending (Events are written async)
  double lagPasses = 0;                      // tributary_operator_lag_pass_duration_seconds: count
  double lagPassSeconds = 0;                 //   and sum

  double api() const {
    double s = 0;
    for (const auto& [v, n] : apiByVerb) s += n;
    return s;
  }
  // Everything that changes state on the server: all verbs but get, list and watch.
  double writes() const {
    double s = 0;
    for (const auto& [v, n] : apiByVerb)
      if (v != "get" && v != "list" && v != "watch") s += n;
    return s;
  }
  double admin() const {
    double s = 0;
    for (const auto& [v, n] : adminByOp) s += n;
    return s;
  }
};

std::string labelOf(const prometheus::ClientMetric& m, const std::string& name) {
  for (const auto& l : m.label)
    if (l.name == name) return l.value;
  return "";
}

Counters readCounters(prometheus::Registry& registry) {
  Counters c;
  for (const auto& family : registry.Collect()) {
    for (const auto& m : family.metric) {
      if (family.name == "tributary_operator_api_requests_total") c.apiByVerb[labelOf(m, "verb")] += m.counter.value;
      else if (family.name == "tributary_operator_kafka_admin_calls_total")
        c.adminByOp[labelOf(m, "operation")] += m.counter.value;
      else if (family.name == "tributary_operator_reconcile_total") {
        c.reconciles += m.counter.value;
        if (labelOf(m, "result") == "error") c.reconcileErrors += m.counter.value;
      } else if (family.name == "tributary_operator_workqueue_adds_total") c.queueAdds += m.counter.value;
      else if (family.name == "tributary_operator_workqueue_depth") c.queueDepth += m.gauge.value;
      else if (family.name == "tributary_operator_events_pending") c.eventsPending += m.gauge.value;
      else if (family.name == "tributary_operator_lag_pass_duration_seconds") {
        c.lagPasses += static_cast<double>(m.histogram.sample_count);
        c.lagPassSeconds += m.histogram.sample_sum;
      }
    }
  }
  return c;
}

Counters minus(const Counters& a, const Counters& b) {
  Counters d = a;
  for (const auto& [k, v] : b.apiByVerb) d.apiByVerb[k] -= v;
  for (const auto& [k, v] : b.adminByOp) d.adminByOp[k] -= v;
  d.reconciles -= b.reconciles;
  d.reconcileErrors -= b.reconcileErrors;
  d.queueAdds -= b.queueAdds;
  d.lagPasses -= b.lagPasses;
  d.lagPassSeconds -= b.lagPassSeconds;
  return d;
}

// Idle: every key ever queued has been reconciled and nothing waits. Reconciles
// are counted after the reconcile returned (its status write included, its Events
// queued); Events are written by the recorder's thread, so idle also waits for them.
bool idle(const Counters& c) {
  return c.queueDepth == 0 && c.reconciles >= c.queueAdds && c.queueAdds > 0 && c.eventsPending == 0;
}

Json toJson(const std::map<std::string, double>& m) {
  Json j = Json::object();
  for (const auto& [k, v] : m)
    if (v != 0) j[k] = v;
  return j;
}

// ---- one size ------------------------------------------------------------------------------------------------------

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Everything one size measured, also the RESULT line a child process hands its parent.
Json runOneSize(const Options& options, size_t n) {
  Json r{{"topics", n}};
  std::fprintf(stderr, "operator-bench: %zu topics: starting the test API server\n", n);
  ApiServerProcess apiserver(options.apiserver);
  r["apiserver"] = apiserver.url();

  // Creation in a forked child: this process has no threads yet, so fork() is safe.
  const auto createStart = Clock::now();
  std::fflush(nullptr);
  const pid_t creator = fork();
  if (creator < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (creator == 0) _exit(registerAndCreate(apiserver.url(), options, n));
  int wstatus = 0;
  waitpid(creator, &wstatus, 0);
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)
    throw std::runtime_error("creating the KafkaTopics failed (see above)");
  r["createSeconds"] = seconds(Clock::now() - createStart);
  std::fprintf(stderr, "operator-bench: %zu topics created in %.1f s\n", n, r["createSeconds"].get<double>());

  // The bench's own client (own registry): the Ready watch only.
  prometheus::Registry benchRegistry;
  op::kube::ClusterConnection connection;
  connection.server = apiserver.url();
  op::kube::CurlKubeClient benchClient(connection, benchRegistry);
  op::kube::ListOptions one;
  one.limit = 1;
  const std::string createdAt = benchClient.list(op::controllers::kKafkaTopics, "", one).resourceVersion;
  ReadyTracker tracker(benchClient, n, createdAt);
  tracker.start();

  // The operator: the ClusterAdmin double behind the latency decorator.
  op::test::FakeClusterAdmin fakeAdmin(3);
  if (options.groups > 0) seedGroups(fakeAdmin, options);
  auto registry = std::make_shared<prometheus::Registry>();
  auto operatorClient = std::make_shared<op::kube::CurlKubeClient>(connection, *registry);
  op::controllers::ManagerOptions mo;
  mo.clusters["default"] = op::kafka::ClusterConnection{"bench-fake:9092", {}, std::chrono::milliseconds(30'000)};
  mo.resyncPeriod = std::chrono::seconds(options.resyncSeconds);
  mo.leaderElection = false;
  mo.lease.identity = "operator-bench";
  mo.metrics = tributary::ListenAddress{"127.0.0.1", 0};
  mo.probes = tributary::ListenAddress{"127.0.0.1", 0};
  mo.workers = options.workers;
  mo.maxBatch = options.maxBatch;
  mo.consumerGroups = options.groups > 0;
  mo.lagInterval = std::chrono::seconds(options.lagSeconds);
  mo.stripManagedFields = !options.keepManagedFields;
  r["groups"] = options.groups;
  r["groupPartitions"] = options.groupPartitions;
  r["lagSeconds"] = options.lagSeconds;
  r["managedFieldsStripped"] = !options.keepManagedFields;
  const auto latency = std::chrono::milliseconds(options.latencyMs);
  op::controllers::AdminFactory factory = [&fakeAdmin, latency](const std::string&, const op::kafka::ClusterConnection&,
                                                                std::string&) -> std::unique_ptr<op::kafka::ClusterAdmin> {
    return std::make_unique<LatencyClusterAdmin>(fakeAdmin, latency);
  };

  malloc_trim(0);
  r["peakResetOk"] = resetPeakRss();
  r["baselineRssMiB"] = statusMiB("self", "VmRSS");
  r["baselineHeapMiB"] = heapInUseMiB();

  const auto deadline = [&] { return Clock::now() + std::chrono::seconds(options.timeoutSeconds); };
  auto manager = std::make_unique<op::controllers::OperatorManager>(mo, operatorClient, registry, factory);
  std::fprintf(stderr, "operator-bench: %zu topics: starting the operator\n", n);
  const auto operatorStart = Clock::now();
  std::string error;
  if (!manager->start(error)) throw std::runtime_error("the operator did not start: " + error);

  const bool allReady = tracker.awaitAllReady(deadline());
  r["allReady"] = allReady;
  r["readyAtEnd"] = tracker.readyCount();
  if (!allReady) {
    manager->stop();
    throw std::runtime_error(std::to_string(tracker.readyCount()) + " of " + std::to_string(n) +
                             " KafkaTopics Ready after " + std::to_string(options.timeoutSeconds) + " s");
  }
  const auto readyAt = *tracker.allReadyAt();
  r["readySeconds"] = seconds(readyAt - operatorStart);
  r["firstReadySeconds"] = seconds(*tracker.firstReadyAt() - operatorStart);
  std::fprintf(stderr, "operator-bench: %zu topics Ready %.1f s after the operator started\n", n,
               r["readySeconds"].get<double>());

  // Convergence ends when the operator is idle (its last Events written), not at the
  // last Ready: what it costs to converge includes those.
  Counters converged;
  for (const auto until = deadline();;) {
    converged = readCounters(*registry);
    if (idle(converged)) break;
    if (Clock::now() >= until) throw std::runtime_error("the operator did not become idle after convergence");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling its metrics, as a scraper would
  }
  const auto idleAt = Clock::now();
  r["settleSeconds"] = seconds(idleAt - readyAt);
  r["convergeApiByVerb"] = toJson(converged.apiByVerb);
  r["convergeAdminByOp"] = toJson(converged.adminByOp);
  r["convergeFakeRoundTrips"] = fakeAdmin.totalCalls();
  r["convergeReconciles"] = converged.reconciles;
  r["convergeReconcileErrors"] = converged.reconcileErrors;
  r["convergedRssMiB"] = statusMiB("self", "VmRSS");
  r["convergedPeakRssMiB"] = statusMiB("self", "VmHWM");
  r["convergedHeapMiB"] = heapInUseMiB();
  r["kafkaTopics"] = fakeAdmin.topicNames().size() - options.groups;  // the groups' topics were seeded

  if (options.groups > 0) {
    // Every KafkaConsumerGroup settled (Ready, lagSeconds known), then idle.
    // Read in pages of 50 so that the bench's own reading barely touches this heap.
    std::fprintf(stderr, "operator-bench: %zu topics: waiting for %zu KafkaConsumerGroups\n", n, options.groups);
    auto readyGroups = [&] {
      size_t ready = 0;
      op::kube::ListOptions page;
      page.limit = 50;
      for (;;) {
        op::kube::ListResult l = benchClient.list(op::controllers::kKafkaConsumerGroups, kNamespace, page);
        // Settled: Ready, and lagSeconds known (the lag history needs a second pass to tell it;
        // that second status write is convergence, not steady state).
        for (const auto& g : l.items) {
          const Json status = g.value("status", Json::object());
          if (!status.contains("lagSeconds")) continue;
          for (const auto& c : status.value("conditions", Json::array()))
            if (c.value("type", "") == "Ready" && c.value("status", "") == "True") ++ready;
        }
        if (l.continueToken.empty()) break;
        page.continueToken = l.continueToken;
      }
      return ready;
    };
    Counters groupsReady;
    for (const auto until = deadline();;) {
      groupsReady = readCounters(*registry);
      if (idle(groupsReady) && readyGroups() == options.groups) break;
      if (Clock::now() >= until)
        throw std::runtime_error(std::to_string(readyGroups()) + " of " + std::to_string(options.groups) +
                                 " KafkaConsumerGroups Ready after " + std::to_string(options.timeoutSeconds) + " s");
      std::this_thread::sleep_for(std::chrono::seconds(1));  // polling, as a dashboard would
    }
    r["groupsReadySeconds"] = seconds(Clock::now() - operatorStart);
    const Counters g = minus(groupsReady, converged);
    r["groupsConvergeApiByVerb"] = toJson(g.apiByVerb);
    r["groupsConvergeAdminByOp"] = toJson(g.adminByOp);
    converged = groupsReady;  // the steady window starts here
  }

  // Steady state: nothing changes, the informer resyncs every resyncSeconds.
  const uint64_t changesBefore = tracker.changesSeen();
  std::fprintf(stderr, "operator-bench: %zu topics: %d s of steady state\n", n, options.steadySeconds);
  std::this_thread::sleep_for(std::chrono::seconds(options.steadySeconds));  // the window being measured
  const Counters after = readCounters(*registry);
  const Counters steady = minus(after, converged);
  r["steadySeconds"] = options.steadySeconds;
  r["steadyApiByVerb"] = toJson(steady.apiByVerb);
  r["steadyWrites"] = steady.writes();
  r["steadyAdminByOp"] = toJson(steady.adminByOp);
  r["steadyReconciles"] = steady.reconciles;
  r["steadyLagPasses"] = steady.lagPasses;
  r["steadyLagPassSeconds"] = steady.lagPassSeconds;
  r["steadyObjectChanges"] = tracker.changesSeen() - changesBefore;
  r["readyAfterSteady"] = tracker.readyCount();
  r["endRssMiB"] = statusMiB("self", "VmRSS");
  r["endHeapMiB"] = heapInUseMiB();
  r["peakRssMiB"] = statusMiB("self", "VmHWM");
  r["apiserverRssMiB"] = statusMiB(std::to_string(apiserver.pid()), "VmRSS");

  manager->stop();
  manager.reset();
  tracker.stop();
  // What is left of the heap now is the bench's (the double's 10k topics among it).
  r["heapAfterOperatorMiB"] = heapInUseMiB();

  // What one stored KafkaTopic costs, for reading the memory figures: a page of the
  // converged objects as compact JSON text and as the nlohmann DOM an informer keeps.
  // Measured after the peak was read, so it does not count in it.
  {
    op::kube::ListOptions page;
    page.limit = 500;
    const double before = heapInUseMiB();
    op::kube::ListResult sample = benchClient.list(op::controllers::kKafkaTopics, "", page);
    const double domMiB = heapInUseMiB() - before;
    size_t textBytes = 0, storedBytes = 0;
    for (const auto& item : sample.items) {
      textBytes += item.dump().size();
      Json stored = item;
      op::kube::stripManagedFieldsAndLastApplied(stored);
      storedBytes += stored.dump().size();
    }
    if (!sample.items.empty()) {
      r["objectJsonBytes"] = static_cast<double>(textBytes) / static_cast<double>(sample.items.size());
      r["objectStoredBytes"] = static_cast<double>(storedBytes) / static_cast<double>(sample.items.size());
      r["objectDomBytes"] = domMiB * 1024 * 1024 / static_cast<double>(sample.items.size());
    }
  }
  return r;
}

// ---- several sizes: one child process each ---------------------------------------------------------------------

// Runs this binary for one size with --result-line and returns its RESULT, so that
// each size's peak RSS is measured in a process that saw only that size.
std::optional<Json> runSizeInChild(int argc, char** argv, size_t n) {
  std::vector<std::string> args{"/proc/self/exe"};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--topics") {
      ++i;
      continue;
    }
    args.push_back(a);
  }
  args.insert(args.end(), {"--topics", std::to_string(n), "--result-line"});
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return std::nullopt;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    return std::nullopt;
  }
  std::string text;
  char buf[4096];
  for (ssize_t got; (got = read(out[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(got));
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  std::optional<Json> result;
  std::stringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("RESULT ", 0) == 0) result = Json::parse(line.substr(7), nullptr, false);
    else std::cout << line << "\n";
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !result || result->is_discarded()) return std::nullopt;
  return result;
}

// ---- report --------------------------------------------------------------------------------------------------------

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string verbs(const Json& byVerb, double perTopics) {
  std::string out;
  for (const auto& [k, v] : byVerb.items()) {
    const double n = v.get<double>();
    out += (out.empty() ? "" : ", ") + k + " " + fmt("%.0f", n);
    if (perTopics > 0) out += " (" + fmt("%.2f", n / perTopics) + "/topic)";
  }
  return out.empty() ? "none" : out;
}

void printHeader(const Options& o) {
  utsname u{};
  uname(&u);
  const std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  std::cout << "tributary-operator-bench: the operator at scale, KafkaTopics in the test API server\n"
            << "date:       " << date << "\n"
            << "machine:    " << std::thread::hardware_concurrency() << " CPUs online, "
            << firstLineOf("/proc/cpuinfo", "model name") << ", " << firstLineOf("/proc/meminfo", "MemTotal")
            << " RAM\n"
            << "kernel:     " << u.sysname << " " << u.release << " " << u.machine << "\n"
            << "load:       " << firstLineOf("/proc/loadavg", "") << " at the start\n"
            << "method:     test API server as a child process; operator in this process (OperatorManager, no leader\n"
            << "            election, workers " << o.workers << ", maxBatch " << o.maxBatch << ", resyncPeriod "
            << o.resyncSeconds << " s); ClusterAdmin double charging " << o.latencyMs
            << " ms per round trip;\n"
            << "            KafkaTopics created before the operator starts (" << o.creators
            << " client threads); steady state " << o.steadySeconds << " s\n"
            << "            objects created as kubectl apply sends them (last-applied annotation); the test API\n"
            << "            server writes managedFields as a real one; the operator's informers "
            << (o.keepManagedFields ? "KEEP them" : "strip both") << "\n";
  if (o.groups > 0)
    std::cout << "groups:     " << o.groups << " KafkaConsumerGroups next to the topics, each on its own topic of "
              << o.groupPartitions << " partitions (steady lag), lagInterval " << o.lagSeconds << " s; lag passes\n"
              << "            on the ClusterAdmin double too (the embedded mock cluster has no DescribeGroups and\n"
              << "            answers an all-partitions OffsetFetch with nothing)\n";
  std::cout.flush();
}

void printTable(const Options& o, const std::vector<Json>& results) {
  std::printf("\n%8s %9s %9s %9s %10s %10s %9s %9s %10s %9s %9s\n", "topics", "create s", "ready s", "topics/s",
              "admin RT", "API req", "steady", "steady", "steady", "peak RSS", "base RSS");
  std::printf("%8s %9s %9s %9s %10s %10s %9s %9s %10s %9s %9s\n", "", "(bench)", "(all)", "", "per topic",
              "per topic", "writes", "reads", "admin RT", "MiB", "MiB");
  for (const auto& r : results) {
    const double n = r["topics"].get<double>();
    double api = 0;
    for (const auto& [k, v] : r["convergeApiByVerb"].items()) api += v.get<double>();
    double admin = 0;
    for (const auto& [k, v] : r["convergeAdminByOp"].items()) admin += v.get<double>();
    double steadyReads = 0, steadyAdmin = 0;
    for (const auto& [k, v] : r["steadyApiByVerb"].items())
      if (k == "get" || k == "list" || k == "watch") steadyReads += v.get<double>();
    for (const auto& [k, v] : r["steadyAdminByOp"].items()) steadyAdmin += v.get<double>();
    std::printf("%8.0f %9.1f %9.1f %9.0f %10.3f %10.2f %9.0f %9.0f %10.0f %9.1f %9.1f\n", n,
                r["createSeconds"].get<double>(), r["readySeconds"].get<double>(), n / r["readySeconds"].get<double>(),
                admin / n, api / n, r["steadyWrites"].get<double>(), steadyReads, steadyAdmin,
                r["peakRssMiB"].get<double>(), r["baselineRssMiB"].get<double>());
  }
  for (const auto& r : results) {
    const double n = r["topics"].get<double>();
    std::printf("\n%.0f topics:\n", n);
    std::printf("  Ready: first %.2f s, all %.2f s after the operator started; idle %.2f s after that\n",
                r["firstReadySeconds"].get<double>(), r["readySeconds"].get<double>(),
                r["settleSeconds"].get<double>());
    std::printf("  to converge:  API %s\n", verbs(r["convergeApiByVerb"], n).c_str());
    std::printf("                admin %s; reconciles %.0f (errors %.0f); topics in Kafka %.0f\n",
                verbs(r["convergeAdminByOp"], n).c_str(), r["convergeReconciles"].get<double>(),
                r["convergeReconcileErrors"].get<double>(), r["kafkaTopics"].get<double>());
    std::printf("  steady %ds:   API %s; admin %s\n", r["steadySeconds"].get<int>(),
                verbs(r["steadyApiByVerb"], 0).c_str(), verbs(r["steadyAdminByOp"], 0).c_str());
    std::printf("                reconciles %.0f (%.1f resyncs of every topic); object changes seen by a watch %.0f;"
                " Ready %.0f/%.0f\n",
                r["steadyReconciles"].get<double>(), r["steadyReconciles"].get<double>() / n,
                r["steadyObjectChanges"].get<double>(), r["readyAfterSteady"].get<double>(), n);
    std::printf("  memory:       RSS before the operator %.1f MiB, converged %.1f (peak so far %.1f), end %.1f,"
                " peak (VmHWM) %.1f MiB%s\n",
                r["baselineRssMiB"].get<double>(), r["convergedRssMiB"].get<double>(),
                r["convergedPeakRssMiB"].get<double>(), r["endRssMiB"].get<double>(), r["peakRssMiB"].get<double>(), r["peakResetOk"].get<bool>() ? "" : " (peak NOT reset: includes set-up)");
    std::printf("                live heap before %.1f MiB, converged %.1f, end %.1f, after the operator stopped %.1f"
                "; test API server RSS %.1f MiB\n",
                r["baselineHeapMiB"].get<double>(), r["convergedHeapMiB"].get<double>(),
                r["endHeapMiB"].get<double>(), r["heapAfterOperatorMiB"].get<double>(),
                r["apiserverRssMiB"].get<double>());
    if (r.contains("objectJsonBytes"))
      std::printf("                one converged KafkaTopic: %.0f B as compact JSON as served (%.0f B without"
                  " managedFields and the last-applied annotation, as the informer stores it), %.0f B as an"
                  " nlohmann DOM (x %.0f = %.1f MiB)\n",
                  r["objectJsonBytes"].get<double>(), r.value("objectStoredBytes", 0.0),
                  r["objectDomBytes"].get<double>(), n, r["objectDomBytes"].get<double>() * n / (1024 * 1024));
    if (r.value("groups", 0) > 0) {
      const double passes = r["steadyLagPasses"].get<double>();
      double groupRt = 0;
      for (const auto& [k, v] : r["steadyAdminByOp"].items())
        if (k == "describeGroups" || k == "listGroupOffsets" || k == "listOffsets" || k == "alterGroupOffsets" ||
            k == "deleteGroups" || k == "recordTimestamps")
          groupRt += v.get<double>();
      std::printf("  groups:       %.0f KafkaConsumerGroups x %d partitions, lagInterval %d s; all Ready %.1f s after"
                  " the operator started\n",
                  r["groups"].get<double>(), r["groupPartitions"].get<int>(), r["lagSeconds"].get<int>(),
                  r["groupsReadySeconds"].get<double>());
      std::printf("                to converge (after the topics): API %s; admin %s\n",
                  verbs(r["groupsConvergeApiByVerb"], 0).c_str(), verbs(r["groupsConvergeAdminByOp"], 0).c_str());
      if (passes > 0)
        std::printf("                steady: %.0f lag passes, %.3f s per pass, %.1f admin round trips per pass"
                    " (group operations), %.2f API writes per pass\n",
                    passes, r["steadyLagPassSeconds"].get<double>() / passes, groupRt / passes,
                    r["steadyWrites"].get<double>() / passes);
    }
  }
  std::printf("\ntargets:\n");
  for (const auto& r : results) {
    const double n = r["topics"].get<double>();
    const double writes = r["steadyWrites"].get<double>();
    std::printf("  %6.0f topics: writes in %d s of steady state = 0: %s (%.0f)\n", n, r["steadySeconds"].get<int>(),
                writes == 0 ? "PASS" : "MISS", writes);
    const double peak = r["peakRssMiB"].get<double>();
    const size_t groups = r.value("groups", size_t{0});
    if (groups == 0) {
      const bool judged = static_cast<size_t>(n) >= kRssTargetTopics;
      std::printf("  %6.0f topics: peak RSS <= %.0f MiB%s: %s (%.1f MiB, %+.1f MiB)\n", n, kRssTargetMiB,
                  judged ? "" : " (the target is set at 10 000; shown for scale)",
                  peak <= kRssTargetMiB ? "PASS" : "MISS", peak, kRssTargetMiB - peak);
    } else {
      const double passes = r["steadyLagPasses"].get<double>();
      std::printf("  %6.0f topics + %zu groups: API writes per lag pass when lag is steady = 0: %s (%.0f writes in"
                  " %.0f passes)\n",
                  n, groups, passes > 0 && writes == 0 ? "PASS" : "MISS", writes, passes);
      const bool judged = static_cast<size_t>(n) >= kRssTargetTopics && groups >= kRssTargetGroups;
      std::printf("  %6.0f topics + %zu groups: peak RSS <= %.0f MiB%s%s: %s (%.1f MiB, %+.1f MiB)\n", n, groups,
                  kRssTargetGroupsMiB, r.value("managedFieldsStripped", true) ? "" : " (managedFields KEPT)",
                  judged ? "" : " (the target is set at 10 000 + 1000; shown for scale)",
                  peak <= kRssTargetGroupsMiB ? "PASS" : "MISS", peak, kRssTargetGroupsMiB - peak);
    }
  }
  (void)o;
}

tributary::log::Level levelOf(const std::string& s) {
  if (s == "debug") return tributary::log::Level::Debug;
  if (s == "info") return tributary::log::Level::Info;
  if (s == "error") return tributary::log::Level::Error;
  return tributary::log::Level::Warn;
}

}  // namespace

int main(int argc, char** argv) {
  // As tributary-operator's main() does, so that the operator in this process
  // allocates as it does in its own binary.
  op::app::limitMallocArenas();
  const Options options = parseArgs(argc, argv);
  tributary::log::setLevel(levelOf(options.logLevel));
  signal(SIGPIPE, SIG_IGN);

  if (options.resultLine) {  // one size, for a parent bench process
    try {
      Json r = runOneSize(options, options.sizes.front());
      std::cout << "RESULT " << r.dump() << std::endl;
      return 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "operator-bench: %s\n", e.what());
      return 1;
    }
  }

  printHeader(options);
  std::vector<Json> results;
  bool failed = false;
  for (size_t n : options.sizes) {
    if (options.sizes.size() == 1) {
      try {
        results.push_back(runOneSize(options, n));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "operator-bench: %zu topics: %s\n", n, e.what());
        failed = true;
      }
    } else if (auto r = runSizeInChild(argc, argv, n)) {
      results.push_back(std::move(*r));
    } else {
      std::fprintf(stderr, "operator-bench: %zu topics: the measurement did not complete\n", n);
      failed = true;
    }
  }
  if (!results.empty()) printTable(options, results);
  return failed ? 1 : 0;
}
