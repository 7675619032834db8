#include "tests/support/apiserver/representation.h"

#include <map>
#include <sstream>

#include "tests/support/apiserver/api_error.h"

namespace tributary::apiserver {

using Json = nlohmann::json;

namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

struct MediaRange {
  std::string type;
  std::map<std::string, std::string> params;
};

std::vector<MediaRange> parseAccept(const std::string& accept) {
  std::vector<MediaRange> out;
  std::stringstream ss(accept);
  std::string item;
  while (std::getline(ss, item, ',')) {
    MediaRange m;
    std::stringstream parts(item);
    std::string part;
    bool first = true;
    while (std::getline(parts, part, ';')) {
      part = trim(part);
      if (first) {
        m.type = part;
        first = false;
      } else if (auto eq = part.find('='); eq != std::string::npos) {
        m.params[trim(part.substr(0, eq))] = trim(part.substr(eq + 1));
      }
    }
    if (!m.type.empty()) out.push_back(m);
  }
  return out;
}

}  // namespace

Representation negotiate(const std::string& accept, const std::string& includeObject) {
  Representation r;
  if (includeObject == "None") r.table.include = IncludeObject::None;
  else if (includeObject == "Object") r.table.include = IncludeObject::Object;
  else if (includeObject.empty() || includeObject == "Metadata") r.table.include = IncludeObject::Metadata;
  else throw badRequest("includeObject: Unsupported value: \"" + includeObject + "\": supported values: \"Metadata\", \"None\", \"Object\"");

  auto ranges = parseAccept(accept);
  if (ranges.empty()) return r;
  for (const auto& m : ranges) {
    if (m.type != "application/json" && m.type != "*/*" && m.type != "application/*") continue;
    auto as = m.params.find("as");
    if (as == m.params.end()) return r;
    auto g = m.params.find("g"), v = m.params.find("v");
    if (g == m.params.end() || g->second != "meta.k8s.io" || v == m.params.end() ||
        (v->second != "v1" && v->second != "v1beta1"))
      continue;
    if (as->second == "Table") {
      r.kind = Representation::Kind::Table;
      r.table.tableVersion = v->second;
      r.contentType = "application/json;as=Table;v=" + v->second + ";g=meta.k8s.io";
      return r;
    }
    if (as->second == "PartialObjectMetadata" || as->second == "PartialObjectMetadataList") {
      r.kind = Representation::Kind::Metadata;
      r.metadataVersion = v->second;
      r.contentType = "application/json;as=" + as->second + ";v=" + v->second + ";g=meta.k8s.io";
      return r;
    }
  }
  throw notAcceptable(accept);
}

Json inVersion(const ResourceType& type, const std::string& version, const Json& object) {
  Json out = object;
  out["apiVersion"] = type.apiVersion(version);
  return out;
}

Json partialMetadata(const Json& object, const std::string& metaVersion) {
  return {{"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/" + metaVersion},
          {"metadata", object.contains("metadata") ? object["metadata"] : Json::object()}};
}

}  // namespace tributary::apiserver
