// The consume path at scale (issue #3), with the sidecar in-process:
//  - ordering holds for 10 000 records against a flaky app (partition and key);
//  - `none` delivers in parallel: against a slow app it beats `partition` by a
//    structural factor (a comparison of behaviour, not a speed threshold);
//  - a stalled app pauses the partitions, keeps the sidecar's buffer and memory
//    bounded under a 100 000-record backlog, and fetching resumes once released.
#include <gtest/gtest.h>

#include <iostream>
#include <httplib.h>
#include <librdkafka/rdkafka.h>
#include <malloc.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "tests/support/sidecar_fixture.h"
#include "tests/support/loopback_server.h"

using Json = nlohmann::json;
using tributary::sidecar::SubscriptionConfig;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

// The app behind a push subscription, scripted by the test: what it answers
// (status, Retry-After), how long it works on a request, and whether it holds
// requests unanswered until released. Unlike support/fake_app.h it does the
// work outside its lock, so a slow app is slow per request, not in total.
class ScriptedApp {
 public:
  struct Request {
    int partition = -1;
    int64_t offset = -1;
    std::string key;
    std::string body;
    int attempt = 0;
    int status = 0;  // 0 while the request is not answered yet
    Clock::time_point arrived, answered;
  };
  struct Answer {
    int status = 200;
    std::optional<int> retryAfterSeconds;
  };
  // Decides the answer for the n-th request (0-based, in arrival order).
  using Script = std::function<Answer(const Request&, uint64_t n)>;

  explicit ScriptedApp(int workers = 32) {
    server_.new_task_queue = [workers] { return new httplib::ThreadPool(static_cast<size_t>(workers)); };
    server_.set_tcp_nodelay(true);
    server_.set_keep_alive_max_count(1'000'000);
    server_.Post("/events", [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); });
    port_ = tributary::test::bindLoopback(server_);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~ScriptedApp() {
    release();
    server_.stop();
    thread_.join();
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_) + "/events"; }
  void setScript(Script s) {
    std::lock_guard lock(mutex_);
    script_ = std::move(s);
  }
  // Each request takes this long before it is answered (the app's own work).
  void setWork(std::chrono::milliseconds work) {
    std::lock_guard lock(mutex_);
    work_ = work;
  }
  // From now on requests are held unanswered until release().
  void stall() {
    std::lock_guard lock(mutex_);
    stalled_ = true;
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      stalled_ = false;
    }
    changed_.notify_all();
  }
  size_t held() {
    std::lock_guard lock(mutex_);
    return held_;
  }
  bool waitFor(const std::function<bool(const std::vector<Request>&)>& pred, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return pred(requests_); });
  }
  std::vector<Request> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  // Waits until `n` distinct records were answered with 2xx (kept as they are
  // answered: a predicate over every request would cost O(n) per request).
  bool waitDelivered(size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return delivered_.size() >= n; });
  }
  size_t deliveredCount() {
    std::lock_guard lock(mutex_);
    return delivered_.size();
  }

  // Distinct (partition, offset) answered with 2xx.
  static std::set<std::pair<int, int64_t>> delivered(const std::vector<Request>& rs) {
    std::set<std::pair<int, int64_t>> out;
    for (const auto& r : rs)
      if (r.status >= 200 && r.status < 300) out.emplace(r.partition, r.offset);
    return out;
  }

 private:
  void handle(const httplib::Request& req, httplib::Response& res) {
    Request r;
    r.partition = std::stoi(req.get_header_value("ce-partition"));
    r.offset = std::stoll(req.get_header_value("ce-offset"));
    r.key = req.get_header_value("ce-key");
    r.attempt = std::stoi(req.get_header_value("Tributary-Attempt"));
    r.body = req.body;
    r.arrived = Clock::now();
    std::unique_lock lock(mutex_);
    const size_t index = requests_.size();
    const Answer answer = script_(r, index);
    requests_.push_back(r);
    ++held_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return !stalled_; });
    --held_;
    const auto work = work_;
    lock.unlock();
    // The app working on the request: simulated load, not test synchronisation.
    if (work.count() > 0) std::this_thread::sleep_for(work);
    res.status = answer.status;
    if (answer.retryAfterSeconds) res.set_header("Retry-After", std::to_string(*answer.retryAfterSeconds));
    lock.lock();
    requests_[index].status = answer.status;
    requests_[index].answered = Clock::now();
    if (answer.status >= 200 && answer.status < 300) delivered_.emplace(r.partition, r.offset);
    lock.unlock();
    changed_.notify_all();
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Request> requests_;  // guarded by mutex_, in arrival order
  std::set<std::pair<int, int64_t>> delivered_;  // guarded by mutex_
  Script script_ = [](const Request&, uint64_t) { return Answer{}; };
  std::chrono::milliseconds work_{0};
  bool stalled_ = false;
  size_t held_ = 0;
};

// The most requests the app was working on at once.
size_t peakConcurrency(const std::vector<ScriptedApp::Request>& rs) {
  std::vector<std::pair<Clock::time_point, int>> events;
  for (const auto& r : rs) {
    events.emplace_back(r.arrived, 1);
    events.emplace_back(r.answered, -1);
  }
  std::sort(events.begin(), events.end());  // at equal times an answer (-1) sorts first
  int now = 0, peak = 0;
  for (const auto& [t, d] : events) peak = std::max(peak, now += d);
  return static_cast<size_t>(peak);
}

// Writes `count` records to `topic` with a plain librdkafka producer (far
// faster than JSON over HTTP for 100k records); `make(i)` gives key and value.
void produceRaw(const std::string& bootstrap, const std::string& topic, int count,
                const std::function<std::pair<std::string, std::string>(int)>& make) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
  rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  ASSERT_NE(rk, nullptr) << err;
  for (int i = 0; i < count;) {
    auto [key, value] = make(i);
    rd_kafka_resp_err_t e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()),
                                              RD_KAFKA_V_KEY(key.data(), key.size()),
                                              RD_KAFKA_V_VALUE(value.data(), value.size()),
                                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk, 100);  // the local queue drains as the brokers acknowledge
      continue;
    }
    ASSERT_EQ(e, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(e);
    rd_kafka_poll(rk, 0);
    ++i;
  }
  EXPECT_EQ(rd_kafka_flush(rk, 60'000), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(rd_kafka_outq_len(rk), 0);
  rd_kafka_destroy(rk);
}

// A subscription named "scale" on topic "events", the app's retries kept tiny.
class ConsumeScale : public tributary::test::SidecarTest {
 protected:
  void SetUp() override {
    app = std::make_unique<ScriptedApp>();
    SidecarTest::SetUp();
  }
  void TearDown() override {
    SidecarTest::TearDown();
    app.reset();
  }
  void configure(tributary::sidecar::SidecarConfig& c) override {
    kafka->createTopic("events", partitions(), 3);
    c.kafka.properties["session.timeout.ms"] = "6000";
    c.kafka.properties["heartbeat.interval.ms"] = "500";
    c.subscriptions = {subscription("scale")};
  }
  virtual int partitions() const { return 4; }
  virtual void adjust(SubscriptionConfig&) {}

  SubscriptionConfig subscription(const std::string& name) {
    SubscriptionConfig s;
    s.name = name;
    s.topics = {"events"};
    s.group = name + "-group";
    s.endpoint = app->endpoint();
    s.startFrom = SubscriptionConfig::StartFrom::Earliest;
    s.timeout = 30s;  // the app answers at once: a timeout would only add duplicates
    s.retry = {.maxAttempts = 5, .initialBackoff = 1ms, .maxBackoff = 5ms, .multiplier = 2, .jitter = 0};
    s.onExhausted = SubscriptionConfig::OnExhausted::Block;  // never lose a record
    adjust(s);
    return s;
  }

  // Restarts the sidecar with these subscriptions.
  void restartWith(std::vector<SubscriptionConfig> subs) {
    if (sidecar) sidecar->shutdown();
    sidecar.reset();
    config.subscriptions = std::move(subs);
    std::string error;
    sidecar = tributary::sidecar::Sidecar::start(config, error);
    ASSERT_NE(sidecar, nullptr) << error;
    client = apiClient();
  }

  // Awaits a metric to satisfy `pred` (metrics and status refresh every second).
  bool awaitMetric(const std::string& nameAndLabels, const std::function<bool(double)>& pred,
                   std::chrono::seconds bound = 60s) {
    for (auto until = Clock::now() + bound; Clock::now() < until;) {
      if (pred(metricValue(nameAndLabels))) return true;
      std::this_thread::sleep_for(20ms);  // polling interval of an awaited condition
    }
    return false;
  }

  std::unique_ptr<ScriptedApp> app;
};

// ---- ordering at scale -----------------------------------------------------------------------------------------

constexpr int kOrderingRecords = 10'000;
constexpr int kKeys = 50;

// A flaky app, deterministic by request count: every 7th request 503, every
// 11th 429 with `Retry-After: 0` (the app asks for no extra wait).
ScriptedApp::Answer flaky(const ScriptedApp::Request&, uint64_t n) {
  if (n % 7 == 6) return {503, std::nullopt};
  if (n % 11 == 10) return {429, 0};
  return {200, std::nullopt};
}

// Key i%50 and a per-key sequence number in the value, so that per-key order
// can be checked from what the app received.
void produceKeyed(const std::string& bootstrap) {
  produceRaw(bootstrap, "events", kOrderingRecords, [](int i) {
    return std::make_pair("key-" + std::to_string(i % kKeys), Json{{"seq", i / kKeys}}.dump());
  });
}

// Every record reached the app with a 2xx exactly once (the app answers long
// before the timeout, and nothing crashed: a second 2xx would be a bug).
void expectEachRecordDeliveredOnce(const std::vector<ScriptedApp::Request>& rs) {
  std::map<std::pair<int, int64_t>, int> successes;
  for (const auto& r : rs)
    if (r.status == 200) ++successes[{r.partition, r.offset}];
  EXPECT_EQ(successes.size(), static_cast<size_t>(kOrderingRecords));
  int duplicates = 0;
  for (const auto& [at, n] : successes) duplicates += n - 1;
  EXPECT_EQ(duplicates, 0);
}

class OrderingByPartition : public ConsumeScale {
  void adjust(SubscriptionConfig& s) override { s.ordering = SubscriptionConfig::Ordering::Partition; }
};

TEST_F(OrderingByPartition, TenThousandRecordsArriveInOffsetOrderPerPartitionDespiteAFlakyApp) {
  app->setScript(flaky);
  produceKeyed(kafka->bootstrapServers());
  ASSERT_TRUE(app->waitDelivered(kOrderingRecords, 240s))
      << app->deliveredCount() << " of " << kOrderingRecords << " delivered";
  const auto rs = app->requests();
  // Per partition, in arrival order: the same offset again (a retry) or the
  // next offset, and the next only after the previous one got a 2xx.
  std::map<int, const ScriptedApp::Request*> last;
  int retries = 0, violations = 0;
  for (const auto& r : rs) {
    auto [it, first] = last.emplace(r.partition, &r);
    if (first) {
      EXPECT_EQ(r.offset, 0) << "partition " << r.partition << " did not start at its first record";
      continue;
    }
    const auto& prev = *it->second;
    if (r.offset == prev.offset) {
      ++retries;
      if (prev.status == 200) ++violations;  // a delivered record sent again
    } else if (r.offset != prev.offset + 1 || prev.status != 200) {
      if (++violations <= 5)
        ADD_FAILURE() << "partition " << r.partition << ": offset " << r.offset << " after offset " << prev.offset
                      << " answered " << prev.status;
    }
    it->second = &r;
  }
  EXPECT_EQ(violations, 0);
  EXPECT_GT(retries, kOrderingRecords / 10) << "the app was not flaky enough to test anything";
  expectEachRecordDeliveredOnce(rs);
  RecordProperty("requests", static_cast<int>(rs.size()));
}

class OrderingByKey : public ConsumeScale {
  void adjust(SubscriptionConfig& s) override {
    s.ordering = SubscriptionConfig::Ordering::Key;
    s.maxInFlight = 32;
  }
};

TEST_F(OrderingByKey, TenThousandRecordsOfFiftyKeysArriveInOrderPerKeyDespiteAFlakyApp) {
  app->setScript(flaky);
  produceKeyed(kafka->bootstrapServers());
  ASSERT_TRUE(app->waitDelivered(kOrderingRecords, 240s))
      << app->deliveredCount() << " of " << kOrderingRecords << " delivered";
  const auto rs = app->requests();
  // Per key, in arrival order: the same sequence number again (a retry) or the
  // next one, and the next only after the previous one got a 2xx.
  struct Last {
    int seq;
    int status;
  };
  std::map<std::string, Last> last;
  int violations = 0;
  for (const auto& r : rs) {
    const int seq = Json::parse(r.body)["seq"].get<int>();
    auto [it, first] = last.emplace(r.key, Last{seq, r.status});
    if (first) {
      EXPECT_EQ(seq, 0) << r.key << " did not start at its first record";
      continue;
    }
    const Last prev = it->second;
    const bool retry = seq == prev.seq && prev.status != 200;
    const bool next = seq == prev.seq + 1 && prev.status == 200;
    if (!retry && !next && ++violations <= 5)
      ADD_FAILURE() << r.key << ": record " << seq << " after record " << prev.seq << " answered " << prev.status;
    it->second = {seq, r.status};
  }
  EXPECT_EQ(violations, 0);
  EXPECT_EQ(last.size(), static_cast<size_t>(kKeys));
  for (const auto& [key, l] : last) EXPECT_EQ(l.seq, kOrderingRecords / kKeys - 1) << key;
  expectEachRecordDeliveredOnce(rs);
  // Keys ran in parallel: more than one request was outstanding at some point.
  RecordProperty("requests", static_cast<int>(rs.size()));
}

// ---- none vs partition against a slow app ----------------------------------------------------------------------

class NoneVersusPartition : public ConsumeScale {
  int partitions() const override { return 1; }
  void adjust(SubscriptionConfig& s) override { s.maxInFlight = 16; }
  void configure(tributary::sidecar::SidecarConfig& c) override {
    ConsumeScale::configure(c);
    c.subscriptions.clear();  // each ordering runs on its own, one after the other
  }
};

// With one partition and an app that takes 20 ms per request, `partition`
// delivers one record at a time (≥ 199 × 20 ms between the first and the last
// request), `none` up to 16 at a time (~13 rounds of 20 ms). The assertion is a
// ratio of 4, a quarter of the structural 16: it fails only if `none` does not
// deliver in parallel.
TEST_F(NoneVersusPartition, NoneDeliversInParallelAndBeatsPartitionAgainstASlowApp) {
  constexpr int kRecords = 200;
  app->setWork(20ms);
  produceRaw(kafka->bootstrapServers(), "events", kRecords, [](int i) {
    return std::make_pair("k" + std::to_string(i), std::to_string(i));
  });
  // From the app's point of view: first request received to last answer sent.
  struct Run {
    Clock::duration span;  // first request received to last request received
    size_t peak;           // most requests the app worked on at once
  };
  auto run = [&](SubscriptionConfig::Ordering ordering, const std::string& name) -> Run {
    auto s = subscription(name);
    s.ordering = ordering;
    const size_t before = app->requests().size();
    restartWith({s});
    EXPECT_TRUE(app->waitFor([&](auto& rs) {
      return rs.size() >= before + kRecords &&
             std::all_of(rs.begin() + static_cast<long>(before), rs.end(), [](auto& r) { return r.status != 0; });
    }, 120s)) << name;
    auto all = app->requests();
    std::vector<ScriptedApp::Request> rs(all.begin() + static_cast<long>(std::min(before, all.size())), all.end());
    std::set<int64_t> offsets;
    for (const auto& r : rs) offsets.insert(r.offset);
    EXPECT_EQ(offsets.size(), static_cast<size_t>(kRecords)) << name;
    if (rs.empty()) return {};
    return {rs.back().arrived - rs.front().arrived, peakConcurrency(rs)};
  };
  const Run none = run(SubscriptionConfig::Ordering::None, "parallel");
  const Run partition = run(SubscriptionConfig::Ordering::Partition, "serial");
  auto ms = [](Clock::duration d) {
    return static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  };
  RecordProperty("none_ms", ms(none.span));
  RecordProperty("partition_ms", ms(partition.span));
  RecordProperty("none_peak_concurrency", static_cast<int>(none.peak));
  // What the app sees: one request at a time, or several.
  EXPECT_EQ(partition.peak, 1u) << "ordering partition had more than one record of the partition in flight";
  EXPECT_GT(none.peak, 1u) << "ordering none delivered one record at a time";
  EXPECT_LE(none.peak, 16u) << "more requests in flight than maxInFlight";
  EXPECT_GE(partition.span, 199 * 20ms) << "one at a time cannot be faster than the app";
  EXPECT_LT(none.span * 4, partition.span) << "none took " << ms(none.span) << " ms with at most " << none.peak
                                           << " requests at once, partition " << ms(partition.span) << " ms";
}

// ---- backpressure ----------------------------------------------------------------------------------------------

long residentBytes() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

class Backpressure : public ConsumeScale {
  void adjust(SubscriptionConfig& s) override {
    s.ordering = SubscriptionConfig::Ordering::None;
    s.maxInFlight = 8;
  }
  void configure(tributary::sidecar::SidecarConfig& c) override {
    ConsumeScale::configure(c);
    c.subscriptions.clear();  // started once the backlog is in Kafka
  }
};

TEST_F(Backpressure, AStalledAppPausesFetchingAndKeepsMemoryBoundedUnderAHundredThousandRecords) {
  constexpr int kRecords = 100'000;
  constexpr size_t kValueBytes = 1000;
  const std::string filler(kValueBytes - 16, 'x');
  produceRaw(kafka->bootstrapServers(), "events", kRecords, [&](int i) {
    std::string v = std::to_string(i);
    v.resize(16, ' ');
    return std::make_pair("k" + std::to_string(i % 1000), v + filler);
  });
  app->stall();
  // The backlog is in the (in-process) cluster, the producer is gone and so is
  // the sidecar without subscriptions: memory grows from here only by what the
  // new sidecar fetches and holds. malloc_trim returns what was freed to the
  // system, so that the baseline does not shrink under the measurement.
  sidecar->shutdown();
  sidecar.reset();
  malloc_trim(0);
  const long rssBefore = residentBytes();
  auto s = subscription("scale");
  ASSERT_NO_FATAL_FAILURE(restartWith({s}));

  const std::string paused = R"(tributary_paused_partitions{subscription="scale"})";
  ASSERT_TRUE(awaitMetric(paused, [](double v) { return v == 4; })) << "not every partition was paused";
  ASSERT_TRUE(app->waitFor([&](auto& rs) { return rs.size() == static_cast<size_t>(s.maxInFlight); }, 60s));
  EXPECT_EQ(app->held(), static_cast<size_t>(s.maxInFlight)) << "maxInFlight bounds the outstanding requests";

  // What the sidecar holds, as GET /v1/subscriptions shows it (refreshed every
  // second): await a view in which every partition is paused.
  Json view;
  for (auto until = Clock::now() + 30s; Clock::now() < until; std::this_thread::sleep_for(50ms)) {
    auto res = client->Get("/v1/subscriptions");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
    view = Json::parse(res->body)["subscriptions"][0];
    int pausedNow = 0;
    for (const auto& p : view["assignment"]) pausedNow += p["paused"].get<bool>();
    if (pausedNow == 4) break;
  }
  size_t unsettled = 0;
  for (const auto& p : view["assignment"]) {
    EXPECT_TRUE(p["paused"].get<bool>()) << p.dump();
    unsettled += p["unsettled"].get<size_t>();
  }
  // The documented bounds (sidecar/README.md, Backpressure): a partition pauses
  // at clamp(64 × maxInFlight, 256, 8192) = 512 records, the subscription at 4 ×
  // that; the mark is checked after every fetched record, so nothing overshoots.
  const size_t bound = 4 * 512;
  EXPECT_LE(unsettled, bound) << view.dump();
  EXPECT_LE(metricValue(R"(tributary_inflight{subscription="scale"})"), static_cast<double>(bound));

  const long growth = residentBytes() - rssBefore;
  const long unbuffered = static_cast<long>(kRecords * kValueBytes);  // the values alone, no overhead
  RecordProperty("rss_growth_kib", static_cast<int>(growth / 1024));
  RecordProperty("unsettled", static_cast<int>(unsettled));
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer's quarantine keeps freed memory resident (256 MiB by
  // default), so RSS says nothing about what the sidecar holds: the bounds on
  // paused partitions and buffered records above still hold; this one is
  // asserted in the normal build.
  std::cout << "[   NOTE   ] RSS growth " << growth / 1024 << " KiB (backlog values " << unbuffered / 1024
            << " KiB) not asserted under AddressSanitizer (its quarantine keeps freed memory resident)\n";
#else
  EXPECT_LT(growth, unbuffered / 4) << "RSS grew by " << growth / 1024 << " KiB; the backlog's values alone are "
                                    << unbuffered / 1024 << " KiB";
#endif

  // Released, the app gets what was held and fetching resumes: far more than
  // the buffers held reaches the app, so paused partitions were resumed again
  // and again. (The whole backlog is not awaited: 100k records through a
  // per-record HTTP app take longer than this test should.)
  app->release();
  constexpr size_t kAfterRelease = 10'000;
  ASSERT_TRUE(app->waitDelivered(kAfterRelease, 120s)) << app->deliveredCount() << " delivered";
  EXPECT_TRUE(awaitMetric(R"(tributary_deliveries_total{outcome="success",subscription="scale",topic="events"})",
                          [](double v) { return v >= kAfterRelease; }));
}

}  // namespace
