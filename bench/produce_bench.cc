// tributary-bench: the sidecar's produce path next to the physical limits, measured in
// one run against one embedded Kafka cluster. See bench/README.md.
//
//   1. raw librdkafka: a producer with the sidecar's settings, as fast as it goes
//   2. HTTP ceiling: a trivial handler on the sidecar's HttpServer class, same client
//   3. the real tributary-sidecar binary, as a child process: batch, sync, async
//
// A missed target is reported, never an exit status: the exit status is nonzero only
// when a measurement could not be run.
#include <fcntl.h>
#include <httplib.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/http/http_server.h"
#include "bench/cluster_process.h"
#include "bench/paced_latency.h"

extern char** environ;

// ---- TCP_NODELAY on the embedded brokers' connections -------------------------------------------------------------
//
// librdkafka 2.0.2's mock brokers accept connections without TCP_NODELAY; real Kafka
// brokers set it. With Nagle on the broker side and delayed ACKs on the client side, a
// response that follows another on the same connection waits for the client's delayed
// ACK: ~40 ms stalls whenever a producer has two requests in flight to one broker (a
// 100 x 1 KiB batch over 4 partitions on 3 brokers does). That is the mock's artifact,
// not Kafka's or the sidecar's, so this process, which hosts the embedded cluster,
// interposes accept()/accept4() and sets TCP_NODELAY on every socket it accepts: the
// mock brokers' and the HTTP ceiling server's (which sets it anyway). --mock-nagle
// measures the unmodified mock.
namespace {
std::atomic<bool> gAcceptNoDelay{true};

int withNoDelay(int fd) {
  if (fd >= 0 && gAcceptNoDelay.load(std::memory_order_relaxed)) {
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);  // harmless failure on a non-TCP socket
  }
  return fd;
}
}  // namespace

extern "C" int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  return withNoDelay(static_cast<int>(syscall(SYS_accept4, fd, addr, len, flags)));
}
extern "C" int accept(int fd, sockaddr* addr, socklen_t* len) { return accept4(fd, addr, len, 0); }

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr int kSyncClients[] = {1, 16, 64};
constexpr int kAsyncClients = 16;
constexpr int kBatchRecords = 100;
constexpr int kTracingClients = 16;   // the tracing scenario's clients, for sync and batch alike
constexpr double kBatchTarget = 0.5;  // sidecar batch records/s ÷ raw librdkafka records/s
constexpr double kSyncTarget = 0.5;   // sidecar sync@64 requests/s ÷ HTTP ceiling@64 requests/s
constexpr double kIdleRssTargetMiB = 20;
constexpr double kDisturbedCpu = 10;  // "other CPU %" above this: something else ran; measure again

struct Options {
  double seconds = 3;
  double warmup = 0.5;
  std::vector<int> batchClients = {4, 16};
  std::vector<size_t> payloads = {100, 1024};
  std::vector<std::string> scenarios = {"raw", "ceiling", "batch", "sync", "async", "tracing", "paced"};
  std::map<std::string, std::string> kafkaProperties;  // for the raw producer and the sidecar alike
  std::string sidecarPath;                             // empty: tributary-sidecar next to this binary
  bool keepTemp = false;
  bool mockNagle = false;  // leave the mock brokers' sockets as librdkafka makes them
  int retries = 2;         // more attempts at a scenario disturbed by other processes

  bool wants(const std::string& scenario) const {
    return std::find(scenarios.begin(), scenarios.end(), scenario) != scenarios.end();
  }
};

constexpr const char* kUsage =
    "usage: tributary-bench [--seconds S] [--warmup S] [--batch-clients N,...] [--payloads BYTES,...]\n"
    "                       [--scenarios NAME,...] [--kafka-property NAME=VALUE]... [--mock-nagle]\n"
    "                       [--retries N] [--sidecar PATH] [--keep-temp]\n"
    "  --seconds S          measured duration of each scenario (default 3)\n"
    "  --warmup S           unmeasured load before each scenario (default 0.5)\n"
    "  --batch-clients LIST concurrent clients of the 100-record batch scenario (default 4,16)\n"
    "  --payloads LIST      record value sizes in bytes, 2 to 10000 (default 100,1024)\n"
    "  --scenarios LIST     any of raw,ceiling,batch,sync,async,tracing,paced (default: all)\n"
    "  --kafka-property N=V a librdkafka property for the raw producer and the sidecar alike, for\n"
    "                       experiments such as linger.ms=1; repeatable\n"
    "  --mock-nagle         leave Nagle on in the embedded brokers' sockets, as librdkafka's mock\n"
    "                       does (real brokers don't): shows the ~40 ms delayed-ACK stalls\n"
    "  --retries N          measure a scenario again, up to N times, while other processes took more than\n"
    "                       10% of a CPU during its window; the least disturbed attempt is kept (default 2)\n"
    "  --sidecar PATH       the sidecar binary (default: tributary-sidecar next to this binary)\n"
    "  --keep-temp          keep the sidecar's config and log directory\n"
    "It measures: a missed target is reported, not an error. Exit status 1: a measurement could not run.\n";

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double mib(long bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

std::string fmt(const char* f, double v) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string payloadName(size_t bytes) {
  return bytes % 1024 == 0 ? std::to_string(bytes / 1024) + " KiB" : std::to_string(bytes) + " B";
}

// ---- the machine ---------------------------------------------------------------------------------------------------

std::string fileField(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string v = line.substr(colon + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    return v;
  }
  return "?";
}

std::string loadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string machineDescription() {
  utsname u{};
  uname(&u);
  std::ostringstream s;
  s << "machine:    " << sysconf(_SC_NPROCESSORS_ONLN) << " CPUs online, " << fileField("/proc/cpuinfo", "model name")
    << ", " << fileField("/proc/meminfo", "MemTotal") << " RAM\n"
    << "kernel:     " << u.sysname << " " << u.release << " " << u.machine << "\n"
    << "libraries:  librdkafka " << rd_kafka_version_str() << ", cpp-httplib " << CPPHTTPLIB_VERSION << "\n"
    << "load:       " << loadAverage() << " (1, 5, 15 min load average before the run)\n";
  return s.str();
}

// ---- CPU and memory accounting -------------------------------------------------------------------------------------

// utime + stime of a process ("self" or a pid), in seconds.
double processCpuSeconds(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');  // the command name, in parentheses, may contain spaces
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; rest >> field; ++i) {  // field 3 is the state; 14 is utime, 15 stime
    if (i == 14 || i == 15) ticks += std::stod(field);
    if (i == 15) break;
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Busy time of the whole machine (all CPUs), in seconds, from /proc/stat.
double machineBusySeconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;  // "cpu": the sum over all CPUs
  double total = 0, idle = 0, v = 0;
  for (int i = 0; i < 8 && in >> v; ++i) {  // user nice system idle iowait irq softirq steal
    total += v;
    if (i == 3 || i == 4) idle += v;
  }
  return (total - idle) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double threadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// VmRSS, VmHWM, ... of a process in bytes (0 if unreadable).
long statusBytes(const std::string& pid, const std::string& key) {
  std::string v = fileField("/proc/" + pid + "/status", key + ":");
  if (v == "?") return 0;
  return std::stol(v) * 1024;
}

struct CpuSnapshot {
  Clock::time_point at;
  double bench = 0;    // this process and the cluster's: clients, cluster, raw producer or ceiling server
  double sidecar = 0;  // the sidecar child
  double machine = 0;  // every process
};

// The cluster's own process (bench/cluster_process.h): its CPU counts as the bench's.
pid_t gClusterPid = 0;

CpuSnapshot cpuSnapshot(pid_t sidecar) {
  const double cluster = gClusterPid > 0 ? processCpuSeconds(std::to_string(gClusterPid)) : 0;
  return {Clock::now(), processCpuSeconds("self") + cluster,
          sidecar > 0 ? processCpuSeconds(std::to_string(sidecar)) : 0, machineBusySeconds()};
}

// ---- payloads ------------------------------------------------------------------------------------------------------

// The record value is a JSON string of `bytes` bytes, quotes included: the sidecar sends
// a JSON value as its compact JSON text, so "value":"<text>" in a request is exactly
// these bytes in Kafka, and the raw producer sends the same bytes.
std::string valueText(size_t bytes) {
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string t;
  for (size_t i = 0; i + 2 < bytes; ++i) t += kChars[i % (sizeof kChars - 1)];
  return t;
}

std::string recordValue(size_t bytes) { return "\"" + valueText(bytes) + "\""; }

std::string key(int client, uint64_t n) { return "k" + std::to_string(client) + "-" + std::to_string(n); }

// {"records":[{"key":"k<client>-<n>","value":"<text>"}, ...]}
std::string requestBody(const std::string& text, int client, uint64_t& n, int records) {
  std::string b;
  b.reserve(static_cast<size_t>(records) * (text.size() + 40) + 16);
  b += R"({"records":[)";
  for (int i = 0; i < records; ++i) {
    if (i) b += ',';
    b += R"({"key":")";
    b += key(client, n++);
    b += R"(","value":")";
    b += text;
    b += R"("})";
  }
  b += "]}";
  return b;
}

// ---- results -------------------------------------------------------------------------------------------------------

struct Row {
  std::string scenario;
  size_t payload = 0;
  int clients = 0;  // 0: not an HTTP scenario
  double recordsPerSec = -1;
  double requestsPerSec = -1;
  double p50Ms = -1;
  double p99Ms = -1;
  uint64_t errors = 0;  // failed requests (or records, for raw) in the measured window
  std::string firstError;
  // CPU over the measured window, % of one CPU.
  double sidecarCpu = -1;
  double clientCpu = -1;    // the HTTP client threads
  double inprocCpu = -1;    // the rest of this process: embedded cluster (+ raw producer or ceiling server)
  double otherCpu = -1;     // the rest of the machine: other processes, interrupts
  double serverCpuUs = -1;  // server-side CPU µs per request (per record for raw): see printSummary
  double rssMiB = -1;       // the sidecar's VmRSS after the scenario
  std::string note;
  bool ran = false;
};

double percentile(std::vector<float>& v, double p) {
  if (v.empty()) return -1;
  size_t k = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  k = std::min(std::max<size_t>(k, 1), v.size()) - 1;
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

void setCpu(Row& row, const CpuSnapshot& a, const CpuSnapshot& b, double clientCpuSeconds, bool sidecar) {
  const double wall = seconds(b.at - a.at);
  const double bench = 100.0 * (b.bench - a.bench) / wall;
  row.clientCpu = clientCpuSeconds < 0 ? -1 : 100.0 * clientCpuSeconds / wall;
  row.inprocCpu = std::max(0.0, bench - std::max(0.0, row.clientCpu));
  if (sidecar) row.sidecarCpu = 100.0 * (b.sidecar - a.sidecar) / wall;
  row.otherCpu = std::max(0.0, 100.0 * (b.machine - a.machine) / wall - bench - std::max(0.0, row.sidecarCpu));
}

std::string cell(double v, const char* f) { return v < 0 ? "-" : fmt(f, v); }

constexpr const char* kRowFormat = "%-20s %7s %7s %10s %10s %7s %7s %6s %7s %7s %7s %7s %7s\n";

void printHeader() {
  std::printf(kRowFormat, "scenario", "payload", "clients", "records/s", "requests/s", "p50 ms", "p99 ms", "errors",
              "sidecar", "clients", "in-proc", "other", "sidecar");
  std::printf(kRowFormat, "", "", "", "", "", "", "", "", "CPU %", "CPU %", "CPU %", "CPU %", "RSS MiB");
  std::fflush(stdout);
}

void printRow(const Row& r) {
  std::printf(kRowFormat, r.scenario.c_str(), payloadName(r.payload).c_str(),
              r.clients > 0 ? std::to_string(r.clients).c_str() : "-", cell(r.recordsPerSec, "%.0f").c_str(),
              cell(r.requestsPerSec, "%.0f").c_str(), cell(r.p50Ms, "%.2f").c_str(), cell(r.p99Ms, "%.2f").c_str(),
              std::to_string(r.errors).c_str(), cell(r.sidecarCpu, "%.0f").c_str(), cell(r.clientCpu, "%.0f").c_str(),
              cell(r.inprocCpu, "%.0f").c_str(), cell(r.otherCpu, "%.0f").c_str(), cell(r.rssMiB, "%.1f").c_str());
  if (!r.note.empty()) std::printf("%20s   ^ %s\n", "", r.note.c_str());
  if (!r.firstError.empty()) std::printf("%20s   ^ first error: %s\n", "", r.firstError.c_str());
  std::fflush(stdout);
}

// ---- 1. raw librdkafka ---------------------------------------------------------------------------------------------

struct RawState {
  uint64_t delivered = 0;  // the delivery-report callback runs on the thread calling poll/flush: this one
  uint64_t failed = 0;
  std::string firstError;
  std::vector<float> latencyUs;  // produce() → delivery report
  Clock::time_point lastAck;
  bool measure = false;
};

void rawDeliveryReport(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* s = static_cast<RawState*>(opaque);
  if (m->err) {
    if (s->failed++ == 0) s->firstError = rd_kafka_err2str(m->err);
    return;
  }
  ++s->delivered;
  const auto now = Clock::now();
  s->lastAck = now;
  if (s->measure) {
    const auto sent = Clock::time_point(Clock::duration(reinterpret_cast<intptr_t>(m->_private)));
    s->latencyUs.push_back(static_cast<float>(std::chrono::duration<double, std::micro>(now - sent).count()));
  }
}

// Produces as fast as the client takes records for o.seconds, then waits for every
// delivery report: records/s = records acknowledged ÷ (first produce → last ack).
Row runRaw(const std::string& bootstrap, const std::string& topic, size_t payload, const Options& o) {
  Row row{"raw librdkafka", payload};
  RawState state;
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The sidecar's settings (sidecar/produce/kafka_producer.cc), deliveryTimeout 30 s.
  std::map<std::string, std::string> props = {{"bootstrap.servers", bootstrap},     {"acks", "all"},
                                              {"enable.idempotence", "true"},       {"linger.ms", "1"},
                                              {"message.timeout.ms", "30000"},      {"statistics.interval.ms", "10000"},
                                              {"client.id", "tributary-bench-raw"}, {"log_level", "3"}};
  for (const auto& [k, v] : o.kafkaProperties) props[k] = v;
  for (const auto& [k, v] : props)
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error("raw producer: " + k + ": " + err);
    }
  rd_kafka_conf_set_opaque(conf, &state);
  rd_kafka_conf_set_dr_msg_cb(conf, &rawDeliveryReport);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) throw std::runtime_error(std::string("raw producer: ") + err);
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> owner(rk, &rd_kafka_destroy);

  const std::string value = recordValue(payload);
  uint64_t n = 0;
  auto produceFor = [&](double secs) {
    const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(secs));
    while (Clock::now() < end) {
      const std::string k = key(0, n);
      const auto sent = Clock::now().time_since_epoch().count();
      rd_kafka_resp_err_t e = rd_kafka_producev(
          rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(const_cast<char*>(k.data()), k.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<intptr_t>(sent))), RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {  // the local queue's limit: serve reports, retry
        rd_kafka_poll(rk, 1);
        continue;
      }
      if (e) throw std::runtime_error(std::string("raw producer: produce: ") + rd_kafka_err2str(e));
      ++n;
      rd_kafka_poll(rk, 0);
    }
  };

  // Warm-up: connections, producer id, metadata, then an empty queue.
  produceFor(o.warmup);
  if (rd_kafka_flush(rk, 30'000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw std::runtime_error("raw producer: the warm-up's records were not acknowledged within 30 s");
  state.delivered = 0;
  state.failed = 0;
  state.firstError.clear();
  state.measure = true;
  state.latencyUs.reserve(1 << 22);

  const CpuSnapshot a = cpuSnapshot(0);
  const auto start = Clock::now();
  produceFor(o.seconds);
  if (rd_kafka_flush(rk, 60'000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw std::runtime_error("raw producer: records not acknowledged within 60 s");
  const CpuSnapshot b = cpuSnapshot(0);

  row.recordsPerSec = static_cast<double>(state.delivered) / seconds(state.lastAck - start);
  row.p50Ms = percentile(state.latencyUs, 0.50) / 1000.0;
  row.p99Ms = percentile(state.latencyUs, 0.99) / 1000.0;
  row.errors = state.failed;
  row.firstError = state.firstError;
  setCpu(row, a, b, -1, false);
  row.serverCpuUs = 1e6 * (b.bench - a.bench) / static_cast<double>(std::max<uint64_t>(state.delivered, 1));
  row.note = fmt("%.0f MB/s of values; latency = produce() to delivery report, with the queue kept full",
                 row.recordsPerSec * static_cast<double>(payload) / 1e6);
  row.ran = state.delivered > 0;
  return row;
}

// ---- HTTP load -----------------------------------------------------------------------------------------------------

// `clients` threads, each with its own keep-alive connection, post back to back. Every
// client first gets one successful answer (connection set up), then all load the server
// for o.warmup, then for the measured window of o.seconds. A request counts (throughput,
// latency) when it completes inside the window.
Row runHttpLoad(const std::string& scenario, int port, const std::string& path, size_t payload, int clients,
                int recordsPerRequest, int expectStatus, pid_t sidecar, const Options& o,
                const httplib::Headers& headers = {}) {
  Row row{scenario, payload, clients};
  const std::string text = valueText(payload);
  std::atomic<int> phase{0};  // 0 set-up and warm-up, 1 measured, 2 stop
  std::atomic<int> ready{0};  // clients with one successful answer
  struct PerThread {
    uint64_t ok = 0;
    uint64_t errors = 0;       // in the measured window
    uint64_t setupErrors = 0;  // before this client's first success
    std::string firstError;
    std::vector<float> latencyUs;
    double cpuStart = 0, cpuEnd = 0;
  };
  std::vector<PerThread> per(static_cast<size_t>(clients));
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      PerThread& me = per[static_cast<size_t>(c)];
      me.latencyUs.reserve(1 << 16);
      httplib::Client cli("127.0.0.1", port);
      cli.set_tcp_nodelay(true);
      cli.set_keep_alive(true);
      cli.set_connection_timeout(5);
      cli.set_read_timeout(60);
      uint64_t n = 0;
      bool isReady = false;
      int seen = 0;
      while (true) {
        // Notice the phase changes between requests, for the thread's CPU time in the window.
        const int p = phase.load(std::memory_order_relaxed);
        if (p != seen) {
          if (seen == 0) me.cpuStart = threadCpuSeconds();
          if (p == 2) me.cpuEnd = threadCpuSeconds();
          seen = p;
        }
        if (p == 2) break;
        const std::string body = requestBody(text, c, n, recordsPerRequest);
        const auto t0 = Clock::now();
        auto res = headers.empty() ? cli.Post(path, body, "application/json")
                                   : cli.Post(path, headers, body, "application/json");
        const auto t1 = Clock::now();
        const bool ok = res && res->status == expectStatus;
        const bool measured = phase.load(std::memory_order_relaxed) == 1;
        if (!ok) {
          if (!isReady)
            ++me.setupErrors;
          else if (measured)
            ++me.errors;
          if (me.firstError.empty())
            me.firstError = res ? "HTTP " + std::to_string(res->status) + " " + res->body.substr(0, 200)
                                : "connection: " + httplib::to_string(res.error());
          if (!res) std::this_thread::sleep_for(std::chrono::milliseconds(10));
          continue;
        }
        if (!isReady) {
          isReady = true;
          ++ready;
        }
        if (!measured) continue;
        ++me.ok;
        me.latencyUs.push_back(static_cast<float>(std::chrono::duration<double, std::micro>(t1 - t0).count()));
      }
    });
  }
  const auto giveUp = Clock::now() + std::chrono::seconds(60);
  while (ready.load() < clients && Clock::now() < giveUp) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const bool allReady = ready.load() == clients;
  if (allReady) std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup));
  const CpuSnapshot a = cpuSnapshot(sidecar);
  phase = 1;
  if (allReady) std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  phase = 2;
  const CpuSnapshot b = cpuSnapshot(sidecar);
  for (auto& t : threads) t.join();

  uint64_t ok = 0, setupErrors = 0;
  double clientCpu = 0;
  std::vector<float> lat;
  for (auto& p : per) {
    ok += p.ok;
    row.errors += p.errors;
    setupErrors += p.setupErrors;
    clientCpu += p.cpuEnd - p.cpuStart;
    if (row.firstError.empty() && (p.errors > 0 || p.setupErrors > 0)) row.firstError = p.firstError;
    lat.insert(lat.end(), p.latencyUs.begin(), p.latencyUs.end());
  }
  const double window = seconds(b.at - a.at);
  row.requestsPerSec = static_cast<double>(ok) / window;
  row.recordsPerSec = row.requestsPerSec * recordsPerRequest;
  row.p50Ms = percentile(lat, 0.50) / 1000.0;
  row.p99Ms = percentile(lat, 0.99) / 1000.0;
  setCpu(row, a, b, clientCpu, sidecar > 0);
  const double serverCpuSeconds = sidecar > 0 ? b.sidecar - a.sidecar : (b.bench - a.bench) - clientCpu;
  if (ok > 0) row.serverCpuUs = 1e6 * serverCpuSeconds / static_cast<double>(ok);
  if (setupErrors > 0)
    row.note = std::to_string(setupErrors) + " request(s) failed while the " + std::to_string(clients) +
               " clients opened their connections (not counted in errors)";
  if (!allReady) row.note = "only " + std::to_string(ready.load()) + " of the clients got an answer within 60 s";
  row.ran = ok > 0 && allReady;
  return row;
}

// ---- the sidecar, a child process ----------------------------------------------------------------------------------

int freePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string(strerror(errno)));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    throw std::runtime_error("cannot find a free port: " + std::string(strerror(errno)));
  }
  close(fd);
  return ntohs(a.sin_port);
}

class SidecarProcess {
 public:
  // `extraYaml`: more top-level sections for the config (the tracing scenario's `tracing:`).
  SidecarProcess(const std::string& binary, const std::string& bootstrap,
                 const std::map<std::string, std::string>& properties, const fs::path& dir,
                 const std::string& extraYaml = "") {
    apiPort_ = freePort();
    do adminPort_ = freePort();
    while (adminPort_ == apiPort_);
    const fs::path config = dir / "sidecar.yaml";
    {
      std::ofstream out(config);
      out << "# written by tributary-bench\n"
          << "kafka:\n  bootstrapServers: \"" << bootstrap << "\"\n";
      if (!properties.empty()) out << "  properties:\n";
      for (const auto& [k, v] : properties) out << "    \"" << k << "\": \"" << v << "\"\n";
      out << "api:\n  listen: \"127.0.0.1:" << apiPort_ << "\"\n"
          << "admin:\n  listen: \"127.0.0.1:" << adminPort_ << "\"\n"
          << "log:\n  level: warn\n"
          << extraYaml;
      if (!out) throw std::runtime_error("cannot write " + config.string());
    }
    log_ = dir / "sidecar.log";

    // The child's environment without TRIBUTARY_* overrides: the config file decides.
    std::vector<std::string> envStore;
    for (char** e = environ; *e != nullptr; ++e)
      if (std::strncmp(*e, "TRIBUTARY_", 10) != 0) envStore.emplace_back(*e);
    std::vector<char*> envp;
    for (auto& s : envStore) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string argv0 = binary, flag = "--config", path = config.string();
    char* argv[] = {argv0.data(), flag.data(), path.data(), nullptr};

    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&files, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&files, 1, 2);
    // Default signal handling and an empty mask (this process ignores SIGPIPE).
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    const int rc = posix_spawn(&pid_, binary.c_str(), &files, &attr, argv, envp.data());
    posix_spawn_file_actions_destroy(&files);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) throw std::runtime_error("cannot start " + binary + ": " + strerror(rc));
  }

  ~SidecarProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  SidecarProcess(const SidecarProcess&) = delete;
  SidecarProcess& operator=(const SidecarProcess&) = delete;

  pid_t pid() const { return pid_; }
  int apiPort() const { return apiPort_; }
  int adminPort() const { return adminPort_; }
  const fs::path& logPath() const { return log_; }
  bool alive() { return !reap(false); }

  // Polls GET /readyz until 200; false if the child exits or `timeout` passes.
  bool waitReady(std::chrono::seconds timeout, std::string& why) {
    httplib::Client admin("127.0.0.1", adminPort_);
    admin.set_connection_timeout(1);
    admin.set_read_timeout(2);
    const auto end = Clock::now() + timeout;
    while (Clock::now() < end) {
      if (reap(false)) {
        why = "the sidecar exited during start-up (" + exitDescription() + ")";
        return false;
      }
      if (auto res = admin.Get("/readyz"); res && res->status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    why = "GET /readyz did not answer 200 within " + std::to_string(timeout.count()) + " s";
    return false;
  }

  // tributary_producer_queue_messages from /metrics; -1 if unreadable.
  double producerQueue() { return metric("tributary_producer_queue_messages"); }

  // A metric without labels from /metrics; -1 if unreadable or absent.
  double metric(const std::string& metricName) {
    httplib::Client admin("127.0.0.1", adminPort_);
    admin.set_read_timeout(5);
    auto res = admin.Get("/metrics");
    if (!res || res->status != 200) return -1;
    std::istringstream in(res->body);
    std::string line;
    const std::string name = metricName + " ";
    while (std::getline(in, line))
      if (line.rfind(name, 0) == 0) return std::stod(line.substr(name.size()));
    return -1;
  }

  // Waits for an empty producer queue; the seconds it took, or -1 on timeout.
  double waitDrained(std::chrono::seconds timeout) {
    const auto start = Clock::now();
    while (Clock::now() - start < timeout) {
      if (producerQueue() == 0) return seconds(Clock::now() - start);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

  // SIGTERM, then waits for the exit: the seconds it took, or -1 (then SIGKILL).
  double terminate(std::chrono::seconds timeout) {
    const auto start = Clock::now();
    kill(pid_, SIGTERM);
    while (Clock::now() - start < timeout) {
      if (reap(false)) return seconds(Clock::now() - start);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid_, SIGKILL);
    reap(true);
    return -1;
  }

  std::string exitDescription() const {
    if (!exited_) return "still running";
    if (WIFEXITED(status_)) return "exit code " + std::to_string(WEXITSTATUS(status_));
    if (WIFSIGNALED(status_)) return std::string("killed by ") + strsignal(WTERMSIG(status_));
    return "wait status " + std::to_string(status_);
  }
  bool exitedCleanly() const { return exited_ && WIFEXITED(status_) && WEXITSTATUS(status_) == 0; }

  std::string logTail(size_t lines) const {
    std::ifstream in(log_);
    std::vector<std::string> all;
    std::string line;
    while (std::getline(in, line)) all.push_back(line);
    std::string out;
    for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += "  " + all[i] + "\n";
    return out;
  }

 private:
  bool reap(bool block) {
    if (exited_) return true;
    if (waitpid(pid_, &status_, block ? 0 : WNOHANG) == pid_) exited_ = true;
    return exited_;
  }

  fs::path log_;
  pid_t pid_ = -1;
  int apiPort_ = 0;
  int adminPort_ = 0;
  int status_ = 0;
  bool exited_ = false;
};

std::string sidecarBinary(const Options& o) {
  if (!o.sidecarPath.empty()) return o.sidecarPath;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot read /proc/self/exe: " + ec.message());
  return (self.parent_path() / "tributary-sidecar").string();
}

// ---- summary -------------------------------------------------------------------------------------------------------

const Row* find(const std::vector<Row>& rows, const std::string& scenario, size_t payload, int clients = -1) {
  for (const auto& r : rows)
    if (r.ran && r.scenario == scenario && r.payload == payload && (clients < 0 || r.clients == clients)) return &r;
  return nullptr;
}

const std::string kBatchScenario = "sidecar batch x" + std::to_string(kBatchRecords);

// The batch row with the most records/s for a payload.
const Row* bestBatch(const std::vector<Row>& rows, size_t payload) {
  const Row* best = nullptr;
  for (const auto& r : rows)
    if (r.ran && r.scenario == kBatchScenario && r.payload == payload &&
        (!best || r.recordsPerSec > best->recordsPerSec))
      best = &r;
  return best;
}

double ratio(const Row* a, const Row* b, bool records) {
  if (!a || !b) return -1;
  const double x = records ? a->recordsPerSec : a->requestsPerSec;
  const double y = records ? b->recordsPerSec : b->requestsPerSec;
  return y > 0 ? x / y : -1;
}

std::string verdict(double value, double target) {
  if (value < 0) return "NOT MEASURED";
  if (value >= target)
    return "PASS " + fmt("%.0f%%", value * 100) + " (" + fmt("%.0f", (value - target) * 100) + " points above)";
  return "MISS " + fmt("%.0f%%", value * 100) + " (" + fmt("%.0f", (target - value) * 100) + " points short: needs " +
         fmt("%.2fx", target / value) + " the throughput)";
}

void printSummary(const std::vector<Row>& rows, const Options& o) {
  using Value = std::function<double(size_t)>;
  auto table = [&](const char* title, const std::vector<std::pair<std::string, Value>>& lines, const char* f) {
    std::printf("\n%-62s", title);
    for (size_t p : o.payloads) std::printf(" %9s", payloadName(p).c_str());
    std::printf("\n");
    for (const auto& [name, value] : lines) {
      std::printf("  %-60s", name.c_str());
      for (size_t p : o.payloads) std::printf(" %9s", cell(value(p), f).c_str());
      std::printf("\n");
    }
  };
  auto raw = [&](size_t p) { return find(rows, "raw librdkafka", p); };
  auto ceiling = [&](size_t p, int c) { return find(rows, "http ceiling", p, c); };
  auto sync = [&](size_t p, int c) { return find(rows, "sidecar sync", p, c); };

  std::vector<std::pair<std::string, Value>> ratios;
  ratios.push_back({"sidecar batch (best) / raw librdkafka, records/s",
                    [&](size_t p) { return ratio(bestBatch(rows, p), raw(p), true); }});
  for (int c : o.batchClients)
    ratios.push_back({"sidecar batch@" + std::to_string(c) + " / raw librdkafka, records/s",
                      [&, c](size_t p) { return ratio(find(rows, kBatchScenario, p, c), raw(p), true); }});
  for (int c : o.batchClients)
    ratios.push_back(
        {"sidecar batch@" + std::to_string(c) + " / HTTP ceiling x100@" + std::to_string(c) + ", requests/s",
         [&, c](size_t p) {
           return ratio(find(rows, kBatchScenario, p, c),
                        find(rows, "http ceiling x" + std::to_string(kBatchRecords), p, c), false);
         }});
  for (int c : kSyncClients)
    ratios.push_back({"sidecar sync@" + std::to_string(c) + " / HTTP ceiling@" + std::to_string(c) + ", requests/s",
                      [&, c](size_t p) { return ratio(sync(p, c), ceiling(p, c), false); }});
  ratios.push_back({"sidecar async@16 / HTTP ceiling@16, requests/s", [&](size_t p) {
                      return ratio(find(rows, "sidecar async", p, kAsyncClients), ceiling(p, kAsyncClients), false);
                    }});
  ratios.push_back(
      {"sidecar sync@64 / raw librdkafka, records/s", [&](size_t p) { return ratio(sync(p, 64), raw(p), true); }});
  table("ratio (1.0 = as fast as the limit)", ratios, "%.3f");

  std::vector<std::pair<std::string, Value>> cpu;
  auto us = [](const Row* r) { return r ? r->serverCpuUs : -1; };
  cpu.push_back({"raw librdkafka + embedded cluster, per record", [&](size_t p) { return us(raw(p)); }});
  cpu.push_back({"sidecar batch (best), per record", [&](size_t p) {
                   const Row* b = bestBatch(rows, p);
                   return b ? b->serverCpuUs / kBatchRecords : -1;
                 }});
  for (int c : kSyncClients) {
    cpu.push_back({"HTTP ceiling server @" + std::to_string(c) + ", per request",
                   [&, c](size_t p) { return us(ceiling(p, c)); }});
    cpu.push_back(
        {"sidecar sync @" + std::to_string(c) + ", per request", [&, c](size_t p) { return us(sync(p, c)); }});
  }
  cpu.push_back(
      {"sidecar async @16, per request", [&](size_t p) { return us(find(rows, "sidecar async", p, kAsyncClients)); }});
  table("server-side CPU, microseconds", cpu, "%.1f");

  if (o.wants("tracing")) {
    std::vector<std::pair<std::string, Value>> tracing;
    auto mode = [&](const char* m, const char* load, size_t p) {
      return find(rows, std::string("trace ") + m + " " + load, p, kTracingClients);
    };
    for (const char* load : {"batch", "sync"}) {
      for (const char* m : {"prop", "spans"}) {
        tracing.push_back({std::string(load) + "@16, " + m + " / off, requests/s",
                           [&, load, m](size_t p) { return ratio(mode(m, load, p), mode("off", load, p), false); }});
      }
      for (const char* m : {"off", "prop", "spans"})
        tracing.push_back({std::string(load) + "@16, " + m + ", sidecar CPU us per request",
                           [&, load, m](size_t p) { return us(mode(m, load, p)); }});
      for (const char* m : {"off", "prop", "spans"})
        tracing.push_back({std::string(load) + "@16, " + m + ", p50 ms", [&, load, m](size_t p) {
                             const Row* r = mode(m, load, p);
                             return r ? r->p50Ms : -1;
                           }});
    }
    table("tracing: off / propagation only / spans at sampling 1.0", tracing, "%.3f");
  }
}

// ---- main ----------------------------------------------------------------------------------------------------------

std::vector<std::string> splitList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

bool parseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--seconds")
      o.seconds = std::stod(next());
    else if (a == "--warmup")
      o.warmup = std::stod(next());
    else if (a == "--sidecar")
      o.sidecarPath = next();
    else if (a == "--keep-temp")
      o.keepTemp = true;
    else if (a == "--mock-nagle")
      o.mockNagle = true;
    else if (a == "--retries")
      o.retries = std::stoi(next());
    else if (a == "--kafka-property") {
      const std::string kv = next();
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) throw std::runtime_error("--kafka-property needs NAME=VALUE, got " + kv);
      o.kafkaProperties[kv.substr(0, eq)] = kv.substr(eq + 1);
    } else if (a == "--batch-clients") {
      o.batchClients.clear();
      for (const auto& item : splitList(next())) o.batchClients.push_back(std::stoi(item));
    } else if (a == "--payloads") {
      o.payloads.clear();
      for (const auto& item : splitList(next())) o.payloads.push_back(std::stoul(item));
    } else if (a == "--scenarios") {
      o.scenarios = splitList(next());
      for (const auto& item : o.scenarios)
        if (item != "raw" && item != "ceiling" && item != "batch" && item != "sync" && item != "async" &&
            item != "tracing" && item != "paced")
          throw std::runtime_error("--scenarios: unknown scenario " + item);
    } else if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else {
      std::cerr << "tributary-bench: unknown argument " << a << "\n" << kUsage;
      return false;
    }
  }
  const bool payloadsOk = !o.payloads.empty() && std::all_of(o.payloads.begin(), o.payloads.end(),
                                                             [](size_t p) { return p >= 2 && p <= 10'000; });
  const bool clientsOk = !o.batchClients.empty() && std::all_of(o.batchClients.begin(), o.batchClients.end(),
                                                                [](int c) { return c >= 1 && c <= 100; });
  if (o.seconds <= 0 || o.warmup < 0 || !payloadsOk || !clientsOk || o.retries < 0) {
    std::cerr << "tributary-bench: needs --seconds > 0, --warmup >= 0, --payloads of 2 to 10000 bytes, "
                 "--batch-clients of 1 to 100, --retries >= 0\n";
    return false;
  }
  return true;
}

std::string topicFor(size_t payload) { return "bench-" + std::to_string(payload) + "b"; }
std::string recordsPath(size_t payload) { return "/v1/topics/" + topicFor(payload) + "/records"; }

int run(const Options& o) {
  const auto runStart = Clock::now();
  bool failed = false;
  std::printf("tributary-bench: the sidecar's produce path next to the limits measured in the same run\n%s",
              machineDescription().c_str());
  for (const auto& [k, v] : o.kafkaProperties)
    std::printf("override:   %s=%s (raw producer and sidecar)\n", k.c_str(), v.c_str());
  std::printf("method:     %.1f s measured after %.1f s of warm-up per scenario; record values of", o.seconds,
              o.warmup);
  for (size_t p : o.payloads) std::printf(" %s", payloadName(p).c_str());
  std::printf(" (the bytes in Kafka: a JSON string value, quotes included)\n");

  gAcceptNoDelay = !o.mockNagle;
  tributary::bench::ClusterProcess kafka(3, o.mockNagle ? "nagle" : "nodelay");
  gClusterPid = kafka.pid();
  std::string topics;
  for (size_t p : o.payloads) {
    kafka.createTopic(topicFor(p), 4, 3);
    topics += (topics.empty() ? "" : ", ") + topicFor(p);
  }
  std::printf(
      "cluster:    librdkafka's mock, 3 brokers, in a process of its own; topics %s: 4 partitions, replication factor 3;\n"
      "            broker sockets %s\n\n",
      topics.c_str(), o.mockNagle ? "with Nagle (librdkafka's mock as is)" : "with TCP_NODELAY, as real brokers");

  std::vector<Row> rows;
  // Measures a scenario; again while other processes disturbed it; keeps the least disturbed attempt.
  auto add = [&](const std::function<Row()>& measure) {
    Row r = measure();
    int attempts = 1;
    for (; attempts <= o.retries && (!r.ran || r.otherCpu > kDisturbedCpu); ++attempts) {
      Row again = measure();
      if (!r.ran || (again.ran && again.otherCpu < r.otherCpu)) r = std::move(again);
    }
    if (attempts > 1)
      r.note = (r.note.empty() ? "" : r.note + "; ") + "the least disturbed of " + std::to_string(attempts) +
               " attempts (other processes used CPU during the others)";
    if (!r.ran) failed = true;
    printRow(r);
    rows.push_back(std::move(r));
  };
  printHeader();

  // 1. The physical limit.
  if (o.wants("raw"))
    for (size_t p : o.payloads) add([&] { return runRaw(kafka.bootstrapServers(), topicFor(p), p, o); });

  // 2. The HTTP ceiling: the sidecar's server class with its default 128 workers, a trivial handler.
  if (o.wants("ceiling")) {
    tributary::HttpServer server(128, 1'048'576);
    server.routes().Post(R"(/v1/topics/([^/]+)/records)", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"offsets":[{"offset":0,"partition":0}]})", "application/json");
    });
    std::string error;
    if (!server.bind({"127.0.0.1", 0}, error)) throw std::runtime_error("HTTP ceiling server: " + error);
    server.start();
    for (size_t p : o.payloads) {
      for (int c : kSyncClients)
        add([&] {
          Row r = runHttpLoad("http ceiling", server.port(), recordsPath(p), p, c, 1, 200, 0, o);
          r.recordsPerSec = -1;  // nothing is produced
          return r;
        });
      // The batch scenario's bodies on the same server: what HTTP alone costs for them.
      for (int c : o.batchClients)
        add([&] {
          Row r = runHttpLoad("http ceiling x" + std::to_string(kBatchRecords), server.port(), recordsPath(p), p, c,
                              kBatchRecords, 200, 0, o);
          r.recordsPerSec = -1;
          return r;
        });
    }
    server.stop();
  }

  // 3. The sidecar: the real binary, its default configuration but for the addresses.
  long idleRss = 0, afterRss = 0, peakRss = 0;
  double exitSeconds = -1;
  std::string exitText = "not started";
  char tmpl[] = "/tmp/tributary-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp: " + std::string(strerror(errno)));
  const fs::path dir = tmpl;
  bool keepDir = o.keepTemp;  // also kept when something failed, for its log
  struct RemoveDir {
    const fs::path& dir;
    const bool& keep;
    ~RemoveDir() {
      std::error_code ec;
      if (!keep) fs::remove_all(dir, ec);
    }
  } removeDir{dir, keepDir};
  if (o.wants("batch") || o.wants("sync") || o.wants("async")) {
    const std::string binary = sidecarBinary(o);
    SidecarProcess sidecar(binary, kafka.bootstrapServers(), o.kafkaProperties, dir);
    std::string why;
    if (!sidecar.waitReady(std::chrono::seconds(30), why)) {
      keepDir = true;
      std::fprintf(stderr, "tributary-bench: %s; the end of its log (%s):\n%s", why.c_str(), sidecar.logPath().c_str(),
                   sidecar.logTail(30).c_str());
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));  // let start-up settle before the idle sample
    const std::string pid = std::to_string(sidecar.pid());
    idleRss = statusBytes(pid, "VmRSS");
    std::printf("%-20s pid %d, api 127.0.0.1:%d, admin 127.0.0.1:%d, idle RSS %.1f MiB (%s)\n", "sidecar started",
                sidecar.pid(), sidecar.apiPort(), sidecar.adminPort(), mib(idleRss), binary.c_str());
    std::fflush(stdout);
    auto measure = [&](const std::function<Row()>& scenario) {
      add([&] {
        Row r = scenario();
        r.rssMiB = mib(statusBytes(pid, "VmRSS"));
        return r;
      });
    };

    for (size_t p : o.payloads) {
      if (o.wants("batch"))
        for (int c : o.batchClients)
          measure([&] {
            return runHttpLoad(kBatchScenario, sidecar.apiPort(), recordsPath(p), p, c, kBatchRecords, 200,
                               sidecar.pid(), o);
          });
      if (o.wants("sync"))
        for (int c : kSyncClients)
          measure([&] {
            return runHttpLoad("sidecar sync", sidecar.apiPort(), recordsPath(p), p, c, 1, 200, sidecar.pid(), o);
          });
      if (o.wants("async") && sidecar.alive())
        measure([&] {
          Row r = runHttpLoad("sidecar async", sidecar.apiPort(), recordsPath(p) + "?async=true", p, kAsyncClients, 1,
                              202, sidecar.pid(), o);
          // Accepted is not yet acknowledged: let the backlog drain before the next scenario.
          const double drain = sidecar.waitDrained(std::chrono::seconds(120));
          if (drain < 0) r.ran = false;
          r.note = (r.note.empty() ? "" : r.note + "; ") + "records/s = accepted (202); " +
                   (drain < 0 ? "the producer queue did not drain within 120 s"
                              : fmt("the producer queue was empty %.2f s after the window", drain));
          return r;
        });
      if (!sidecar.alive()) break;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    afterRss = statusBytes(pid, "VmRSS");
    peakRss = statusBytes(pid, "VmHWM");
    exitSeconds = sidecar.terminate(std::chrono::seconds(60));
    exitText = sidecar.exitDescription();
    if (!sidecar.exitedCleanly()) {
      failed = true;
      std::fprintf(stderr, "tributary-bench: the sidecar did not exit cleanly (%s); the end of its log (%s):\n%s",
                   exitText.c_str(), sidecar.logPath().c_str(), sidecar.logTail(30).c_str());
    }
  }

  // 4. Tracing (issue 13): the same loads on a fresh sidecar per mode — off (no traceparent, no
  // exporter), propagation only (every request carries a sampled traceparent, no exporter), and
  // spans at samplingRatio 1 to a collector in this process that answers 200 without parsing.
  if (o.wants("tracing")) {
    httplib::Server collector;
    std::atomic<uint64_t> exportRequests{0};
    collector.new_task_queue = [] { return new httplib::ThreadPool(4); };
    collector.set_tcp_nodelay(true);
    collector.Post("/v1/traces", [&](const httplib::Request&, httplib::Response& res) {
      ++exportRequests;
      res.set_content("{}", "application/json");
    });
    const int collectorPort = collector.bind_to_any_port("127.0.0.1");
    std::thread collectorThread([&] { collector.listen_after_bind(); });
    struct StopCollector {
      httplib::Server& s;
      std::thread& t;
      ~StopCollector() {
        s.stop();
        t.join();
      }
    } stopCollector{collector, collectorThread};
    const httplib::Headers traced{{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}};
    struct Mode {
      const char* name;
      bool header;
      bool spans;
    };
    for (const Mode mode : {Mode{"off", false, false}, Mode{"prop", true, false}, Mode{"spans", true, true}}) {
      const std::string yaml = mode.spans ? "tracing:\n  otlpEndpoint: \"http://127.0.0.1:" +
                                                std::to_string(collectorPort) + "\"\n  samplingRatio: 1\n"
                                          : "";
      const fs::path modeDir = dir / (std::string("tracing-") + mode.name);
      fs::create_directories(modeDir);
      SidecarProcess sidecar(sidecarBinary(o), kafka.bootstrapServers(), o.kafkaProperties, modeDir, yaml);
      std::string why;
      if (!sidecar.waitReady(std::chrono::seconds(30), why)) {
        keepDir = true;
        failed = true;
        std::fprintf(stderr, "tributary-bench: tracing %s: %s; the end of its log (%s):\n%s", mode.name, why.c_str(),
                     sidecar.logPath().c_str(), sidecar.logTail(30).c_str());
        break;
      }
      const httplib::Headers headers = mode.header ? traced : httplib::Headers{};
      const std::string pid = std::to_string(sidecar.pid());
      auto measure = [&](const std::string& load, const std::function<Row()>& scenario) {
        add([&] {
          const double exported0 = sidecar.metric("tributary_tracing_spans_exported_total");
          const double dropped0 = sidecar.metric("tributary_tracing_spans_dropped_total");
          Row r = scenario();
          r.scenario = std::string("trace ") + mode.name + " " + load;
          r.rssMiB = mib(statusBytes(pid, "VmRSS"));
          if (mode.spans) {
            // What the window's spans became, once the exporter caught up (a batch leaves within 0.5 s).
            std::this_thread::sleep_for(std::chrono::milliseconds(1500));
            r.note = fmt("spans exported %.0f", sidecar.metric("tributary_tracing_spans_exported_total") - exported0) +
                     fmt(", dropped %.0f", sidecar.metric("tributary_tracing_spans_dropped_total") - dropped0) +
                     " (warm-up and window)";
          }
          return r;
        });
      };
      for (size_t p : o.payloads) {
        measure("batch", [&] {
          return runHttpLoad("", sidecar.apiPort(), recordsPath(p), p, kTracingClients, kBatchRecords, 200,
                             sidecar.pid(), o, headers);
        });
        measure("sync", [&] {
          return runHttpLoad("", sidecar.apiPort(), recordsPath(p), p, kTracingClients, 1, 200, sidecar.pid(), o,
                             headers);
        });
      }
      sidecar.terminate(std::chrono::seconds(60));
      if (!sidecar.exitedCleanly()) {
        failed = true;
        std::fprintf(stderr, "tributary-bench: tracing %s: the sidecar did not exit cleanly (%s)\n", mode.name,
                     sidecar.exitDescription().c_str());
      }
    }
    std::printf("%20s   ^ the test collector got %llu export requests\n", "",
                static_cast<unsigned long long>(exportRequests.load()));
  }

  printSummary(rows, o);

  // 4. Latency at a fixed pace: 1000 single-record 1 KiB requests/s through a
  // fresh sidecar, then the same records at the same pace from a raw producer
  // with the sidecar's producer settings (bench/paced_latency.h).
  if (o.wants("paced")) {
    const std::string topic = "bench-paced";
    kafka.createTopic(topic, 4, 3);
    tributary::bench::PacedOptions paced;
    const fs::path pacedDir = dir / "paced";
    fs::create_directories(pacedDir);
    std::vector<tributary::bench::PacedResult> results;
    {
      SidecarProcess sidecar(sidecarBinary(o), kafka.bootstrapServers(), o.kafkaProperties, pacedDir);
      std::string why;
      if (!sidecar.waitReady(std::chrono::seconds(30), why)) throw std::runtime_error("paced: " + why);
      results.push_back(tributary::bench::pacedSidecar(sidecar.apiPort(), topic, paced));
      sidecar.terminate(std::chrono::seconds(60));
    }
    // The sidecar's producer settings (sidecar/produce/kafka_producer.cc), as in runRaw.
    std::map<std::string, std::string> props = {{"acks", "all"},
                                                {"enable.idempotence", "true"},
                                                {"linger.ms", "1"},
                                                {"message.timeout.ms", "30000"},
                                                {"statistics.interval.ms", "10000"},
                                                {"client.id", "tributary-bench-paced"},
                                                {"log_level", "3"}};
    for (const auto& [k, v] : o.kafkaProperties) props[k] = v;
    results.insert(results.begin(), tributary::bench::pacedRaw(kafka.bootstrapServers(), topic, props, paced));
    std::printf("\nlatency at %d single-record %s requests/s, open loop, %.0f s after %.0f s of warm-up "
                "(due time -> acknowledged), linger.ms %s:\n",
                paced.rate, payloadName(paced.payload).c_str(), paced.seconds, paced.warmupSeconds,
                props["linger.ms"].c_str());
    std::printf("  %-34s %8s %8s %8s %8s %7s %14s\n", "", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors",
                "late sends ms");
    for (const auto& r : results) {
      std::printf("  %-34s %8.2f %8.2f %8.2f %8.2f %7llu %14.2f\n", r.scenario.c_str(), r.percentile(0.5),
                  r.percentile(0.9), r.percentile(0.99), r.percentile(1.0),
                  static_cast<unsigned long long>(r.errors), r.lateSendMs);
      if (r.errors) std::printf("    ^ first error: %s\n", r.firstError.c_str());
    }
    const double added50 = results[1].percentile(0.5) - results[0].percentile(0.5);
    const double added90 = results[1].percentile(0.9) - results[0].percentile(0.9);
    const double added99 = results[1].percentile(0.99) - results[0].percentile(0.99);
    std::printf("  %-34s %+8.2f %+8.2f %+8.2f\n", "added by the sidecar", added50, added90, added99);
    std::printf("  target: added p99 <= 0.5 ms at 1000 requests/s (Dapr publishes +1.21 ms p99): %s\n",
                added99 <= 0.5 ? "PASS" : "MISS");
    if (results[0].errors || results[1].errors) failed = true;
  }

  if (idleRss > 0) {
    std::printf(
        "\nsidecar memory: idle %.1f MiB (VmRSS 1 s after /readyz, before any load), %.1f MiB after the "
        "load, peak %.1f MiB (VmHWM)\n",
        mib(idleRss), mib(afterRss), mib(peakRss));
    std::printf("sidecar exit:   SIGTERM -> %s%s\n", exitText.c_str(),
                exitSeconds >= 0 ? fmt(" after %.2f s", exitSeconds).c_str() : " (did not exit within 60 s: killed)");
  }

  std::printf("\ntargets\n");
  // A verdict from a disturbed window says so: the ratio may be off in either direction.
  auto target = [](const std::string& what, std::string result, std::initializer_list<const Row*> from) {
    double worst = 0;
    for (const Row* r : from)
      if (r) worst = std::max(worst, r->otherCpu);
    if (worst > kDisturbedCpu)
      result += fmt("; DISTURBED: other processes took up to %.0f%% CPU in these windows, rerun", worst);
    std::printf("  %-56s %s\n", what.c_str(), result.c_str());
  };
  for (size_t p : o.payloads) {
    const Row* b = bestBatch(rows, p);
    const Row* raw = find(rows, "raw librdkafka", p);
    std::string result = verdict(ratio(b, raw, true), kBatchTarget);
    if (b) result += ", best batch: " + std::to_string(b->clients) + " clients";
    target("batch produce >= 50% of raw librdkafka records/s, " + payloadName(p), result, {b, raw});
  }
  for (size_t p : o.payloads) {
    const Row* sync = find(rows, "sidecar sync", p, 64);
    const Row* ceiling = find(rows, "http ceiling", p, 64);
    target("sync produce @64 >= 50% of HTTP ceiling@64, " + payloadName(p),
           verdict(ratio(sync, ceiling, false), kSyncTarget), {sync, ceiling});
  }
  const double idle = mib(idleRss);
  std::string rss = "NOT MEASURED";
  if (idleRss > 0 && idle <= kIdleRssTargetMiB)
    rss = fmt("PASS %.1f MiB (", idle) + fmt("%.1f MiB to spare)", kIdleRssTargetMiB - idle);
  else if (idleRss > 0)
    rss = fmt("MISS %.1f MiB (", idle) + fmt("%.1f MiB over)", idle - kIdleRssTargetMiB);
  target("idle RSS <= 20 MiB", rss, {});

  std::printf(
      "\nThe embedded cluster, the clients and the sidecar share this machine's %ld CPUs. \"other CPU %%\" is\n"
      "the rest of the machine in each window: well above 0, something else disturbed the numbers.\n"
      "The run took %.0f s.%s\n",
      sysconf(_SC_NPROCESSORS_ONLN), seconds(Clock::now() - runStart),
      failed ? " SOME MEASUREMENTS FAILED: see above." : "");

  keepDir = keepDir || failed;
  if (keepDir) std::printf("The sidecar's config and log: %s\n", dir.c_str());
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  // The Kafka cluster's own process (bench/cluster_process.h), with the same
  // broker-socket option as the parent chose.
  if (argc >= 3 && std::string(argv[1]) == "--cluster-process") {
    gAcceptNoDelay = !(argc >= 4 && std::string(argv[3]) == "nagle");
    return tributary::bench::serveClusterProcess(std::stoi(argv[2]));
  }
  Options o;
  try {
    if (!parseArgs(argc, argv, o)) return 2;
    return run(o);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "tributary-bench: %s\n", e.what());
    return 1;
  }
}
