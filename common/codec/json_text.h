#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

namespace tributary {

// Kafka bytes as a JSON document, when they are one: valid UTF-8 that parses as
// JSON, nested at most `maxDepth` deep (deeper documents are refused so that no
// value can exhaust a thread's stack when it is later walked or printed).
// nullopt otherwise; never throws. Used to hand record values to apps parsed
// (pull's "value", a push batch's "data") instead of as base64.
std::optional<nlohmann::json> parseJsonText(std::string_view bytes, int maxDepth = 64);

}  // namespace tributary
