#include "operator/kube/leader_elector.h"

#include <ctime>
#include <stdexcept>
#include <vector>

#include "common/log/log.h"

namespace tributary::op::kube {

namespace {

// metav1.MicroTime: RFC 3339 with microseconds, UTC.
std::string microTimeNow() {
  auto now = std::chrono::system_clock::now();
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(micros / 1'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%06lldZ", buf, static_cast<long long>(micros % 1'000'000));
  return out;
}

int64_t secondsCeil(std::chrono::milliseconds d) { return std::max<int64_t>(1, (d.count() + 999) / 1000); }

}  // namespace

void validate(const LeaderElectionConfig& c) {
  std::vector<std::string> problems;
  if (c.leaseName.empty()) problems.push_back("leaderElection.leaseName: must be set");
  if (c.leaseNamespace.empty()) problems.push_back("leaderElection.namespace: must be set");
  if (c.identity.empty()) problems.push_back("leaderElection.identity: must be set");
  if (c.retryPeriod.count() <= 0) problems.push_back("leaderElection.retryPeriod: must be positive");
  if (c.renewDeadline <= c.retryPeriod) problems.push_back("leaderElection.renewDeadline: must be longer than retryPeriod");
  if (c.leaseDuration <= c.renewDeadline)
    problems.push_back("leaderElection.leaseDuration: must be longer than renewDeadline");
  if (problems.empty()) return;
  std::string all;
  for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
  throw std::invalid_argument(all);
}

LeaderElector::LeaderElector(KubeClient& client, LeaderElectionConfig config, LeaderCallbacks callbacks,
                             prometheus::Registry& registry)
    : client_(client),
      config_(std::move(config)),
      callbacks_(std::move(callbacks)),
      leaderGauge_(prometheus::BuildGauge()
                       .Name("tributary_operator_leader")
                       .Help("1 while this operator instance holds the leader-election lease")
                       .Register(registry)
                       .Add({})) {
  validate(config_);
}

LeaderElector::~LeaderElector() { stop(); }

void LeaderElector::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void LeaderElector::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool LeaderElector::waitFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stopping_.load(); });
}

void LeaderElector::setLeading(bool leading) {
  if (leading_.exchange(leading) == leading) return;
  leaderGauge_.Set(leading ? 1 : 0);
  log::info(leading ? "leader election: started leading" : "leader election: stopped leading",
            {{"lease", config_.leaseNamespace + "/" + config_.leaseName}, {"identity", config_.identity}});
  if (leading && callbacks_.onStartedLeading) callbacks_.onStartedLeading();
  if (!leading && callbacks_.onStoppedLeading) callbacks_.onStoppedLeading();
}

void LeaderElector::run() {
  while (!stopping_) {
    // Candidate: try every retryPeriod until we hold the lease.
    if (!tryAcquireOrRenew()) {
      if (!waitFor(config_.retryPeriod)) break;
      continue;
    }
    setLeading(true);
    // Leader: renew every retryPeriod; step down when renewals fail for renewDeadline.
    auto lastRenew = Clock::now();
    while (waitFor(config_.retryPeriod)) {
      if (tryAcquireOrRenew()) {
        lastRenew = Clock::now();
      } else if (Clock::now() - lastRenew >= config_.renewDeadline) {
        log::warn("leader election: could not renew within the deadline, stepping down",
                  {{"lease", config_.leaseNamespace + "/" + config_.leaseName}});
        break;
      }
    }
    if (stopping_) break;
    setLeading(false);
  }
  if (leading_) {
    release();
    setLeading(false);
  }
}

bool LeaderElector::tryAcquireOrRenew() {
  const std::string now = microTimeNow();
  Json lease;
  try {
    lease = client_.get(resources::kLeases, config_.leaseNamespace, config_.leaseName);
  } catch (const ApiError& e) {
    if (!isNotFound(e)) {
      log::warn("leader election: cannot read the lease", {{"error", e.what()}});
      return false;
    }
    Json fresh = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", config_.leaseName}, {"namespace", config_.leaseNamespace}}},
                  {"spec",
                   {{"holderIdentity", config_.identity},
                    {"leaseDurationSeconds", secondsCeil(config_.leaseDuration)},
                    {"acquireTime", now},
                    {"renewTime", now},
                    {"leaseTransitions", 0}}}};
    try {
      lastLease_ = client_.create(resources::kLeases, config_.leaseNamespace, fresh);
      observedRecord_ = lastLease_["spec"].dump();
      observedAt_ = Clock::now();
      return true;
    } catch (const ApiError& ce) {
      log::info("leader election: could not create the lease", {{"error", ce.what()}});
      return false;
    }
  }

  Json spec = lease.contains("spec") && lease["spec"].is_object() ? lease["spec"] : Json::object();
  std::string record = spec.dump();
  if (record != observedRecord_) {
    observedRecord_ = record;
    observedAt_ = Clock::now();
  }
  std::string holder = spec.value("holderIdentity", "");
  int64_t durationSeconds = spec.value("leaseDurationSeconds", int64_t{0});
  bool mine = holder == config_.identity;
  if (!holder.empty() && !mine && Clock::now() < observedAt_ + std::chrono::seconds(durationSeconds)) {
    return false;  // held by someone else and not expired
  }
  Json updated = lease;
  updated["spec"]["holderIdentity"] = config_.identity;
  updated["spec"]["leaseDurationSeconds"] = secondsCeil(config_.leaseDuration);
  updated["spec"]["renewTime"] = now;
  if (!mine) {
    updated["spec"]["acquireTime"] = now;
    updated["spec"]["leaseTransitions"] = spec.value("leaseTransitions", int64_t{0}) + 1;
  }
  try {
    lastLease_ = client_.update(resources::kLeases, config_.leaseNamespace, updated);
  } catch (const ApiError& e) {
    if (!isConflict(e)) log::warn("leader election: cannot write the lease", {{"error", e.what()}});
    return false;
  }
  observedRecord_ = lastLease_["spec"].dump();
  observedAt_ = Clock::now();
  return true;
}

void LeaderElector::release() {
  if (lastLease_.is_null()) return;
  Json released = lastLease_;
  // What client-go writes on release: no holder, a 1s duration, renewed now.
  released["spec"]["holderIdentity"] = "";
  released["spec"]["leaseDurationSeconds"] = 1;
  released["spec"]["renewTime"] = microTimeNow();
  try {
    lastLease_ = client_.update(resources::kLeases, config_.leaseNamespace, released);
  } catch (const ApiError& e) {
    // Someone else already holds it, or the server is gone: the lease expires on its own.
    log::warn("leader election: could not release the lease", {{"error", e.what()}});
  }
}

}  // namespace tributary::op::kube
