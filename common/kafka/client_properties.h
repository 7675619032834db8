#pragma once
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tributary {

using KafkaProperties = std::map<std::string, std::string>;

// Checks pass-through librdkafka properties the way librdkafka itself will read
// them (name known, value parses), and refuses the few that Tributary owns
// because its guarantees depend on them (acks=all, idempotence, the broker list
// comes from bootstrapServers). Each message names the key as `keyPrefix.<name>`.
std::vector<std::string> validateProducerProperties(const KafkaProperties& props, std::string_view keyPrefix);

}  // namespace tributary
