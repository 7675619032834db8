#include "common/tracing/trace_context.h"

#include <random>

namespace tributary::tracing {
namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // uppercase is not valid in traceparent
}

// Reads exactly out.size() bytes as 2·N lowercase hex digits; false otherwise.
template <size_t N>
bool readHex(std::string_view s, std::array<uint8_t, N>& out) {
  if (s.size() != 2 * N) return false;
  for (size_t i = 0; i < N; ++i) {
    const int hi = hexValue(s[2 * i]), lo = hexValue(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <size_t N>
bool allZero(const std::array<uint8_t, N>& a) {
  for (uint8_t b : a)
    if (b != 0) return false;
  return true;
}

std::mt19937_64& generator() {
  thread_local std::mt19937_64 g{std::random_device{}()};
  return g;
}

template <size_t N>
std::array<uint8_t, N> randomBytes() {
  std::array<uint8_t, N> out{};
  do {
    for (size_t i = 0; i < N; i += 8) {
      uint64_t v = generator()();
      for (size_t j = 0; j < 8 && i + j < N; ++j) out[i + j] = static_cast<uint8_t>(v >> (8 * j));
    }
  } while (allZero(out));
  return out;
}

}  // namespace

std::optional<TraceContext> parseTraceparent(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  // version "-" trace-id "-" parent-id "-" flags: 2+1+32+1+16+1+2 = 55.
  if (v.size() < 55) return std::nullopt;
  std::array<uint8_t, 1> version{};
  if (!readHex(v.substr(0, 2), version) || version[0] == 0xff) return std::nullopt;
  if (version[0] == 0 && v.size() != 55) return std::nullopt;
  if (v.size() > 55 && v[55] != '-') return std::nullopt;
  if (v[2] != '-' || v[35] != '-' || v[52] != '-') return std::nullopt;
  TraceContext c;
  std::array<uint8_t, 1> flags{};
  if (!readHex(v.substr(3, 32), c.traceId) || !readHex(v.substr(36, 16), c.spanId) ||
      !readHex(v.substr(53, 2), flags))
    return std::nullopt;
  if (allZero(c.traceId) || allZero(c.spanId)) return std::nullopt;
  // Version 00 defines only the sampled bit; other bits are not passed on.
  c.flags = static_cast<uint8_t>(flags[0] & 0x01);
  return c;
}

std::string toHex(const uint8_t* bytes, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0x0f];
  }
  return out;
}

std::string formatTraceparent(const TraceContext& c) {
  std::string out;
  out.reserve(55);
  out += "00-";
  out += toHex(c.traceId);
  out += '-';
  out += toHex(c.spanId);
  out += c.sampled() ? "-01" : "-00";
  return out;
}

std::string sanitizeTracestate(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.size() > 512) return "";
  for (char c : v)
    if (c < 0x20 || c > 0x7e) return "";
  return std::string(v);
}

std::optional<TraceContext> fromRecordHeaders(const std::vector<std::pair<std::string, std::string>>& headers) {
  const std::string* parent = nullptr;
  const std::string* state = nullptr;
  for (const auto& [name, value] : headers) {
    if (name == "traceparent") parent = &value;
    else if (name == "tracestate") state = &value;
  }
  if (!parent) return std::nullopt;
  auto c = parseTraceparent(*parent);
  if (c && state) c->traceState = sanitizeTracestate(*state);
  return c;
}

std::array<uint8_t, 16> newTraceId() { return randomBytes<16>(); }
std::array<uint8_t, 8> newSpanId() { return randomBytes<8>(); }

}  // namespace tributary::tracing
