#pragma once
#include <chrono>
#include <ctime>
#include <optional>
#include <string_view>

namespace tributary::sidecar {

struct RetryConfig {
  int maxAttempts = 5;  // attempts in all, the first included
  std::chrono::milliseconds initialBackoff{200};
  std::chrono::milliseconds maxBackoff{30'000};
  double multiplier = 2.0;
  double jitter = 0.2;  // ± this fraction of the backoff, uniformly
};

// What an attempt's outcome means for the record.
enum class AttemptOutcome { Delivered, Retryable, NotRetryable };

// The push-delivery reading of an HTTP answer: 2xx delivered; 408, 429 and 5xx
// retryable (the app is busy or broken for now); any other status is the app
// saying "never" (4xx). Transport failures (timeout, refused, reset) are
// retryable and never reach this function.
AttemptOutcome classifyHttpStatus(int status);

// Exponential backoff with jitter. Pure: the caller supplies the random draw,
// so tests are exact.
class RetryPolicy {
 public:
  explicit RetryPolicy(RetryConfig config) : config_(config) {}

  // Backoff after attempt `attempt` (1-based) failed. `random01` is uniform in [0, 1).
  std::chrono::milliseconds backoff(int attempt, double random01) const;
  // No attempt is left after `attempts` attempts.
  bool exhausted(int attempts) const { return attempts >= config_.maxAttempts; }
  const RetryConfig& config() const { return config_; }

 private:
  RetryConfig config_;
};

// A Retry-After header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3),
// relative to `now`. nullopt when absent or unreadable; never negative.
std::optional<std::chrono::milliseconds> parseRetryAfter(std::string_view value, std::time_t now);

}  // namespace tributary::sidecar
