// The pod scenario (e2e/README.md): a real pod from the built images, run by
// podman. The app pod (pod.yaml) gets its sidecar by injection, `podman kube
// play` runs it with the pod's own loopback only (--network none), the e2e
// app produces records through the sidecar (dev mode: the embedded Kafka
// cluster inside the sidecar) and receives them back through the push
// subscription over the pod's shared localhost; SIGTERM (`podman pod stop`)
// makes both containers exit 0, the sidecar after flushing, and `podman kube
// down` removes the pod. It proves
// the images (scratch, nothing missing), non-root (65532), the read-only root
// filesystem and the shared localhost for real.
//
// Skipped, saying why, where podman cannot run containers (not installed, the
// images not built, or inside an unprivileged container such as
// fresh-machine-check's). The images are built before this test by the ctest
// fixture e2e_pod_images (scripts/images.sh --probe).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "operator/app/yaml_json.h"
#include "tests/apiserver/command.h"
#include "tests/support/subprocess.h"

using namespace std::chrono_literals;
using tributary::apiserver::test::Command;
using tributary::apiserver::test::CommandResult;
using tributary::apiserver::test::findOnPath;
using Json = nlohmann::json;

namespace {

// The app pod gets its sidecar from `tributary-operator inject -f pod.yaml`:
// the same code as the admission webhook (operator/inject), the sidecar config
// inline in env TRIBUTARY_CONFIG_YAML.

const std::string kVersion = TRIBUTARY_VERSION;
const std::string kSource = TRIBUTARY_SOURCE_DIR;
const std::string kSidecarImage = "tributary/sidecar:" + kVersion;
const std::string kAppImage = "tributary/e2e-app:" + kVersion;
constexpr const char* kSidecar = "tributary-sidecar";
constexpr int kRecords = 200;  // E2E_RECORDS in pod.yaml

std::string lastLine(const std::string& text) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  auto nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

std::string lineWith(const std::string& text, const std::string& needle) {
  auto at = text.find(needle);
  if (at == std::string::npos) return "";
  auto start = text.rfind('\n', at);
  auto end = text.find('\n', at);
  return text.substr(start == std::string::npos ? 0 : start + 1,
                     end == std::string::npos ? std::string::npos : end - (start == std::string::npos ? 0 : start + 1));
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The YAML files as JSON, typed as kubectl and podman read them (a quoted
// "true" stays a string); written back as JSON, which both read as YAML.
Json loadYaml(const std::string& text) {
  auto docs = tributary::op::app::yamlDocumentsToJson(text);
  return docs.empty() ? Json() : docs.front();
}

Json container(const Json& pod, const std::string& name) {
  for (const auto& c : pod["spec"].value("containers", Json::array()))
    if (c.value("name", "") == name) return c;
  return Json::object();
}

class PodE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    auto found = findOnPath("podman");
    if (!found) GTEST_SKIP() << "skipped: podman cannot run containers here (podman is not installed)";
    podman_ = *found;
    for (const auto& image : {kSidecarImage, kAppImage})
      if (podman({"image", "exists", image}).exitCode != 0)
        GTEST_SKIP() << "skipped: podman cannot run containers here (image " << image
                     << " is not built: scripts/images.sh sidecar e2e-app, or ctest's fixture e2e_pod_images)";
    // Whether podman can run a container here at all, by trying.
    auto probe = podman({"run", "--rm", "--pull=never", "--network", "none", "--read-only", kSidecarImage, "--version"});
    if (probe.exitCode != 0)
      GTEST_SKIP() << "skipped: podman cannot run containers here (" << lastLine(probe.err + probe.out) << ")";

    name_ = "tributary-e2e-" + std::to_string(getpid());
    configMap_ = name_ + "-sidecar";
    char tmpl[] = "/tmp/tributary-e2e-pod-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }

  void TearDown() override {
    // Whatever happened: no pod, container or ConfigMap volume outlives the test.
    if (!name_.empty()) {
      podman({"pod", "rm", "--force", "--time", "0", name_});
      podman({"volume", "rm", "--force", configMap_});
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  CommandResult podman(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 120s) {
    return tributary::apiserver::test::run(podman_, args, env(), timeout);
  }
  // The project-local containers.conf (runc, no default ulimits), as make images uses.
  std::map<std::string, std::string> env() const { return {{"CONTAINERS_CONF", kSource + "/images/containers.conf"}}; }

  // pod.yaml (or the hand-written injected pod) with this run's pod name and
  // the images of this build's version.
  Json podFromSource(const std::string& file) {
    Json pod = loadYaml(readFile(kSource + "/e2e/pod/" + file));
    pod["metadata"]["name"] = name_;
    for (auto& c : pod["spec"]["containers"]) {
      const std::string image = c.value("image", "");
      if (image.rfind("tributary/", 0) == 0) c["image"] = image.substr(0, image.find(':')) + ":" + kVersion;
    }
    if (pod["spec"].contains("volumes"))
      for (auto& v : pod["spec"]["volumes"])
        if (v.contains("configMap")) v["configMap"]["name"] = configMap_;
    return pod;
  }

  static void write(const std::string& path, const Json& doc) { std::ofstream(path) << doc.dump(2) << "\n"; }

  // The injected pod, from `tributary-operator inject`.
  Json injectedPod() {
    write(dir_ + "/app-pod.yaml", podFromSource("pod.yaml"));
    auto injected = tributary::apiserver::test::run(
        tributary::test::binDir() + "/tributary-operator",
        {"inject", "-f", dir_ + "/app-pod.yaml", "--sidecar-image", kSidecarImage, "--sidecar-config",
         kSource + "/e2e/pod/sidecar.yaml"},
        {}, 60s);
    EXPECT_EQ(injected.exitCode, 0) << injected.err;
    for (const auto& doc : tributary::op::app::yamlDocumentsToJson(injected.out))
      if (doc.is_object() && doc.value("kind", "") == "Pod") return doc;
    ADD_FAILURE() << "tributary-operator inject printed no Pod:\n" << injected.out;
    return Json();
  }

  // podman 4.3's kube play publishes every containerPort on the same host port
  // (concurrent runs would collide, and --network none refuses port mappings)
  // and turns httpGet probes into `curl` run inside the container by systemd
  // timers (a scratch image has no curl, and there is no systemd here).
  // Neither is what this scenario checks, so they are removed.
  static void adaptToPodman(Json& pod) {
    for (auto& c : pod["spec"]["containers"])
      for (const char* field : {"ports", "livenessProbe", "readinessProbe", "startupProbe"}) c.erase(field);
  }

  std::string podman_, name_, configMap_, dir_;
  std::vector<std::string> playArgs_;
};

TEST_F(PodE2E, InjectedPodRoundTripsRecordsAsNonRootOnReadOnlyRootfsAndExitsCleanlyOnSigterm) {
  Json pod = injectedPod();
  ASSERT_TRUE(pod.is_object() && pod.contains("spec")) << pod.dump(2);

  // The injection a user would see: the sidecar first (classic form, as
  // asked by tributary.dev/native-sidecar: "false"), the app told where it is.
  ASSERT_TRUE(pod["spec"]["containers"].is_array() && !pod["spec"]["containers"].empty()) << pod.dump(2);
  EXPECT_EQ(pod["spec"]["containers"][0].value("name", ""), kSidecar) << pod.dump(2);
  EXPECT_TRUE(pod["spec"].value("initContainers", Json::array()).empty())
      << "podman 4.3 would run an init-container sidecar to completion before the app";
  EXPECT_EQ(container(pod, kSidecar).value("image", ""), kSidecarImage);
  bool hasUrl = false;
  for (const auto& e : container(pod, "app").value("env", Json::array()))
    if (e.value("name", "") == "TRIBUTARY_URL") hasUrl = e.value("value", "") == "http://127.0.0.1:9191";
  EXPECT_TRUE(hasUrl) << "the app container has no TRIBUTARY_URL=http://127.0.0.1:9191";

  adaptToPodman(pod);
  const std::string podFile = dir_ + "/pod.yaml";
  write(podFile, pod);

  // The pod's own loopback is all dev mode needs: the embedded cluster, the
  // API and the push endpoint are all on 127.0.0.1 inside the pod.
  std::vector<std::string> play = {"kube", "play", "--network", "none"};
  play.insert(play.end(), playArgs_.begin(), playArgs_.end());
  play.push_back(podFile);
  auto played = podman(play, 180s);
  ASSERT_EQ(played.exitCode, 0) << played.err << played.out;

  const std::string app = name_ + "-app", sidecar = name_ + "-" + kSidecar;
  // Follows the logs until the containers exit (stdout and stderr apart).
  Command appLogs(podman_, {"logs", "--follow", app}, env());
  Command sidecarLogs(podman_, {"logs", "--follow", sidecar}, env());

  // The app prints its result once every record came back or its 120 s are up.
  ASSERT_TRUE(appLogs.waitForOutput("RESULT", 240s)) << "app:\n" << appLogs.out() << appLogs.err();
  const std::string result = lineWith(appLogs.out(), "RESULT");
  EXPECT_NE(result.find("RESULT PASS"), std::string::npos) << result;
  EXPECT_NE(result.find("received=" + std::to_string(kRecords) + " "), std::string::npos) << result;
  // What the app itself sees of its container: not root, and / not writable.
  EXPECT_NE(result.find("uid=65532 gid=65532 rootfs=read-only"), std::string::npos) << result;

  // What podman says about both containers: running, as 65532, read-only.
  auto inspected = podman({"inspect", app, sidecar});
  ASSERT_EQ(inspected.exitCode, 0) << inspected.err;
  Json containers = Json::parse(inspected.out);
  ASSERT_EQ(containers.size(), 2u);
  for (const auto& c : containers) {
    SCOPED_TRACE(c.value("Name", ""));
    EXPECT_TRUE(c["State"].value("Running", false));
    EXPECT_EQ(c["Config"].value("User", ""), "65532:65532");
    EXPECT_TRUE(c["HostConfig"].value("ReadonlyRootfs", false));
  }
  // The processes' real (host) user and group.
  for (const auto& c : {app, sidecar}) {
    auto top = podman({"top", c, "huser", "hgroup"});
    ASSERT_EQ(top.exitCode, 0) << top.err;
    std::istringstream row(lastLine(top.out));
    std::string user, group;
    row >> user >> group;
    EXPECT_EQ(user + ":" + group, "65532:65532") << c << ":\n" << top.out;
  }

  // Stop as Kubernetes does: SIGTERM, then time to exit. `podman pod stop`,
  // because podman 4.3's `kube down` SIGKILLs at once (podman issues #21767,
  // #22397; fixed by PR #22398 in later releases); `kube down` then removes
  // the stopped pod.
  auto stop = podman({"pod", "stop", "--time", "30", name_}, 60s);
  ASSERT_EQ(stop.exitCode, 0) << stop.err;
  auto stopped = podman({"inspect", app, sidecar});
  ASSERT_EQ(stopped.exitCode, 0) << stopped.err;
  for (const auto& c : Json::parse(stopped.out)) {
    SCOPED_TRACE(c.value("Name", ""));
    EXPECT_EQ(c["State"].value("Status", ""), "exited");
    EXPECT_EQ(c["State"].value("ExitCode", -1), 0) << "a clean exit after SIGTERM, not a kill (137) or a failure";
  }
  auto down = podman({"kube", "down", podFile}, 120s);
  EXPECT_EQ(down.exitCode, 0) << down.err;
  EXPECT_NE(podman({"pod", "exists", name_}).exitCode, 0) << "kube down left the pod";

  // The sidecar took SIGTERM and flushed: its last words.
  ASSERT_GE(sidecarLogs.wait(60s), 0);
  const std::string log = sidecarLogs.err() + sidecarLogs.out();
  EXPECT_NE(log.find("\"signal received\""), std::string::npos) << log;
  EXPECT_NE(log.find("flushing the producer"), std::string::npos) << log;
  EXPECT_NE(log.find("\"shutdown complete\""), std::string::npos) << log;
  EXPECT_EQ(log.find("grace period over"), std::string::npos) << log;
  ASSERT_GE(appLogs.wait(60s), 0);
  EXPECT_NE(appLogs.out().find("signal received"), std::string::npos) << appLogs.out();
}

}  // namespace
