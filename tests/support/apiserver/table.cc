#include "tests/support/apiserver/table.h"

#include "tests/support/apiserver/json_path.h"

namespace tributary::apiserver {

using Json = nlohmann::json;

namespace {

std::vector<PrinterColumn> columnsFor(const ResourceType& type, const std::string& version) {
  auto it = type.printerColumns.find(version);
  if (it != type.printerColumns.end()) return it->second;
  return {{"Age", "date", "", "CreationTimestamp is a timestamp representing the server time when this object was created.",
           ".metadata.creationTimestamp", 0}};
}

// How the real CRD table convertor renders one value (cellForJSONValue): typed
// for integer/number/boolean, printed for string, an age for date, null when
// the value is missing or of the wrong type.
Json cell(const PrinterColumn& col, const Json& object, SystemTime now) {
  auto results = evaluateJsonPath(col.jsonPath, object);
  if (!results || results->empty() || (*results)[0].is_null()) return nullptr;
  const Json& v = (*results)[0];
  if (col.type == "string") {
    if (v.is_string()) return v.get<std::string>();
    return v.dump();  // JSONPath printing: numbers, booleans, objects as JSON text
  }
  if (col.type == "integer") {
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_float()) return static_cast<int64_t>(v.get<double>());
    return nullptr;
  }
  if (col.type == "number") return v.is_number() ? v : Json(nullptr);
  if (col.type == "boolean") return v.is_boolean() ? v : Json(nullptr);
  if (col.type == "date") {
    if (!v.is_string()) return nullptr;
    auto t = parseTimestamp(v.get<std::string>());
    if (!t) return "<invalid>";
    return humanDuration(std::chrono::duration_cast<std::chrono::seconds>(now - *t));
  }
  return nullptr;
}

}  // namespace

Json makeTable(const ResourceType& type, const std::string& version, const std::vector<Json>& objects,
               const TableRequest& request, SystemTime now) {
  const auto columns = columnsFor(type, version);
  Json table{{"kind", "Table"}, {"apiVersion", "meta.k8s.io/" + request.tableVersion}, {"metadata", Json::object()}};
  if (request.columnDefinitions) {
    Json defs = Json::array();
    defs.push_back({{"name", "Name"},
                    {"type", "string"},
                    {"format", "name"},
                    {"description", "Name must be unique within a namespace. Is required when creating resources, "
                                    "although some resources may allow a client to request the generation of an "
                                    "appropriate name automatically."},
                    {"priority", 0}});
    for (const auto& c : columns)
      defs.push_back({{"name", c.name}, {"type", c.type}, {"format", c.format}, {"description", c.description},
                      {"priority", c.priority}});
    table["columnDefinitions"] = defs;
  } else {
    table["columnDefinitions"] = nullptr;
  }
  Json rows = Json::array();
  for (const auto& obj : objects) {
    Json cells = Json::array();
    cells.push_back(obj["metadata"].value("name", ""));
    for (const auto& c : columns) cells.push_back(cell(c, obj, now));
    Json row{{"cells", cells}};
    switch (request.include) {
      case IncludeObject::None: break;
      case IncludeObject::Metadata:
        row["object"] = {{"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", obj["metadata"]}};
        break;
      case IncludeObject::Object: row["object"] = obj; break;
    }
    rows.push_back(row);
  }
  table["rows"] = rows;
  return table;
}

}  // namespace tributary::apiserver
