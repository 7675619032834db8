#pragma once
// Reading a YAML configuration document into immutable structs: every error
// collected, each naming its key (and the TRIBUTARY_* variable that set it).
// Shared by the sidecar's config and the pipeline file.
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/config/duration.h"
#include "common/config/listen_address.h"

namespace tributary {

// The whole file, or nullopt with `why` set (a missing file, a directory, a
// read error). Never throws.
std::optional<std::string> readWholeFile(const std::string& path, std::string& why);

// Walks the document, collecting every error with the key it concerns.
class YamlReader {
 public:
  explicit YamlReader(std::map<std::string, std::string> fromEnv = {}) : fromEnv_(std::move(fromEnv)) {}

  std::vector<std::string> errors;

  // The environment variable that set `key` (or the list `key[i]` belongs to).
  std::optional<std::string> variable(const std::string& key) const {
    auto it = fromEnv_.find(key.substr(0, key.find('[')));
    if (it == fromEnv_.end()) return std::nullopt;
    return it->second;
  }

  void fail(const std::string& key, const std::string& what) {
    auto v = variable(key);
    errors.push_back(key + (v ? " (from " + *v + ")" : "") + ": " + what);
  }

  // A mapping whose keys must all be known; returns false (and reports) otherwise.
  bool mapping(const YAML::Node& n, const std::string& key, const std::set<std::string>& known) {
    if (!n || n.IsNull()) return false;
    if (!n.IsMap()) {
      fail(key.empty() ? "(top level)" : key, "must be a mapping");
      return false;
    }
    for (const auto& kv : n) {
      if (!kv.first.IsScalar()) {
        fail(key.empty() ? "(top level)" : key, "keys must be plain names, not lists or mappings");
        continue;
      }
      const std::string k = kv.first.Scalar();
      if (!known.count(k)) {
        std::string list;
        for (const auto& s : known) list += (list.empty() ? "" : ", ") + s;
        fail(key.empty() ? k : key + "." + k, "unknown key (known keys here: " + list + ")");
      }
    }
    return true;
  }

  void string(const YAML::Node& n, const std::string& key, std::string& out) {
    if (!n || n.IsNull()) return;
    if (!n.IsScalar()) return fail(key, "must be a string");
    out = n.Scalar();
  }

  template <typename Int>
  void integer(const YAML::Node& n, const std::string& key, Int& out, long long min, long long max) {
    if (!n || n.IsNull()) return;
    long long v;
    if (!n.IsScalar() || !YAML::convert<long long>::decode(n, v)) return fail(key, "must be an integer");
    if (v < min || v > max)
      return fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                           std::to_string(v));
    out = static_cast<Int>(v);
  }

  void duration(const YAML::Node& n, const std::string& key, std::chrono::milliseconds& out,
                std::chrono::milliseconds min) {
    if (!n || n.IsNull()) return;
    if (!n.IsScalar()) return fail(key, "must be a duration string such as \"500ms\", \"10s\" or \"1m\"");
    auto d = parseDuration(n.Scalar());
    if (!d) return fail(key, "\"" + n.Scalar() + "\" is not a duration; write e.g. \"500ms\", \"10s\" or \"1m\"");
    if (*d < min) return fail(key, "must be at least " + formatDuration(min));
    out = *d;
  }

  void number(const YAML::Node& n, const std::string& key, double& out, double min, double max) {
    if (!n || n.IsNull()) return;
    double v;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v)) return fail(key, "must be a number");
    if (!(v >= min && v <= max))
      return fail(key, "must be between " + trim(std::to_string(min)) + " and " + trim(std::to_string(max)) +
                           ", got " + n.Scalar());
    out = v;
  }

  // A string that must be one of `choices`; returns the index chosen, or nullopt (absent or wrong).
  std::optional<size_t> choice(const YAML::Node& n, const std::string& key, const std::vector<std::string>& choices) {
    if (!n || n.IsNull()) return std::nullopt;
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
    if (!n.IsScalar()) {
      fail(key, "must be one of " + list);
      return std::nullopt;
    }
    for (size_t i = 0; i < choices.size(); ++i)
      if (n.Scalar() == choices[i]) return i;
    fail(key, "must be one of " + list + ", got \"" + n.Scalar() + "\"");
    return std::nullopt;
  }

  static std::string trim(std::string s) {
    if (s.find('.') != std::string::npos) {
      while (!s.empty() && s.back() == '0') s.pop_back();
      if (!s.empty() && s.back() == '.') s.pop_back();
    }
    return s;
  }

  void listen(const YAML::Node& n, const std::string& key, ListenAddress& out) {
    std::string s;
    string(n, key, s);
    if (s.empty()) return;
    auto a = parseListenAddress(s);
    if (!a) return fail(key, "\"" + s + "\" is not a listen address; write host:port, e.g. \"127.0.0.1:9191\"");
    out = *a;
  }

  // A list of strings; `check`, if given, says what is wrong with an item ("" when nothing is).
  // Errors name the item by its index in the list as written.
  void stringList(const YAML::Node& n, const std::string& key, std::vector<std::string>& out,
                  std::string (*check)(const std::string&) = nullptr) {
    if (!n || n.IsNull()) return;
    if (!n.IsSequence()) return fail(key, "must be a list of strings");
    out.clear();
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string itemKey = key + "[" + std::to_string(i) + "]";
      if (!n[i].IsScalar()) {
        fail(itemKey, "must be a string");
        continue;
      }
      if (check) {
        if (std::string why = check(n[i].Scalar()); !why.empty()) {
          fail(itemKey, why);
          continue;
        }
      }
      out.push_back(n[i].Scalar());
    }
  }

 private:
  std::map<std::string, std::string> fromEnv_;  // key → variable that set it
};


}  // namespace tributary
