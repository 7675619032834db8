#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tributary::apiserver {

// A label selector in the query-string syntax (`labelSelector=`):
// `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x)`, `a>1`, `a<1`,
// comma-separated, all requirements must hold. As in the real API, `!=` and
// `notin` also match objects that lack the label.
class LabelSelector {
 public:
  LabelSelector() = default;  // matches everything
  // Throws ApiError (400) when the text does not parse.
  static LabelSelector parse(const std::string& text);

  bool empty() const { return requirements_.empty(); }
  // `object` is a whole object; its metadata.labels are matched.
  bool matches(const nlohmann::json& object) const;

 private:
  enum class Op { Equals, NotEquals, In, NotIn, Exists, DoesNotExist, GreaterThan, LessThan };
  struct Requirement {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };
  std::vector<Requirement> requirements_;
};

// A field selector (`fieldSelector=`): `f=v`, `f==v`, `f!=v`, comma-separated.
// Only the fields the resource type supports are accepted (metadata.name and
// metadata.namespace everywhere; a few more on events, pods, ...), like the
// real server, which rejects others with 400 "field label not supported".
class FieldSelector {
 public:
  FieldSelector() = default;
  static FieldSelector parse(const std::string& text, const std::vector<std::string>& extraFields);

  bool empty() const { return requirements_.empty(); }
  bool matches(const nlohmann::json& object) const;
  // The name a `metadata.name=x` requirement pins, or "" (used to narrow scans).
  std::string pinnedName() const;

 private:
  struct Requirement {
    std::string field;
    bool equals;
    std::string value;
  };
  std::vector<Requirement> requirements_;
};

}  // namespace tributary::apiserver
