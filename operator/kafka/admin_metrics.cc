#include "operator/kafka/admin_metrics.h"

#include <prometheus/family.h>

namespace tributary::op::kafka {

std::string_view toString(AdminErrorCode code) {
  switch (code) {
    case AdminErrorCode::TopicNotFound: return "TopicNotFound";
    case AdminErrorCode::TopicAlreadyExists: return "TopicAlreadyExists";
    case AdminErrorCode::InvalidPartitions: return "InvalidPartitions";
    case AdminErrorCode::InvalidReplicationFactor: return "InvalidReplicationFactor";
    case AdminErrorCode::InvalidConfig: return "InvalidConfig";
    case AdminErrorCode::PolicyViolation: return "PolicyViolation";
    case AdminErrorCode::Unavailable: return "Unavailable";
    case AdminErrorCode::Unauthorized: return "Unauthorized";
    case AdminErrorCode::GroupNotFound: return "GroupNotFound";
    case AdminErrorCode::GroupNotEmpty: return "GroupNotEmpty";
    case AdminErrorCode::Unsupported: return "Unsupported";
    case AdminErrorCode::Other: return "Other";
  }
  return "Other";
}

AdminMetrics::AdminMetrics(prometheus::Registry& registry)
    : calls_(prometheus::BuildCounter()
                 .Name("tributary_operator_kafka_admin_calls_total")
                 .Help("Kafka admin round trips by operation and result")
                 .Register(registry)) {}

void AdminMetrics::record(const char* operation, const char* result) {
  calls_.Add({{"operation", operation}, {"result", result}}).Increment();
}

namespace {

// The call's result label from its items: one unavailable item means the
// request as a whole did not reach the brokers.
template <typename Result>
const char* resultOf(const std::vector<Result>& results) {
  const char* label = "success";
  for (const auto& r : results) {
    if (!r.error) continue;
    if (r.error->code == AdminErrorCode::Unavailable) return "unavailable";
    label = "error";
  }
  return label;
}

// Group offsets also carry per-partition errors.
const char* resultOf(const std::vector<GroupOffsets>& results) {
  const char* label = "success";
  for (const auto& r : results) {
    if (r.error && r.error->code == AdminErrorCode::Unavailable) return "unavailable";
    if (r.error) label = "error";
    for (const auto& p : r.offsets) {
      if (!p.error) continue;
      if (p.error->code == AdminErrorCode::Unavailable) return "unavailable";
      label = "error";
    }
  }
  return label;
}

}  // namespace

InstrumentedClusterAdmin::InstrumentedClusterAdmin(std::unique_ptr<ClusterAdmin> inner,
                                                   std::shared_ptr<AdminMetrics> metrics)
    : inner_(std::move(inner)), metrics_(std::move(metrics)) {}

std::vector<DescribeResult> InstrumentedClusterAdmin::describeTopics(const std::vector<std::string>& topics) {
  auto r = inner_->describeTopics(topics);
  metrics_->record("describeTopics", resultOf(r));
  return r;
}

std::vector<ItemResult> InstrumentedClusterAdmin::createTopics(const std::vector<NewTopic>& topics,
                                                               bool validateOnly) {
  auto r = inner_->createTopics(topics, validateOnly);
  metrics_->record("createTopics", resultOf(r));
  return r;
}

std::vector<ItemResult> InstrumentedClusterAdmin::createPartitions(const std::vector<PartitionIncrease>& increases,
                                                                   bool validateOnly) {
  auto r = inner_->createPartitions(increases, validateOnly);
  metrics_->record("createPartitions", resultOf(r));
  return r;
}

std::vector<ItemResult> InstrumentedClusterAdmin::alterConfigs(const std::vector<TopicConfigs>& configs,
                                                               bool validateOnly) {
  auto r = inner_->alterConfigs(configs, validateOnly);
  metrics_->record("alterConfigs", resultOf(r));
  return r;
}

std::vector<ItemResult> InstrumentedClusterAdmin::deleteTopics(const std::vector<std::string>& topics) {
  auto r = inner_->deleteTopics(topics);
  metrics_->record("deleteTopics", resultOf(r));
  return r;
}

std::vector<GroupDescribeResult> InstrumentedClusterAdmin::describeGroups(const std::vector<std::string>& groups) {
  auto r = inner_->describeGroups(groups);
  if (!groups.empty()) metrics_->record("describeGroups", resultOf(r));
  return r;
}

std::vector<GroupOffsets> InstrumentedClusterAdmin::listGroupOffsets(const std::vector<std::string>& groups,
                                                                    const GroupPartitions& only) {
  auto r = inner_->listGroupOffsets(groups, only);
  if (!groups.empty()) metrics_->record("listGroupOffsets", resultOf(r));
  return r;
}

std::vector<RecordAt> InstrumentedClusterAdmin::recordTimestamps(const std::vector<RecordAt>& at) {
  auto r = inner_->recordTimestamps(at);
  if (!at.empty()) metrics_->record("recordTimestamps", resultOf(r));
  return r;
}

std::vector<GroupOffsets> InstrumentedClusterAdmin::alterGroupOffsets(const std::vector<GroupOffsets>& changes) {
  auto r = inner_->alterGroupOffsets(changes);
  if (!changes.empty()) metrics_->record("alterGroupOffsets", resultOf(r));
  return r;
}

std::vector<GroupResult> InstrumentedClusterAdmin::deleteGroups(const std::vector<std::string>& groups) {
  auto r = inner_->deleteGroups(groups);
  if (!groups.empty()) metrics_->record("deleteGroups", resultOf(r));
  return r;
}

std::vector<PartitionOffset> InstrumentedClusterAdmin::listOffsets(const std::vector<OffsetQuery>& queries) {
  auto r = inner_->listOffsets(queries);
  if (!queries.empty()) metrics_->record("listOffsets", resultOf(r));
  return r;
}

}  // namespace tributary::op::kafka
