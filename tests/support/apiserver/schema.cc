#include "tests/support/apiserver/schema.h"

// Schema patterns are the CRD author's regular expressions, so std::regex is
// needed here. GCC 12 reports a false -Wmaybe-uninitialized inside <regex>
// when optimising with sanitizers; it is not about this code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#include <set>

namespace tributary::apiserver {

using Json = nlohmann::json;

namespace {

bool flag(const Json& schema, const char* key) {
  auto it = schema.find(key);
  return it != schema.end() && it->is_boolean() && it->get<bool>();
}

std::string typeName(const Json& v) {
  if (v.is_string()) return "string";
  if (v.is_number_integer()) return "integer";
  if (v.is_number()) return "number";
  if (v.is_boolean()) return "boolean";
  if (v.is_array()) return "array";
  if (v.is_object()) return "object";
  return "null";
}

bool hasType(const Json& v, const std::string& type) {
  if (type == "integer") return v.is_number_integer() || (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>())));
  if (type == "number") return v.is_number();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_boolean();
  if (type == "array") return v.is_array();
  if (type == "object") return v.is_object();
  return true;  // no type: anything
}

std::string child(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

class Walker {
 public:
  std::vector<Cause> causes;

  // Prune and default, then validate, `value` at `path` against `schema`.
  void walk(const Json& schema, Json& value, const std::string& path, bool root) {
    if (!schema.is_object()) return;
    if (value.is_object()) pruneAndDefault(schema, value, path, root);
    if (value.is_array()) {
      if (auto items = schema.find("items"); items != schema.end())
        for (size_t i = 0; i < value.size(); ++i) walk(*items, value[i], path + "[" + std::to_string(i) + "]", false);
    }
    validate(schema, value, path);
  }

 private:
  void pruneAndDefault(const Json& schema, Json& obj, const std::string& path, bool root) {
    const Json* props = schema.contains("properties") && schema["properties"].is_object() ? &schema["properties"] : nullptr;
    const Json* additional = schema.contains("additionalProperties") ? &schema["additionalProperties"] : nullptr;
    const bool preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
    for (auto it = obj.begin(); it != obj.end();) {
      const std::string key = it.key();
      if (root && (key == "apiVersion" || key == "kind" || key == "metadata")) {
        ++it;
        continue;
      }
      const Json* sub = nullptr;
      if (props && props->contains(key)) sub = &(*props)[key];
      else if (additional && additional->is_object()) sub = additional;
      if (!sub && !preserve && !(additional && additional->is_boolean() && additional->get<bool>())) {
        it = obj.erase(it);  // pruned: unknown to the schema
        continue;
      }
      if (sub && it.value().is_null() && (!flag(*sub, "nullable") || sub->contains("default"))) {
        it = obj.erase(it);
        continue;
      }
      ++it;
    }
    if (props) {
      for (auto p = props->begin(); p != props->end(); ++p) {
        if (!obj.contains(p.key()) && p.value().is_object() && p.value().contains("default"))
          obj[p.key()] = p.value()["default"];
      }
    }
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      if (root && (it.key() == "apiVersion" || it.key() == "kind" || it.key() == "metadata")) continue;
      const Json* sub = nullptr;
      if (props && props->contains(it.key())) sub = &(*props)[it.key()];
      else if (additional && additional->is_object()) sub = additional;
      if (sub) walk(*sub, it.value(), child(path, it.key()), false);
    }
  }

  void add(const std::string& type, const std::string& path, const std::string& message) {
    causes.push_back({type, path, message});
  }

  void validate(const Json& schema, const Json& v, const std::string& path) {
    const std::string shown = v.dump();
    if (v.is_null()) {
      if (!flag(schema, "nullable") && schema.contains("type"))
        add("FieldValueInvalid", path, "Invalid value: \"null\": " + path + " in body must be of type " +
                                           schema["type"].get<std::string>() + ": \"null\"");
      return;
    }
    if (flag(schema, "x-kubernetes-int-or-string")) {
      if (!v.is_number_integer() && !v.is_string())
        add("FieldValueInvalid", path, "Invalid value: \"" + typeName(v) + "\": " + path +
                                           " in body must be of type integer,string: \"" + typeName(v) + "\"");
    } else if (auto t = schema.find("type"); t != schema.end() && t->is_string() && !hasType(v, *t)) {
      add("FieldValueInvalid", path, "Invalid value: \"" + typeName(v) + "\": " + path + " in body must be of type " +
                                         t->get<std::string>() + ": \"" + typeName(v) + "\"");
      return;  // the other keywords assume the right type
    }
    if (auto e = schema.find("enum"); e != schema.end() && e->is_array()) {
      bool found = false;
      std::string supported;
      for (const auto& option : *e) {
        found = found || option == v;
        supported += (supported.empty() ? "" : ", ") + option.dump();
      }
      if (!found) add("FieldValueNotSupported", path, "Unsupported value: " + shown + ": supported values: " + supported);
    }
    if (v.is_number()) {
      const double x = v.get<double>();
      if (auto m = schema.find("minimum"); m != schema.end() && m->is_number()) {
        bool exclusive = flag(schema, "exclusiveMinimum");
        if (exclusive ? x <= m->get<double>() : x < m->get<double>())
          add("FieldValueInvalid", path, "Invalid value: " + shown + ": " + path + " in body should be greater than " +
                                             (exclusive ? "" : "or equal to ") + m->dump());
      }
      if (auto m = schema.find("maximum"); m != schema.end() && m->is_number()) {
        bool exclusive = flag(schema, "exclusiveMaximum");
        if (exclusive ? x >= m->get<double>() : x > m->get<double>())
          add("FieldValueInvalid", path, "Invalid value: " + shown + ": " + path + " in body should be less than " +
                                             (exclusive ? "" : "or equal to ") + m->dump());
      }
    }
    if (v.is_string()) {
      const std::string s = v.get<std::string>();
      if (auto m = schema.find("minLength"); m != schema.end() && m->is_number_integer() && s.size() < m->get<size_t>())
        add("FieldValueInvalid", path, "Invalid value: " + shown + ": " + path + " in body should be at least " +
                                           m->dump() + " chars long");
      if (auto m = schema.find("maxLength"); m != schema.end() && m->is_number_integer() && s.size() > m->get<size_t>())
        add("FieldValueTooLong", path, "Too long: may not be more than " + m->dump() + " bytes");
      if (auto p = schema.find("pattern"); p != schema.end() && p->is_string()) {
        try {
          if (!std::regex_search(s, std::regex(p->get<std::string>())))
            add("FieldValueInvalid", path, "Invalid value: " + shown + ": " + path + " in body should match '" +
                                               p->get<std::string>() + "'");
        } catch (const std::regex_error&) {
          // A pattern this regex engine cannot read is not the client's fault.
        }
      }
    }
    if (v.is_array()) {
      if (auto m = schema.find("minItems"); m != schema.end() && m->is_number_integer() && v.size() < m->get<size_t>())
        add("FieldValueInvalid", path, "Invalid value: " + std::to_string(v.size()) + ": " + path +
                                           " in body should have at least " + m->dump() + " items");
      if (auto m = schema.find("maxItems"); m != schema.end() && m->is_number_integer() && v.size() > m->get<size_t>())
        add("FieldValueTooMany", path, "Too many: " + std::to_string(v.size()) + ": must have at most " + m->dump() +
                                           " items");
      if (flag(schema, "uniqueItems")) {
        std::set<std::string> seen;
        for (const auto& el : v)
          if (!seen.insert(el.dump()).second) {
            add("FieldValueDuplicate", path, "Duplicate value: " + el.dump());
            break;
          }
      }
    }
    if (v.is_object()) {
      if (auto req = schema.find("required"); req != schema.end() && req->is_array())
        for (const auto& r : *req)
          if (r.is_string() && !v.contains(r.get<std::string>()))
            add("FieldValueRequired", child(path, r.get<std::string>()), "Required value");
      if (auto m = schema.find("minProperties"); m != schema.end() && m->is_number_integer() && v.size() < m->get<size_t>())
        add("FieldValueInvalid", path, "Invalid value: " + std::to_string(v.size()) + ": " + path +
                                           " in body should have at least " + m->dump() + " properties");
      if (auto m = schema.find("maxProperties"); m != schema.end() && m->is_number_integer() && v.size() > m->get<size_t>())
        add("FieldValueTooMany", path, "Too many: " + std::to_string(v.size()) + ": must have at most " + m->dump() +
                                           " properties");
    }
  }
};

}  // namespace

std::vector<Cause> applySchema(const Json& schema, Json& object) {
  Walker w;
  w.walk(schema, object, "", true);
  return w.causes;
}

}  // namespace tributary::apiserver

#pragma GCC diagnostic pop
