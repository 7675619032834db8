#include "tests/install/manifest.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "operator/app/yaml_json.h"
#include "tests/apiserver/command.h"

namespace tributary::install::test {

std::string sourceDir() { return TRIBUTARY_SOURCE_DIR; }

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Manifest::Manifest(const std::string& yamlText) {
  for (auto& doc : op::app::yamlDocumentsToJson(yamlText))
    if (doc.is_object() && !doc.empty()) objects_.push_back(std::move(doc));
}

const Json* Manifest::find(const std::string& kind, const std::string& name) const {
  for (const auto& o : objects_)
    if (o.value("kind", "") == kind && o["metadata"].value("name", "") == name) return &o;
  return nullptr;
}

const Json& Manifest::get(const std::string& kind, const std::string& name) const {
  if (const Json* o = find(kind, name)) return *o;
  throw std::runtime_error("no " + kind + " named " + name + " in the manifest");
}

std::vector<const Json*> Manifest::ofKind(const std::string& kind) const {
  std::vector<const Json*> out;
  for (const auto& o : objects_)
    if (o.value("kind", "") == kind) out.push_back(&o);
  return out;
}

std::vector<std::string> Manifest::ids() const {
  std::vector<std::string> out;
  for (const auto& o : objects_) out.push_back(o.value("kind", "") + "/" + o["metadata"].value("name", ""));
  return out;
}

std::optional<std::string> helmRenderBinary() {
  const std::string path = TRIBUTARY_HELM_RENDER;
  if (access(path.c_str(), X_OK) != 0) return std::nullopt;
  return path;
}

RenderResult renderChart(const std::vector<std::string>& args) {
  auto binary = helmRenderBinary();
  if (!binary) return {127, "", "tributary-helm-render was not built"};
  std::vector<std::string> all = args;
  all.push_back(sourceDir() + "/helm/tributary");
  auto r = apiserver::test::run(*binary, all, {}, std::chrono::seconds(60));
  return {r.exitCode, r.out, r.err};
}

std::string configMapData(const Manifest& m, const std::string& name, const std::string& key) {
  const Json& cm = m.get("ConfigMap", name);
  if (!cm.contains("data") || !cm["data"].contains(key))
    throw std::runtime_error("ConfigMap " + name + " has no " + key);
  return cm["data"][key].get<std::string>();
}

}  // namespace tributary::install::test
