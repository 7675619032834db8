#include "common/kafka/client_properties.h"

#include <librdkafka/rdkafka.h>

#include <set>

namespace tributary {

std::vector<std::string> validateProducerProperties(const KafkaProperties& props, std::string_view keyPrefix) {
  static const std::map<std::string, std::string> kOwned = {
      {"bootstrap.servers", "set kafka.bootstrapServers instead"},
      {"metadata.broker.list", "set kafka.bootstrapServers instead"},
      {"acks", "Tributary always produces with acks=all so that a 200 means the record is replicated"},
      {"request.required.acks", "Tributary always produces with acks=all so that a 200 means the record is replicated"},
      {"enable.idempotence", "Tributary always uses the idempotent producer so that retries never duplicate"},
      {"message.timeout.ms", "set kafka.deliveryTimeout instead"},
      {"delivery.timeout.ms", "set kafka.deliveryTimeout instead"},
  };
  std::vector<std::string> errors;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [key, value] : props) {
    const std::string where = std::string(keyPrefix) + "." + key;
    if (auto it = kOwned.find(key); it != kOwned.end()) {
      errors.push_back(where + ": may not be set: " + it->second);
      continue;
    }
    char err[512];
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      errors.push_back(where + ": " + err);
    }
  }
  rd_kafka_conf_destroy(conf);
  return errors;
}

}  // namespace tributary
