#pragma once
#include <memory>

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include "operator/kafka/cluster_admin.h"

namespace tributary::op::kafka {

// tributary_operator_kafka_admin_calls_total{operation,result}: one increment per
// admin round trip. result is "success" (every item succeeded), "error" (some
// item failed; per-item failures such as TopicNotFound on describe count here)
// or "unavailable" (the brokers did not answer). Thread-safe (prometheus-cpp).
class AdminMetrics {
 public:
  explicit AdminMetrics(prometheus::Registry& registry);
  void record(const char* operation, const char* result);

 private:
  prometheus::Family<prometheus::Counter>& calls_;
};

// A ClusterAdmin that counts every call of the one it wraps. Same threading
// rules as the wrapped admin.
class InstrumentedClusterAdmin final : public ClusterAdmin {
 public:
  InstrumentedClusterAdmin(std::unique_ptr<ClusterAdmin> inner, std::shared_ptr<AdminMetrics> metrics);
  std::vector<DescribeResult> describeTopics(const std::vector<std::string>& topics) override;
  std::vector<ItemResult> createTopics(const std::vector<NewTopic>& topics, bool validateOnly) override;
  std::vector<ItemResult> createPartitions(const std::vector<PartitionIncrease>& increases,
                                           bool validateOnly) override;
  std::vector<ItemResult> alterConfigs(const std::vector<TopicConfigs>& configs, bool validateOnly) override;
  std::vector<ItemResult> deleteTopics(const std::vector<std::string>& topics) override;
  std::vector<GroupDescribeResult> describeGroups(const std::vector<std::string>& groups) override;
  std::vector<RecordAt> recordTimestamps(const std::vector<RecordAt>& at) override;
  std::vector<GroupOffsets> listGroupOffsets(const std::vector<std::string>& groups,
                                             const GroupPartitions& only = {}) override;
  std::vector<GroupOffsets> alterGroupOffsets(const std::vector<GroupOffsets>& changes) override;
  std::vector<GroupResult> deleteGroups(const std::vector<std::string>& groups) override;
  std::vector<PartitionOffset> listOffsets(const std::vector<OffsetQuery>& queries) override;

 private:
  std::unique_ptr<ClusterAdmin> inner_;
  std::shared_ptr<AdminMetrics> metrics_;
};

}  // namespace tributary::op::kafka
