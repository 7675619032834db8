// The real binary under a burst from its own app (issue 14 §6): 64 concurrent
// 1 MiB batch requests. Requests in flight hold at most api.maxInflightBytes;
// the rest are answered 503 with Retry-After before their body is held, peak
// memory stays within the budget plus a constant, and every record answered
// 200 is in Kafka.
#include <gtest/gtest.h>
#include <httplib.h>

#include <condition_variable>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/kafka/embedded_cluster.h"
#include "tests/support/record_reader.h"
#include "tests/support/subprocess.h"

using Json = nlohmann::json;
using namespace std::chrono_literals;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

namespace {

// kB from a /proc/<pid>/status line such as "VmHWM:   123456 kB".
size_t statusKb(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1));
  return 0;
}

int portFrom(const std::string& logLine, const char* field) {
  auto j = Json::parse(logLine);
  std::string addr = j[field];
  return std::stoi(addr.substr(addr.rfind(':') + 1));
}

constexpr size_t kBudget = 8 * 1024 * 1024;  // the default api.maxInflightBytes
// What peak RSS may exceed the resident set before the burst by, besides the
// budget (accounted for in sidecar/README.md, "Memory"): what an admitted
// request holds per byte of its body — its body and the parser's buffers
// until parsed, its records until handed to librdkafka, librdkafka's copy
// (~176 bytes per message plus the value, whatever the value's size) until
// acknowledged, its reports and answer — measured at 8.3-12 bytes per body
// byte (66-96 MiB over 8 MiB admitted, 12 runs) for 48-byte records, plus a
// constant for allocator arenas and buffers. Without the budget the same
// burst took the sidecar past 1.1 GiB.
constexpr size_t kExpansion = 10;
constexpr size_t kAllowance = (kExpansion - 1) * kBudget + 40 * 1024 * 1024;

TEST(MemoryBudget, ABurstOf64OneMebibyteBatchesStaysWithinTheBudgetAndLosesNoAcknowledgedRecord) {
  tributary::EmbeddedKafka kafka(3);
  // librdkafka's mock keeps at most ~5 MiB (and 100 000 records) per partition
  // and silently drops older records past that: with 4 partitions, a burst
  // whose requests were all admitted (64 MiB) lost acknowledged records in the
  // mock, not in the sidecar. 64 partitions hold all of it.
  kafka.createTopic("burst", 64, 3);
  char dir[] = "/tmp/tributary-burst-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  const std::string path = std::string(dir) + "/sidecar.yaml";
  // The budget admits 8 bodies of ~21 700 records at once, more than
  // librdkafka's default queue (100 000 messages) holds: requests that
  // enqueue together would get 503 QUEUE_FULL (a correct answer, but not the
  // bound under test), so the queue is made large enough here.
  std::ofstream(path) << "kafka:\n  bootstrapServers: \"" << kafka.bootstrapServers() << "\"\n  deliveryTimeout: 120s\n"
                      << "  properties:\n    queue.buffering.max.messages: 1000000\n"
                      << "api:\n  listen: \"127.0.0.1:0\"\n  maxInflightBytes: " << kBudget << "\n"
                      << "admin:\n  listen: \"127.0.0.1:0\"\n";
  tributary::test::Subprocess sidecar(tributary::test::binDir() + "/tributary-sidecar", {"--config", path});
  auto listening = sidecar.waitForLine("sidecar listening", 30s);
  ASSERT_TRUE(listening) << sidecar.output();
  const int port = portFrom(*listening, "api");
  {
    httplib::Client warm("127.0.0.1", port);
    warm.set_read_timeout(120);
    auto res = warm.Post("/v1/topics/burst/records", R"({"records":[{"value":"warm-up"}]})", "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
  }
  const size_t rssBefore = statusKb(sidecar.pid(), "VmRSS") * 1024;

  // 64 bodies of just under 1 MiB, ~21 000 small records each, every value
  // unique. Under AddressSanitizer one such request takes ~30 s of CPU: there
  // the records are 1 KiB (~1000 a body), which exercises the same admission.
  constexpr int kRequests = 64;
  const std::string padding(kAsan ? 1000 : 16, 'x');
  std::vector<std::string> bodies(kRequests);
  std::vector<std::vector<std::string>> values(kRequests);
  for (int r = 0; r < kRequests; ++r) {
    std::string body = R"({"records":[)";
    for (int i = 0;; ++i) {
      char id[32];
      std::snprintf(id, sizeof id, "r%02d-i%06d-", r, i);
      const std::string v = id + padding;
      const std::string rec = std::string(i ? "," : "") + R"({"value":")" + v + "\"}";
      if (body.size() + rec.size() + 2 > 1'048'000) break;
      body += rec;
      values[r].push_back("\"" + v + "\"");
    }
    bodies[r] = body + "]}";
  }

  std::mutex mutex;
  std::condition_variable go;
  bool started = false;
  std::vector<int> status(kRequests, 0);
  std::vector<std::string> answers(kRequests), retryAfter(kRequests);
  std::vector<std::thread> clients;
  for (int r = 0; r < kRequests; ++r)
    clients.emplace_back([&, r] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(180);  // a hang guard
      c.set_write_timeout(180);
      {
        std::unique_lock lock(mutex);
        go.wait(lock, [&] { return started; });
      }
      auto res = c.Post("/v1/topics/burst/records", bodies[r], "application/json");
      if (!res) return;
      status[r] = res->status;
      answers[r] = res->body;
      retryAfter[r] = res->get_header_value("Retry-After");
    });
  {
    std::lock_guard lock(mutex);
    started = true;
  }
  go.notify_all();
  for (auto& t : clients) t.join();
  const size_t peak = statusKb(sidecar.pid(), "VmHWM") * 1024;

  int ok = 0, refused = 0;
  std::map<std::string, int> codes;
  for (int r = 0; r < kRequests; ++r) {
    auto j = Json::parse(answers[r], nullptr, false);
    ++codes[std::to_string(status[r]) + " " + (j.is_object() ? j.value("errorCode", "") : "")];
    if (status[r] == 200) {
      ++ok;
    } else {
      EXPECT_EQ(status[r], 503) << "request " << r << ": " << answers[r];
      EXPECT_FALSE(retryAfter[r].empty()) << "a 503 says when to retry: " << answers[r];
      ++refused;
    }
  }
  EXPECT_GT(ok, 0) << "the budget admits requests";
  for (auto& [code, n] : codes) std::cout << "answers " << code << ": " << n << "\n";
  std::cout << "peak RSS " << (peak >> 20) << " MiB, before the burst " << (rssBefore >> 20) << " MiB\n";
  RecordProperty("answered_200", ok);
  RecordProperty("answered_503", refused);
  RecordProperty("peak_rss_growth_mib", static_cast<int>((peak - std::min(peak, rssBefore)) >> 20));

  if (kAsan) {
    std::cout << "peak RSS not checked: AddressSanitizer's shadow memory and quarantine dwarf the budget\n";
  } else {
    EXPECT_LE(peak, rssBefore + kBudget + kAllowance)
        << "peak RSS " << (peak >> 20) << " MiB; before the burst " << (rssBefore >> 20) << " MiB; budget "
        << (kBudget >> 20) << " MiB; " << ok << " requests answered 200, " << refused << " 503";
  }

  // Every record of a request answered 200 is in Kafka (read again until they
  // all are, bounded; on failure the partitions as read are printed).
  std::set<std::string> inKafka;
  auto allThere = [&] {
    for (int r = 0; r < kRequests; ++r)
      if (status[r] == 200)
        for (const auto& v : values[r])
          if (!inKafka.count(v)) return false;
    return true;
  };
  for (auto until = std::chrono::steady_clock::now() + 120s; !allThere() && std::chrono::steady_clock::now() < until;)
    for (auto& rec : tributary::test::readAll(kafka.bootstrapServers(), "burst", 120s))
      if (rec.value) inKafka.insert(*rec.value);
  if (!allThere()) {
    std::map<int, std::pair<size_t, int64_t>> seen;  // partition → records, highest offset
    for (auto& rec : tributary::test::readAll(kafka.bootstrapServers(), "burst", 120s)) {
      auto& [n, hi] = seen[rec.partition];
      ++n;
      hi = std::max(hi, rec.offset);
    }
    std::set<std::string> acked;
    for (int r = 0; r < kRequests; ++r)
      if (status[r] == 200) acked.insert(values[r].begin(), values[r].end());
    size_t foreign = 0;
    for (const auto& v : inKafka) foreign += acked.count(v) ? 0 : 1;
    std::cout << "records in Kafka from requests not answered 200: " << foreign << " of " << inKafka.size() << "\n";
    for (auto& [p, s] : seen) std::cout << "partition " << p << ": " << s.first << " records, up to offset " << s.second << "\n";
  }
  size_t missing = 0, acknowledged = 0;
  for (int r = 0; r < kRequests; ++r) {
    if (status[r] != 200) continue;
    size_t missingHere = 0;
    for (const auto& v : values[r]) {
      ++acknowledged;
      if (!inKafka.count(v)) ++missingHere;
    }
    EXPECT_EQ(missingHere, 0u) << "request " << r << " (" << values[r].size() << " records) answered "
                               << answers[r].substr(0, 200);
    missing += missingHere;
  }
  EXPECT_EQ(missing, 0u) << "of " << acknowledged << " records answered 200";
}

}  // namespace
