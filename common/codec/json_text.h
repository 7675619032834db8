#pragma once
#include <string>
#include <string_view>

namespace tributary {

// True when Kafka bytes are one JSON document: valid UTF-8 (RFC 8259), nested at
// most `maxDepth` deep. Checked with simdjson without building a tree, so that a
// record's value can be embedded in an answer as the bytes it is (pull's "value",
// a push batch's "data"), not re-printed from a parsed copy. Any thread.
bool isJsonText(std::string_view bytes, int maxDepth = 64);

// Appends `s` as a JSON string literal, escaped by the JSON library; invalid
// UTF-8 is replaced by U+FFFD (Kafka does not check header names, for one).
void appendJsonString(std::string& out, std::string_view s);

}  // namespace tributary
