#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "operator/kube/kube_client.h"

namespace tributary::op::kube {

struct LeaderElectionConfig {
  std::string leaseNamespace;
  std::string leaseName;
  std::string identity;  // unique per process: pod name + a random suffix
  // How long a lease holds after its last renewal, as observed by candidates.
  std::chrono::milliseconds leaseDuration{15'000};
  // The leader gives up when it could not renew for this long (< leaseDuration,
  // so it stops acting before anyone else may take over).
  std::chrono::milliseconds renewDeadline{10'000};
  // How often the leader renews and candidates retry.
  std::chrono::milliseconds retryPeriod{2'000};
};

// Validates the durations (leaseDuration > renewDeadline > retryPeriod > 0,
// names set); throws std::invalid_argument naming every field that is wrong.
void validate(const LeaderElectionConfig& config);

struct LeaderCallbacks {
  std::function<void()> onStartedLeading;
  std::function<void()> onStoppedLeading;
};

// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it:
// a candidate takes the lease when it is absent, released (no holder), or
// expired — renewTime + leaseDurationSeconds in the past as measured by this
// elector's own clock since it last saw the lease change, never by comparing
// clocks across machines. Writes are optimistic (resourceVersion): a 409 means
// someone else won. The leader renews every retryPeriod and steps down when it
// could not renew within renewDeadline; stop() releases the lease (holder
// cleared) so a successor takes over at its next retry. A leader that steps
// down goes back to being a candidate.
//
// Threads: start()/stop() from the owning thread (stop() joins and, if
// leading, releases and calls onStoppedLeading). Callbacks run on the
// elector's own thread and must return promptly (start or stop work
// elsewhere). isLeader() from any thread.
class LeaderElector {
 public:
  LeaderElector(KubeClient& client, LeaderElectionConfig config, LeaderCallbacks callbacks,
                prometheus::Registry& registry);
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  void start();
  void stop();
  bool isLeader() const { return leading_.load(); }

 private:
  using Clock = std::chrono::steady_clock;
  void run();
  // One attempt to acquire or renew; true when we hold the lease afterwards.
  bool tryAcquireOrRenew();
  void release();
  void setLeading(bool leading);
  bool waitFor(std::chrono::milliseconds d);  // false when stopping

  KubeClient& client_;
  const LeaderElectionConfig config_;
  const LeaderCallbacks callbacks_;
  prometheus::Gauge& leaderGauge_;

  // The lease as last observed and when (our clock): expiry is judged from these.
  std::string observedRecord_;
  Clock::time_point observedAt_;
  Json lastLease_;  // the last lease we wrote or read, for release()

  std::atomic<bool> leading_{false};
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace tributary::op::kube
