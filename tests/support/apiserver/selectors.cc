#include "tests/support/apiserver/selectors.h"

#include <algorithm>

#include "tests/support/apiserver/api_error.h"
#include "tests/support/apiserver/names.h"

namespace tributary::apiserver {

using Json = nlohmann::json;

namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// Splits on commas outside parentheses (`a in (x,y),b` is two requirements).
std::vector<std::string> splitTopLevel(const std::string& text) {
  std::vector<std::string> parts;
  std::string cur;
  int depth = 0;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  return parts;
}

}  // namespace

namespace {

const Json* labelOf(const Json& object, const std::string& key) {
  auto m = object.find("metadata");
  if (m == object.end() || !m->is_object()) return nullptr;
  auto l = m->find("labels");
  if (l == m->end() || !l->is_object()) return nullptr;
  auto v = l->find(key);
  return v == l->end() ? nullptr : &*v;
}

}  // namespace

LabelSelector LabelSelector::parse(const std::string& text) {
  LabelSelector sel;
  if (trim(text).empty()) return sel;
  for (const auto& raw : splitTopLevel(text)) {
    const std::string part = trim(raw);
    auto fail = [&](const std::string& why) {
      return badRequest("unable to parse requirement: \"" + part + "\": " + why);
    };
    if (part.empty()) throw fail("empty requirement");
    Requirement r;
    if (part[0] == '!') {
      r.key = trim(part.substr(1));
      r.op = Op::DoesNotExist;
    } else {
      // KEY, then nothing (exists), an operator and a value, or in/notin (set).
      size_t end = part.find_first_of(" \t=!<>(");
      r.key = part.substr(0, end);
      std::string rest = end == std::string::npos ? "" : trim(part.substr(end));
      auto word = [&](const std::string& w) {
        return rest.compare(0, w.size(), w) == 0 && rest.size() > w.size() &&
               (rest[w.size()] == ' ' || rest[w.size()] == '\t' || rest[w.size()] == '(');
      };
      if (rest.empty()) {
        r.op = Op::Exists;
      } else if (word("in") || word("notin")) {
        r.op = word("in") ? Op::In : Op::NotIn;
        std::string set = trim(rest.substr(r.op == Op::In ? 2 : 5));
        if (set.size() < 2 || set.front() != '(' || set.back() != ')') throw fail("expected a parenthesised set of values");
        for (const auto& v : splitTopLevel(set.substr(1, set.size() - 2))) {
          std::string value = trim(v);
          if (!isLabelValue(value)) throw fail("invalid label value \"" + value + "\"");
          r.values.push_back(value);
        }
      } else {
        size_t opLen = 1;
        if (rest.compare(0, 2, "==") == 0) {
          r.op = Op::Equals;
          opLen = 2;
        } else if (rest.compare(0, 2, "!=") == 0) {
          r.op = Op::NotEquals;
          opLen = 2;
        } else if (rest[0] == '=') {
          r.op = Op::Equals;
        } else if (rest[0] == '>') {
          r.op = Op::GreaterThan;
        } else if (rest[0] == '<') {
          r.op = Op::LessThan;
        } else {
          throw fail("expected an operator (=, ==, !=, in, notin, >, <)");
        }
        std::string value = trim(rest.substr(opLen));
        if (r.op == Op::GreaterThan || r.op == Op::LessThan) {
          if (!isInteger(value) || value.size() > 18) throw fail("for '>' and '<', an integer value is required");
        } else if (!isLabelValue(value)) {
          throw fail("invalid label value \"" + value + "\"");
        }
        r.values.push_back(value);
      }
    }
    if (!isQualifiedName(r.key)) throw fail("invalid label key \"" + r.key + "\"");
    sel.requirements_.push_back(std::move(r));
  }
  return sel;
}

bool LabelSelector::matches(const Json& object) const {
  for (const auto& r : requirements_) {
    const Json* v = labelOf(object, r.key);
    const std::string value = v && v->is_string() ? v->get<std::string>() : "";
    const bool has = v != nullptr;
    const bool inSet = has && std::find(r.values.begin(), r.values.end(), value) != r.values.end();
    bool ok = false;
    switch (r.op) {
      case Op::Equals: ok = has && value == r.values[0]; break;
      case Op::NotEquals: ok = !has || value != r.values[0]; break;
      case Op::In: ok = inSet; break;
      case Op::NotIn: ok = !inSet; break;
      case Op::Exists: ok = has; break;
      case Op::DoesNotExist: ok = !has; break;
      case Op::GreaterThan:
      case Op::LessThan: {
        if (!has || !isInteger(value) || value.size() > 18) break;
        long long lhs = std::stoll(value), rhs = std::stoll(r.values[0]);
        ok = r.op == Op::GreaterThan ? lhs > rhs : lhs < rhs;
        break;
      }
    }
    if (!ok) return false;
  }
  return true;
}

FieldSelector FieldSelector::parse(const std::string& text, const std::vector<std::string>& extraFields) {
  FieldSelector sel;
  if (trim(text).empty()) return sel;
  // Commas and operators inside a value are escaped with a backslash.
  std::vector<std::string> parts{""};
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      parts.back() += text.substr(i, 2);
      ++i;
    } else if (text[i] == ',') {
      parts.emplace_back();
    } else {
      parts.back() += text[i];
    }
  }
  auto unescape = [](const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\\' && i + 1 < s.size()) ++i;
      out += s[i];
    }
    return out;
  };
  for (const auto& raw : parts) {
    const std::string part = trim(raw);
    Requirement r;
    size_t pos;
    if ((pos = part.find("!=")) != std::string::npos) {
      r.equals = false;
      r.field = trim(part.substr(0, pos));
      r.value = unescape(trim(part.substr(pos + 2)));
    } else if ((pos = part.find("==")) != std::string::npos) {
      r.equals = true;
      r.field = trim(part.substr(0, pos));
      r.value = unescape(trim(part.substr(pos + 2)));
    } else if ((pos = part.find('=')) != std::string::npos) {
      r.equals = true;
      r.field = trim(part.substr(0, pos));
      r.value = unescape(trim(part.substr(pos + 1)));
    } else {
      throw badRequest("invalid field selector: \"" + part + "\": expected an operator (=, ==, !=)");
    }
    const bool known = r.field == "metadata.name" || r.field == "metadata.namespace" ||
                       std::find(extraFields.begin(), extraFields.end(), r.field) != extraFields.end();
    if (!known) throw badRequest("field label not supported: " + r.field);
    sel.requirements_.push_back(std::move(r));
  }
  return sel;
}

bool FieldSelector::matches(const Json& object) const {
  for (const auto& r : requirements_) {
    // Walk the dotted path; an absent field reads as "" as in the real server.
    const Json* cur = &object;
    size_t start = 0;
    while (cur && start <= r.field.size()) {
      size_t dot = r.field.find('.', start);
      std::string seg = r.field.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      auto it = cur->is_object() ? cur->find(seg) : cur->end();
      cur = cur->is_object() && it != cur->end() ? &*it : nullptr;
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    std::string value;
    if (cur && cur->is_string()) value = cur->get<std::string>();
    else if (cur && !cur->is_null()) value = cur->dump();
    if ((value == r.value) != r.equals) return false;
  }
  return true;
}

std::string FieldSelector::pinnedName() const {
  for (const auto& r : requirements_)
    if (r.field == "metadata.name" && r.equals) return r.value;
  return "";
}

}  // namespace tributary::apiserver
