#include "tests/operator/topic/fake_cluster_admin.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "common/kafka/topic_name.h"

namespace tributary::op::test {

using kafka::AdminError;
using kafka::AdminErrorCode;

namespace {

const AdminError kUnavailable{AdminErrorCode::Unavailable, "Local: Timed out"};

bool isLong(const std::string& v) {
  long long n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  return ec == std::errc() && p == v.data() + v.size() && !v.empty();
}

}  // namespace

FakeClusterAdmin::FakeClusterAdmin(int brokers) : brokers_(brokers) {}

const std::map<std::string, std::string>& FakeClusterAdmin::brokerDefaults() {
  static const std::map<std::string, std::string> kDefaults = {
      {"cleanup.policy", "delete"},
      {"compression.type", "producer"},
      {"delete.retention.ms", "86400000"},
      {"max.message.bytes", "1048588"},
      {"message.timestamp.type", "CreateTime"},
      {"min.compaction.lag.ms", "0"},
      {"min.insync.replicas", "1"},
      {"retention.bytes", "-1"},
      {"retention.ms", "604800000"},
      {"segment.bytes", "1073741824"},
      {"segment.ms", "604800000"},
      {"unclean.leader.election.enable", "false"},
  };
  return kDefaults;
}

// Kafka's LogConfig.validate: the name must be a topic config, the value must parse.
std::optional<AdminError> FakeClusterAdmin::validateConfigs(const std::map<std::string, std::string>& configs) const {
  static const std::set<std::string> kLongs = {"delete.retention.ms", "max.message.bytes", "min.compaction.lag.ms",
                                               "min.insync.replicas", "retention.bytes", "retention.ms",
                                               "segment.bytes", "segment.ms"};
  for (const auto& [k, v] : configs) {
    if (!brokerDefaults().count(k)) return AdminError{AdminErrorCode::InvalidConfig, "Unknown topic config name: " + k};
    bool ok = true;
    if (kLongs.count(k)) ok = isLong(v);
    else if (k == "cleanup.policy") ok = v == "delete" || v == "compact" || v == "compact,delete" || v == "delete,compact";
    else if (k == "compression.type") ok = std::set<std::string>{"producer", "gzip", "snappy", "lz4", "zstd", "uncompressed"}.count(v) > 0;
    else if (k == "message.timestamp.type") ok = v == "CreateTime" || v == "LogAppendTime";
    else if (k == "unclean.leader.election.enable") ok = v == "true" || v == "false";
    if (ok && k == "min.insync.replicas") ok = std::stoll(v) >= 1;
    if (!ok)
      return AdminError{AdminErrorCode::InvalidConfig,
                        "Invalid value " + v + " for configuration " + k};
  }
  return std::nullopt;
}

bool FakeClusterAdmin::begin(const std::string& operation) {
  ++calls_[operation];
  return !unavailable_;
}

std::optional<AdminError> FakeClusterAdmin::takeFault(const std::string& operation, const std::string& topic) {
  auto it = faults_.find({operation, topic});
  if (it == faults_.end()) return std::nullopt;
  AdminError e = it->second;
  faults_.erase(it);
  return e;
}

std::vector<kafka::DescribeResult> FakeClusterAdmin::describeTopics(const std::vector<std::string>& names) {
  std::lock_guard lock(mu_);
  const bool up = begin("describeTopics");
  std::vector<kafka::DescribeResult> out;
  for (const auto& n : names) {
    if (!up) { out.push_back({n, std::nullopt, kUnavailable}); continue; }
    if (auto f = takeFault("describeTopics", n)) { out.push_back({n, std::nullopt, f}); continue; }
    auto it = topics_.find(n);
    if (it == topics_.end()) {
      out.push_back({n, std::nullopt, AdminError{AdminErrorCode::TopicNotFound, "This server does not host this topic-partition."}});
      continue;
    }
    kafka::TopicDescription d;
    d.partitions = it->second.partitions;
    d.replicationFactor = it->second.replicationFactor;
    d.dynamicConfigs = it->second.dynamicConfigs;
    d.effectiveConfigs = brokerDefaults();
    for (const auto& [k, v] : d.dynamicConfigs) d.effectiveConfigs[k] = v;
    out.push_back({n, d, std::nullopt});
  }
  return out;
}

std::vector<kafka::ItemResult> FakeClusterAdmin::createTopics(const std::vector<kafka::NewTopic>& topics, bool validateOnly) {
  std::lock_guard lock(mu_);
  const bool up = begin("createTopics");
  std::vector<kafka::ItemResult> out;
  bool changed = false;
  for (const auto& t : topics) {
    if (!up) { out.push_back({t.name, kUnavailable}); continue; }
    if (auto f = takeFault("createTopics", t.name)) { out.push_back({t.name, f}); continue; }
    std::optional<AdminError> e;
    if (!isValidTopicName(t.name)) e = AdminError{AdminErrorCode::Other, "Topic name \"" + t.name + "\" is illegal"};
    else if (topics_.count(t.name)) e = AdminError{AdminErrorCode::TopicAlreadyExists, "Topic '" + t.name + "' already exists."};
    else if (t.partitions < 1 && t.partitions != -1) e = AdminError{AdminErrorCode::InvalidPartitions, "Number of partitions must be larger than 0."};
    else if (t.replicationFactor == 0 || t.replicationFactor < -1) e = AdminError{AdminErrorCode::InvalidReplicationFactor, "Replication factor must be larger than 0."};
    else if (t.replicationFactor > brokers_)
      e = AdminError{AdminErrorCode::InvalidReplicationFactor, "Replication factor: " + std::to_string(t.replicationFactor) +
                                                                  " larger than available brokers: " + std::to_string(brokers_) + "."};
    else e = validateConfigs(t.configs);
    if (!e && !validateOnly) {
      topics_[t.name] = Topic{t.partitions == -1 ? 1 : t.partitions,
                              t.replicationFactor == -1 ? std::min(3, brokers_) : t.replicationFactor, t.configs};
      changed = true;
    }
    out.push_back({t.name, e});
  }
  if (changed) ++mutations_;
  return out;
}

std::vector<kafka::ItemResult> FakeClusterAdmin::createPartitions(const std::vector<kafka::PartitionIncrease>& increases,
                                                                  bool validateOnly) {
  std::lock_guard lock(mu_);
  const bool up = begin("createPartitions");
  std::vector<kafka::ItemResult> out;
  bool changed = false;
  for (const auto& p : increases) {
    if (!up) { out.push_back({p.topic, kUnavailable}); continue; }
    if (auto f = takeFault("createPartitions", p.topic)) { out.push_back({p.topic, f}); continue; }
    auto it = topics_.find(p.topic);
    std::optional<AdminError> e;
    if (it == topics_.end()) e = AdminError{AdminErrorCode::TopicNotFound, "The topic '" + p.topic + "' does not exist."};
    else if (p.newTotal == it->second.partitions)
      e = AdminError{AdminErrorCode::InvalidPartitions, "Topic already has " + std::to_string(p.newTotal) + " partitions."};
    else if (p.newTotal < it->second.partitions)
      e = AdminError{AdminErrorCode::InvalidPartitions, "Topic currently has " + std::to_string(it->second.partitions) +
                                                            " partitions, which is higher than the requested " +
                                                            std::to_string(p.newTotal) + "."};
    if (!e && !validateOnly) {
      it->second.partitions = p.newTotal;
      changed = true;
    }
    out.push_back({p.topic, e});
  }
  if (changed) ++mutations_;
  return out;
}

std::vector<kafka::ItemResult> FakeClusterAdmin::alterConfigs(const std::vector<kafka::TopicConfigs>& configs,
                                                              bool validateOnly) {
  std::lock_guard lock(mu_);
  const bool up = begin("alterConfigs");
  std::vector<kafka::ItemResult> out;
  bool changed = false;
  for (const auto& c : configs) {
    if (!up) { out.push_back({c.topic, kUnavailable}); continue; }
    if (auto f = takeFault("alterConfigs", c.topic)) { out.push_back({c.topic, f}); continue; }
    auto it = topics_.find(c.topic);
    std::optional<AdminError> e;
    if (it == topics_.end()) e = AdminError{AdminErrorCode::TopicNotFound, "Topic " + c.topic + " does not exist"};
    else e = validateConfigs(c.configs);
    if (!e && !validateOnly) {
      it->second.dynamicConfigs = c.configs;  // whole-set replace, as (non-incremental) AlterConfigs does
      changed = true;
    }
    out.push_back({c.topic, e});
  }
  if (changed) ++mutations_;
  return out;
}

std::vector<kafka::ItemResult> FakeClusterAdmin::deleteTopics(const std::vector<std::string>& names) {
  std::lock_guard lock(mu_);
  const bool up = begin("deleteTopics");
  std::vector<kafka::ItemResult> out;
  bool changed = false;
  for (const auto& n : names) {
    if (!up) { out.push_back({n, kUnavailable}); continue; }
    if (auto f = takeFault("deleteTopics", n)) { out.push_back({n, f}); continue; }
    if (topics_.erase(n) == 0) {
      out.push_back({n, AdminError{AdminErrorCode::TopicNotFound, "This server does not host this topic-partition."}});
      continue;
    }
    // The topic's records go; groups keep their committed offsets (Kafka expires them later).
    for (auto it = logs_.begin(); it != logs_.end();) it = it->first.topic == n ? logs_.erase(it) : std::next(it);
    changed = true;
    out.push_back({n, std::nullopt});
  }
  if (changed) ++mutations_;
  return out;
}

void FakeClusterAdmin::putTopic(const std::string& name, Topic topic) {
  std::lock_guard lock(mu_);
  topics_[name] = std::move(topic);
}

std::optional<FakeClusterAdmin::Topic> FakeClusterAdmin::topic(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = topics_.find(name);
  if (it == topics_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> FakeClusterAdmin::topicNames() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [k, v] : topics_) out.push_back(k);
  return out;
}

void FakeClusterAdmin::setUnavailable(bool unavailable) {
  std::lock_guard lock(mu_);
  unavailable_ = unavailable;
}

void FakeClusterAdmin::failNext(const std::string& operation, const std::string& topic, AdminError error) {
  std::lock_guard lock(mu_);
  faults_[{operation, topic}] = std::move(error);
}

int FakeClusterAdmin::calls(const std::string& operation) const {
  std::lock_guard lock(mu_);
  auto it = calls_.find(operation);
  return it == calls_.end() ? 0 : it->second;
}

int FakeClusterAdmin::totalCalls() const {
  std::lock_guard lock(mu_);
  int n = 0;
  for (const auto& [k, v] : calls_) n += v;
  return n;
}

int FakeClusterAdmin::mutations() const {
  std::lock_guard lock(mu_);
  return mutations_;
}

// ---- consumer groups

namespace {
const AdminError kGroupNotEmpty{AdminErrorCode::GroupNotEmpty,
                                "The coordinator is not aware of this member (the group has active members)"};
}  // namespace

bool FakeClusterAdmin::partitionExists(const kafka::TopicPartition& tp) const {
  auto t = topics_.find(tp.topic);
  return t != topics_.end() && tp.partition >= 0 && tp.partition < t->second.partitions;
}

std::vector<kafka::GroupDescribeResult> FakeClusterAdmin::describeGroups(const std::vector<std::string>& groups) {
  std::lock_guard lock(mu_);
  const bool up = begin("describeGroups");
  std::vector<kafka::GroupDescribeResult> out;
  for (const auto& g : groups) {
    if (!up) { out.push_back({g, std::nullopt, kUnavailable}); continue; }
    if (auto f = takeFault("describeGroups", g)) { out.push_back({g, std::nullopt, f}); continue; }
    kafka::GroupDescription d;
    auto it = groups_.find(g);
    if (it == groups_.end()) {
      d.state = kafka::GroupState::Dead;  // Kafka describes an unknown group as Dead, not as an error
    } else {
      d.members = it->second.members;
      d.state = d.members.empty() ? kafka::GroupState::Empty : it->second.forcedState.value_or(kafka::GroupState::Stable);
    }
    out.push_back({g, d, std::nullopt});
  }
  return out;
}

std::vector<kafka::GroupOffsets> FakeClusterAdmin::listGroupOffsets(const std::vector<std::string>& groups,
                                                                    const kafka::GroupPartitions& only) {
  std::lock_guard lock(mu_);
  const bool up = begin("listGroupOffsets");
  lastGroupPartitionsAsked_ = only;
  std::vector<kafka::GroupOffsets> out;
  for (const auto& g : groups) {
    if (!up) { out.push_back({g, {}, kUnavailable}); continue; }
    if (auto f = takeFault("listGroupOffsets", g)) { out.push_back({g, {}, f}); continue; }
    kafka::GroupOffsets r{g, {}, std::nullopt};
    auto named = only.find(g);
    if (auto it = groups_.find(g); it != groups_.end())
      for (const auto& [tp, offset] : it->second.offsets)
        if (named == only.end() ||
            std::find(named->second.begin(), named->second.end(), tp) != named->second.end())
          r.offsets.push_back({tp.topic, tp.partition, offset, std::nullopt});
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<kafka::GroupOffsets> FakeClusterAdmin::alterGroupOffsets(const std::vector<kafka::GroupOffsets>& changes) {
  std::lock_guard lock(mu_);
  const bool up = begin("alterGroupOffsets");
  std::vector<kafka::GroupOffsets> out;
  bool changed = false;
  for (const auto& c : changes) {
    kafka::GroupOffsets r{c.group, c.offsets, std::nullopt};
    if (!up) { r.error = kUnavailable; out.push_back(std::move(r)); continue; }
    if (auto f = takeFault("alterGroupOffsets", c.group)) { r.error = f; out.push_back(std::move(r)); continue; }
    Group& g = groups_[c.group];  // an admin commit to an unknown group creates it (Empty)
    for (auto& p : r.offsets) {
      if (!g.members.empty()) p.error = kGroupNotEmpty;
      else if (!partitionExists({p.topic, p.partition}))
        p.error = AdminError{AdminErrorCode::TopicNotFound, "This server does not host this topic-partition."};
      else {
        g.offsets[{p.topic, p.partition}] = p.offset;
        changed = true;
      }
    }
    out.push_back(std::move(r));
  }
  if (changed) ++mutations_;
  return out;
}

std::vector<kafka::GroupResult> FakeClusterAdmin::deleteGroups(const std::vector<std::string>& groups) {
  std::lock_guard lock(mu_);
  const bool up = begin("deleteGroups");
  std::vector<kafka::GroupResult> out;
  bool changed = false;
  for (const auto& g : groups) {
    if (!up) { out.push_back({g, kUnavailable}); continue; }
    if (auto f = takeFault("deleteGroups", g)) { out.push_back({g, f}); continue; }
    auto it = groups_.find(g);
    if (it == groups_.end()) {
      out.push_back({g, AdminError{AdminErrorCode::GroupNotFound, "The group id does not exist."}});
    } else if (!it->second.members.empty()) {
      out.push_back({g, AdminError{AdminErrorCode::GroupNotEmpty, "The group is not empty."}});
    } else {
      groups_.erase(it);
      changed = true;
      out.push_back({g, std::nullopt});
    }
  }
  if (changed) ++mutations_;
  return out;
}

std::vector<kafka::PartitionOffset> FakeClusterAdmin::listOffsets(const std::vector<kafka::OffsetQuery>& queries) {
  std::lock_guard lock(mu_);
  const bool up = begin("listOffsets");
  std::vector<kafka::PartitionOffset> out;
  for (const auto& q : queries) {
    kafka::PartitionOffset r{q.topic, q.partition, -1, std::nullopt};
    if (!up) { r.error = kUnavailable; out.push_back(r); continue; }
    if (auto f = takeFault("listOffsets", q.topic)) { r.error = f; out.push_back(r); continue; }
    if (!partitionExists({q.topic, q.partition})) {
      r.error = AdminError{AdminErrorCode::TopicNotFound, "This server does not host this topic-partition."};
      out.push_back(r);
      continue;
    }
    PartitionLog log;
    if (auto it = logs_.find({q.topic, q.partition}); it != logs_.end()) log = it->second;
    if (q.timestamp == kafka::kEarliestTimestamp) r.offset = log.start;
    else if (q.timestamp == kafka::kLatestTimestamp) r.offset = log.end;
    else {
      // The first offset whose record timestamp is >= the time; -1 when none is.
      for (const auto& [offset, ts] : log.timestamps)
        if (offset >= log.start && ts >= q.timestamp) {
          r.offset = offset;
          break;
        }
    }
    out.push_back(r);
  }
  return out;
}

void FakeClusterAdmin::produce(const std::string& topic, int32_t partition, int count, int64_t timestampMs) {
  std::lock_guard lock(mu_);
  PartitionLog& log = logs_[{topic, partition}];
  for (int i = 0; i < count; ++i) log.timestamps[log.end++] = timestampMs;
}

void FakeClusterAdmin::truncateBefore(const std::string& topic, int32_t partition, int64_t newLogStart) {
  std::lock_guard lock(mu_);
  PartitionLog& log = logs_[{topic, partition}];
  log.start = std::max(log.start, std::min(newLogStart, log.end));
  log.timestamps.erase(log.timestamps.begin(), log.timestamps.lower_bound(log.start));
}

void FakeClusterAdmin::join(const std::string& group, kafka::GroupMember member) {
  std::lock_guard lock(mu_);
  groups_[group].members.push_back(std::move(member));
}

void FakeClusterAdmin::leave(const std::string& group, const std::string& memberId) {
  std::lock_guard lock(mu_);
  auto& members = groups_[group].members;
  members.erase(std::remove_if(members.begin(), members.end(),
                               [&](const kafka::GroupMember& m) { return m.memberId == memberId; }),
                members.end());
}

void FakeClusterAdmin::setGroupState(const std::string& group, kafka::GroupState state) {
  std::lock_guard lock(mu_);
  groups_[group].forcedState = state;
}

void FakeClusterAdmin::commit(const std::string& group, const std::string& topic, int32_t partition, int64_t offset) {
  std::lock_guard lock(mu_);
  groups_[group].offsets[{topic, partition}] = offset;
}

std::map<kafka::TopicPartition, int64_t> FakeClusterAdmin::committed(const std::string& group) const {
  std::lock_guard lock(mu_);
  auto it = groups_.find(group);
  return it == groups_.end() ? std::map<kafka::TopicPartition, int64_t>{} : it->second.offsets;
}

bool FakeClusterAdmin::groupExists(const std::string& group) const {
  std::lock_guard lock(mu_);
  return groups_.count(group) > 0;
}

}  // namespace tributary::op::test

namespace tributary::op::test {
kafka::GroupPartitions FakeClusterAdmin::lastGroupPartitionsAsked() const {
  std::lock_guard lock(mu_);
  return lastGroupPartitionsAsked_;
}
}  // namespace tributary::op::test

namespace tributary::op::test {
std::vector<kafka::RecordAt> FakeClusterAdmin::recordTimestamps(const std::vector<kafka::RecordAt>& at) {
  std::lock_guard lock(mu_);
  const bool up = begin("recordTimestamps");
  std::vector<kafka::RecordAt> out = at;
  for (auto& r : out) {
    if (!up) { r.error = kUnavailable; continue; }
    if (auto f = takeFault("recordTimestamps", r.topic)) { r.error = f; continue; }
    auto log = logs_.find({r.topic, r.partition});
    if (log == logs_.end()) continue;
    auto rec = log->second.timestamps.lower_bound(std::max(r.offset, log->second.start));
    if (rec != log->second.timestamps.end()) r.timestampMs = rec->second;
  }
  return out;
}
}  // namespace tributary::op::test
