#pragma once
#include <sys/types.h>

#include <string>

namespace tributary::bench {

// librdkafka's mock cluster (tributary::EmbeddedKafka) in a child process of
// its own, so that a bench's raw client and the sidecar meet a broker that does
// not share their process: in-process, the broker threads competed with the
// raw consumer for the process's locks and allocator, and the raw consumer read
// ~186k records/s where the same cluster in its own process serves ~1M.
//
// The child is this executable run again with `--cluster-process BROKERS`; the
// bench's main calls serveClusterProcess() for that argument (after setting up
// whatever the child needs, e.g. the benches' accept() interposer). Commands go
// over the child's stdin, one per line ("topic NAME PARTITIONS RF"), answers come
// back on its stdout ("ok" or "error ..."); EOF on stdin ends the child.
//
// Thread safety: one owning thread (the bench's main thread).
class ClusterProcess {
 public:
  // Starts the child and waits for its bootstrap servers. `extraArgs` are passed
  // after the broker count (for the bench's own child-side options).
  explicit ClusterProcess(int brokers, const std::string& extraArg = "");
  ~ClusterProcess();
  ClusterProcess(const ClusterProcess&) = delete;
  ClusterProcess& operator=(const ClusterProcess&) = delete;

  const std::string& bootstrapServers() const { return bootstrap_; }
  void createTopic(const std::string& topic, int partitions, int replicationFactor = 1);
  // CPU the cluster process used so far (user + system), seconds.
  double cpuSeconds() const;
  pid_t pid() const { return pid_; }

 private:
  std::string command(const std::string& line);

  pid_t pid_ = -1;
  int toChild_ = -1;
  int fromChild_ = -1;
  std::string bootstrap_;
};

// The child's side: runs the cluster, prints its bootstrap servers, serves
// commands until stdin closes. Returns the process exit code.
int serveClusterProcess(int brokers);

// CPU (user + system) a process used so far, seconds, from /proc/PID/stat.
double processCpuSeconds(pid_t pid);

}  // namespace tributary::bench
