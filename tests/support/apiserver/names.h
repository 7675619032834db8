#pragma once
#include <string_view>

namespace tributary::apiserver {

// The name syntaxes of k8s.io/apimachinery/pkg/util/validation, by hand
// (std::regex is slow on every write, and trips GCC 12 warnings under sanitizers).

// RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters (namespace names).
bool isDnsLabel(std::string_view s);
// RFC 1123 subdomain: labels joined by dots, at most 253 characters (most object names).
bool isDnsSubdomain(std::string_view s);
// Label and annotation keys: [prefix/]name, prefix a DNS subdomain, name up to 63 of
// [A-Za-z0-9_.-] starting and ending alphanumeric.
bool isQualifiedName(std::string_view s);
// Label values: empty, or like a qualified name's name part.
bool isLabelValue(std::string_view s);
// -?[0-9]+
bool isInteger(std::string_view s);

}  // namespace tributary::apiserver
