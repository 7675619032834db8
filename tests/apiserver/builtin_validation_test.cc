// Built-in kinds the install creates are refused where a real API server
// refuses them (422 Invalid, one cause per field, the real field paths), and
// the new kinds — PodDisruptionBudgets and admission webhook configurations —
// are served at their real paths.
#include <gtest/gtest.h>

#include <set>

#include "tests/apiserver/api_client.h"

namespace tributary::apiserver::test {
namespace {

class BuiltinValidation : public ApiServerTest {};

std::set<std::string> fields(const Reply& r) {
  std::set<std::string> out;
  const Json causes =
      r.body.is_object() ? r.body.value("details", Json::object()).value("causes", Json::array()) : Json::array();
  for (const auto& c : causes) out.insert(c.value("field", ""));
  return out;
}

const std::string kDeployments = "/apis/apps/v1/namespaces/default/deployments";
const std::string kHooks = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";

Json deployment(Json selector, Json labels, Json containers, const std::string& name = "bad") {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"selector", {{"matchLabels", selector}}},
            {"template", {{"metadata", {{"labels", labels}}}, {"spec", {{"containers", containers}}}}}}}};
}

Json webhookConfig(Json hook) {
  return {{"apiVersion", "admissionregistration.k8s.io/v1"},
          {"kind", "MutatingWebhookConfiguration"},
          {"metadata", {{"name", "w"}}},
          {"webhooks", Json::array({hook})}};
}

Json goodHook() {
  return {{"name", "inject.example.dev"},
          {"clientConfig", {{"service", {{"namespace", "default"}, {"name", "svc"}, {"path", "/inject"}}}}},
          {"sideEffects", "None"},
          {"admissionReviewVersions", {"v1"}}};
}

TEST_F(BuiltinValidation, DeploymentSelectorMustMatchItsTemplateAndContainersNeedNameAndImage) {
  const Json containers = {{{"name", "app"}, {"image", "busybox"}}};
  EXPECT_EQ(client->post(kDeployments, deployment({{"app", "a"}}, {{"app", "a"}, {"x", "y"}}, containers, "d")).status,
            201);

  auto mismatch = client->post(kDeployments, deployment({{"app", "a"}}, {{"app", "b"}}, containers));
  EXPECT_EQ(mismatch.status, 422) << mismatch.raw;
  EXPECT_EQ(fields(mismatch), std::set<std::string>{"spec.template.metadata.labels"});
  EXPECT_NE(mismatch.body.value("message", "").find("`selector` does not match template `labels`"), std::string::npos);

  auto noContainers = client->post(kDeployments, deployment({{"app", "a"}}, {{"app", "a"}}, Json::array()));
  EXPECT_EQ(noContainers.status, 422);
  EXPECT_EQ(fields(noContainers), std::set<std::string>{"spec.template.spec.containers"});

  auto unnamed =
      client->post(kDeployments, deployment({{"app", "a"}}, {{"app", "a"}}, {{{"image", "busybox"}}, {{"name", "b"}}}));
  EXPECT_EQ(unnamed.status, 422);
  EXPECT_EQ(fields(unnamed),
            (std::set<std::string>{"spec.template.spec.containers[0].name", "spec.template.spec.containers[1].image"}));
  Json noSelector = deployment({}, {{"app", "a"}}, containers);
  noSelector["spec"].erase("selector");
  EXPECT_EQ(fields(client->post(kDeployments, noSelector)), std::set<std::string>{"spec.selector"});
  // Updates are checked too, and a dry run refuses what the write would.
  Json good = client->get(kDeployments + "/d").body;
  good["spec"]["template"]["metadata"]["labels"] = {{"app", "other"}};
  EXPECT_EQ(client->put(kDeployments + "/d", good).status, 422);
  EXPECT_EQ(client->post(kDeployments + "?dryRun=All", deployment({{"app", "a"}}, {{"app", "b"}}, containers)).status,
            422);
}

TEST_F(BuiltinValidation, PodsNeedContainers) {
  Json pod{{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", "p"}}}, {"spec", Json::object()}};
  auto r = client->post("/api/v1/namespaces/default/pods", pod);
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(fields(r), std::set<std::string>{"spec.containers"});
}

TEST_F(BuiltinValidation, WebhookConfigurationsNeedAServiceOrUrlSideEffectsAndReviewVersions) {
  auto ok = client->post(kHooks, webhookConfig(goodHook()));
  ASSERT_EQ(ok.status, 201) << ok.raw;
  EXPECT_EQ(client->get(kHooks + "/w").body["webhooks"][0]["name"], "inject.example.dev");

  Json bare = webhookConfig({{"name", "inject"}});
  bare["metadata"]["name"] = "bare";
  auto r = client->post(kHooks, bare);
  EXPECT_EQ(r.status, 422) << r.raw;
  EXPECT_EQ(fields(r), (std::set<std::string>{"webhooks[0].name", "webhooks[0].clientConfig", "webhooks[0].sideEffects",
                                              "webhooks[0].admissionReviewVersions"}));

  Json both = goodHook();
  both["clientConfig"]["url"] = "https://127.0.0.1:9443/inject";
  both["failurePolicy"] = "Sometimes";
  both["timeoutSeconds"] = 31;
  Json cfg = webhookConfig(both);
  cfg["metadata"]["name"] = "both";
  EXPECT_EQ(
      fields(client->post(kHooks, cfg)),
      (std::set<std::string>{"webhooks[0].clientConfig", "webhooks[0].failurePolicy", "webhooks[0].timeoutSeconds"}));
  // A URL alone is fine (how a locally running webhook is registered).
  Json url = goodHook();
  url["clientConfig"] = {{"url", "https://127.0.0.1:9443/inject"}};
  Json urlCfg = webhookConfig(url);
  urlCfg["metadata"]["name"] = "url";
  EXPECT_EQ(client->post(kHooks, urlCfg).status, 201);
  // Cluster-scoped: no namespaced path.
  EXPECT_EQ(
      client->get("/apis/admissionregistration.k8s.io/v1/namespaces/default/mutatingwebhookconfigurations").status,
      404);
  auto validating = webhookConfig(goodHook());
  validating["kind"] = "ValidatingWebhookConfiguration";
  EXPECT_EQ(client->post("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", validating).status,
            201);
}

TEST_F(BuiltinValidation, PodDisruptionBudgetsTakeMinAvailableOrMaxUnavailableNotBoth) {
  const std::string pdbs = "/apis/policy/v1/namespaces/default/poddisruptionbudgets";
  Json pdb{{"apiVersion", "policy/v1"},
           {"kind", "PodDisruptionBudget"},
           {"metadata", {{"name", "p"}}},
           {"spec", {{"minAvailable", 1}, {"selector", {{"matchLabels", {{"app", "a"}}}}}}}};
  EXPECT_EQ(client->post(pdbs, pdb).status, 201);
  pdb["metadata"]["name"] = "both";
  pdb["spec"]["maxUnavailable"] = 1;
  auto r = client->post(pdbs, pdb);
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(fields(r), std::set<std::string>{"spec"});
  auto discovery = client->get("/apis/policy/v1");
  ASSERT_EQ(discovery.status, 200);
  std::set<std::string> names;
  for (const auto& res : discovery.body["resources"]) names.insert(res["name"].get<std::string>());
  EXPECT_TRUE(names.count("poddisruptionbudgets"));
  EXPECT_TRUE(names.count("poddisruptionbudgets/status"));
}

}  // namespace
}  // namespace tributary::apiserver::test
