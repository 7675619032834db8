#pragma once
// Helpers shared by the controller-runtime tests: reading metric values out of
// a prometheus registry, and awaiting a condition with a bound.
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include <prometheus/registry.h>

namespace tributary::op::runtime::testing {

// Value of the series `name` with exactly `labels`: counter/gauge value, or a
// histogram's sample count. nullopt when absent.
inline std::optional<double> metricValue(prometheus::Registry& registry, const std::string& name,
                                         const std::map<std::string, std::string>& labels) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      std::map<std::string, std::string> have;
      for (const auto& l : metric.label) have[l.name] = l.value;
      if (have != labels) continue;
      switch (family.type) {
        case prometheus::MetricType::Counter: return metric.counter.value;
        case prometheus::MetricType::Gauge: return metric.gauge.value;
        case prometheus::MetricType::Histogram: return static_cast<double>(metric.histogram.sample_count);
        default: return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

// Re-checks `condition` until it holds or `bound` passes (a bound against hangs,
// not a timing assumption: every use waits for something that must happen).
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds bound = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace tributary::op::runtime::testing
