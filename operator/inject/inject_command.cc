#include "operator/inject/inject_command.h"

#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "operator/app/yaml_json.h"
#include "operator/inject/annotations.h"
#include "operator/inject/sidecar_config_check.h"

namespace tributary::op::inject {
namespace {

constexpr int kExitOk = 0, kExitFailed = 1, kExitUsage = 2;

constexpr const char* kUsage =
    "usage: tributary-operator inject -f FILE|- [-f ...] [--sidecar-image IMG] [--sidecar-config FILE]\n"
    "                                 [--native-sidecar=true|false]\n"
    "  -f, --filename FILE|-   YAML with one or more documents (- reads stdin); repeatable\n"
    "  --sidecar-image IMG     the sidecar image (default tributary/sidecar:" TRIBUTARY_VERSION ")\n"
    "  --sidecar-config FILE   the default sidecar config, passed inline in TRIBUTARY_CONFIG_YAML\n"
    "                          to pods without tributary.dev/config\n"
    "  --native-sidecar=B      true (default): an init container with restartPolicy: Always\n"
    "                          (Kubernetes >= 1.29); false: the first regular container\n"
    "Prints the documents as YAML with the sidecar injected. Exit 0 printed, 1 a pod was refused\n"
    "(nothing printed) or input unreadable, 2 usage error.\n";

std::string describe(const nlohmann::json& doc) {
  auto meta = doc.value("metadata", nlohmann::json::object());
  std::string name = meta.is_object() ? meta.value("name", "") : "";
  std::string ns = meta.is_object() ? meta.value("namespace", "") : "";
  return doc.value("kind", "?") + " " + (ns.empty() ? "" : ns + "/") + (name.empty() ? "(no name)" : name);
}

// The pod template of a workload (a JSON pointer), or nullopt for other kinds.
std::optional<nlohmann::json::json_pointer> podTemplateOf(const nlohmann::json& doc) {
  const std::string kind = doc.value("kind", ""), api = doc.value("apiVersion", "");
  const std::string group = api.find('/') == std::string::npos ? "" : api.substr(0, api.find('/'));
  if (group == "" && kind == "Pod") return nlohmann::json::json_pointer("");
  if (group == "apps" && (kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet" || kind == "ReplicaSet"))
    return nlohmann::json::json_pointer("/spec/template");
  if (group == "batch" && kind == "Job") return nlohmann::json::json_pointer("/spec/template");
  if (group == "batch" && kind == "CronJob") return nlohmann::json::json_pointer("/spec/jobTemplate/spec/template");
  return std::nullopt;
}

bool readAll(std::istream& in, std::string& out) {
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

}  // namespace

void injectDocument(const SidecarInjector& injector, nlohmann::json& doc, std::vector<std::string>& errors) {
  if (!doc.is_object()) return;
  if (doc.value("kind", "").ends_with("List") && doc.contains("items") &&
      doc["items"].is_array()) {
    for (auto& item : doc["items"]) injectDocument(injector, item, errors);
    return;
  }
  auto where = podTemplateOf(doc);
  if (!where || !doc.contains(*where) || !doc[*where].is_object()) return;
  nlohmann::json podLike = doc[*where];
  // Manual injection: asking for it is the request, unless the pod says "false".
  nlohmann::json& annotations = podLike["metadata"]["annotations"];
  if (!annotations.is_object()) annotations = nlohmann::json::object();
  if (!annotations.contains(annotations::kInject)) annotations[annotations::kInject] = "true";
  InjectionResult result = injector.inject(podLike);
  switch (result.outcome) {
    case InjectionResult::Outcome::Refused: errors.push_back(describe(doc) + ": " + result.message); return;
    case InjectionResult::Outcome::Injected: doc[*where] = result.object; return;
    default: return;  // "false", or already injected: unchanged
  }
}

int runInject(const std::vector<std::string>& args, std::istream& in, std::ostream& out, std::ostream& err) {
  std::vector<std::string> files, usage;
  InjectorSettings settings;
  std::string configFile;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i], value;
    bool hasValue = false;
    if (auto eq = name.find('='); eq != std::string::npos && name.rfind("--", 0) == 0) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      hasValue = true;
    }
    auto take = [&]() -> std::optional<std::string> {
      if (hasValue) return value;
      if (i + 1 < args.size()) return args[++i];
      usage.push_back(name + " needs a value");
      return std::nullopt;
    };
    if (name == "--help" || name == "-h") {
      out << kUsage;
      return kExitOk;
    } else if (name == "-f" || name == "--filename") {
      if (auto v = take()) files.push_back(*v);
    } else if (name == "--sidecar-image") {
      if (auto v = take()) {
        if (v->empty()) usage.push_back("--sidecar-image must not be empty");
        settings.sidecarImage = *v;
      }
    } else if (name == "--sidecar-config") {
      if (auto v = take()) configFile = *v;
    } else if (name == "--native-sidecar") {
      if (!hasValue) settings.nativeSidecars = true;
      else if (value == "true" || value == "false") settings.nativeSidecars = value == "true";
      else usage.push_back("--native-sidecar must be true or false, got \"" + value + "\"");
    } else {
      usage.push_back("unknown flag " + args[i]);
    }
  }
  if (files.empty()) usage.push_back("give the input with -f FILE (or -f - for stdin)");
  if (!configFile.empty()) {
    std::ifstream f(configFile, std::ios::binary);
    if (!f || !readAll(f, settings.defaultConfigYaml)) {
      usage.push_back("--sidecar-config: cannot read " + configFile);
    } else {
      for (const auto& e : checkSidecarConfig(settings.defaultConfigYaml))
        usage.push_back("--sidecar-config " + configFile + ": " + e);
    }
  }
  if (!usage.empty()) {
    for (const auto& u : usage) err << "tributary-operator inject: " << u << "\n";
    err << kUsage;
    return kExitUsage;
  }

  SidecarInjector injector(settings);
  std::vector<std::string> errors;
  std::vector<nlohmann::json> documents;
  for (const auto& file : files) {
    std::string text;
    if (file == "-") {
      readAll(in, text);
    } else {
      std::ifstream f(file, std::ios::binary);
      if (!f || !readAll(f, text)) {
        err << "tributary-operator inject: cannot read " << file << "\n";
        return kExitFailed;
      }
    }
    std::vector<nlohmann::json> docs;
    try {
      docs = app::yamlDocumentsToJson(text);
    } catch (const YAML::Exception& e) {
      err << "tributary-operator inject: " << (file == "-" ? "stdin" : file) << ": " << e.what() << "\n";
      return kExitFailed;
    }
    for (size_t i = 0; i < docs.size(); ++i) {
      if (docs[i].is_null()) continue;  // an empty document
      std::vector<std::string> docErrors;
      injectDocument(injector, docs[i], docErrors);
      for (const auto& e : docErrors)
        errors.push_back((file == "-" ? "stdin" : file) + ": document " + std::to_string(i + 1) + ": " + e);
      documents.push_back(std::move(docs[i]));
    }
  }
  if (!errors.empty()) {
    for (const auto& e : errors) err << "tributary-operator inject: " << e << "\n";
    err << "tributary-operator inject: nothing printed: " << errors.size() << " refused\n";
    return kExitFailed;
  }
  for (size_t i = 0; i < documents.size(); ++i) out << (i ? "---\n" : "") << app::jsonToYaml(documents[i]);
  return kExitOk;
}

}  // namespace tributary::op::inject
