#include "sidecar/api/api_error.h"

namespace tributary::sidecar {

ApiError toApiError(ProduceError error, const std::string& detail) {
  auto with = [&](const std::string& s) { return detail.empty() ? s : s + " (" + detail + ")"; };
  switch (error) {
    case ProduceError::None:
      return {200, "", "", std::nullopt};
    case ProduceError::QueueFull:
      return {503, "QUEUE_FULL", with("the sidecar's producer queue is full; retry after a short pause"), 1};
    case ProduceError::BrokersUnavailable:
      return {503, "BROKERS_UNAVAILABLE", with("no Kafka broker is reachable; nothing was written, retry later"), 5};
    case ProduceError::DeliveryTimeout:
      return {504, "DELIVERY_TIMEOUT",
              with("Kafka did not acknowledge the record within kafka.deliveryTimeout; it may or may not have "
                   "been written"),
              std::nullopt};
    case ProduceError::UnknownTopic:
      return {404, "UNKNOWN_TOPIC", with("the topic does not exist and the cluster does not auto-create topics"),
              std::nullopt};
    case ProduceError::UnknownPartition:
      return {404, "UNKNOWN_PARTITION", with("the topic has no such partition"), std::nullopt};
    case ProduceError::RecordTooLarge:
      return {413, "RECORD_TOO_LARGE", with("the record is larger than Kafka accepts (message.max.bytes)"),
              std::nullopt};
    case ProduceError::NotAuthorized:
      return {403, "KAFKA_NOT_AUTHORIZED", with("Kafka refused this client access to the topic"), std::nullopt};
    case ProduceError::ShuttingDown:
      return {503, "SHUTTING_DOWN", "the sidecar is shutting down; retry against another instance", 1};
    case ProduceError::KafkaError:
      return {502, "KAFKA_ERROR", with("Kafka reported an error"), std::nullopt};
  }
  return {500, "INTERNAL", detail, std::nullopt};
}

}  // namespace tributary::sidecar
