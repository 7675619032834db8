#include "operator/app/yaml_json.h"

#include <cmath>

namespace tributary::op::app {

using nlohmann::json;

namespace {

json scalarToJson(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  // "!" is yaml-cpp's tag for quoted scalars (and the explicit non-specific tag).
  if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return text;
  if (node.Tag() != "?" && !node.Tag().empty()) return text;  // other explicit tags: keep the text
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") return nullptr;
  bool b = false;
  if (YAML::convert<bool>::decode(node, b)) return b;
  int64_t i = 0;
  if (YAML::convert<int64_t>::decode(node, i)) return i;
  uint64_t u = 0;
  if (YAML::convert<uint64_t>::decode(node, u)) return u;
  double d = 0;
  // JSON has no NaN or infinity: those stay strings.
  if (YAML::convert<double>::decode(node, d) && std::isfinite(d)) return d;
  return text;
}

}  // namespace

json yamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null: return nullptr;
    case YAML::NodeType::Scalar: return scalarToJson(node);
    case YAML::NodeType::Sequence: {
      json arr = json::array();
      for (const auto& item : node) arr.push_back(yamlToJson(item));
      return arr;
    }
    case YAML::NodeType::Map: {
      json obj = json::object();
      for (const auto& kv : node) {
        // Kubernetes objects only have string keys; a complex key keeps its text form.
        const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : YAML::Dump(kv.first);
        obj[key] = yamlToJson(kv.second);
      }
      return obj;
    }
  }
  return nullptr;
}

std::vector<json> yamlDocumentsToJson(const std::string& text) {
  std::vector<json> out;
  for (const auto& doc : YAML::LoadAll(text)) out.push_back(yamlToJson(doc));
  return out;
}

}  // namespace tributary::op::app
