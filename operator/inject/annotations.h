#pragma once
// The pod annotations the sidecar injector reads (operator/inject/README.md).
namespace tributary::op::inject::annotations {

inline constexpr const char* kPrefix = "tributary.dev/";
inline constexpr const char* kInject = "tributary.dev/inject";                // "true" to inject
inline constexpr const char* kConfig = "tributary.dev/config";                // ConfigMap name (key sidecar.yaml)
inline constexpr const char* kNativeSidecar = "tributary.dev/native-sidecar";  // "false" forces the classic form
inline constexpr const char* kCpuRequest = "tributary.dev/sidecar-cpu-request";
inline constexpr const char* kMemoryRequest = "tributary.dev/sidecar-memory-request";
inline constexpr const char* kCpuLimit = "tributary.dev/sidecar-cpu-limit";
inline constexpr const char* kMemoryLimit = "tributary.dev/sidecar-memory-limit";
inline constexpr const char* kApiTokenSecret = "tributary.dev/api-token-secret";  // Secret name, key `token`
inline constexpr const char* kLogLevel = "tributary.dev/log-level";
// Written by the injector: the operator version that injected the pod.
inline constexpr const char* kInjected = "tributary.dev/injected";

}  // namespace tributary::op::inject::annotations
