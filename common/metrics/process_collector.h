#pragma once
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace tributary {

// The standard Prometheus process metrics, read from /proc/self at scrape time:
// process_resident_memory_bytes, process_virtual_memory_bytes,
// process_cpu_seconds_total, process_open_fds, process_start_time_seconds,
// process_threads. They keep their conventional names (not tributary_*) so that
// existing dashboards and alerts work unchanged.
class ProcessCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

// Current and peak resident set size of this process, in bytes (0 if unknown).
long residentBytes();
long peakResidentBytes();

}  // namespace tributary
