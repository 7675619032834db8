#include "common/log/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>

namespace tributary::log {
namespace {
std::atomic<Level> gLevel{Level::Info};
std::mutex gMutex;

const char* name(Level l) {
  switch (l) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warn: return "warn";
    case Level::Error: return "error";
  }
  return "info";
}

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}
}  // namespace

void setLevel(Level level) { gLevel = level; }

void write(Level level, std::string_view msg, Fields fields) {
  if (level < gLevel.load(std::memory_order_relaxed)) return;
  nlohmann::json line;
  line["ts"] = timestamp();
  line["level"] = name(level);
  line["msg"] = msg;
  for (const auto& [k, v] : fields) line[std::string(k)] = v;
  // Replace, don't throw, on bytes that are not UTF-8 (e.g. a broker's error text).
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::lock_guard lock(gMutex);
  std::fprintf(stderr, "%s\n", text.c_str());
}

}  // namespace tributary::log
