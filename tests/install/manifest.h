#pragma once
// The objects of manifests/install.yaml or of a chart rendering, parsed once,
// and the renderer (tests/support/helm-render) run as a process.
// Pure data after construction; any thread.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace tributary::install::test {

using Json = nlohmann::json;

// The source tree (TRIBUTARY_SOURCE_DIR, set at build time).
std::string sourceDir();
std::string readFile(const std::string& path);

class Manifest {
 public:
  // Every non-empty YAML document, converted to JSON as kubectl reads it.
  // Throws YAML::Exception on a syntax error.
  explicit Manifest(const std::string& yamlText);

  const std::vector<Json>& objects() const { return objects_; }
  // The object of `kind` named `name`, or nullptr.
  const Json* find(const std::string& kind, const std::string& name) const;
  // Same, throwing std::runtime_error naming it when absent.
  const Json& get(const std::string& kind, const std::string& name) const;
  std::vector<const Json*> ofKind(const std::string& kind) const;
  // "Kind/name" of every object, in order.
  std::vector<std::string> ids() const;

 private:
  std::vector<Json> objects_;
};

struct RenderResult {
  int exitCode = -1;
  std::string out, err;
};

// The renderer's path when it was built (the chart tests skip otherwise).
std::optional<std::string> helmRenderBinary();
// Runs `tributary-helm-render ARGS... <source>/helm/tributary`.
RenderResult renderChart(const std::vector<std::string>& args);

// "KEY: VALUE" of a ConfigMap's data, e.g. operator.yaml's text.
std::string configMapData(const Manifest& m, const std::string& name, const std::string& key);

}  // namespace tributary::install::test
