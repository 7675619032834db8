#include "tests/support/record_writer.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <atomic>

namespace tributary::test {
namespace {
void onDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) static_cast<std::atomic<int>*>(opaque)->fetch_add(1);
}
}  // namespace

void writeAll(const std::string& bootstrap, const std::string& topic, const std::vector<RecordToWrite>& records) {
  char err[512];
  std::atomic<int> failed{0};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err);
  rd_kafka_conf_set_dr_msg_cb(conf, &onDelivery);
  rd_kafka_conf_set_opaque(conf, &failed);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  ASSERT_NE(rk, nullptr) << err;
  for (const auto& r : records) {
    rd_kafka_headers_t* headers = rd_kafka_headers_new(r.headers.size());
    for (const auto& [name, value] : r.headers)
      rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
    void* key = r.key ? const_cast<char*>(r.key->data()) : nullptr;
    const size_t keySize = r.key ? r.key->size() : 0;
    void* value = r.value ? const_cast<char*>(r.value->data()) : nullptr;
    const size_t valueSize = r.value ? r.value->size() : 0;
    const rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(r.partition),
        RD_KAFKA_V_KEY(key, keySize), RD_KAFKA_V_VALUE(value, valueSize),
        RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_headers_destroy(headers);  // owned by the message only on success
    ASSERT_EQ(e, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(e);
    rd_kafka_poll(rk, 0);
  }
  EXPECT_EQ(rd_kafka_flush(rk, 60'000), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(failed.load(), 0) << "records were not acknowledged";
  rd_kafka_destroy(rk);
}

}  // namespace tributary::test
