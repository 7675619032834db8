#include "operator/kafka/cluster_admin.h"

namespace tributary::op::kafka {

std::string_view toString(GroupState state) {
  switch (state) {
    case GroupState::Unknown: return "Unknown";
    case GroupState::PreparingRebalance: return "PreparingRebalance";
    case GroupState::CompletingRebalance: return "CompletingRebalance";
    case GroupState::Stable: return "Stable";
    case GroupState::Dead: return "Dead";
    case GroupState::Empty: return "Empty";
  }
  return "Unknown";
}

namespace {
AdminError unsupported() {
  return AdminError{AdminErrorCode::Unsupported, "this Kafka admin client has no consumer-group operations"};
}
}  // namespace

std::vector<GroupDescribeResult> ClusterAdmin::describeGroups(const std::vector<std::string>& groups) {
  std::vector<GroupDescribeResult> out;
  for (const auto& g : groups) out.push_back({g, std::nullopt, unsupported()});
  return out;
}

std::vector<GroupOffsets> ClusterAdmin::listGroupOffsets(const std::vector<std::string>& groups, const GroupPartitions&) {
  std::vector<GroupOffsets> out;
  for (const auto& g : groups) out.push_back({g, {}, unsupported()});
  return out;
}

std::vector<RecordAt> ClusterAdmin::recordTimestamps(const std::vector<RecordAt>& at) {
  std::vector<RecordAt> out = at;
  for (auto& r : out) r.error = unsupported();
  return out;
}

std::vector<GroupOffsets> ClusterAdmin::alterGroupOffsets(const std::vector<GroupOffsets>& changes) {
  std::vector<GroupOffsets> out;
  for (const auto& c : changes) out.push_back({c.group, c.offsets, unsupported()});
  return out;
}

std::vector<GroupResult> ClusterAdmin::deleteGroups(const std::vector<std::string>& groups) {
  std::vector<GroupResult> out;
  for (const auto& g : groups) out.push_back({g, unsupported()});
  return out;
}

std::vector<PartitionOffset> ClusterAdmin::listOffsets(const std::vector<OffsetQuery>& queries) {
  std::vector<PartitionOffset> out;
  for (const auto& q : queries) out.push_back({q.topic, q.partition, -1, unsupported()});
  return out;
}

}  // namespace tributary::op::kafka
