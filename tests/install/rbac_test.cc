// The RBAC of manifests/install.yaml against what the operator really does.
//
// - statically: the ClusterRole and Role grant exactly the API calls listed in
//   the session contract (docs: helm/tributary/README.md, "Permissions");
// - dynamically: install.yaml's objects are created on the test API server,
//   the operator's controller-mode command line runs with the Deployment's
//   arguments and its ConfigMaps (over the ClusterAdmin test double, as in e2e/:
//   no Kafka broker here), leader election on, through a KafkaTopic's create,
//   update and delete (deletionPolicy Delete) and a KafkaPipeline's (its ConfigMap
//   and Deployment, then a StatefulSet for exactlyOnce). Every request it sent (told apart
//   from this test's own by its User-Agent) must be allowed by the rules bound to
//   its ServiceAccount, and every granted verb must be used or explained below.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "tests/apiserver/api_client.h"
#include "tests/apiserver/command.h"
#include "tests/install/manifest.h"
#include "tests/install/rbac_policy.h"
#include "tests/support/subprocess.h"

namespace tributary::install::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using apiserver::test::ApiClient;
using apiserver::test::eventually;

Manifest installYaml() { return Manifest(readFile(sourceDir() + "/manifests/install.yaml")); }

std::string grantString(const Grant& g) {
  std::string names;
  for (const auto& n : g.resourceNames) names += (names.empty() ? "" : ",") + n;
  return (g.ns.empty() ? "cluster" : g.ns) + " " + g.key() + (names.empty() ? "" : " [" + names + "]");
}

// ---- the evaluator itself

TEST(RbacPolicyTest, ParsesRequestPathsAsTheApiServerDoes) {
  auto r = parseApiRequest("/apis/tributary.dev/v1alpha1/namespaces/apps/kafkatopics/orders/status?x=1", "patch");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->group, "tributary.dev");
  EXPECT_EQ(r->ns, "apps");
  EXPECT_EQ(r->resource, "kafkatopics");
  EXPECT_EQ(r->name, "orders");
  EXPECT_EQ(r->subresource, "status");
  auto list = parseApiRequest("/apis/tributary.dev/v1alpha1/kafkatopics?watch=1", "watch");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->ns, "");
  EXPECT_EQ(list->name, "");
  auto core = parseApiRequest("/api/v1/namespaces/apps/events", "create");
  ASSERT_TRUE(core);
  EXPECT_EQ(core->group, "");
  EXPECT_EQ(core->resource, "events");
  EXPECT_EQ(core->ns, "apps");
  auto ns = parseApiRequest("/api/v1/namespaces/apps", "get");
  ASSERT_TRUE(ns);
  EXPECT_EQ(ns->resource, "namespaces");
  EXPECT_EQ(ns->name, "apps");
  EXPECT_FALSE(parseApiRequest("/version", ""));
  EXPECT_FALSE(parseApiRequest("/apis/tributary.dev/v1alpha1", ""));
}

TEST(RbacPolicyTest, ResourceNamesNamespacesAndSubresourcesRestrictAsOnARealServer) {
  Manifest m(R"(
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: r, namespace: home}
rules:
- {apiGroups: [""], resources: [secrets], resourceNames: [mine], verbs: [get, create]}
- {apiGroups: [x.dev], resources: [things/status], verbs: [patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: r, namespace: home}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}
subjects: [{kind: ServiceAccount, name: sa, namespace: home}]
)");
  RbacPolicy p(m, "home", "sa");
  auto req = [](std::string path, std::string verb) { return *parseApiRequest(path, verb); };
  EXPECT_TRUE(p.allows(req("/api/v1/namespaces/home/secrets/mine", "get")));
  EXPECT_FALSE(p.allows(req("/api/v1/namespaces/home/secrets/other", "get")));
  EXPECT_FALSE(p.allows(req("/api/v1/namespaces/home/secrets", "create"))) << "resourceNames cannot allow create";
  EXPECT_FALSE(p.allows(req("/api/v1/namespaces/away/secrets/mine", "get"))) << "a Role is its namespace's";
  EXPECT_TRUE(p.allows(req("/apis/x.dev/v1/namespaces/home/things/a/status", "patch")));
  EXPECT_FALSE(p.allows(req("/apis/x.dev/v1/namespaces/home/things/a", "patch"))) << "status is not the object";
  EXPECT_TRUE(RbacPolicy(m, "home", "other").grants().empty()) << "bound to sa only";
}

// ---- install.yaml's rules

// The API calls of the session contract (issue #10), one grant per verb:
// "scope group/resource:verb [resourceNames]".
const std::set<std::string> kContractGrants = {
    "cluster tributary.dev/kafkatopics:get",
    "cluster tributary.dev/kafkatopics:list",
    "cluster tributary.dev/kafkatopics:watch",
    "cluster tributary.dev/kafkatopics:update",
    "cluster tributary.dev/kafkatopics:patch",
    "cluster tributary.dev/kafkatopics/status:get",
    "cluster tributary.dev/kafkatopics/status:update",
    "cluster tributary.dev/kafkatopics/status:patch",
    "cluster tributary.dev/kafkatopics/finalizers:update",
    "cluster tributary.dev/kafkaconsumergroups:get",
    "cluster tributary.dev/kafkaconsumergroups:list",
    "cluster tributary.dev/kafkaconsumergroups:watch",
    "cluster tributary.dev/kafkaconsumergroups:update",
    "cluster tributary.dev/kafkaconsumergroups:patch",
    "cluster tributary.dev/kafkaconsumergroups/status:get",
    "cluster tributary.dev/kafkaconsumergroups/status:update",
    "cluster tributary.dev/kafkaconsumergroups/status:patch",
    "cluster tributary.dev/kafkaconsumergroups/finalizers:update",
    "cluster tributary.dev/kafkapipelines:get",
    "cluster tributary.dev/kafkapipelines:list",
    "cluster tributary.dev/kafkapipelines:watch",
    "cluster tributary.dev/kafkapipelines/status:patch",
    "cluster tributary.dev/kafkapipelines/finalizers:update",
    "cluster apps/deployments:get",
    "cluster apps/deployments:list",
    "cluster apps/deployments:watch",
    "cluster apps/deployments:create",
    "cluster apps/deployments:update",
    "cluster apps/deployments:delete",
    "cluster apps/statefulsets:get",
    "cluster apps/statefulsets:list",
    "cluster apps/statefulsets:watch",
    "cluster apps/statefulsets:create",
    "cluster apps/statefulsets:update",
    "cluster apps/statefulsets:delete",
    "cluster apps/deployments/scale:get",
    "cluster apps/deployments/scale:update",
    "cluster apps/statefulsets/scale:get",
    "cluster apps/statefulsets/scale:update",
    "cluster autoscaling/horizontalpodautoscalers:list",
    "cluster core/events:create",
    "cluster core/events:patch",
    "cluster core/configmaps:get",
    "cluster core/configmaps:create",
    "cluster core/configmaps:update",
    "cluster admissionregistration.k8s.io/mutatingwebhookconfigurations:get [tributary-sidecar-injector]",
    "cluster admissionregistration.k8s.io/mutatingwebhookconfigurations:patch [tributary-sidecar-injector]",
    "tributary-system coordination.k8s.io/leases:get",
    "tributary-system coordination.k8s.io/leases:create",
    "tributary-system coordination.k8s.io/leases:update",
    "tributary-system core/secrets:create",
    "tributary-system core/secrets:get [tributary-webhook-tls]",
    "tributary-system core/secrets:update [tributary-webhook-tls]",
};

TEST(InstallRbacTest, RulesGrantExactlyTheApiCallsOfTheContract) {
  RbacPolicy policy(installYaml(), "tributary-system", "tributary-operator");
  std::set<std::string> granted;
  for (const auto& g : policy.grants()) {
    EXPECT_TRUE(granted.insert(grantString(g)).second) << "granted twice: " << grantString(g);
    EXPECT_NE(g.group, "*") << grantString(g);
    EXPECT_NE(g.resource, "*") << grantString(g);
    EXPECT_NE(g.verb, "*") << grantString(g);
  }
  for (const auto& g : granted) EXPECT_TRUE(kContractGrants.count(g)) << "granted beyond the contract: " << g;
  for (const auto& g : kContractGrants) EXPECT_TRUE(granted.count(g)) << "the contract's call is not granted: " << g;
}

// Granted verbs a short KafkaTopic lifecycle does not exercise, and why they are granted.
const std::map<std::string, std::string> kGrantedButNotExercised = {
    {"tributary.dev/kafkatopics:get", "read-after-conflict paths of controllers; the informer serves reads here"},
    {"tributary.dev/kafkatopics:update",
     "a PUT of a KafkaTopic (contract); finalizers are written with a merge patch guarded by the resourceVersion, so "
     "that what the informer does not store (managedFields, the last-applied annotation) stays on the server"},
    {"tributary.dev/kafkatopics/status:get", "reading status directly (contract); the informer carries it here"},
    {"tributary.dev/kafkatopics/status:update", "status written with a PUT (contract); it is a merge patch here"},
    {"tributary.dev/kafkatopics/finalizers:update",
     "not an API call: clusters with the OwnerReferencesPermissionEnforcement admission plugin check this "
     "permission when a client sets finalizers or owner references on a KafkaTopic"},
    {"tributary.dev/kafkaconsumergroups:get", "as for kafkatopics; the informer serves reads"},
    {"tributary.dev/kafkaconsumergroups:update", "as for kafkatopics: finalizers are a merge patch"},
    {"tributary.dev/kafkaconsumergroups:patch",
     "the finalizer of a group with deletionPolicy Delete is added and removed with a merge patch; no group here"},
    {"tributary.dev/kafkaconsumergroups/status:get", "as for kafkatopics; the informer carries status"},
    {"tributary.dev/kafkaconsumergroups/status:update", "as for kafkatopics; status is a merge patch"},
    {"tributary.dev/kafkaconsumergroups/status:patch", "lag, members and resets are written with a merge patch; no group here"},
    {"tributary.dev/kafkaconsumergroups/finalizers:update",
     "OwnerReferencesPermissionEnforcement, as for kafkatopics"},
    {"apps/deployments/scale:get", "spec.scaleTarget: reading the target's replicas; no group scales in this scenario"},
    {"apps/deployments/scale:update", "spec.scaleTarget: setting the target's replicas; no group scales here"},
    {"apps/statefulsets/scale:get", "spec.scaleTarget naming a StatefulSet; no group scales here"},
    {"apps/statefulsets/scale:update", "spec.scaleTarget naming a StatefulSet; no group scales here"},
    {"autoscaling/horizontalpodautoscalers:list",
     "spec.scaleTarget: an HPA on the same target means no writes; no group scales here"},
    {"core/events:patch",
     "a repeated Event is aggregated with a patch (count, lastTimestamp); each Event of this "
     "scenario happens once"},
    {"core/configmaps:get", "the sidecar injector: the ConfigMap named by a pod's tributary.dev/config"},
    {"core/configmaps:create", "a KafkaPipeline's file"},
    {"core/configmaps:update", "a KafkaPipeline's changed file"},
    {"tributary.dev/kafkapipelines:get", "as for kafkatopics; the informer serves reads"},
    {"tributary.dev/kafkapipelines/status:patch", "a KafkaPipeline's status"},
    {"tributary.dev/kafkapipelines/finalizers:update",
     "OwnerReferencesPermissionEnforcement: the pipeline's ConfigMap and workload set blockOwnerDeletion"},
    {"apps/deployments:get", "a KafkaPipeline's Deployment"},
    {"apps/deployments:create", "a KafkaPipeline's Deployment"},
    {"apps/deployments:update", "a KafkaPipeline's Deployment rolled or rescaled; the pipeline here changes kind instead"},
    {"apps/deployments:delete", "processing switched to exactlyOnce: the Deployment gives way to a StatefulSet"},
    {"apps/statefulsets:get", "an exactlyOnce KafkaPipeline's StatefulSet"},
    {"apps/statefulsets:create", "an exactlyOnce KafkaPipeline's StatefulSet"},
    {"apps/statefulsets:update", "an exactlyOnce KafkaPipeline's StatefulSet rolled or rescaled; not here"},
    {"apps/statefulsets:delete", "processing switched back to atLeastOnce: the StatefulSet gives way to a Deployment; not here"},
    {"admissionregistration.k8s.io/mutatingwebhookconfigurations:get",
     "the sidecar injector: publishing its CA in the webhook's caBundle"},
    {"admissionregistration.k8s.io/mutatingwebhookconfigurations:patch",
     "the sidecar injector: publishing its CA in the webhook's caBundle"},
    {"core/secrets:create", "the sidecar injector: the webhook's serving certificate, first start"},
    {"core/secrets:get", "the sidecar injector: the webhook's serving certificate"},
    {"core/secrets:update", "the sidecar injector: rotating the webhook's serving certificate"},
};

// The path a kind's objects are created at (every kind of install.yaml has the plural "<kind>s").
std::string collectionPath(const Json& o) {
  const std::string apiVersion = o["apiVersion"];
  std::string kind = o["kind"];
  for (auto& c : kind) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string path = apiVersion.find('/') == std::string::npos ? "/api/" + apiVersion : "/apis/" + apiVersion;
  if (o["metadata"].contains("namespace")) path += "/namespaces/" + o["metadata"]["namespace"].get<std::string>();
  return path + "/" + kind + "s";
}

class OperatorRbacTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tributary-install-rbac-XXXXXX").string();
    ASSERT_TRUE(mkdtemp(tmpl.data()));
    dir_ = tmpl;
    server.start();
    api = std::make_unique<ApiClient>(server.port());
    tributary::apiserver::test::writeKubeconfig(dir_ + "/kubeconfig", server.url());
  }
  void TearDown() override {
    operator_.reset();
    server.stop();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  Json readyCondition(const std::string& path) {
    auto o = api->get(path).body;
    for (const auto& c : o.value("status", Json::object()).value("conditions", Json::array()))
      if (c.value("type", "") == "Ready") return c;
    return Json::object();
  }

  apiserver::TestApiServer server;
  std::unique_ptr<ApiClient> api;
  std::unique_ptr<tributary::test::Subprocess> operator_;
  std::string dir_;
};

TEST_F(OperatorRbacTest, EveryRequestOfARunningOperatorIsAllowedAndEveryGrantIsUsedOrExplained) {
  const std::string binary = tributary::test::binDir() + "/tributary-operator-fake-kafka";
  const Manifest m = installYaml();
  for (const auto& o : m.objects()) {
    auto r = api->post(collectionPath(o), o);
    ASSERT_EQ(r.status, 201) << collectionPath(o) << ": " << r.raw;
  }
  ASSERT_TRUE(eventually([&] { return api->get("/apis/tributary.dev/v1alpha1").status == 200; }));

  // The Deployment's command line, with the ConfigMaps as files and local listeners.
  std::ofstream(dir_ + "/operator.yaml") << configMapData(m, "tributary-operator-config", "operator.yaml");
  std::ofstream(dir_ + "/sidecar.yaml") << configMapData(m, "tributary-sidecar", "sidecar.yaml");
  const auto help = apiserver::test::run(binary, {"--help"});
  ASSERT_EQ(help.exitCode, 0) << help.err;
  std::vector<std::string> args{"--kubeconfig", dir_ + "/kubeconfig", "--metrics-bind-address=127.0.0.1:0",
                                "--health-probe-bind-address=127.0.0.1:0"};
  if (help.out.find("--webhook-bind-address") != std::string::npos)
    args.push_back("--webhook-bind-address=127.0.0.1:0");
  std::vector<std::string> unknownToThisBuild;
  const Json& c = m.get("Deployment", "tributary-operator")["spec"]["template"]["spec"]["containers"][0];
  for (std::string a : c["args"].get<std::vector<std::string>>()) {
    const std::string flag = a.substr(0, a.find('='));
    if (flag == "--config") a = "--config=" + dir_ + "/operator.yaml";
    if (flag == "--sidecar-config") a = "--sidecar-config=" + dir_ + "/sidecar.yaml";
    if (help.out.find(flag) == std::string::npos) {
      unknownToThisBuild.push_back(a);
      continue;
    }
    args.push_back(a);
  }
  for (const auto& a : unknownToThisBuild)
    std::cout << "[ note     ] the operator of this build has no flag " << a << " (the Deployment passes it)\n";
  ::setenv("POD_NAME", "tributary-operator-0", 1);
  ::setenv("POD_NAMESPACE", "tributary-system", 1);

  server.clearRequests();
  operator_ = std::make_unique<tributary::test::Subprocess>(binary, args);
  ASSERT_TRUE(operator_->waitForLine("operator started", 30s)) << operator_->output();
  const std::string lease = "/apis/coordination.k8s.io/v1/namespaces/tributary-system/leases/tributary-operator";
  ASSERT_TRUE(eventually(
      [&] { return !api->get(lease).body.value("spec", Json::object()).value("holderIdentity", "").empty(); }, 60s))
      << operator_->output();

  // A KafkaTopic's life: create, raise partitions, delete (the topic goes with it).
  const std::string topics = "/apis/tributary.dev/v1alpha1/namespaces/default/kafkatopics";
  Json topic = {{"apiVersion", "tributary.dev/v1alpha1"},
                {"kind", "KafkaTopic"},
                {"metadata", {{"name", "rbac-orders"}, {"namespace", "default"}}},
                {"spec", {{"partitions", 3}, {"replicationFactor", 1}, {"deletionPolicy", "Delete"}}}};
  ASSERT_EQ(api->post(topics, topic).status, 201);
  ASSERT_TRUE(eventually([&] { return readyCondition(topics + "/rbac-orders").value("status", "") == "True"; }, 60s))
      << api->get(topics + "/rbac-orders").raw << operator_->output();
  ASSERT_EQ(api->patch(topics + "/rbac-orders", R"({"spec":{"partitions":6}})").status, 200);
  ASSERT_TRUE(eventually(
      [&] {
        auto o = api->get(topics + "/rbac-orders").body;
        return o["status"].value("partitions", 0) == 6 &&
               readyCondition(topics + "/rbac-orders").value("status", "") == "True";
      },
      60s))
      << api->get(topics + "/rbac-orders").raw;
  // A KafkaPipeline over that topic: its ConfigMap and Deployment, then exactlyOnce (a
  // StatefulSet replaces the Deployment), then deleted.
  const std::string pipelines = "/apis/tributary.dev/v1alpha1/namespaces/default/kafkapipelines";
  const std::string deployment = "/apis/apps/v1/namespaces/default/deployments/rbac-pipeline";
  const std::string statefulSet = "/apis/apps/v1/namespaces/default/statefulsets/rbac-pipeline";
  Json kp = {{"apiVersion", "tributary.dev/v1alpha1"},
             {"kind", "KafkaPipeline"},
             {"metadata", {{"name", "rbac-pipeline"}, {"namespace", "default"}}},
             {"spec",
              {{"source", {{"topics", {"rbac-orders"}}}},
               {"steps", Json::array({{{"filter", ".amount > 10"}}})},
               {"sinks", {{"default", {{"topic", "rbac-out"}}}}}}}};
  ASSERT_EQ(api->post(pipelines, kp).status, 201);
  ASSERT_TRUE(eventually([&] { return readyCondition(pipelines + "/rbac-pipeline").value("reason", "") == "Progressing"; },
                         60s))
      << api->get(pipelines + "/rbac-pipeline").raw << operator_->output();
  ASSERT_EQ(api->get(deployment).status, 200);
  ASSERT_EQ(api->patch(pipelines + "/rbac-pipeline", R"({"spec":{"processing":"exactlyOnce"}})").status, 200);
  ASSERT_TRUE(eventually([&] { return api->get(deployment).status == 404 && api->get(statefulSet).status == 200; }, 60s))
      << operator_->output();
  ASSERT_EQ(api->del(pipelines + "/rbac-pipeline").status, 200);

  ASSERT_EQ(api->del(topics + "/rbac-orders").status, 200);
  ASSERT_TRUE(eventually([&] { return api->get(topics + "/rbac-orders").status == 404; }, 60s)) << operator_->output();
  operator_->signal(SIGTERM);
  ASSERT_EQ(operator_->wait(60s), 0) << operator_->output();
  ASSERT_TRUE(eventually([&] { return api->get(lease).body["spec"].value("holderIdentity", "x").empty(); }))
      << "the lease is released on SIGTERM";

  // Every request of the operator, against the rules bound to its ServiceAccount.
  RbacPolicy policy(m, "tributary-system", "tributary-operator");
  std::set<std::string> used;
  std::map<std::string, int> calls;
  int operatorRequests = 0;
  for (const auto& rec : server.requests()) {
    if (rec.userAgent.rfind("tributary-operator/", 0) != 0) continue;  // this test's own requests
    ++operatorRequests;
    auto req = parseApiRequest(rec.target, rec.verb);
    if (!req) {
      // Non-resource URLs: system:discovery grants /version, /api, /apis and below to every authenticated user.
      const std::string path = rec.target.substr(0, rec.target.find('?'));
      EXPECT_TRUE(path == "/version" || path.rfind("/api", 0) == 0)
          << "a non-resource URL RBAC does not grant: " << rec.target;
      ++calls["GET " + path];
      continue;
    }
    EXPECT_TRUE(policy.allows(*req)) << "install.yaml's RBAC refuses the operator's " << req->describe();
    ++calls[req->describe().substr(0, req->describe().find(" ("))];
    for (const auto& g : policy.grants()) {
      const std::string resource = req->resource + (req->subresource.empty() ? "" : "/" + req->subresource);
      if (g.group == req->group && g.resource == resource && g.verb == req->verb && (g.ns.empty() || g.ns == req->ns))
        used.insert(g.key());
    }
  }
  EXPECT_GT(operatorRequests, 0) << "no request carried the operator's User-Agent";
  std::cout << "[ calls    ] the operator's API calls (" << operatorRequests << " requests):\n";
  for (const auto& [call, n] : calls) std::cout << "               " << n << " x " << call << "\n";
  for (const auto& g : policy.grants()) {
    if (used.count(g.key())) continue;
    auto why = kGrantedButNotExercised.find(g.key());
    EXPECT_NE(why, kGrantedButNotExercised.end())
        << "granted but never used, and not explained in kGrantedButNotExercised: " << grantString(g);
    if (why != kGrantedButNotExercised.end())
      std::cout << "[ unused   ] " << grantString(g) << " — " << why->second << "\n";
  }
  // The leader election, the informer, finalizers, status and Events were all exercised.
  for (const std::string key :
       {"coordination.k8s.io/leases:get", "coordination.k8s.io/leases:update", "tributary.dev/kafkatopics:list",
        "tributary.dev/kafkatopics:watch", "tributary.dev/kafkatopics:patch", "tributary.dev/kafkatopics/status:patch",
        "core/events:create"})
    EXPECT_TRUE(used.count(key)) << key << " was expected in this scenario";
}

}  // namespace
}  // namespace tributary::install::test
