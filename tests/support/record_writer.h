#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tributary::test {

// A record a test writes straight to Kafka (not through the sidecar).
struct RecordToWrite {
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::string>> headers;
  int32_t partition = -1;  // -1: by the key's hash
};

// Writes `records` in order with a plain idempotent librdkafka producer and
// waits for every acknowledgement; fails the calling test otherwise.
void writeAll(const std::string& bootstrap, const std::string& topic, const std::vector<RecordToWrite>& records);

}  // namespace tributary::test
