// LeaderElector on a Lease in the test API server: one of two leads, a
// released lease is taken over at once, a leader that cannot renew steps
// down, and an abandoned lease is taken over once it expired.
#include <gtest/gtest.h>

#include <atomic>

#include "operator/kube/leader_elector.h"
#include "tests/operator/kube/kube_fixture.h"

namespace tributary::op::kube::test {
namespace {

struct Candidate {
  Candidate(KubeClient& client, LeaderElectionConfig config)
      : elector(client, std::move(config),
                {[this] { ++started; }, [this] { ++stopped; }}, registry) {}
  prometheus::Registry registry;
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};
  LeaderElector elector;
  double gauge() { return metricValue(registry, "tributary_operator_leader"); }
};

LeaderElectionConfig config(const std::string& ns, const std::string& identity,
                            std::chrono::milliseconds lease = 2000ms,
                            std::chrono::milliseconds renew = 1000ms, std::chrono::milliseconds retry = 200ms) {
  LeaderElectionConfig c;
  c.leaseNamespace = ns;
  c.leaseName = "tributary-operator";
  c.identity = identity;
  c.leaseDuration = lease;
  c.renewDeadline = renew;
  c.retryPeriod = retry;
  return c;
}

class LeaderElectionTest : public KubeTest {
 protected:
  Json lease() { return client->get(resources::kLeases, ns, "tributary-operator"); }
};

TEST_F(LeaderElectionTest, OneOfTwoLeadsAndAReleaseHandsOverAtOnce) {
  // A long lease: a takeover within the test's bound can only come from the release.
  Candidate a(*client, config(ns, "a", 60s, 30s, 100ms));
  Candidate b(*client, config(ns, "b", 60s, 30s, 100ms));
  a.elector.start();
  ASSERT_TRUE(eventually([&] { return a.elector.isLeader(); }));
  b.elector.start();
  ASSERT_TRUE(eventually([&] { return countRequests("get", "/leases/tributary-operator") >= 5; }));
  EXPECT_FALSE(b.elector.isLeader());
  EXPECT_EQ(lease()["spec"]["holderIdentity"], "a");
  EXPECT_EQ(a.gauge(), 1);
  EXPECT_EQ(b.gauge(), 0);

  a.elector.stop();
  EXPECT_FALSE(a.elector.isLeader());
  EXPECT_EQ(a.stopped.load(), 1);
  EXPECT_EQ(a.gauge(), 0);
  // isLeader() turns true just before onStartedLeading runs on the elector's
  // thread: await the callback, not only the flag (a race seen once under ASan).
  ASSERT_TRUE(eventually([&] { return b.elector.isLeader() && b.started.load() >= 1; }));
  EXPECT_EQ(b.started.load(), 1);
  EXPECT_EQ(lease()["spec"]["holderIdentity"], "b");
  EXPECT_EQ(lease()["spec"]["leaseTransitions"], 1);
  b.elector.stop();
  EXPECT_EQ(lease()["spec"]["holderIdentity"], "");
}

TEST_F(LeaderElectionTest, LeaderRenewsTheLease) {
  Candidate a(*client, config(ns, "a"));
  a.elector.start();
  ASSERT_TRUE(eventually([&] { return a.elector.isLeader(); }));
  std::string firstRenew = lease()["spec"]["renewTime"];
  ASSERT_TRUE(eventually([&] { return lease()["spec"]["renewTime"] != firstRenew; }));
  EXPECT_TRUE(a.elector.isLeader());
  EXPECT_EQ(a.stopped.load(), 0);
}

TEST_F(LeaderElectionTest, LeaderThatCannotRenewStepsDown) {
  SKIP_UNLESS_TEST_SERVER("failNextRequests()");
  Candidate a(*client, config(ns, "a"));
  a.elector.start();
  ASSERT_TRUE(eventually([&] { return a.elector.isLeader(); }));
  server->failNextRequests(1'000'000, 503, "/leases");
  ASSERT_TRUE(eventually([&] { return !a.elector.isLeader(); }));
  EXPECT_EQ(a.stopped.load(), 1);
  EXPECT_EQ(a.gauge(), 0);
  // Once the API server answers again it competes again (and, alone, wins).
  server->failNextRequests(0, 503);
  ASSERT_TRUE(eventually([&] { return a.elector.isLeader() && a.started.load() >= 2; }));
  EXPECT_EQ(a.started.load(), 2);
}

TEST_F(LeaderElectionTest, AbandonedLeaseIsTakenOverAfterItExpires) {
  // A leader that vanished without releasing: its lease says it holds for 1s.
  client->create(resources::kLeases, ns,
                 {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", "tributary-operator"}, {"namespace", ns}}},
                  {"spec",
                   {{"holderIdentity", "ghost"},
                    {"leaseDurationSeconds", 1},
                    {"renewTime", "2026-01-01T00:00:00.000000Z"},
                    {"leaseTransitions", 3}}}});
  clearRequests();
  Candidate b(*client, config(ns, "b", 2000ms, 1000ms, 100ms));
  b.elector.start();
  ASSERT_TRUE(eventually([&] { return b.elector.isLeader(); }));
  EXPECT_EQ(lease()["spec"]["holderIdentity"], "b");
  EXPECT_EQ(lease()["spec"]["leaseTransitions"], 4);
  // Expiry is judged by b's own clock from when it first saw the lease (the
  // renewTime written by another machine is not trusted), so b read the lease
  // more than once before writing it.
  size_t getsBeforeWrite = 0;
  for (const auto& r : apiServer->calls().calls()) {
    if (r.verb == "update") break;
    if (r.verb == "get") ++getsBeforeWrite;
  }
  EXPECT_GE(getsBeforeWrite, 2u);
}

TEST_F(LeaderElectionTest, ConcurrentCandidatesNeverBothLead) {
  Candidate a(*client, config(ns, "a", 2000ms, 1000ms, 50ms));
  Candidate b(*client, config(ns, "b", 2000ms, 1000ms, 50ms));
  Candidate c(*client, config(ns, "c", 2000ms, 1000ms, 50ms));
  a.elector.start();
  b.elector.start();
  c.elector.start();
  ASSERT_TRUE(eventually([&] { return a.elector.isLeader() || b.elector.isLeader() || c.elector.isLeader(); }));
  ASSERT_TRUE(eventually([&] { return countRequests("get", "/leases/") >= 30; }));
  EXPECT_EQ(a.started.load() + b.started.load() + c.started.load(), 1);
  EXPECT_EQ(int(a.elector.isLeader()) + int(b.elector.isLeader()) + int(c.elector.isLeader()), 1);
}

TEST(LeaderElectionConfigTest, RejectsInconsistentDurations) {
  auto c = config("default", "a", 1000ms, 2000ms, 200ms);
  try {
    validate(c);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("leaseDuration"), std::string::npos);
  }
  c = config("default", "a", 3000ms, 2000ms, 2000ms);
  EXPECT_THROW(validate(c), std::invalid_argument);
  c = config("default", "", 1000ms, 1000ms, 0ms);
  try {
    validate(c);
    FAIL();
  } catch (const std::invalid_argument& e) {
    std::string what = e.what();
    for (const char* key : {"identity", "retryPeriod", "leaseDuration"})
      EXPECT_NE(what.find(std::string("leaderElection.") + key), std::string::npos) << key << " in " << what;
  }
  EXPECT_NO_THROW(validate(config("default", "a")));
}

}  // namespace
}  // namespace tributary::op::kube::test
