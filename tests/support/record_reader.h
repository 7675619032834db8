#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tributary::test {

// A record as a plain consumer sees it, for asserting what reached Kafka.
struct ConsumedRecord {
  int32_t partition = -1;
  int64_t offset = -1;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Reads every record of `topic` from the beginning until each partition's end
// (librdkafka consumer, no consumer group), ordered by partition then offset.
// Fails the calling test if the topic cannot be read within `timeout`.
std::vector<ConsumedRecord> readAll(const std::string& bootstrap, const std::string& topic,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace tributary::test
