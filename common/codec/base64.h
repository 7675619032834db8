#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace tributary {

// Standard alphabet (RFC 4648 §4), padded. Decoding is strict: wrong length,
// characters outside the alphabet or misplaced padding give nullopt, so a
// client's mistake is a 400, never silently different bytes in Kafka.
std::string base64Encode(std::string_view bytes);
std::optional<std::string> base64Decode(std::string_view text);

}  // namespace tributary
