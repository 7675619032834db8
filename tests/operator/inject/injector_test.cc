// SidecarInjector, quantities, /version parsing and the YAML writer: pure
// logic. Every patch is applied with nlohmann::json::patch (a real RFC 6902
// implementation) and the resulting pod asserted, as the API server would
// apply it.
#include <gtest/gtest.h>

#include "operator/app/yaml_json.h"
#include "operator/inject/quantity.h"
#include "operator/inject/server_version.h"
#include "operator/inject/sidecar_injector.h"

namespace tributary::op::inject {
namespace {

using Outcome = InjectionResult::Outcome;

Json pod(Json annotations, Json spec = Json()) {
  if (spec.is_null())
    spec = {{"containers", Json::array({{{"name", "app"}, {"image", "example/app:1"}}})}};
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", "orders"}, {"annotations", annotations}}},
          {"spec", spec}};
}

Json annotated(Json extra = Json::object()) {
  Json a{{"tributary.dev/inject", "true"}};
  a.update(extra);
  return a;
}

InjectorSettings settings(bool native = true, std::string config = "kafka:\n  bootstrapServers: kafka:9092\n") {
  InjectorSettings s;
  s.sidecarImage = "tributary/sidecar:test";
  s.defaultConfigYaml = std::move(config);
  s.nativeSidecars = native;
  s.version = "9.9.9";
  return s;
}

const Json* container(const Json& list, const std::string& name) {
  if (!list.is_array()) return nullptr;
  for (const auto& c : list)
    if (c.value("name", "") == name) return &c;
  return nullptr;
}

const Json* env(const Json& c, const std::string& name) {
  if (!c.contains("env")) return nullptr;
  for (const auto& e : c["env"])
    if (e.value("name", "") == name) return &e;
  return nullptr;
}

// What the API server stores: the input with the returned patch applied.
Json applied(const Json& input, const InjectionResult& r) {
  Json out = input.patch(r.patch);
  EXPECT_EQ(out, r.object) << "the returned object is the patch applied";
  return out;
}

TEST(SidecarInjector, NativeSidecarIsTheFirstInitContainerWithRestartPolicyAlwaysAndAStartupProbe) {
  SidecarInjector injector(settings(true));
  Json in = pod(annotated(), {{"containers", Json::array({{{"name", "app"}, {"image", "a"}}})},
                              {"initContainers", Json::array({{{"name", "migrate"}, {"image", "m"}}})}});
  auto r = injector.inject(in);
  ASSERT_EQ(r.outcome, Outcome::Injected) << r.message;
  EXPECT_TRUE(r.native);
  Json out = applied(in, r);
  ASSERT_EQ(out["spec"]["initContainers"].size(), 2u);
  const Json& sidecar = out["spec"]["initContainers"][0];
  EXPECT_EQ(sidecar["name"], "tributary-sidecar");
  EXPECT_EQ(sidecar["restartPolicy"], "Always");
  EXPECT_EQ(sidecar["image"], "tributary/sidecar:test");
  EXPECT_EQ(sidecar["startupProbe"]["httpGet"]["path"], "/healthz");
  EXPECT_EQ(sidecar["startupProbe"]["httpGet"]["port"], 9192);
  EXPECT_EQ(sidecar["livenessProbe"]["httpGet"]["path"], "/healthz");
  EXPECT_EQ(sidecar["readinessProbe"]["httpGet"]["path"], "/readyz");
  EXPECT_EQ(sidecar["readinessProbe"]["httpGet"]["port"], 9192);
  EXPECT_EQ(out["spec"]["initContainers"][1]["name"], "migrate");
  EXPECT_EQ(out["spec"]["containers"].size(), 1u) << "no sidecar among the regular containers";
  EXPECT_EQ(out["metadata"]["annotations"]["tributary.dev/injected"], "9.9.9");
}

TEST(SidecarInjector, ClassicSidecarIsTheFirstContainerWithoutRestartPolicy) {
  SidecarInjector injector(settings(false));
  Json in = pod(annotated(), {{"containers", Json::array({{{"name", "app"}}, {{"name", "worker"}}})}});
  auto r = injector.inject(in);
  ASSERT_EQ(r.outcome, Outcome::Injected) << r.message;
  EXPECT_FALSE(r.native);
  Json out = applied(in, r);
  ASSERT_EQ(out["spec"]["containers"].size(), 3u);
  EXPECT_EQ(out["spec"]["containers"][0]["name"], "tributary-sidecar");
  EXPECT_FALSE(out["spec"]["containers"][0].contains("restartPolicy"));
  EXPECT_FALSE(out["spec"].contains("initContainers"));
  // Both app containers, whose indexes moved, got TRIBUTARY_URL.
  for (const char* name : {"app", "worker"}) {
    const Json* c = container(out["spec"]["containers"], name);
    ASSERT_NE(c, nullptr);
    ASSERT_NE(env(*c, "TRIBUTARY_URL"), nullptr) << name;
    EXPECT_EQ((*env(*c, "TRIBUTARY_URL"))["value"], "http://127.0.0.1:9191");
  }
  EXPECT_EQ(env(out["spec"]["containers"][0], "TRIBUTARY_URL"), nullptr) << "not on the sidecar itself";
}

TEST(SidecarInjector, NativeSidecarFalseAnnotationForcesClassicOnANewServer) {
  SidecarInjector injector(settings(true));
  auto r = injector.inject(pod(annotated({{"tributary.dev/native-sidecar", "false"}})));
  ASSERT_EQ(r.outcome, Outcome::Injected) << r.message;
  EXPECT_FALSE(r.native);
  EXPECT_EQ(r.object["spec"]["containers"][0]["name"], "tributary-sidecar");
}

TEST(SidecarInjector, OldServerGetsClassicEvenWhenThePodAsksForNative) {
  SidecarInjector injector(settings(false));
  auto r = injector.inject(pod(annotated({{"tributary.dev/native-sidecar", "true"}})));
  ASSERT_EQ(r.outcome, Outcome::Injected) << r.message;
  EXPECT_FALSE(r.native) << "an init container with restartPolicy would never end on a server without sidecars";
}

TEST(SidecarInjector, AbsentArraysAreAddedWholeAndPresentOnesAppendedTo) {
  SidecarInjector injector(settings(true));
  // Absent: no initContainers, no env, no volumes.
  Json bare = pod(annotated({{"tributary.dev/config", "orders-sidecar"}}));
  auto r1 = injector.inject(bare);
  ASSERT_EQ(r1.outcome, Outcome::Injected) << r1.message;
  std::set<std::string> paths;
  for (const auto& op : r1.patch) paths.insert(op["path"].get<std::string>());
  EXPECT_TRUE(paths.count("/spec/initContainers"));
  EXPECT_TRUE(paths.count("/spec/containers/0/env"));
  EXPECT_TRUE(paths.count("/spec/volumes"));
  Json out1 = applied(bare, r1);
  EXPECT_EQ(out1["spec"]["volumes"].size(), 1u);
  EXPECT_EQ(out1["spec"]["containers"][0]["env"].size(), 1u);

  // Present: the existing items stay, ours are appended.
  Json full = pod(annotated({{"tributary.dev/config", "orders-sidecar"}}),
                  {{"containers", Json::array({{{"name", "app"},
                                                {"env", Json::array({{{"name", "A"}, {"value", "1"}}})}}})},
                   {"initContainers", Json::array({{{"name", "init"}}})},
                   {"volumes", Json::array({{{"name", "data"}, {"emptyDir", Json::object()}}})}});
  auto r2 = injector.inject(full);
  ASSERT_EQ(r2.outcome, Outcome::Injected) << r2.message;
  paths.clear();
  for (const auto& op : r2.patch) paths.insert(op["path"].get<std::string>());
  EXPECT_TRUE(paths.count("/spec/initContainers/0"));
  EXPECT_TRUE(paths.count("/spec/containers/0/env/-"));
  EXPECT_TRUE(paths.count("/spec/volumes/-"));
  Json out2 = applied(full, r2);
  EXPECT_EQ(out2["spec"]["volumes"][0]["name"], "data");
  EXPECT_EQ(out2["spec"]["volumes"][1]["name"], "tributary-sidecar-config");
  EXPECT_EQ(out2["spec"]["volumes"][1]["configMap"]["name"], "orders-sidecar");
  EXPECT_EQ(out2["spec"]["containers"][0]["env"][0]["name"], "A");
  EXPECT_EQ(out2["spec"]["containers"][0]["env"][1]["name"], "TRIBUTARY_URL");
  EXPECT_EQ(out2["spec"]["initContainers"][0]["name"], "tributary-sidecar");
  EXPECT_EQ(out2["spec"]["initContainers"][1]["name"], "init");
}

TEST(SidecarInjector, AnExistingTributaryUrlIsKept) {
  SidecarInjector injector(settings());
  Json in = pod(annotated(), {{"containers", Json::array({{{"name", "app"},
                                                           {"env", Json::array({{{"name", "TRIBUTARY_URL"},
                                                                                 {"value", "http://elsewhere:1"}}})}}})}});
  auto r = injector.inject(in);
  ASSERT_EQ(r.outcome, Outcome::Injected);
  Json out = applied(in, r);
  ASSERT_EQ(out["spec"]["containers"][0]["env"].size(), 1u);
  EXPECT_EQ(out["spec"]["containers"][0]["env"][0]["value"], "http://elsewhere:1");
}

TEST(SidecarInjector, DefaultConfigInlineOrTheConfigMapMountedWithConfigFlag) {
  SidecarInjector injector(settings());
  auto inline_ = injector.inject(pod(annotated()));
  const Json& s1 = inline_.object["spec"]["initContainers"][0];
  ASSERT_NE(env(s1, "TRIBUTARY_CONFIG_YAML"), nullptr);
  EXPECT_EQ((*env(s1, "TRIBUTARY_CONFIG_YAML"))["value"], "kafka:\n  bootstrapServers: kafka:9092\n");
  EXPECT_FALSE(s1.contains("args"));
  EXPECT_FALSE(s1.contains("volumeMounts"));

  auto mounted = injector.inject(pod(annotated({{"tributary.dev/config", "orders-sidecar"}})));
  ASSERT_EQ(mounted.outcome, Outcome::Injected);
  EXPECT_EQ(mounted.configMap, "orders-sidecar");
  const Json& s2 = mounted.object["spec"]["initContainers"][0];
  EXPECT_EQ(env(s2, "TRIBUTARY_CONFIG_YAML"), nullptr);
  EXPECT_EQ(s2["args"], Json::array({"--config=/etc/tributary/sidecar/sidecar.yaml"}));
  EXPECT_EQ(s2["volumeMounts"][0]["mountPath"], "/etc/tributary/sidecar");
  EXPECT_EQ(s2["volumeMounts"][0]["readOnly"], true);
  EXPECT_EQ(s2["volumeMounts"][0]["name"], "tributary-sidecar-config");
}

TEST(SidecarInjector, SecurityContextResourcesTokenAndLogLevel) {
  SidecarInjector injector(settings());
  auto r = injector.inject(pod(annotated({{"tributary.dev/api-token-secret", "orders-token"},
                                          {"tributary.dev/log-level", "debug"},
                                          {"tributary.dev/sidecar-cpu-request", "100m"},
                                          {"tributary.dev/sidecar-memory-limit", "512Mi"},
                                          {"tributary.dev/sidecar-cpu-limit", "1"}})));
  ASSERT_EQ(r.outcome, Outcome::Injected) << r.message;
  const Json& s = r.object["spec"]["initContainers"][0];
  const Json& sc = s["securityContext"];
  EXPECT_EQ(sc["runAsNonRoot"], true);
  EXPECT_EQ(sc["runAsUser"], 65532);
  EXPECT_EQ(sc["runAsGroup"], 65532);
  EXPECT_EQ(sc["readOnlyRootFilesystem"], true);
  EXPECT_EQ(sc["allowPrivilegeEscalation"], false);
  EXPECT_EQ(sc["capabilities"]["drop"], Json::array({"ALL"}));
  EXPECT_EQ(sc["seccompProfile"]["type"], "RuntimeDefault");
  EXPECT_EQ(s["resources"]["requests"]["cpu"], "100m");
  EXPECT_EQ(s["resources"]["requests"]["memory"], "64Mi");
  EXPECT_EQ(s["resources"]["limits"]["memory"], "512Mi");
  EXPECT_EQ(s["resources"]["limits"]["cpu"], "1");
  ASSERT_NE(env(s, "TRIBUTARY_API_TOKEN"), nullptr);
  EXPECT_EQ((*env(s, "TRIBUTARY_API_TOKEN"))["valueFrom"]["secretKeyRef"],
            (Json{{"name", "orders-token"}, {"key", "token"}}));
  EXPECT_EQ((*env(s, "TRIBUTARY_LOG_LEVEL"))["value"], "debug");
}

TEST(SidecarInjector, NotAnnotatedOrFalseIsLeftUnchanged) {
  SidecarInjector injector(settings());
  for (Json ann : {Json::object(), Json{{"tributary.dev/inject", "false"}}, Json{{"other", "x"}}}) {
    Json in = pod(ann);
    auto r = injector.inject(in);
    EXPECT_EQ(r.outcome, Outcome::NotRequested) << ann.dump();
    EXPECT_TRUE(r.patch.empty());
    EXPECT_EQ(r.object, in);
  }
  Json noMeta{{"spec", {{"containers", Json::array({{{"name", "a"}}})}}}};
  EXPECT_EQ(injector.inject(noMeta).outcome, Outcome::NotRequested);
}

TEST(SidecarInjector, AnInjectedPodIsReturnedUnchanged) {
  SidecarInjector native(settings(true)), classic(settings(false));
  Json in = pod(annotated());
  Json once = native.inject(in).object;
  auto again = native.inject(once);
  EXPECT_EQ(again.outcome, Outcome::AlreadyInjected);
  EXPECT_TRUE(again.patch.empty());
  EXPECT_EQ(again.object, once);
  // Whichever form it has, wherever it is.
  EXPECT_EQ(classic.inject(once).outcome, Outcome::AlreadyInjected);
  EXPECT_EQ(native.inject(classic.inject(in).object).outcome, Outcome::AlreadyInjected);
}

TEST(SidecarInjector, BadAnnotationsAreRefusedNamingEachOne) {
  SidecarInjector injector(settings());
  struct Case {
    Json annotations;
    std::vector<std::string> mentions;
  };
  const std::vector<Case> cases = {
      {{{"tributary.dev/inject", "yes"}}, {"tributary.dev/inject", "\"yes\""}},
      {annotated({{"tributary.dev/sidecar-memory-limit", "12Gx"}}), {"tributary.dev/sidecar-memory-limit", "12Gx", "quantity"}},
      {annotated({{"tributary.dev/sidecar-cpu-request", "-1"}}), {"tributary.dev/sidecar-cpu-request", "negative"}},
      {annotated({{"tributary.dev/sidecar-cpu-request", "2"}, {"tributary.dev/sidecar-cpu-limit", "500m"}}),
       {"tributary.dev/sidecar-cpu-limit", "below"}},
      {annotated({{"tributary.dev/sidecar-memory-request", "1Gi"}}), {"tributary.dev/sidecar-memory-request", "256Mi"}},
      {annotated({{"tributary.dev/native-sidecar", "no"}}), {"tributary.dev/native-sidecar"}},
      {annotated({{"tributary.dev/log-level", "verbose"}}), {"tributary.dev/log-level", "verbose"}},
      {annotated({{"tributary.dev/config", "Bad_Name"}}), {"tributary.dev/config", "Bad_Name"}},
      {annotated({{"tributary.dev/api-token-secret", ""}}), {"tributary.dev/api-token-secret"}},
      {annotated({{"tributary.dev/sidecar-cpu-requests", "1"}}), {"tributary.dev/sidecar-cpu-requests", "unknown"}},
  };
  for (const auto& c : cases) {
    auto r = injector.inject(pod(c.annotations));
    EXPECT_EQ(r.outcome, Outcome::Refused) << c.annotations.dump();
    EXPECT_TRUE(r.patch.empty());
    for (const auto& m : c.mentions) EXPECT_NE(r.message.find(m), std::string::npos) << r.message << " / " << m;
  }
  // Several problems: all of them at once.
  auto r = injector.inject(pod(annotated({{"tributary.dev/log-level", "x"}, {"tributary.dev/sidecar-cpu-limit", "?"}})));
  EXPECT_NE(r.message.find("tributary.dev/log-level"), std::string::npos);
  EXPECT_NE(r.message.find("tributary.dev/sidecar-cpu-limit"), std::string::npos);
}

TEST(SidecarInjector, PodsThatCannotTakeTheSidecarAreRefused) {
  SidecarInjector injector(settings());
  auto portClash = injector.inject(pod(
      annotated(), {{"containers", Json::array({{{"name", "app"},
                                                 {"ports", Json::array({{{"containerPort", 9192}}})}}})}}));
  EXPECT_EQ(portClash.outcome, Outcome::Refused);
  EXPECT_NE(portClash.message.find("9192"), std::string::npos) << portClash.message;
  auto noContainers = injector.inject(pod(annotated(), Json::object()));
  EXPECT_EQ(noContainers.outcome, Outcome::Refused);
  EXPECT_NE(noContainers.message.find("spec.containers"), std::string::npos);
}

TEST(SidecarInjector, InjectedAnnotationKeyIsEscapedInThePatchPath) {
  EXPECT_EQ(escapeJsonPointer("tributary.dev/injected"), "tributary.dev~1injected");
  EXPECT_EQ(escapeJsonPointer("a~b/c"), "a~0b~1c");
  SidecarInjector injector(settings());
  auto r = injector.inject(pod(annotated()));
  bool found = false;
  for (const auto& op : r.patch) found = found || op["path"] == "/metadata/annotations/tributary.dev~1injected";
  EXPECT_TRUE(found) << r.patch.dump();
}

TEST(Quantity, KubernetesSyntax) {
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("500m")), 0.5);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("1.5")), 1.5);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("64Mi")), 64.0 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("1G")), 1e9);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("2e3")), 2000.0);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity(".5")), 0.5);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("+1Ki")), 1024.0);
  for (const char* bad : {"", "m", "12Gx", "1 Gi", "1.2.3", "Mi", "1e", "1mi", "abc", "1GiB"})
    EXPECT_FALSE(parseQuantity(bad).has_value()) << bad;
}

TEST(ServerVersion, MajorMinorWithSuffixesAndGitVersion) {
  auto v = parseServerVersion({{"major", "1"}, {"minor", "29+"}, {"gitVersion", "v1.29.3-eks-a1b2c3"}});
  ASSERT_TRUE(v);
  EXPECT_EQ(v->minor, 29);
  EXPECT_TRUE(supportsNativeSidecars(*v));
  auto old = parseServerVersion({{"major", "1"}, {"minor", "28"}});
  ASSERT_TRUE(old);
  EXPECT_FALSE(supportsNativeSidecars(*old));
  auto fromGit = parseServerVersion({{"major", ""}, {"minor", ""}, {"gitVersion", "v1.30.0-gke.1"}});
  ASSERT_TRUE(fromGit);
  EXPECT_EQ(fromGit->major, 1);
  EXPECT_EQ(fromGit->minor, 30);
  EXPECT_FALSE(parseServerVersion({{"gitVersion", "unknown"}}).has_value());
  EXPECT_TRUE(supportsNativeSidecars({2, 0}));
}

TEST(JsonToYaml, ReadsBackAsTheSameValue) {
  Json v{{"s", "true"},      {"n", "8080"},        {"e", ""},        {"t", true},          {"i", 42},
         {"f", 1.5},         {"nul", nullptr},     {"list", Json::array()}, {"obj", Json::object()},
         {"multi", "a: 1\nb:\n  - x\n"}, {"trailing", "two\n\n"}, {"colon", "a: b"}, {"tilde", "~"},
         {"0.1.0", "v"},     {"nested", {{"deep", Json::array({1, "2", Json{{"k", "no"}}})}}}};
  std::string text = app::jsonToYaml(v);
  auto back = app::yamlDocumentsToJson(text);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0], v) << text;
  // An inline config file reads as a literal block.
  EXPECT_NE(app::jsonToYaml(Json{{"c", "a: 1\nb: 2\n"}}).find("|"), std::string::npos);
}

}  // namespace
}  // namespace tributary::op::inject
