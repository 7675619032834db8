#pragma once
#include <chrono>
#include <optional>
#include <string>

namespace tributary::apiserver {

using SystemTime = std::chrono::system_clock::time_point;

// metav1.Time on the wire: RFC 3339, UTC, whole seconds ("2024-05-01T10:00:00Z").
std::string formatTimestamp(SystemTime t);
// Accepts RFC 3339 with "Z" or a numeric offset, with or without fractional seconds.
std::optional<SystemTime> parseTimestamp(const std::string& text);
// kubectl's age format ("5s", "3m20s", "4h", "2d3h", "1y"), as the server
// renders `date` printer columns (k8s.io/apimachinery/pkg/util/duration).
std::string humanDuration(std::chrono::seconds d);

}  // namespace tributary::apiserver
