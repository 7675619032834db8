#include "tests/support/apiserver/json_path.h"

#include <cctype>

namespace tributary::apiserver {

using Json = nlohmann::json;

namespace {

class Evaluator {
 public:
  explicit Evaluator(const std::string& e) : e_(e) {}

  bool run(const Json& root, std::vector<Json>& out) {
    // Printer columns may be written as `{.spec.x}`; the braces are optional.
    if (e_.size() >= 2 && e_.front() == '{' && e_.back() == '}') e_ = e_.substr(1, e_.size() - 2);
    std::vector<const Json*> cur{&root};
    if (!steps(cur, /*inFilter=*/false)) return false;
    if (pos_ != e_.size()) return false;
    for (const Json* j : cur) out.push_back(*j);
    return true;
  }

  // Evaluates a relative path (inside a filter) against one node.
  static bool relative(const std::string& path, const Json& node, std::vector<const Json*>& out) {
    Evaluator ev(path);
    out = {&node};
    return ev.steps(out, true) && ev.pos_ == ev.e_.size();
  }

 private:
  bool steps(std::vector<const Json*>& cur, bool inFilter) {
    if (pos_ < e_.size() && e_[pos_] == '$') ++pos_;
    while (pos_ < e_.size()) {
      char c = e_[pos_];
      if (c == '.') {
        ++pos_;
        std::string name = identifier();
        if (name.empty()) {
          if (pos_ == e_.size() && !inFilter) return true;  // a lone "." is the root
          return false;
        }
        field(cur, name);
      } else if (c == '[') {
        if (!bracket(cur)) return false;
      } else {
        return false;
      }
    }
    return true;
  }

  std::string identifier() {
    size_t start = pos_;
    while (pos_ < e_.size() && (std::isalnum(static_cast<unsigned char>(e_[pos_])) || e_[pos_] == '_' || e_[pos_] == '-'))
      ++pos_;
    return e_.substr(start, pos_ - start);
  }

  static void field(std::vector<const Json*>& cur, const std::string& name) {
    std::vector<const Json*> next;
    for (const Json* j : cur) {
      if (!j->is_object()) continue;
      auto it = j->find(name);
      if (it != j->end()) next.push_back(&*it);
    }
    cur = std::move(next);
  }

  bool bracket(std::vector<const Json*>& cur) {
    size_t close = matchingBracket(pos_);
    if (close == std::string::npos) return false;
    std::string inner = e_.substr(pos_ + 1, close - pos_ - 1);
    pos_ = close + 1;
    std::vector<const Json*> next;
    if (inner == "*") {
      for (const Json* j : cur) {
        if (j->is_array() || j->is_object())
          for (const auto& el : *j) next.push_back(&el);
      }
    } else if (!inner.empty() && (inner[0] == '\'' || inner[0] == '"')) {
      if (inner.size() < 2 || inner.back() != inner[0]) return false;
      field(cur, inner.substr(1, inner.size() - 2));
      return true;
    } else if (inner.rfind("?(", 0) == 0 && inner.back() == ')') {
      std::string cond = inner.substr(2, inner.size() - 3);
      for (const Json* j : cur) {
        if (!j->is_array()) continue;
        for (const auto& el : *j) {
          auto keep = filter(cond, el);
          if (!keep) return false;
          if (*keep) next.push_back(&el);
        }
      }
    } else {
      try {
        size_t used = 0;
        long idx = std::stol(inner, &used);
        if (used != inner.size()) return false;
        for (const Json* j : cur) {
          if (!j->is_array()) continue;
          long n = static_cast<long>(j->size());
          long i = idx < 0 ? n + idx : idx;
          if (i >= 0 && i < n) next.push_back(&(*j)[static_cast<size_t>(i)]);
        }
      } catch (const std::exception&) {
        return false;
      }
    }
    cur = std::move(next);
    return true;
  }

  // `@.type=="Ready"`, `@.type!='x'`, `@.present`; nullopt when unsupported.
  static std::optional<bool> filter(const std::string& cond, const Json& el) {
    size_t opPos = cond.find("==");
    bool equals = true;
    if (opPos == std::string::npos) {
      opPos = cond.find("!=");
      equals = false;
    }
    std::string lhs = cond.substr(0, opPos);
    while (!lhs.empty() && lhs.back() == ' ') lhs.pop_back();
    if (lhs.rfind("@", 0) != 0) return std::nullopt;
    std::vector<const Json*> found;
    if (!relative(lhs.substr(1), el, found)) return std::nullopt;
    if (opPos == std::string::npos) return !found.empty();
    std::string rhs = cond.substr(opPos + 2);
    size_t b = rhs.find_first_not_of(' ');
    rhs = b == std::string::npos ? "" : rhs.substr(b);
    while (!rhs.empty() && rhs.back() == ' ') rhs.pop_back();
    Json want;
    if (rhs.size() >= 2 && (rhs[0] == '"' || rhs[0] == '\'') && rhs.back() == rhs[0]) {
      want = rhs.substr(1, rhs.size() - 2);
    } else {
      want = Json::parse(rhs, nullptr, false);
      if (want.is_discarded()) return std::nullopt;
    }
    bool eq = !found.empty() && *found[0] == want;
    return equals ? eq : !eq;
  }

  size_t matchingBracket(size_t open) const {
    char quote = 0;
    int depth = 0;
    for (size_t i = open; i < e_.size(); ++i) {
      char c = e_[i];
      if (quote) {
        if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '[') {
        ++depth;
      } else if (c == ']' && --depth == 0) {
        return i;
      }
    }
    return std::string::npos;
  }

  std::string e_;
  size_t pos_ = 0;
};

}  // namespace

std::optional<std::vector<Json>> evaluateJsonPath(const std::string& expression, const Json& root) {
  std::vector<Json> out;
  Evaluator ev(expression);
  if (!ev.run(root, out)) return std::nullopt;
  return out;
}

}  // namespace tributary::apiserver
