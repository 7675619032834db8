#pragma once
// What a KafkaPipeline becomes in Kubernetes: a ConfigMap holding the pipeline
// file and a workload running the sidecar image in pipeline mode on it — a
// Deployment (atLeastOnce) or a StatefulSet (exactlyOnce: a stable
// transactional.id per ordinal, see operator/README.md#kafkapipeline) — both
// controlled by the KafkaPipeline (ownerReferences, controller: true), so
// Kubernetes' garbage collector deletes them with it.
// Pure functions: any thread.
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/pipeline/kafka_pipeline.h"

namespace tributary::op::pipeline {

// Checks a pipeline file exactly as `tributary-sidecar --pipeline` would
// (without resolving ${file:}/${env:} references; every jq expression
// compiled): empty = valid, else every problem, each naming its key.
using PipelineValidator = std::function<std::vector<std::string>(const std::string& pipelineYaml)>;

inline constexpr const char* kContainerName = "pipeline";
inline constexpr const char* kVolumeName = "pipeline";
inline constexpr const char* kMountPath = "/etc/tributary";
inline constexpr const char* kFileKey = "pipeline.yaml";
inline constexpr const char* kFilePath = "/etc/tributary/pipeline.yaml";
inline constexpr int kAdminPort = 9192;  // /metrics, /healthz, /readyz of the sidecar

// Labels and annotations the operator writes.
inline constexpr const char* kPipelineLabel = "tributary.dev/pipeline";   // the KafkaPipeline's name: the selector
inline constexpr const char* kConfigHashAnnotation = "tributary.dev/config-hash";  // on the pod template: rolls pods
inline constexpr const char* kSpecHashAnnotation = "tributary.dev/spec-hash";      // on the workload: what was rendered

// Environment the pipeline container gets (the sidecar binary reads them).
inline constexpr const char* kEnvPodName = "TRIBUTARY_POD_NAME";                    // downward API metadata.name
inline constexpr const char* kEnvPodNamespace = "TRIBUTARY_POD_NAMESPACE";          // downward API metadata.namespace
inline constexpr const char* kEnvTransactionalId = "TRIBUTARY_PIPELINE_TRANSACTIONAL_ID";  // exactlyOnce only:
                                                                                   // tributary-<namespace>-<pod name>

struct RenderSettings {
  std::string image = std::string("tributary/sidecar:") + TRIBUTARY_VERSION;
};

// Names of the rendered objects.
std::string configMapName(const KafkaPipeline& p);  // <name>-pipeline
std::string workloadName(const KafkaPipeline& p);   // <name>
// "Deployment" or "StatefulSet".
std::string workloadKind(const KafkaPipeline& p);

// {apiVersion, kind, name, uid, controller: true, blockOwnerDeletion: true}.
nlohmann::json ownerReference(const KafkaPipeline& p);

nlohmann::json renderConfigMap(const KafkaPipeline& p, const std::string& pipelineYaml);

// The workload with `replicas` replicas; the pod template carries the file's
// hash (kConfigHashAnnotation) so that a changed file rolls the pods, and the
// workload carries a hash of its own rendered spec (kSpecHashAnnotation) so
// that the controller can tell "unchanged" without comparing what the API
// server defaulted.
nlohmann::json renderWorkload(const KafkaPipeline& p, const std::string& pipelineYaml, int replicas,
                              const RenderSettings& settings);

}  // namespace tributary::op::pipeline
