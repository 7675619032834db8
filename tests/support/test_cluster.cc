#include "tests/support/test_cluster.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <cstdlib>
#include <random>

namespace tributary::test {

std::string uniqueName(const std::string& base) {
  static std::mt19937_64 rng{std::random_device{}()};
  return base + "-" + std::to_string(rng() % 1'000'000'000);
}

TestCluster::TestCluster() {
  if (const char* b = std::getenv("TRIBUTARY_TEST_BOOTSTRAP"); b && *b) {
    bootstrap_ = b;
  } else {
    mock_ = std::make_unique<EmbeddedKafka>(3);
    bootstrap_ = mock_->bootstrapServers();
  }
}

void TestCluster::createTopic(const std::string& topic, int partitions) {
  if (mock_) return mock_->createTopic(topic, partitions, 3);
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_.c_str(), err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  ASSERT_NE(rk, nullptr) << err;
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, -1, err, sizeof err);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
  ASSERT_NE(ev, nullptr) << "CreateTopics did not answer";
  size_t n = 0;
  const rd_kafka_topic_result_t** res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
  for (size_t i = 0; i < n; ++i)
    EXPECT_EQ(rd_kafka_topic_result_error(res[i]), RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_topic_result_error_string(res[i]);
  rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_destroy(rk);
}

void TestCluster::produce(const std::string& topic, const std::vector<std::string>& values, int partitions, int first) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "acks", "all", err, sizeof err);
  static std::atomic<int> failed;
  failed = 0;
  rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void*) {
    if (m->err) ++failed;
  });
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  ASSERT_NE(rk, nullptr) << err;
  for (size_t j = 0; j < values.size(); ++j) {
    const int i = first + static_cast<int>(j);
    const std::string key = "k" + std::to_string(i), trace = "t" + std::to_string(i);
    ASSERT_EQ(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(i % partitions),
                                RD_KAFKA_V_KEY(key.data(), key.size()),
                                RD_KAFKA_V_VALUE(const_cast<char*>(values[j].data()), values[j].size()),
                                RD_KAFKA_V_HEADER("trace", trace.data(), static_cast<ssize_t>(trace.size())),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  EXPECT_EQ(rd_kafka_flush(rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(failed.load(), 0) << "input records not written";
  rd_kafka_destroy(rk);
}

}  // namespace tributary::test
