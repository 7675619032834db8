#include "common/metrics/process_collector.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace tributary {
namespace {

long statusField(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(key) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stol(line.substr(prefix.size())) * 1024;
  }
  return 0;
}

prometheus::MetricFamily gauge(const std::string& name, const std::string& help, double v,
                               prometheus::MetricType type = prometheus::MetricType::Gauge) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) m.counter.value = v;
  else m.gauge.value = v;
  f.metric.push_back(m);
  return f;
}

}  // namespace

long residentBytes() { return statusField("VmRSS"); }
long peakResidentBytes() { return statusField("VmHWM"); }

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  std::ifstream statFile("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(statFile)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may contain spaces.
  auto close = stat.rfind(')');
  if (close != std::string::npos) {
    std::istringstream rest(stat.substr(close + 2));
    std::vector<std::string> f;
    std::string tok;
    while (rest >> tok) f.push_back(tok);
    // f[0] is field 3 (state); utime=14, stime=15, num_threads=20, starttime=22, vsize=23.
    if (f.size() > 21) {
      double cpu = (std::stod(f[11]) + std::stod(f[12])) / ticks;
      out.push_back(gauge("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", cpu,
                          prometheus::MetricType::Counter));
      out.push_back(gauge("process_threads", "Number of OS threads in the process.", std::stod(f[17])));
      out.push_back(gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", std::stod(f[20])));
      std::ifstream upFile("/proc/stat");
      std::string line;
      double btime = 0;
      while (std::getline(upFile, line))
        if (line.rfind("btime ", 0) == 0) btime = std::stod(line.substr(6));
      out.push_back(gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                          btime + std::stod(f[19]) / ticks));
    }
  }
  out.push_back(gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                      static_cast<double>(residentBytes())));
  int fds = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d) != nullptr) ++fds;
    closedir(d);
    fds -= 3;  // ".", ".." and the directory's own descriptor
  }
  out.push_back(gauge("process_open_fds", "Number of open file descriptors.", fds));
  return out;
}

}  // namespace tributary
