#pragma once
#include <cctype>
#include <string_view>

namespace tributary {

// Kafka's own rule: 1-249 characters of [a-zA-Z0-9._-], and not "." or "..".
inline bool isValidTopicName(std::string_view t) {
  if (t.empty() || t.size() > 249 || t == "." || t == "..") return false;
  for (char c : t)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  return true;
}

}  // namespace tributary
