#include "operator/inject/server_version.h"

#include <cctype>
#include <string>

namespace tributary::op::inject {
namespace {

// The leading digits of `s` ("29+" → 29), nullopt without any.
std::optional<int> leadingNumber(const std::string& s, size_t& pos) {
  size_t start = pos;
  while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])) && pos - start < 6) ++pos;
  if (pos == start) return std::nullopt;
  return std::stoi(s.substr(start, pos - start));
}

}  // namespace

std::optional<ServerVersion> parseServerVersion(const nlohmann::json& doc) {
  if (!doc.is_object()) return std::nullopt;
  auto field = [&](const char* key) {
    auto it = doc.find(key);
    return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  size_t p1 = 0, p2 = 0;
  auto major = leadingNumber(field("major"), p1);
  auto minor = leadingNumber(field("minor"), p2);
  if (major && minor) return ServerVersion{*major, *minor};
  // gitVersion: v<major>.<minor>.<patch>[-...]
  std::string git = field("gitVersion");
  size_t pos = git.rfind('v', 0) == 0 ? 1 : 0;
  major = leadingNumber(git, pos);
  if (!major || pos >= git.size() || git[pos] != '.') return std::nullopt;
  ++pos;
  minor = leadingNumber(git, pos);
  if (!minor) return std::nullopt;
  return ServerVersion{*major, *minor};
}

bool supportsNativeSidecars(const ServerVersion& v) { return v.major > 1 || (v.major == 1 && v.minor >= 29); }

}  // namespace tributary::op::inject
