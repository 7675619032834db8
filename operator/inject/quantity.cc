#include "operator/inject/quantity.h"

#include <cctype>
#include <cmath>
#include <map>

namespace tributary::op::inject {

std::optional<long double> parseQuantity(const std::string& text) {
  // <signedNumber><suffix>; number: digits, digits.digits, digits., .digits
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  const size_t numberStart = i;
  size_t digits = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i, ++digits;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i, ++digits;
  }
  if (digits == 0) return std::nullopt;
  long double value = std::strtold(text.substr(numberStart, i - numberStart).c_str(), nullptr);
  const std::string suffix = text.substr(i);
  static const std::map<std::string, long double> kSuffixes = {
      {"", 1.0L},         {"n", 1e-9L},       {"u", 1e-6L},       {"m", 1e-3L},       {"k", 1e3L},
      {"M", 1e6L},        {"G", 1e9L},        {"T", 1e12L},       {"P", 1e15L},       {"E", 1e18L},
      {"Ki", 1024.0L},    {"Mi", 1048576.0L}, {"Gi", 1073741824.0L}, {"Ti", 1099511627776.0L},
      {"Pi", 1125899906842624.0L},            {"Ei", 1152921504606846976.0L}};
  if (auto it = kSuffixes.find(suffix); it != kSuffixes.end()) {
    value *= it->second;
  } else if (suffix[0] == 'e' || suffix[0] == 'E') {
    // decimal exponent: e<signed integer>
    size_t j = 1;
    if (j < suffix.size() && (suffix[j] == '+' || suffix[j] == '-')) ++j;
    const size_t expDigits = j;
    while (j < suffix.size() && std::isdigit(static_cast<unsigned char>(suffix[j]))) ++j;
    if (j == expDigits || j != suffix.size() || j - expDigits > 4) return std::nullopt;
    value *= std::pow(10.0L, std::stoi(suffix.substr(1)));
  } else {
    return std::nullopt;
  }
  return negative ? -value : value;
}

}  // namespace tributary::op::inject
