#include "operator/pipeline/pipeline_resources.h"

namespace tributary::op::pipeline {
namespace {

using Json = nlohmann::json;

Json labels(const KafkaPipeline& p) {
  return {{"app.kubernetes.io/name", "tributary-pipeline"},
          {"app.kubernetes.io/instance", p.resource.name},
          {"app.kubernetes.io/managed-by", "tributary-operator"},
          {kPipelineLabel, p.resource.name}};
}

Json metadata(const KafkaPipeline& p, const std::string& name) {
  return {{"name", name},
          {"namespace", p.resource.namespace_},
          {"labels", labels(p)},
          {"ownerReferences", Json::array({ownerReference(p)})}};
}

Json httpProbe(const char* path, int period, int failures) {
  return {{"httpGet", {{"path", path}, {"port", kAdminPort}}}, {"periodSeconds", period},
          {"failureThreshold", failures}, {"timeoutSeconds", 2}};
}

Json fieldEnv(const char* name, const char* field) {
  return {{"name", name}, {"valueFrom", {{"fieldRef", {{"fieldPath", field}}}}}};
}

}  // namespace

std::string configMapName(const KafkaPipeline& p) { return p.resource.name + "-pipeline"; }
std::string workloadName(const KafkaPipeline& p) { return p.resource.name; }
std::string workloadKind(const KafkaPipeline& p) {
  return p.spec.processing == Processing::ExactlyOnce ? "StatefulSet" : "Deployment";
}

Json ownerReference(const KafkaPipeline& p) {
  return {{"apiVersion", kApiVersion}, {"kind", kKafkaPipelineKind}, {"name", p.resource.name},
          {"uid", p.resource.uid},     {"controller", true},         {"blockOwnerDeletion", true}};
}

Json renderConfigMap(const KafkaPipeline& p, const std::string& pipelineYaml) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", metadata(p, configMapName(p))},
          {"data", {{kFileKey, pipelineYaml}}}};
}

Json renderWorkload(const KafkaPipeline& p, const std::string& pipelineYaml, int replicas,
                    const RenderSettings& settings) {
  const bool exactlyOnce = p.spec.processing == Processing::ExactlyOnce;
  Json env = Json::array({fieldEnv(kEnvPodName, "metadata.name"), fieldEnv(kEnvPodNamespace, "metadata.namespace")});
  if (exactlyOnce)
    // A StatefulSet's pod is <name>-<ordinal>: the id is the same for the pod
    // that replaces it, whose initTransactions fences the old one (and aborts
    // its open transaction) at once. The namespace keeps two namespaces'
    // pipelines of one name apart on a shared cluster. $(VAR) is expanded by the kubelet.
    env.push_back({{"name", kEnvTransactionalId},
                   {"value", "tributary-" + p.resource.namespace_ + "-$(" + std::string(kEnvPodName) + ")"}});

  Json container{{"name", kContainerName},
                 {"image", settings.image},
                 {"imagePullPolicy", "IfNotPresent"},
                 {"args", Json::array({"--pipeline", kFilePath})},
                 {"env", env},
                 {"ports", Json::array({{{"name", "tributary-admin"}, {"containerPort", kAdminPort}, {"protocol", "TCP"}}})},
                 {"resources",
                  {{"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}}, {"limits", {{"memory", "512Mi"}}}}},
                 {"startupProbe", httpProbe("/healthz", 1, 120)},
                 {"livenessProbe", httpProbe("/healthz", 10, 3)},
                 {"readinessProbe", httpProbe("/readyz", 5, 3)},
                 {"volumeMounts", Json::array({{{"name", kVolumeName}, {"mountPath", kMountPath}, {"readOnly", true}}})},
                 {"securityContext",
                  {{"runAsNonRoot", true},
                   {"runAsUser", 65532},
                   {"runAsGroup", 65532},
                   {"readOnlyRootFilesystem", true},
                   {"allowPrivilegeEscalation", false},
                   {"capabilities", {{"drop", Json::array({"ALL"})}}},
                   {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
                 {"terminationMessagePolicy", "FallbackToLogsOnError"}};
  Json podLabels = labels(p);
  Json pod{{"metadata", {{"labels", podLabels}, {"annotations", {{kConfigHashAnnotation, contentHash(pipelineYaml)}}}}},
           {"spec",
            {{"containers", Json::array({container})},
             // The pipeline talks to Kafka only: no Kubernetes API token in the pod.
             {"automountServiceAccountToken", false},
             // SIGTERM finishes or aborts the open batch and commits what is done.
             {"terminationGracePeriodSeconds", 30},
             {"volumes", Json::array({{{"name", kVolumeName},
                                       {"configMap",
                                        {{"name", configMapName(p)},
                                         {"items", Json::array({{{"key", kFileKey}, {"path", kFileKey}}})}}}}})}}}};
  Json spec{{"selector", {{"matchLabels", {{kPipelineLabel, p.resource.name}}}}}, {"template", pod}};
  if (exactlyOnce) {
    spec["serviceName"] = workloadName(p);
    // Ordinals only name transactional ids here: no reason to start pods one by one.
    spec["podManagementPolicy"] = "Parallel";
  }
  Json meta = metadata(p, workloadName(p));
  meta["annotations"] = {{kSpecHashAnnotation, contentHash(spec.dump())}};
  spec["replicas"] = replicas;
  return {{"apiVersion", "apps/v1"}, {"kind", workloadKind(p)}, {"metadata", meta}, {"spec", spec}};
}

}  // namespace tributary::op::pipeline
