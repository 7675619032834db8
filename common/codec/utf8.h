#pragma once
#include <string_view>

namespace tributary {

// True when `bytes` is well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF). Decides whether Kafka bytes can be shown
// to an app as a JSON string or must travel as base64.
bool isValidUtf8(std::string_view bytes);

}  // namespace tributary
