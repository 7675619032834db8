#include "sidecar/consume/retry_policy.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

namespace tributary::sidecar {

AttemptOutcome classifyHttpStatus(int status) {
  if (status >= 200 && status < 300) return AttemptOutcome::Delivered;
  if (status == 408 || status == 429 || status >= 500) return AttemptOutcome::Retryable;
  return AttemptOutcome::NotRetryable;
}

std::chrono::milliseconds RetryPolicy::backoff(int attempt, double random01) const {
  const double base = static_cast<double>(config_.initialBackoff.count()) *
                      std::pow(config_.multiplier, std::max(0, attempt - 1));
  const double capped = std::min(base, static_cast<double>(config_.maxBackoff.count()));
  const double jittered = capped * (1.0 + config_.jitter * (2.0 * random01 - 1.0));
  return std::chrono::milliseconds(static_cast<int64_t>(std::max(0.0, std::round(jittered))));
}

std::optional<std::chrono::milliseconds> parseRetryAfter(std::string_view v, std::time_t now) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  if (std::all_of(v.begin(), v.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    if (v.size() > 9) return std::nullopt;
    return std::chrono::seconds(std::stol(std::string(v)));
  }
  std::tm tm{};
  const std::string s(v);
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const std::time_t at = timegm(&tm);
  return std::chrono::seconds(std::max<std::time_t>(0, at - now));
}

}  // namespace tributary::sidecar
