#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sidecar/api/api_error.h"
#include "sidecar/produce/producer.h"

namespace tributary::sidecar {

// True for application/json (with or without parameters): the body is the
// {"records":[...]} envelope. Any other type is one raw record.
bool isJsonContentType(std::string_view contentType);

// Parses {"records":[{"key"|"keyBase64","value"|"valueBase64","headers","partition"}]}.
// `value` is any JSON, sent as the app wrote it minus insignificant whitespace
// (member order, number spelling and escapes kept); `key` likewise, except that
// a JSON string key is sent as its text (so "user-1" partitions and compacts as
// user-1, as every Kafka tool shows keys). null or absent: a null key / value.
// The first problem found is the answer, naming the record and field.
// Thread safety: any thread; each thread keeps its own parser buffers.
std::variant<std::vector<OutgoingRecord>, ApiError> parseJsonRecords(const std::string& topic, std::string_view body);

// A non-JSON body: the whole body is the value, `key` from the Kafka-Key header,
// and the request's Content-Type kept as a `content-type` record header so that
// consumers (and push delivery) know what the bytes are.
OutgoingRecord rawRecord(const std::string& topic, std::string body, std::optional<std::string> key,
                         std::string_view contentType);

}  // namespace tributary::sidecar
