#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace tributary {

// Durations in configuration are strings with a unit: "250ms", "10s", "1m", "2h",
// also compound ("1m30s"). A bare number is rejected: "is 30 seconds or 30 ms?"
// is exactly the silent default a config file must not have.
std::optional<std::chrono::milliseconds> parseDuration(std::string_view text);
std::string formatDuration(std::chrono::milliseconds d);

}  // namespace tributary
