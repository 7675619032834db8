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

// Whether `text`, written as a plain YAML scalar, would read back as a string.
bool readsAsString(const std::string& text) {
  YAML::Node plain(text);
  plain.SetTag("?");
  return scalarToJson(plain).is_string();
}

void emit(YAML::Emitter& out, const json& value, bool literalBlocks) {
  switch (value.type()) {
    case json::value_t::null: out << YAML::Null; break;
    case json::value_t::boolean: out << (value.get<bool>() ? "true" : "false"); break;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: out << value.dump(); break;  // JSON's number text is a YAML number
    case json::value_t::string: {
      const std::string& s = value.get_ref<const std::string&>();
      if (literalBlocks && s.find('\n') != std::string::npos) out << YAML::Literal << s;
      else if (!readsAsString(s)) out << YAML::DoubleQuoted << s;
      else out << s;
      break;
    }
    case json::value_t::array:
      if (value.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        break;
      }
      out << YAML::BeginSeq;
      for (const auto& item : value) emit(out, item, literalBlocks);
      out << YAML::EndSeq;
      break;
    case json::value_t::object:
      if (value.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        break;
      }
      out << YAML::BeginMap;
      for (const auto& [key, item] : value.items()) {
        out << YAML::Key;
        if (!readsAsString(key)) out << YAML::DoubleQuoted;
        out << key << YAML::Value;
        emit(out, item, literalBlocks);
      }
      out << YAML::EndMap;
      break;
    default: out << YAML::Null; break;  // binary / discarded: not produced by our parsers
  }
}

std::string emitDocument(const json& value, bool literalBlocks) {
  YAML::Emitter out;
  out.SetIndent(2);
  out.SetSeqFormat(YAML::Block);
  emit(out, value, literalBlocks);
  return std::string(out.c_str()) + "\n";
}

}  // namespace

std::string jsonToYaml(const json& value) {
  // Literal blocks read best (an inline config file), but YAML cannot carry
  // every string as one (trailing blank lines, trailing spaces); the text is
  // read back, and written without them when it does not round-trip.
  std::string text = emitDocument(value, true);
  auto back = yamlDocumentsToJson(text);
  if (back.size() == 1 && back[0] == value) return text;
  return emitDocument(value, false);
}

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
