#pragma once
// YAML documents (yaml-cpp) as JSON values, the form the Kubernetes API and
// the spec parsers take. Scalars resolve as kubectl's YAML library resolves
// them: quoted → string; plain → null, bool (true/false/yes/no/on/off),
// integer, float, else string. So `retention.ms: 3600000` is a number and is
// refused where the CRD wants a string, exactly as the API server would.
// Pure functions, any thread.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

namespace tributary::op::app {

nlohmann::json yamlToJson(const YAML::Node& node);

// Every document of a multi-document YAML text, converted. Throws
// YAML::Exception (with line and column) on a syntax error.
std::vector<nlohmann::json> yamlDocumentsToJson(const std::string& text);

}  // namespace tributary::op::app
