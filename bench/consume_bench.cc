// tributary-consume-bench: the sidecar's push and pull delivery next to the physical limit,
// measured in one run against one embedded Kafka cluster. See bench/README.md.
//
//   1. raw librdkafka: a consumer in this process reading the whole topic (the limit)
//   2. the real tributary-sidecar binary, as a child process, pushing every record of
//      the same topic to a minimal HTTP app in this process, ordering `none`
//      (maxInFlight 64) and `partition`
//   3. the sidecar leasing the same topic to two pollers in this process (pull,
//      batches of 100, each acknowledged with one request)
//   4. added latency, push and pull: records produced one every 5 ms, each carrying
//      the time produce() was called; p50/p99 of (the app has it − that time)
//
// Every scenario reads the same pre-produced topic from the beginning with a consumer
// group of its own. A missed target is reported, never an exit status: the exit status
// is nonzero only when a measurement could not be run.
#include <fcntl.h>
#include <httplib.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/cluster_process.h"

extern char** environ;

// ---- socket settings of this process ------------------------------------------------------------------------------
//
// As in produce_bench.cc: librdkafka 2.0.2's mock brokers accept connections without
// TCP_NODELAY (real brokers set it), so every socket this process accepts gets it.
// And cpp-httplib 0.11 listens with a backlog of 5, so the sidecar's 16 simultaneous
// connections to the app would partly wait for a SYN retransmission (1 s); real
// servers listen with a large backlog, and so does the app here.
extern "C" int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  const int s = static_cast<int>(syscall(SYS_accept4, fd, addr, len, flags));
  if (s >= 0) {
    int on = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);  // harmless failure on a non-TCP socket
  }
  return s;
}
extern "C" int accept(int fd, sockaddr* addr, socklen_t* len) { return accept4(fd, addr, len, 0); }
extern "C" int listen(int fd, int backlog) {
  return static_cast<int>(syscall(SYS_listen, fd, backlog < 128 ? 128 : backlog));
}

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

struct Options {
  double seconds = 30;  // the most a scenario may take once its first record arrived
  // Enough that connecting and the first fetches (tens of ms) do not count.
  int records = 400'000;
  size_t payload = 100;
  std::string sidecarPath;  // empty: tributary-sidecar next to this binary
  std::vector<std::pair<std::string, std::string>> kafkaProperties;  // the sidecar's kafka.properties (an experiment)
  std::set<std::string> only;  // scenarios to run besides raw (empty: all); for profiling one of them
  bool runs(const std::string& scenario) const { return only.empty() || only.count(scenario) > 0; }
};

double secondsOf(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// This process's CPU so far (user + system), seconds. The cluster runs in a
// process of its own, so during the raw scenario this is the raw consumer's.
double selfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::string topicName() { return "consume-bench"; }

// librdkafka 2.0.2's mock keeps at most 5 MiB (or 100 000 records) per partition
// and drops the oldest beyond that, so the topic has enough partitions to hold
// every record: 400 000 records of 100 B are ~3.5 MiB per partition over 12.
constexpr int kPartitions = 12;
// The raw consumer reads the topic this many times (a fresh consumer each): the
// whole topic takes it a fraction of a second, so one pass is noisy.
constexpr int kRawPasses = 5;

std::string tracedTopicName() { return "consume-bench-traced"; }
// Its records carry a 55-byte traceparent header as well: twice the partitions
// keep them under the mock's 5 MiB per partition.
constexpr int kTracedPartitions = 2 * kPartitions;

// Writes the topic once: `records` values of `payload` bytes, keys k0..k999; with
// `traceparent`, every record has that header (as records produced through a
// sidecar by a traced app do).
void produceTopic(const std::string& bootstrap, const Options& o, const std::string& topic = topicName(),
                  const std::string& traceparent = "") {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
  // Large batches: librdkafka's mock answers a Fetch with one record batch per
  // partition, where a real broker fills the response up to fetch.max.bytes, so
  // small batches would make the mock, not the consumers, the limit.
  rd_kafka_conf_set(conf, "linger.ms", "200", err, sizeof err);
  rd_kafka_conf_set(conf, "batch.num.messages", "100000", err, sizeof err);
  rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) throw std::runtime_error(std::string("producer: ") + err);
  std::string value(o.payload, 'x');
  for (int i = 0; i < o.records;) {
    std::string key = "k" + std::to_string(i % 1000);
    rd_kafka_headers_t* headers = nullptr;
    if (!traceparent.empty()) {
      headers = rd_kafka_headers_new(1);
      rd_kafka_header_add(headers, "traceparent", -1, traceparent.data(), static_cast<ssize_t>(traceparent.size()));
    }
    const auto e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
                                     RD_KAFKA_V_VALUE(value.data(), value.size()),
                                     RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
                                     RD_KAFKA_V_END);
    if (e && headers) rd_kafka_headers_destroy(headers);  // still ours when producev failed
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk, 50);
      continue;
    }
    if (e) throw std::runtime_error(std::string("produce: ") + rd_kafka_err2str(e));
    rd_kafka_poll(rk, 0);
    ++i;
  }
  if (rd_kafka_flush(rk, 120'000) != RD_KAFKA_RESP_ERR_NO_ERROR) throw std::runtime_error("producer flush timed out");
  rd_kafka_destroy(rk);
}

struct Result {
  std::string scenario;
  long records = 0;    // delivered in the window
  double seconds = 0;  // first record → last record
  double cpuSeconds = 0;  // the consumer's CPU in that window: raw, this process; sidecar, its process
  std::string note;
  double cpuMicrosPerRecord() const { return records > 0 ? 1e6 * cpuSeconds / static_cast<double>(records) : 0; }
  double rate() const { return seconds > 0 ? static_cast<double>(records) / seconds : 0; }
};

// 1. The limit: a librdkafka consumer with librdkafka's defaults, assigned every
// partition from the beginning (no group: joining one is not throughput), timed
// from its first record to its last, like the sidecar scenarios, so that
// connecting and the first fetch do not count.
Result runRaw(const std::string& bootstrap, const Options& o) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // One departure from the defaults: librdkafka 2.0.2 stops fetching while its
  // prefetch queue holds more than queued.min.messages (100 000, counted over all
  // partitions), and its broker threads look again only about once a second: the
  // whole topic arrives faster than that from an in-memory broker, so each pass
  // stalled ~0.9 s once (seen with debug=fetch: "121241/100000 msgs queued ... is
  // not fetchable"). A million keeps the fetcher going for the whole topic.
  for (auto [k, v] : {std::pair{"bootstrap.servers", bootstrap.c_str()}, {"group.id", "bench-raw"},
                      {"enable.auto.commit", "false"}, {"queued.min.messages", "1000000"}})
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) throw std::runtime_error(err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) throw std::runtime_error(std::string("consumer: ") + err);
  rd_kafka_poll_set_consumer(rk);
  auto* parts = rd_kafka_topic_partition_list_new(kPartitions);
  for (int p = 0; p < kPartitions; ++p)
    rd_kafka_topic_partition_list_add(parts, topicName().c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;

  Result r{"raw librdkafka consumer"};
  const auto start = Clock::now();
  rd_kafka_assign(rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  Clock::time_point first{}, last = start;
  double cpuAtFirst = 0;
  std::vector<long> perPartition(kPartitions, 0);
  while (r.records < o.records && secondsOf(Clock::now() - start) <= o.seconds) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (!m) continue;
    if (!m->err) {
      last = Clock::now();
      if (r.records == 0) {
        first = last;
        cpuAtFirst = selfCpuSeconds();
      }
      ++r.records;
      if (m->partition >= 0 && m->partition < kPartitions) ++perPartition[m->partition];
    }
    rd_kafka_message_destroy(m);
  }
  r.seconds = r.records > 0 ? secondsOf(last - first) : 0;
  r.cpuSeconds = selfCpuSeconds() - cpuAtFirst;
  if (r.records < o.records) {
    r.note = "stopped after " + std::to_string(r.records) + " of " + std::to_string(o.records) + "; per partition";
    for (int p = 0; p < kPartitions; ++p) {
      int64_t low = -1, high = -1;
      rd_kafka_query_watermark_offsets(rk, topicName().c_str(), p, &low, &high, 5000);
      r.note += " " + std::to_string(p) + ": " + std::to_string(perPartition[p]) + "/" + std::to_string(high);
    }
  }
  rd_kafka_assign(rk, nullptr);
  rd_kafka_destroy(rk);
  return r;
}

// The app: answers 200 at once and counts what it got.
class MinimalApp {
 public:
  MinimalApp() {
    server_.new_task_queue = [] { return new httplib::ThreadPool(64); };
    server_.set_tcp_nodelay(true);
    server_.set_keep_alive_max_count(100'000'000);
    server_.Post("/events", [this](const httplib::Request& req, httplib::Response& res) {
      const auto now = Clock::now();
      // A batch counts its records: the app parses it, as a real one would.
      long records = 1;
      if (req.get_header_value("Content-Type") == "application/cloudevents-batch+json") {
        auto batch = nlohmann::json::parse(req.body, nullptr, false);
        records = batch.is_array() ? static_cast<long>(batch.size()) : 0;
      }
      {
        std::lock_guard lock(mutex_);
        if (count_ == 0) first_ = now;
        last_ = now;
        count_ += records;
        ++requests_;
      }
      res.status = 200;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("the app cannot listen");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~MinimalApp() {
    server_.stop();
    thread_.join();
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_) + "/events"; }
  long requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  void snapshot(long& count, Clock::time_point& first, Clock::time_point& last) {
    std::lock_guard lock(mutex_);
    count = count_;
    first = first_;
    last = last_;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  long count_ = 0;     // records, guarded by mutex_
  long requests_ = 0;  // guarded by mutex_
  Clock::time_point first_, last_;
};

std::string sidecarBinary(const Options& o) {
  if (!o.sidecarPath.empty()) return o.sidecarPath;
  return (fs::read_symlink("/proc/self/exe").parent_path() / "tributary-sidecar").string();
}

// Starts the sidecar binary with `config`, its output to `log`.
pid_t spawnSidecar(const Options& o, const fs::path& config, const fs::path& log) {
  const std::string binary = sidecarBinary(o), flag = "--config", path = config.string();
  std::string argv0 = binary, a1 = flag, a2 = path;
  char* argv[] = {argv0.data(), a1.data(), a2.data(), nullptr};
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&files, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&files, 1, 2);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, binary.c_str(), &files, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&files);
  if (rc != 0) throw std::runtime_error("cannot start " + binary + ": " + strerror(rc));
  return pid;
}

// SIGTERM, and a note in `r` when the exit is late or not clean.
void stopSidecar(pid_t pid, Result& r) {
  int status = 0;
  kill(pid, SIGTERM);
  const auto until = Clock::now() + std::chrono::seconds(40);
  while (waitpid(pid, &status, WNOHANG) != pid) {
    if (Clock::now() > until) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      r.note += (r.note.empty() ? "" : "; ") + std::string("no exit within 40 s of SIGTERM");
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
    r.note += (r.note.empty() ? "" : "; ") + std::string("exit code ") + std::to_string(WEXITSTATUS(status));
}

// A loopback port nobody listens on right now (the sidecar's API port for pull).
int freePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    throw std::runtime_error("no free port");
  }
  const int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

std::string sidecarConfig(const std::string& bootstrap, const Options& o, int apiPort, int adminPort,
                          const std::string& subscription) {
  std::string props;
  for (const auto& [k, v] : o.kafkaProperties) props += "    \"" + k + "\": \"" + v + "\"\n";
  return "# written by tributary-consume-bench\nkafka:\n  bootstrapServers: \"" + bootstrap + "\"\n" +
         (props.empty() ? "" : "  properties:\n" + props) + "api:\n  listen: \"127.0.0.1:" +
         std::to_string(apiPort) + "\"\nadmin:\n  listen: \"127.0.0.1:" + std::to_string(adminPort) +
         "\"\nlog:\n  level: warn\nsubscriptions:\n" + subscription;
}

// 3. The sidecar binary leasing the topic to pollers in this process: batches of
// up to 100 (poll?max=100), each batch acknowledged with one ack request; two
// pollers, each with a keep-alive connection (TCP_NODELAY). Ordering `none` on
// the 4-partition topic; `partition` (leases runs of consecutive records of a
// partition) on a 1- and a 12-partition topic of the same records.
Result runPull(const std::string& bootstrap, const Options& o, const fs::path& dir,
               const std::string& topic = topicName(), const std::string& ordering = "none",
               const std::string& label = "sidecar pull, batches of 100 (2 pollers)") {
  const int port = freePort();
  const std::string name = "bench-pull-" + ordering + "-" + topic;
  const fs::path config = dir / (name + ".yaml"), log = dir / (name + ".log");
  std::ofstream(config) << sidecarConfig(bootstrap, o, port, 0,
                                         "  - name: bench-pull\n    mode: pull\n    topics: [" + topic +
                                             "]\n    group: " + name + "\n    ordering: " + ordering +
                                             "\n    maxInFlight: 256\n"
                                             "    ackTimeout: 60s\n    startFrom: earliest\n");
  const pid_t pid = spawnSidecar(o, config, log);
  Result r{label};
  std::mutex mutex;
  long count = 0, batches = 0;  // records polled, non-empty polls
  Clock::time_point first, last;
  Clock::duration longestGap{};  // between two non-empty polls
  std::atomic<bool> done{false};
  const auto startBound = Clock::now() + std::chrono::seconds(60);
  auto poller = [&] {
    httplib::Client c("127.0.0.1", port);
    c.set_tcp_nodelay(true);
    c.set_keep_alive(true);
    c.set_read_timeout(std::chrono::seconds(10));
    while (!done) {
      auto res = c.Post("/v1/subscriptions/bench-pull/poll?max=100&waitMs=500", "", "application/json");
      if (!res || res->status != 200) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // not up yet: the bench's retry interval
        continue;
      }
      const auto now = Clock::now();
      auto body = nlohmann::json::parse(res->body, nullptr, false);
      if (!body.is_object() || body["records"].empty()) continue;
      nlohmann::json ids = nlohmann::json::array();
      for (const auto& rec : body["records"]) ids.push_back(rec["id"]);
      {
        std::lock_guard lock(mutex);
        if (count == 0) first = now;
        if (count > 0) longestGap = std::max(longestGap, now - last);
        last = now;
        count += static_cast<long>(ids.size());
        ++batches;
      }
      c.Post("/v1/subscriptions/bench-pull/ack", nlohmann::json{{"ids", ids}}.dump(), "application/json");
    }
  };
  std::thread p1(poller), p2(poller);
  int status = 0;
  double cpuAtFirst = -1;
  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the bench's polling interval
    long n;
    Clock::time_point f;
    {
      std::lock_guard lock(mutex);
      n = count;
      f = first;
    }
    if (n > 0 && cpuAtFirst < 0) cpuAtFirst = tributary::bench::processCpuSeconds(pid);
    if (n >= o.records) break;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      r.note = "the sidecar exited early; see " + log.string();
      break;
    }
    if (n == 0 && Clock::now() > startBound) {
      r.note = "no record was polled within 60 s; see " + log.string();
      break;
    }
    if (n > 0 && secondsOf(Clock::now() - f) > o.seconds) {
      r.note = "stopped after " + std::to_string(n) + " of " + std::to_string(o.records) + " (--seconds)";
      break;
    }
  }
  if (cpuAtFirst >= 0) r.cpuSeconds = tributary::bench::processCpuSeconds(pid) - cpuAtFirst;
  done = true;
  p1.join();
  p2.join();
  {
    std::lock_guard lock(mutex);
    r.records = count;
    r.seconds = count > 0 ? secondsOf(last - first) : 0;
    if (batches > 0)
      r.note += (r.note.empty() ? "" : "; ") + std::string("mean batch ") +
                std::to_string(count / batches) + " records (" + std::to_string(batches) + " polls), longest gap " +
                std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(longestGap).count()) + " ms";
  }
  if (r.note.find("exited early") == std::string::npos) stopSidecar(pid, r);
  return r;
}

// ---- added latency: record available → app receives it ---------------------------------------------------------------

int64_t nowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Latency {
  std::string scenario;
  std::vector<double> ms;  // one per record
  std::string note;
  double percentile(double p) const {
    if (ms.empty()) return 0;
    std::vector<double> v = ms;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
  }
};

// Produces `n` records at `perSecond`, each value {"sentUs": <when produce() was
// called>}, acked one at a time by the broker before the next goes (linger 0), so
// the latency measured is the sidecar's, not a producer batch's.
void producePaced(const std::string& bootstrap, const std::string& topic, int n, int perSecond) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "linger.ms", "0", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) throw std::runtime_error(std::string("producer: ") + err);
  const auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    std::this_thread::sleep_until(start + std::chrono::microseconds(1'000'000LL * i / perSecond));  // the pace
    const std::string value = "{\"sentUs\":" + std::to_string(nowMicros()) + "}";
    const std::string key = "k" + std::to_string(i % 64);
    rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
                      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    rd_kafka_poll(rk, 0);
  }
  rd_kafka_flush(rk, 30'000);
  rd_kafka_destroy(rk);
}

// A topic of its own per latency scenario, read from the beginning, so that no
// record produced while the group settles is skipped.
std::string latencyTopic(bool pull) { return pull ? "consume-bench-latency-pull" : "consume-bench-latency-push"; }

// Waits until the sidecar's /readyz says its subscription joined (bounded).
bool awaitReady(int adminPort) {
  httplib::Client c("127.0.0.1", adminPort);
  for (auto until = Clock::now() + std::chrono::seconds(60); Clock::now() < until;) {
    auto res = c.Get("/readyz");
    if (res && res->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the bench's polling interval
  }
  return false;
}

// Push (ordering none) or pull (one poller, max=100, waitMs=1000): `n` paced records.
Latency runLatency(const std::string& bootstrap, const Options& o, const fs::path& dir, bool pull, int n,
                   int perSecond) {
  Latency out{pull ? "pull (long poll, waitMs 1000)" : "push, ordering none"};
  std::mutex mutex;
  httplib::Server app;
  // A thread per sidecar connection (up to 16), as in MinimalApp: httplib's
  // default pool has 8, and a keep-alive connection holds its thread.
  app.new_task_queue = [] { return new httplib::ThreadPool(64); };
  app.set_tcp_nodelay(true);
  app.Post("/events", [&](const httplib::Request& req, httplib::Response& res) {
    const int64_t now = nowMicros();
    auto v = nlohmann::json::parse(req.body, nullptr, false);
    if (v.is_object() && v.contains("sentUs")) {
      std::lock_guard lock(mutex);
      out.ms.push_back(static_cast<double>(now - v["sentUs"].get<int64_t>()) / 1000.0);
    }
    res.status = 200;
  });
  const int appPort = app.bind_to_any_port("127.0.0.1");
  std::thread appThread([&] { app.listen_after_bind(); });
  const int apiPort = freePort(), adminPort = freePort();
  const std::string name = pull ? "latency-pull" : "latency-push";
  const fs::path config = dir / (name + ".yaml"), log = dir / (name + ".log");
  std::ofstream(config) << sidecarConfig(
      bootstrap, o, apiPort, adminPort,
      "  - name: " + name + "\n    topics: [" + latencyTopic(pull) + "]\n    group: " + name +
          "\n    ordering: none\n    maxInFlight: 64\n    startFrom: earliest\n" +
          (pull ? "    mode: pull\n" : "    mode: push\n    endpoint: http://127.0.0.1:" + std::to_string(appPort) +
                                           "/events\n"));
  const pid_t pid = spawnSidecar(o, config, log);
  std::atomic<bool> done{false};
  std::thread poller;
  if (!awaitReady(adminPort)) {
    out.note = "the sidecar was not ready within 60 s; see " + log.string();
  } else {
    if (pull) {
      poller = std::thread([&] {
        httplib::Client c("127.0.0.1", apiPort);
        c.set_tcp_nodelay(true);
        c.set_read_timeout(std::chrono::seconds(10));
        while (!done) {
          auto res = c.Post("/v1/subscriptions/" + name + "/poll?max=100&waitMs=1000", "", "application/json");
          const int64_t now = nowMicros();
          if (!res || res->status != 200) continue;
          auto body = nlohmann::json::parse(res->body, nullptr, false);
          nlohmann::json ids = nlohmann::json::array();
          for (const auto& rec : body.value("records", nlohmann::json::array())) {
            ids.push_back(rec["id"]);
            if (rec.contains("value") && rec["value"].is_object()) {
              std::lock_guard lock(mutex);
              out.ms.push_back(static_cast<double>(now - rec["value"]["sentUs"].get<int64_t>()) / 1000.0);
            }
          }
          if (!ids.empty())
            c.Post("/v1/subscriptions/" + name + "/ack", nlohmann::json{{"ids", ids}}.dump(), "application/json");
        }
      });
    }
    producePaced(bootstrap, latencyTopic(pull), n, perSecond);
    for (auto until = Clock::now() + std::chrono::seconds(30); Clock::now() < until;) {
      {
        std::lock_guard lock(mutex);
        if (static_cast<int>(out.ms.size()) >= n) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the bench's polling interval
    }
  }
  done = true;
  if (poller.joinable()) poller.join();
  Result stop{name};
  stopSidecar(pid, stop);
  app.stop();
  appThread.join();
  std::lock_guard lock(mutex);
  if (static_cast<int>(out.ms.size()) < n)
    out.note += (out.note.empty() ? "" : "; ") + std::to_string(out.ms.size()) + " of " + std::to_string(n) + " arrived";
  return out;
}

// 2. The sidecar binary pushing the topic to the app.
// `topic`, `extraYaml` (more top-level config) and `tag` (part of the group and
// file names) are for the tracing scenario.
Result runPush(const std::string& bootstrap, const Options& o, const std::string& ordering, int maxInFlight,
               const fs::path& dir, int batchSize = 1, const std::string& topic = topicName(),
               const std::string& extraYaml = "", const std::string& tag = "") {
  MinimalApp app;
  const std::string name = "bench-" + ordering + (batchSize > 1 ? "-batch" : "") + tag;
  const fs::path config = dir / (name + ".yaml"), log = dir / (name + ".log");
  std::ofstream(config) << "# written by tributary-consume-bench\n"
                        << "kafka:\n  bootstrapServers: \"" << bootstrap << "\"\n"
                        << (o.kafkaProperties.empty() ? "" : "  properties:\n") << [&] {
                             std::string props;
                             for (const auto& [k, v] : o.kafkaProperties) props += "    \"" + k + "\": \"" + v + "\"\n";
                             return props;
                           }()
                        << "api:\n  listen: \"127.0.0.1:0\"\nadmin:\n  listen: \"127.0.0.1:0\"\n"
                        << "log:\n  level: warn\n" << extraYaml
                        << "subscriptions:\n  - name: " << name << "\n    topics: [" << topic << "]\n"
                        << "    group: " << name << "\n    endpoint: " << app.endpoint() << "\n"
                        << "    ordering: " << ordering << "\n    maxInFlight: " << maxInFlight << "\n"
                        << "    startFrom: earliest\n    timeout: 30s\n"
                        << (batchSize > 1 ? "    batchSize: " + std::to_string(batchSize) + "\n" : "");
  const pid_t pid = spawnSidecar(o, config, log);

  Result r{"sidecar push, ordering " + ordering +
           (ordering == "none" ? " (maxInFlight " + std::to_string(maxInFlight) + ")" : "") +
           (batchSize > 1 ? ", batchSize " + std::to_string(batchSize) : "")};
  long count = 0;
  Clock::time_point first, last;
  const auto startBound = Clock::now() + std::chrono::seconds(60);
  int status = 0;
  bool exited = false;
  double cpuAtFirst = -1;
  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the bench's polling interval
    app.snapshot(count, first, last);
    if (count > 0 && cpuAtFirst < 0) cpuAtFirst = tributary::bench::processCpuSeconds(pid);
    if (count >= o.records) break;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      r.note = "the sidecar exited early; see " + log.string();
      break;
    }
    if (count == 0 && Clock::now() > startBound) {
      r.note = "no record reached the app within 60 s; see " + log.string();
      break;
    }
    if (count > 0 && secondsOf(Clock::now() - first) > o.seconds) {
      r.note = "stopped after " + std::to_string(count) + " of " + std::to_string(o.records) + " (--seconds)";
      break;
    }
  }
  r.records = count;
  r.seconds = count > 0 ? secondsOf(last - first) : 0;
  if (cpuAtFirst >= 0 && !exited) r.cpuSeconds = tributary::bench::processCpuSeconds(pid) - cpuAtFirst;
  if (batchSize > 1 && app.requests() > 0)
    r.note += (r.note.empty() ? "" : "; ") + std::string("mean batch ") + std::to_string(count / app.requests()) +
              " records (" + std::to_string(app.requests()) + " requests)";
  if (!exited) stopSidecar(pid, r);
  return r;
}

// The physical limit of per-record push on this machine: 16 keep-alive httplib
// clients (the sidecar's connections for maxInFlight >= 16) POSTing a binary-mode
// CloudEvent of the same size to the same app, no Kafka at all.
Result runHttpCeiling(const Options& o) {
  MinimalApp app;
  const std::string url = app.endpoint();
  const auto hostEnd = url.find('/', 7);
  std::atomic<long> sent{0};
  const std::string body(o.payload, 'x');
  auto client = [&] {
    httplib::Client c(url.substr(0, hostEnd));
    c.set_tcp_nodelay(true);
    c.set_keep_alive(true);
    const httplib::Headers h = {{"ce-specversion", "1.0"}, {"ce-id", "consume-bench-1-12345"},
                                {"ce-source", "kafka://127.0.0.1:40000/consume-bench"},
                                {"ce-type", "dev.tributary.kafka.record"}, {"ce-partition", "1"},
                                {"ce-offset", "12345"}, {"Tributary-Attempt", "1"},
                                {"ce-time", "2026-11-30T12:00:00.000Z"}, {"ce-key", "k123"}};
    while (sent.fetch_add(1) < o.records) c.Post(url.substr(hostEnd).c_str(), h, body, "application/octet-stream");
  };
  std::vector<std::thread> clients;
  for (int i = 0; i < 16; ++i) clients.emplace_back(client);
  for (auto& t : clients) t.join();
  Result r{"HTTP ceiling: 16 clients -> the same app"};
  Clock::time_point first, last;
  app.snapshot(r.records, first, last);
  r.seconds = secondsOf(last - first);
  r.note = "no Kafka: the most requests/s this app takes here; per-record push cannot exceed it";
  return r;
}

// A local OTLP/HTTP collector for the tracing scenario: answers 200 at once and counts
// spans by their "spanId" members (no JSON parse: the bench shares the machine).
class CountingCollector {
 public:
  CountingCollector() {
    server_.new_task_queue = [] { return new httplib::ThreadPool(4); };
    server_.set_tcp_nodelay(true);
    server_.Post("/v1/traces", [this](const httplib::Request& req, httplib::Response& res) {
      long n = 0;
      for (size_t at = 0; (at = req.body.find("\"spanId\"", at)) != std::string::npos; at += 8) ++n;
      spans_ += n;
      res.set_content("{}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("the collector cannot listen");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~CountingCollector() {
    server_.stop();
    thread_.join();
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  long spans() const { return spans_.load(); }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<long> spans_{0};
};

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

bool parseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--seconds") o.seconds = std::stod(next());
    else if (a == "--records") o.records = std::stoi(next());
    else if (a == "--payload") o.payload = static_cast<size_t>(std::stoul(next()));
    else if (a == "--sidecar") o.sidecarPath = next();
    else if (a == "--only") {
      std::string list = next() + ",";
      for (size_t at = 0, comma; (comma = list.find(',', at)) != std::string::npos; at = comma + 1)
        if (comma > at) o.only.insert(list.substr(at, comma - at));
    }
    else if (a == "--kafka-property") {
      const std::string kv = next();
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) throw std::runtime_error("--kafka-property needs NAME=VALUE, got " + kv);
      o.kafkaProperties.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
    else if (a == "--help" || a == "-h") {
      std::cout << "usage: tributary-consume-bench [--records N (100000)] [--payload BYTES (100)]\n"
                   "                              [--seconds S (30): the most one scenario may take]\n"
                   "                              [--sidecar PATH (tributary-sidecar next to this binary)]\n"
                   "                              [--only LIST: some of push-none,push-partition,pull,push-batch,\n"
                   "                               push-tracing, pull-partition (1- and 12-partition topics),\n"
                   "                               latency; raw always runs, targets of skipped scenarios read MISS)]\n"
                   "                              [--kafka-property NAME=VALUE ...: the sidecar's kafka.properties,\n"
                   "                               which its consumers get too; for experiments]\n";
      return false;
    } else {
      throw std::runtime_error("unknown argument " + a + " (see --help)");
    }
  }
  if (o.records < 1 || o.payload < 1 || o.seconds <= 0) throw std::runtime_error("--records, --payload and --seconds must be positive");
  return true;
}

int run(const Options& o) {
  utsname u{};
  uname(&u);
  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  std::cout << "tributary-consume-bench: push delivery next to a raw consumer, one embedded cluster\n"
            << "date:       " << date << "\n"
            << "machine:    " << std::thread::hardware_concurrency() << " CPUs online, " << cpuModel() << ", "
            << u.sysname << " " << u.release << "\n"
            << "libraries:  librdkafka " << rd_kafka_version_str() << ", cpp-httplib " << CPPHTTPLIB_VERSION << "\n"
            << "topic:      " << topicName() << ", " << kPartitions << " partitions, replication factor 3, " << o.records
            << " records of " << o.payload << " B, produced before the scenarios\n"
            << (o.kafkaProperties.empty() ? "" : "sidecar:    kafka.properties " + [&] {
                 std::string t;
                 for (const auto& [k, v] : o.kafkaProperties) t += k + "=" + v + " ";
                 return t;
               }() + "\n")
            << "method:     each scenario reads the whole topic from the beginning: records ÷ (first record → last),\n"
            << "            at most " << o.seconds << " s; raw: librdkafka's defaults, no group; push/pull: a group of its own\n"
            << "cluster:    librdkafka's mock cluster, 3 brokers, in a process of its own (as a real broker would be)\n"
            << "CPU:        per record in the same window: raw, the bench process (only the consumer runs);\n"
            << "            sidecar, its own process\n\n"
            << std::flush;

  tributary::bench::ClusterProcess kafka(3);
  kafka.createTopic(topicName(), kPartitions, 3);
  produceTopic(kafka.bootstrapServers(), o);
  char tmpl[] = "/tmp/tributary-consume-bench-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  const fs::path dir = tmpl;

  std::vector<Result> results;
  {
    // The median pass of the raw consumer.
    std::vector<Result> passes;
    const double clusterBefore = kafka.cpuSeconds();
    const auto wallBefore = Clock::now();
    for (int i = 0; i < kRawPasses; ++i) passes.push_back(runRaw(kafka.bootstrapServers(), o));
    const double clusterPct = 100 * (kafka.cpuSeconds() - clusterBefore) / secondsOf(Clock::now() - wallBefore);
    std::sort(passes.begin(), passes.end(), [](const Result& a, const Result& b) { return a.rate() < b.rate(); });
    Result median = passes[kRawPasses / 2];
    median.note += (median.note.empty() ? "" : "; ") + std::string("median of ") + std::to_string(kRawPasses) +
                   " passes, records/s from " + std::to_string(static_cast<long>(passes.front().rate())) + " to " +
                   std::to_string(static_cast<long>(passes.back().rate())) + "; the cluster process used " +
                   std::to_string(static_cast<int>(clusterPct)) + "% of a CPU meanwhile";
    results.push_back(median);
  }
  auto skipped = [](const char* name) {
    Result r{name};
    r.note = "skipped (--only)";
    return r;
  };
  results.push_back(o.runs("push-none") ? runPush(kafka.bootstrapServers(), o, "none", 64, dir)
                                        : skipped("sidecar push, ordering none"));
  results.push_back(o.runs("push-partition") ? runPush(kafka.bootstrapServers(), o, "partition", 64, dir)
                                             : skipped("sidecar push, ordering partition"));
  results.push_back(o.runs("pull") ? runPull(kafka.bootstrapServers(), o, dir) : skipped("sidecar pull"));
  results.push_back(o.runs("push-batch") ? runPush(kafka.bootstrapServers(), o, "none", 1000, dir, 100)
                                         : skipped("sidecar push, batchSize 100"));
  results.push_back(o.runs("push-none") ? runHttpCeiling(o) : skipped("HTTP ceiling"));
  // Pull with ordering partition (batches of consecutive records of a partition).
  if (o.runs("pull-partition")) {
    for (int partitions : {1, 12}) {
      const std::string topic = topicName() + "-p" + std::to_string(partitions);
      // The mock keeps ~40 000 records of 100 B per partition (see kPartitions):
      // the 1-partition topic holds fewer records than the others.
      Options sized = o;
      if (partitions == 1) sized.records = std::min(o.records, 30'000);
      kafka.createTopic(topic, partitions, 3);
      produceTopic(kafka.bootstrapServers(), sized, topic);
      results.push_back(runPull(kafka.bootstrapServers(), sized, dir, topic, "partition",
                                "sidecar pull, ordering partition, " + std::to_string(partitions) +
                                    (partitions == 1 ? " partition" : " partitions")));
    }
  } else {
    results.push_back(skipped("sidecar pull, ordering partition, 1 partition"));
    results.push_back(skipped("sidecar pull, ordering partition, 12 partitions"));
  }

  const double raw = results[0].rate();
  std::printf("%-56s %9s %9s %11s %9s %12s\n", "scenario", "records", "seconds", "records/s", "% of raw",
              "CPU us/rec");
  for (const auto& r : results) {
    std::printf("%-56s %9ld %9.2f %11.0f %8.1f%% %12.2f\n", r.scenario.c_str(), r.records, r.seconds, r.rate(),
                raw > 0 ? 100 * r.rate() / raw : 0, r.cpuMicrosPerRecord());
    if (!r.note.empty()) std::printf("    ^ %s\n", r.note.c_str());
  }
  const double nonePct = raw > 0 ? 100 * results[1].rate() / raw : 0;
  const double pullPct = raw > 0 ? 100 * results[3].rate() / raw : 0;

  // Tracing (issue 13), push with ordering none: records without trace context (off),
  // every record with a traceparent header (propagation only: traceparent and
  // ce-traceparent on each push), the same with spans at sampling 1.0 to a local collector.
  if (o.runs("push-tracing")) {
    const std::string traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    kafka.createTopic(tracedTopicName(), kTracedPartitions, 3);
    produceTopic(kafka.bootstrapServers(), o, tracedTopicName(), traceparent);
    CountingCollector collector;
    const std::string spansYaml = "tracing:\n  otlpEndpoint: \"" + collector.endpoint() + "\"\n  samplingRatio: 1\n";
    std::vector<Result> tracing;
    tracing.push_back(runPush(kafka.bootstrapServers(), o, "none", 64, dir, 1, topicName(), "", "-trace-off"));
    tracing.push_back(runPush(kafka.bootstrapServers(), o, "none", 64, dir, 1, tracedTopicName(), "", "-trace-prop"));
    const long spansBefore = collector.spans();
    tracing.push_back(
        runPush(kafka.bootstrapServers(), o, "none", 64, dir, 1, tracedTopicName(), spansYaml, "-trace-spans"));
    tracing[0].scenario = "push none, tracing off (no trace context)";
    tracing[1].scenario = "push none, propagation only (traceparent on every record)";
    tracing[2].scenario = "push none, spans at sampling 1.0 (2 spans per record)";
    tracing[2].note += (tracing[2].note.empty() ? "" : "; ") + std::string("the collector got ") +
                       std::to_string(collector.spans() - spansBefore) + " spans (the sidecar flushes at SIGTERM)";
    const double off = tracing[0].rate();
    std::printf("\ntracing, push (ordering none, maxInFlight 64):\n%-56s %9s %9s %11s %9s %9s\n", "scenario", "records",
                "seconds", "records/s", "% of raw", "% of off");
    for (const auto& r : tracing) {
      std::printf("%-56s %9ld %9.2f %11.0f %8.1f%% %8.1f%%\n", r.scenario.c_str(), r.records, r.seconds, r.rate(),
                  raw > 0 ? 100 * r.rate() / raw : 0, off > 0 ? 100 * r.rate() / off : 0);
      if (!r.note.empty()) std::printf("    ^ %s\n", r.note.c_str());
    }
    for (const auto& r : tracing)
      if (r.records == 0) return 1;
  }

  // Added latency at a light, steady load: a record produced every 5 ms.
  kafka.createTopic(latencyTopic(false), 4, 3);
  kafka.createTopic(latencyTopic(true), 4, 3);
  std::vector<Latency> latencies;
  if (o.runs("latency")) {
    latencies.push_back(runLatency(kafka.bootstrapServers(), o, dir, false, 1000, 200));
    latencies.push_back(runLatency(kafka.bootstrapServers(), o, dir, true, 1000, 200));
  }
  std::printf("\nadded latency (produce() called -> the app has the record), 1000 records at 200/s:\n");
  std::printf("%-56s %9s %9s %9s\n", "scenario", "p50 ms", "p99 ms", "records");
  for (const auto& l : latencies) {
    std::printf("%-56s %9.1f %9.1f %9zu\n", l.scenario.c_str(), l.percentile(0.50), l.percentile(0.99), l.ms.size());
    if (!l.note.empty()) std::printf("    ^ %s\n", l.note.c_str());
  }

  const double batchPct = raw > 0 ? 100 * results[4].rate() / raw : 0;
  const double ceiling = results[5].rate();
  std::printf("\ntarget: push with ordering none >= 30%% of raw consume records/s: one record per request %s "
              "(%.1f%%; %.0f%% of the HTTP ceiling), batchSize 100 %s (%.1f%%)\n",
              nonePct >= 30 ? "PASS" : "MISS", nonePct, ceiling > 0 ? 100 * results[1].rate() / ceiling : 0,
              batchPct >= 30 ? "PASS" : "MISS", batchPct);
  std::printf("target: pull with batches of 100 >= 50%% of raw consume records/s: %s (%.1f%%)\n",
              pullPct >= 50 ? "PASS" : "MISS", pullPct);
  std::printf("sidecar logs: %s\n", dir.c_str());
  for (const auto& r : results)
    if (r.records == 0 && r.note != "skipped (--only)") return 1;  // a measurement could not run
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  // The Kafka cluster's own process (bench/cluster_process.h).
  if (argc >= 3 && std::string(argv[1]) == "--cluster-process")
    return tributary::bench::serveClusterProcess(std::stoi(argv[2]));
  try {
    Options o;
    if (!parseArgs(argc, argv, o)) return 0;
    return run(o);
  } catch (const std::exception& e) {
    std::cerr << "tributary-consume-bench: " << e.what() << "\n";
    return 1;
  }
}
