#pragma once
#include <memory>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace tributary {

// Content type of the Prometheus text exposition format 0.0.4.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// Collects every source and serializes with prometheus-cpp's TextSerializer.
std::string renderMetrics(const std::vector<std::shared_ptr<prometheus::Collectable>>& sources);

}  // namespace tributary
