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

// One YAML document (no "---") for a JSON value, which yamlToJson reads back
// as the same value: strings that would read as another type (`"true"`,
// `"8080"`, `""`) are quoted; multi-line strings are literal blocks (`|`)
// where that reads back exactly.
std::string jsonToYaml(const nlohmann::json& value);

}  // namespace tributary::op::app
