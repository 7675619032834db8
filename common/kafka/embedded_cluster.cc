#include "common/kafka/embedded_cluster.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <stdexcept>

namespace tributary {

struct EmbeddedKafka::Impl {
  rd_kafka_t* host = nullptr;  // the mock cluster lives on a client handle's threads
  rd_kafka_mock_cluster_t* cluster = nullptr;
  std::string bootstrap;
  int brokers = 0;
};

EmbeddedKafka::EmbeddedKafka(int brokers) : impl_(std::make_unique<Impl>()) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  impl_->host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (impl_->host == nullptr) throw std::runtime_error(std::string("embedded Kafka: ") + err);
  impl_->cluster = rd_kafka_mock_cluster_new(impl_->host, brokers);
  if (impl_->cluster == nullptr) {
    rd_kafka_destroy(impl_->host);
    throw std::runtime_error("embedded Kafka: could not start the mock cluster");
  }
  impl_->bootstrap = rd_kafka_mock_cluster_bootstraps(impl_->cluster);
  impl_->brokers = brokers;
}

EmbeddedKafka::~EmbeddedKafka() {
  rd_kafka_mock_cluster_destroy(impl_->cluster);
  rd_kafka_destroy(impl_->host);
}

const std::string& EmbeddedKafka::bootstrapServers() const { return impl_->bootstrap; }
int EmbeddedKafka::brokerCount() const { return impl_->brokers; }

void EmbeddedKafka::createTopic(const std::string& topic, int partitions, int replicationFactor) {
  auto err = rd_kafka_mock_topic_create(impl_->cluster, topic.c_str(), partitions, replicationFactor);
  if (err) throw std::runtime_error("embedded Kafka: create topic " + topic + ": " + rd_kafka_err2str(err));
}

void EmbeddedKafka::setBrokerDown(int id) { rd_kafka_mock_broker_set_down(impl_->cluster, id); }
void EmbeddedKafka::setBrokerUp(int id) { rd_kafka_mock_broker_set_up(impl_->cluster, id); }
void EmbeddedKafka::setAllBrokersDown() {
  for (int id = 1; id <= impl_->brokers; ++id) setBrokerDown(id);
}
void EmbeddedKafka::setAllBrokersUp() {
  for (int id = 1; id <= impl_->brokers; ++id) setBrokerUp(id);
}

void EmbeddedKafka::setAllBrokersRtt(int ms) {
  for (int id = 1; id <= impl_->brokers; ++id) rd_kafka_mock_broker_set_rtt(impl_->cluster, id, ms);
}

void EmbeddedKafka::pushRequestErrors(int16_t apiKey, const std::vector<int>& errors) {
  std::vector<rd_kafka_resp_err_t> errs;
  for (int e : errors) errs.push_back(static_cast<rd_kafka_resp_err_t>(e));
  rd_kafka_mock_push_request_errors_array(impl_->cluster, apiKey, errs.size(), errs.data());
}

void EmbeddedKafka::setTopicError(const std::string& topic, int error) {
  rd_kafka_mock_topic_set_error(impl_->cluster, topic.c_str(), static_cast<rd_kafka_resp_err_t>(error));
}

}  // namespace tributary
