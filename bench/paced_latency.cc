#include "bench/paced_latency.h"

#include <httplib.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace tributary::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::string jsonStringValue(size_t bytes) {
  std::string t = "\"";
  for (size_t i = 0; i + 2 < bytes; ++i) t += static_cast<char>('a' + i % 26);
  return t + "\"";
}

Clock::duration dueOffset(uint64_t i, int rate) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(static_cast<double>(i) / rate));
}

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct RawPacedState {
  std::mutex mutex;
  std::vector<double> latencyMs;  // guarded by mutex
  uint64_t errors = 0;
  std::string firstError;
  Clock::time_point measureFrom;
};

struct RawSent {
  RawPacedState* state;
  Clock::time_point due;
};

void onRawDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  std::unique_ptr<RawSent> sent(static_cast<RawSent*>(m->_private));
  const auto now = Clock::now();
  std::lock_guard lock(sent->state->mutex);
  if (m->err) {
    if (sent->state->errors++ == 0) sent->state->firstError = rd_kafka_err2str(m->err);
    return;
  }
  if (sent->due >= sent->state->measureFrom) sent->state->latencyMs.push_back(ms(now - sent->due));
}

}  // namespace

double PacedResult::percentile(double p) const {
  if (latencyMs.empty()) return -1;
  std::vector<double> v = latencyMs;
  size_t k = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  k = std::min(std::max<size_t>(k, 1), v.size()) - 1;
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

PacedResult pacedRaw(const std::string& bootstrap, const std::string& topic,
                     const std::map<std::string, std::string>& properties, const PacedOptions& o) {
  PacedResult result{"raw librdkafka"};
  RawPacedState state;
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto props = properties;
  props["bootstrap.servers"] = bootstrap;
  for (const auto& [k, v] : props)
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error("paced raw producer: " + k + ": " + err);
    }
  rd_kafka_conf_set_dr_msg_cb(conf, &onRawDelivery);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) throw std::runtime_error(std::string("paced raw producer: ") + err);
  // Delivery reports on their own thread, as in the sidecar (its poll thread).
  std::atomic<bool> stop{false};
  std::thread poller([&] {
    while (!stop) rd_kafka_poll(rk, 50);
  });
  const std::string value = jsonStringValue(o.payload);
  const uint64_t total = static_cast<uint64_t>((o.warmupSeconds + o.seconds) * o.rate);
  const auto start = Clock::now() + std::chrono::milliseconds(100);
  state.measureFrom = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmupSeconds));
  for (uint64_t i = 0; i < total; ++i) {
    const auto due = start + dueOffset(i, o.rate);
    std::this_thread::sleep_until(due);  // the pace itself, not synchronisation
    result.lateSendMs = std::max(result.lateSendMs, ms(Clock::now() - due));
    const std::string key = "k" + std::to_string(i % 1000);
    auto* sent = new RawSent{&state, due};
    const auto e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()),
                                     RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                                     RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                     RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(sent), RD_KAFKA_V_END);
    if (e) {
      delete sent;
      std::lock_guard lock(state.mutex);
      if (state.errors++ == 0) state.firstError = rd_kafka_err2str(e);
    }
  }
  rd_kafka_flush(rk, 30'000);
  stop = true;
  poller.join();
  rd_kafka_destroy(rk);
  std::lock_guard lock(state.mutex);
  result.latencyMs = std::move(state.latencyMs);
  result.errors = state.errors;
  result.firstError = state.firstError;
  return result;
}

PacedResult pacedSidecar(int apiPort, const std::string& topic, const PacedOptions& o) {
  PacedResult result{"sidecar, one record per request"};
  const std::string path = "/v1/topics/" + topic + "/records";
  const std::string value = jsonStringValue(o.payload);
  const uint64_t total = static_cast<uint64_t>((o.warmupSeconds + o.seconds) * o.rate);
  const auto start = Clock::now() + std::chrono::milliseconds(200);
  const auto measureFrom =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmupSeconds));
  std::mutex mutex;
  std::vector<double> latencies;
  uint64_t errors = 0;
  std::string firstError;
  double lateSend = 0;
  // Connection c sends records c, c + N, c + 2N, ...: with latencies well under
  // N / rate, each is idle when its next record is due.
  std::vector<std::thread> workers;
  for (int c = 0; c < o.connections; ++c)
    workers.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", apiPort);
      client.set_tcp_nodelay(true);
      client.set_keep_alive(true);
      client.set_read_timeout(std::chrono::seconds(60));
      std::vector<double> mine;
      uint64_t myErrors = 0;
      std::string myFirstError;
      double myLate = 0;
      for (uint64_t i = static_cast<uint64_t>(c); i < total; i += static_cast<uint64_t>(o.connections)) {
        const auto due = start + dueOffset(i, o.rate);
        std::this_thread::sleep_until(due);  // the pace itself, not synchronisation
        myLate = std::max(myLate, ms(Clock::now() - due));
        const std::string body = R"({"records":[{"key":"k)" + std::to_string(i % 1000) + R"(","value":)" + value + "}]}";
        auto res = client.Post(path, body, "application/json");
        const auto now = Clock::now();
        if (!res || res->status != 200) {
          if (myErrors++ == 0) myFirstError = res ? "HTTP " + std::to_string(res->status) + ": " + res->body
                                                  : httplib::to_string(res.error());
          continue;
        }
        if (due >= measureFrom) mine.push_back(ms(now - due));
      }
      std::lock_guard lock(mutex);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
      if (myErrors && errors == 0) firstError = myFirstError;
      errors += myErrors;
      lateSend = std::max(lateSend, myLate);
    });
  for (auto& w : workers) w.join();
  result.latencyMs = std::move(latencies);
  result.errors = errors;
  result.firstError = firstError;
  result.lateSendMs = lateSend;
  return result;
}

}  // namespace tributary::bench
