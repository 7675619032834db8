#pragma once
// The sidecar injector's pure logic: a Pod (or a pod template) and its
// annotations in, RFC 6902 JSONPatch operations and the patched object out —
// or a refusal naming the annotation at fault. The admission webhook and
// `tributary-operator inject` both use it, so they inject exactly the same.
//
// Threads: inject() is const and touches no shared state; any thread.
#include <string>

#include <nlohmann/json.hpp>

namespace tributary::op::inject {

using Json = nlohmann::json;

inline constexpr const char* kSidecarContainerName = "tributary-sidecar";
inline constexpr const char* kConfigVolumeName = "tributary-sidecar-config";
inline constexpr const char* kConfigMountPath = "/etc/tributary/sidecar";
inline constexpr const char* kConfigKey = "sidecar.yaml";  // the key of a tributary.dev/config ConfigMap
inline constexpr const char* kAppUrl = "http://127.0.0.1:9191";
inline constexpr int kSidecarApiPort = 9191;
inline constexpr int kSidecarAdminPort = 9192;

struct InjectorSettings {
  std::string sidecarImage = std::string("tributary/sidecar:") + TRIBUTARY_VERSION;
  // The default sidecar config (the text of --sidecar-config), passed inline in
  // TRIBUTARY_CONFIG_YAML to pods without tributary.dev/config. "" passes none:
  // the sidecar then runs on its defaults (dev mode, an embedded cluster).
  std::string defaultConfigYaml;
  // Whether the API server runs native sidecars (init containers with
  // restartPolicy: Always, Kubernetes >= 1.29). A pod may opt out with
  // tributary.dev/native-sidecar: "false", never in.
  bool nativeSidecars = true;
  std::string version = TRIBUTARY_VERSION;  // written to tributary.dev/injected
};

struct InjectionResult {
  enum class Outcome {
    Injected,         // `patch` adds the sidecar; `object` is the result
    NotRequested,     // no tributary.dev/inject: "true" (or "false"): unchanged
    AlreadyInjected,  // a container tributary-sidecar is there: unchanged (idempotent)
    Refused,          // `message` says why, naming the annotation(s)
  };
  Outcome outcome = Outcome::NotRequested;
  Json patch = Json::array();  // RFC 6902 operations, paths relative to the object given
  Json object;                 // the object after the patch (the input unless Injected)
  std::string message;         // Refused: every problem, "; "-separated
  bool native = false;         // Injected: as an init container with restartPolicy: Always
  std::string configMap;       // Injected with tributary.dev/config: the ConfigMap the pod needs
};
const char* outcomeName(InjectionResult::Outcome outcome);

class SidecarInjector {
 public:
  explicit SidecarInjector(InjectorSettings settings);

  // `podLike` is a Pod or a pod template: {metadata: {annotations}, spec: {...}}.
  InjectionResult inject(const Json& podLike) const;

  const InjectorSettings& settings() const { return settings_; }

 private:
  Json sidecarContainer(const Json& annotations, bool native) const;
  const InjectorSettings settings_;
};

// RFC 6901: "~" → "~0", "/" → "~1" (an annotation key in a JSON Pointer).
std::string escapeJsonPointer(const std::string& token);

}  // namespace tributary::op::inject
