#include "tests/support/group_probe.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>

namespace tributary::test {

GroupProbe::GroupProbe(const std::string& bootstrap, const std::string& group, std::string topic, int partitions)
    : topic_(std::move(topic)), partitions_(partitions) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "group.id", group.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
  rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  EXPECT_NE(rk_, nullptr) << err;
}

GroupProbe::~GroupProbe() {
  if (rk_) rd_kafka_destroy(rk_);
}

std::map<int, int64_t> GroupProbe::committed() {
  auto* list = rd_kafka_topic_partition_list_new(partitions_);
  for (int p = 0; p < partitions_; ++p) rd_kafka_topic_partition_list_add(list, topic_.c_str(), p);
  std::map<int, int64_t> out;
  if (rd_kafka_committed(rk_, list, 10'000) == RD_KAFKA_RESP_ERR_NO_ERROR)
    for (int i = 0; i < list->cnt; ++i)
      out[list->elems[i].partition] = list->elems[i].err ? -1 : std::max<int64_t>(-1, list->elems[i].offset);
  rd_kafka_topic_partition_list_destroy(list);
  return out;
}

std::map<int, int64_t> GroupProbe::ends() {
  std::map<int, int64_t> out;
  for (int p = 0; p < partitions_; ++p) {
    int64_t low = -1, high = -1;
    EXPECT_EQ(rd_kafka_query_watermark_offsets(rk_, topic_.c_str(), p, &low, &high, 10'000),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    out[p] = high;
  }
  return out;
}

}  // namespace tributary::test
