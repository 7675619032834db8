#include "tests/support/apiserver/timestamps.h"

#include <ctime>
#include <string_view>

namespace tributary::apiserver {

std::string formatTimestamp(SystemTime t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<SystemTime> parseTimestamp(const std::string& text) {
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)
  auto num = [&](size_t at, size_t len, int& out) {
    if (at + len > text.size()) return false;
    out = 0;
    for (size_t i = at; i < at + len; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  auto is = [&](size_t at, const char* chars) {
    return at < text.size() && std::string_view(chars).find(text[at]) != std::string_view::npos;
  };
  std::tm tm{};
  int year, month, day, hour, minute, second;
  if (!num(0, 4, year) || !is(4, "-") || !num(5, 2, month) || !is(7, "-") || !num(8, 2, day) || !is(10, "Tt") ||
      !num(11, 2, hour) || !is(13, ":") || !num(14, 2, minute) || !is(16, ":") || !num(17, 2, second))
    return std::nullopt;
  size_t i = 19;
  if (is(i, ".")) {
    ++i;
    size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    if (i == start) return std::nullopt;
  }
  long long offset = 0;
  if (is(i, "Zz")) {
    ++i;
  } else if (is(i, "+-")) {
    int oh, om;
    if (!num(i + 1, 2, oh) || !is(i + 3, ":") || !num(i + 4, 2, om)) return std::nullopt;
    offset = (oh * 3600LL + om * 60LL) * (text[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != text.size()) return std::nullopt;
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return SystemTime(std::chrono::seconds(static_cast<long long>(timegm(&tm)) - offset));
}

std::string humanDuration(std::chrono::seconds d) {
  // A port of k8s.io/apimachinery/pkg/util/duration.HumanDuration.
  long long seconds = d.count();
  auto s = [](long long v, const char* unit) { return std::to_string(v) + unit; };
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 60 * 2) return s(seconds, "s");
  long long minutes = seconds / 60;
  if (minutes < 10) {
    long long rest = seconds % 60;
    return rest == 0 ? s(minutes, "m") : s(minutes, "m") + s(rest, "s");
  }
  if (minutes < 60 * 3) return s(minutes, "m");
  long long hours = seconds / 3600;
  if (hours < 8) {
    long long rest = minutes % 60;
    return rest == 0 ? s(hours, "h") : s(hours, "h") + s(rest, "m");
  }
  if (hours < 48) return s(hours, "h");
  if (hours < 24 * 8) {
    long long rest = hours % 24;
    return rest == 0 ? s(hours / 24, "d") : s(hours / 24, "d") + s(rest, "h");
  }
  if (hours < 24 * 365 * 2) return s(hours / 24, "d");
  if (hours < 24 * 365 * 8) {
    long long rest = (hours / 24) % 365;
    return rest == 0 ? s(hours / 24 / 365, "y") : s(hours / 24 / 365, "y") + s(rest, "d");
  }
  return s(hours / 24 / 365, "y");
}

}  // namespace tributary::apiserver
