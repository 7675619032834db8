// AdmissionHandler: AdmissionReview (admission.k8s.io/v1) in, AdmissionReview
// out, with the ConfigMap lookups going to the test API server over HTTP. The
// base64 JSONPatch of a response is decoded and applied with
// nlohmann::json::patch, and the resulting pod asserted.
#include <gtest/gtest.h>

#include "common/codec/base64.h"
#include "operator/inject/admission_handler.h"
#include "tests/operator/kube/kube_fixture.h"

namespace tributary::op::inject {
namespace {

using kube::test::KubeTest;
using kube::test::metricValue;

Json reviewIn(const Json& podObject, const std::string& ns, const std::string& operation = "CREATE",
              const std::string& kind = "Pod") {
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
            {"kind", {{"group", ""}, {"version", "v1"}, {"kind", kind}}},
            {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
            {"namespace", ns},
            {"operation", operation},
            {"userInfo", {{"username", "system:serviceaccount:kube-system:replicaset-controller"}}},
            {"object", podObject},
            {"dryRun", false}}}};
}

// A pod as a ReplicaSet creates it: generateName, no name, no namespace.
Json pod(Json annotations) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"generateName", "orders-7d9f-"}, {"annotations", annotations}}},
          {"spec", {{"containers", Json::array({{{"name", "app"}, {"image", "example/app:1"}}})}}}};
}

class AdmissionTest : public KubeTest {
 protected:
  void SetUp() override {
    KubeTest::SetUp();
    sharedClient = std::shared_ptr<kube::KubeClient>(newClient(clientRegistry).release());
    shop = ns;  // the test's own namespace plays the app's
    InjectorSettings s;
    s.sidecarImage = "tributary/sidecar:test";
    s.defaultConfigYaml = "kafka:\n  bootstrapServers: kafka:9092\n";
    s.nativeSidecars = true;
    injector = std::make_shared<SidecarInjector>(s);
    handler = std::make_unique<AdmissionHandler>([this] { return injector; }, sharedClient, metrics);
  }

  void TearDown() override {
    // Our client's idle keep-alive connection would hold the server's stop().
    handler.reset();
    sharedClient.reset();
    KubeTest::TearDown();
  }

  // A review of `podObject` created in `reqNs` (default: the app's namespace).
  Json review(const Json& podObject, const std::string& reqNs = "", const std::string& operation = "CREATE",
              const std::string& kind = "Pod") {
    return reviewIn(podObject, reqNs.empty() ? shop : reqNs, operation, kind);
  }
  // The answer as the API server reads it.
  Json answer(const Json& request, int expectStatus = 200) {
    AdmissionAnswer a = handler->handle(request.dump());
    EXPECT_EQ(a.httpStatus, expectStatus) << a.body;
    return Json::parse(a.body);
  }
  // The pod the API server would store: the patch applied.
  Json patched(const Json& podObject, const Json& response) {
    EXPECT_EQ(response.value("patchType", ""), "JSONPatch");
    auto decoded = base64Decode(response.value("patch", ""));
    EXPECT_TRUE(decoded.has_value());
    return podObject.patch(Json::parse(decoded.value_or("[]")));
  }

  std::string shop;
  prometheus::Registry clientRegistry, metrics;
  std::shared_ptr<kube::KubeClient> sharedClient;
  std::shared_ptr<const SidecarInjector> injector;
  std::unique_ptr<AdmissionHandler> handler;
};

TEST_F(AdmissionTest, AnnotatedPodGetsTheSidecarAsAJsonPatchAndTheUidEchoed) {
  Json p = pod({{"tributary.dev/inject", "true"}});
  Json out = answer(review(p));
  EXPECT_EQ(out["apiVersion"], "admission.k8s.io/v1");
  EXPECT_EQ(out["kind"], "AdmissionReview");
  EXPECT_EQ(out["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
  EXPECT_EQ(out["response"]["allowed"], true);
  Json stored = patched(p, out["response"]);
  EXPECT_EQ(stored["spec"]["initContainers"][0]["name"], "tributary-sidecar");
  EXPECT_EQ(stored["spec"]["initContainers"][0]["restartPolicy"], "Always");
  EXPECT_EQ(stored["spec"]["containers"][0]["env"][0],
            (Json{{"name", "TRIBUTARY_URL"}, {"value", "http://127.0.0.1:9191"}}));
  EXPECT_EQ(metricValue(metrics, "tributary_operator_admissions_total", {{"result", "injected"}}), 1);
}

TEST_F(AdmissionTest, PodsWithoutTheAnnotationAndOtherRequestsAreAllowedUnchanged) {
  for (const Json& request : {review(pod(Json::object())), review(pod({{"tributary.dev/inject", "false"}})),
                              review(pod({{"tributary.dev/inject", "true"}}), shop, "UPDATE"),
                              review(pod({{"tributary.dev/inject", "true"}}), shop, "CREATE", "Service")}) {
    Json out = answer(request);
    EXPECT_EQ(out["response"]["allowed"], true);
    EXPECT_FALSE(out["response"].contains("patch")) << out.dump();
    EXPECT_FALSE(out["response"].contains("patchType"));
  }
  EXPECT_EQ(metricValue(metrics, "tributary_operator_admissions_total", {{"result", "not_requested"}}), 4);
}

TEST_F(AdmissionTest, AnAlreadyInjectedPodIsAllowedWithoutAPatch) {
  Json p = pod({{"tributary.dev/inject", "true"}});
  Json once = patched(p, answer(review(p))["response"]);
  Json again = answer(review(once));
  EXPECT_EQ(again["response"]["allowed"], true);
  EXPECT_FALSE(again["response"].contains("patch"));
  EXPECT_EQ(metricValue(metrics, "tributary_operator_admissions_total", {{"result", "already_injected"}}), 1);
}

TEST_F(AdmissionTest, OldServerSettingsGiveTheClassicForm) {
  InjectorSettings s = injector->settings();
  s.nativeSidecars = false;
  injector = std::make_shared<SidecarInjector>(s);
  Json p = pod({{"tributary.dev/inject", "true"}});
  Json stored = patched(p, answer(review(p))["response"]);
  EXPECT_FALSE(stored["spec"].contains("initContainers"));
  EXPECT_EQ(stored["spec"]["containers"][0]["name"], "tributary-sidecar");
  EXPECT_EQ(stored["spec"]["containers"][1]["name"], "app");
}

TEST_F(AdmissionTest, ABadResourceAnnotationIsDeniedWith400NamingIt) {
  Json out = answer(review(pod({{"tributary.dev/inject", "true"}, {"tributary.dev/sidecar-memory-limit", "lots"}})));
  EXPECT_EQ(out["response"]["allowed"], false);
  EXPECT_EQ(out["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
  EXPECT_EQ(out["response"]["status"]["code"], 400);
  EXPECT_EQ(out["response"]["status"]["reason"], "BadRequest");
  const std::string message = out["response"]["status"]["message"];
  EXPECT_NE(message.find("tributary.dev/sidecar-memory-limit"), std::string::npos) << message;
  EXPECT_NE(message.find("lots"), std::string::npos) << message;
  EXPECT_FALSE(out["response"].contains("patch"));
  EXPECT_EQ(metricValue(metrics, "tributary_operator_admissions_total", {{"result", "refused"}}), 1);
}

TEST_F(AdmissionTest, AnUnknownConfigMapIsDeniedNamingTheAnnotationTheConfigMapAndTheNamespace) {
  Json out = answer(review(pod({{"tributary.dev/inject", "true"}, {"tributary.dev/config", "orders-sidecar"}})));
  EXPECT_EQ(out["response"]["allowed"], false);
  EXPECT_EQ(out["response"]["status"]["code"], 400);
  const std::string message = out["response"]["status"]["message"];
  EXPECT_NE(message.find("tributary.dev/config"), std::string::npos) << message;
  EXPECT_NE(message.find("\"orders-sidecar\""), std::string::npos) << message;
  EXPECT_NE(message.find("\"" + shop + "\""), std::string::npos) << "the namespace comes from the request: " << message;
  EXPECT_NE(message.find("not found"), std::string::npos) << message;
}

TEST_F(AdmissionTest, AConfigMapThatExistsIsMountedAndOneWithoutTheKeyIsDenied) {
  Json cm{{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", "orders-sidecar"}, {"namespace", shop}}},
          {"data", {{"sidecar.yaml", "kafka:\n  bootstrapServers: kafka:9092\n"}}}};
  client->create(kube::resources::kConfigMaps, shop, cm);
  Json p = pod({{"tributary.dev/inject", "true"}, {"tributary.dev/config", "orders-sidecar"}});
  Json out = answer(review(p));
  ASSERT_EQ(out["response"]["allowed"], true) << out.dump();
  Json stored = patched(p, out["response"]);
  EXPECT_EQ(stored["spec"]["volumes"][0]["configMap"]["name"], "orders-sidecar");
  EXPECT_EQ(countRequests("get", "/api/v1/namespaces/" + shop + "/configmaps/orders-sidecar"), 1u);

  cm["metadata"]["name"] = "wrong-key";
  cm["data"] = {{"config.yaml", "x"}};
  client->create(kube::resources::kConfigMaps, shop, cm);
  Json denied = answer(review(pod({{"tributary.dev/inject", "true"}, {"tributary.dev/config", "wrong-key"}})));
  EXPECT_EQ(denied["response"]["allowed"], false);
  EXPECT_NE(denied["response"]["status"]["message"].get<std::string>().find("no key sidecar.yaml"), std::string::npos);
}

TEST_F(AdmissionTest, AnApiServerErrorDeniesThePodRatherThanCreateItWithoutItsSidecar) {
  SKIP_UNLESS_TEST_SERVER("failNextRequests()");
  server->failNextRequests(1, 503, "/configmaps/");
  Json out = answer(review(pod({{"tributary.dev/inject", "true"}, {"tributary.dev/config", "orders-sidecar"}})));
  EXPECT_EQ(out["response"]["allowed"], false);
  EXPECT_EQ(out["response"]["status"]["code"], 503);
  const std::string message = out["response"]["status"]["message"];
  EXPECT_NE(message.find("tributary.dev/config"), std::string::npos) << message;
  EXPECT_NE(message.find("cannot read"), std::string::npos) << message;
  EXPECT_EQ(metricValue(metrics, "tributary_operator_admissions_total", {{"result", "api_error"}}), 1);
}

TEST_F(AdmissionTest, MalformedReviewsAre400WithAClearMessage) {
  struct Case {
    std::string body;
    std::string mentions;
  };
  const std::vector<Case> cases = {
      {"not json", "not JSON"},
      {"[]", "not an AdmissionReview"},
      {R"({"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u"}})", "v1beta1"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})", "request"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"kind":{"kind":"Pod"}}})", "uid"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","kind":{"group":"","kind":"Pod"}}})",
       "request.object"},
  };
  for (const auto& c : cases) {
    AdmissionAnswer a = handler->handle(c.body);
    EXPECT_EQ(a.httpStatus, 400) << c.body;
    Json body = Json::parse(a.body);
    EXPECT_EQ(body["errorCode"], "BAD_REQUEST");
    EXPECT_NE(body["error"].get<std::string>().find(c.mentions), std::string::npos) << body.dump();
  }
  EXPECT_EQ(metricValue(metrics, "tributary_operator_admissions_total", {{"result", "malformed"}}), 6);
}

}  // namespace
}  // namespace tributary::op::inject
