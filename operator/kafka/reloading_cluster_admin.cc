#include "operator/kafka/reloading_cluster_admin.h"

#include "common/log/log.h"

namespace tributary::op::kafka {
namespace {

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& e : v) out += (out.empty() ? "" : "; ") + e;
  return out;
}

}  // namespace

std::unique_ptr<ClusterAdmin> ReloadingClusterAdmin::create(const ClusterConnection& connection, std::string keyPrefix,
                                                            Factory factory, std::string& error,
                                                            const ConfigProviderSource& source) {
  auto resolved = resolveConfigReferences(connection.properties, keyPrefix, source);
  if (!resolved.errors.empty()) {
    error = joined(resolved.errors);
    return nullptr;
  }
  ClusterConnection first = connection;
  first.properties = resolved.properties;
  if (resolved.files.empty()) {
    auto admin = factory(first, error);
    if (!admin) error = redactSecrets(error, resolved.properties, resolved.fromProviders);
    return admin;
  }
  std::unique_ptr<ReloadingClusterAdmin> self(
      new ReloadingClusterAdmin(connection, std::move(keyPrefix), std::move(factory), source));
  // Fingerprints before the read: a file changing in between is read again next time.
  self->seen_ = self->fingerprints(resolved.files);
  std::unique_ptr<ClusterAdmin> admin = self->factory_(first, error);
  if (!admin) {
    error = redactSecrets(error, resolved.properties, resolved.fromProviders);
    return nullptr;
  }
  self->admin_ = std::move(admin);
  self->resolved_ = resolved.properties;
  return self;
}

ReloadingClusterAdmin::ReloadingClusterAdmin(ClusterConnection connection, std::string keyPrefix, Factory factory,
                                             const ConfigProviderSource& source)
    : raw_(std::move(connection)), keyPrefix_(std::move(keyPrefix)), factory_(std::move(factory)), source_(source) {}

std::map<std::string, std::optional<FileFingerprint>> ReloadingClusterAdmin::fingerprints(
    const std::set<std::string>& files) const {
  std::map<std::string, std::optional<FileFingerprint>> out;
  for (const auto& f : files) out[f] = fingerprint(f);
  return out;
}

std::shared_ptr<ClusterAdmin> ReloadingClusterAdmin::current() {
  std::lock_guard lock(mutex_);
  std::set<std::string> files;
  for (const auto& [f, _] : seen_) files.insert(f);
  auto now = fingerprints(files);
  if (now == seen_) return admin_;
  seen_ = now;
  std::string paths;
  for (const auto& f : files) paths += (paths.empty() ? "" : ", ") + f;
  auto resolved = resolveConfigReferences(raw_.properties, keyPrefix_, source_);
  if (!resolved.errors.empty()) {
    log::error("Kafka client properties changed but do not resolve; keeping the previous client",
               {{"properties", keyPrefix_}, {"errors", joined(resolved.errors)}});
    return admin_;
  }
  // Files a reference names cannot change between resolutions (the config is
  // fixed); their set is the same, only their fingerprints are refreshed.
  if (resolved.properties == resolved_) return admin_;  // touched, not changed
  ClusterConnection next = raw_;
  next.properties = resolved.properties;
  std::string error;
  auto admin = factory_(next, error);
  if (!admin) {
    log::error("Kafka client properties changed but the client refuses them; keeping the previous client",
               {{"properties", keyPrefix_},
                {"error", redactSecrets(error, resolved.properties, resolved.fromProviders)}});
    return admin_;
  }
  admin_ = std::move(admin);
  resolved_ = resolved.properties;
  reloads_.fetch_add(1);
  log::info("Kafka client properties reloaded: new connections use the changed files",
            {{"properties", keyPrefix_}, {"files", paths}});
  return admin_;
}

std::vector<DescribeResult> ReloadingClusterAdmin::describeTopics(const std::vector<std::string>& topics) {
  return current()->describeTopics(topics);
}
std::vector<ItemResult> ReloadingClusterAdmin::createTopics(const std::vector<NewTopic>& topics, bool validateOnly) {
  return current()->createTopics(topics, validateOnly);
}
std::vector<ItemResult> ReloadingClusterAdmin::createPartitions(const std::vector<PartitionIncrease>& increases,
                                                                bool validateOnly) {
  return current()->createPartitions(increases, validateOnly);
}
std::vector<ItemResult> ReloadingClusterAdmin::alterConfigs(const std::vector<TopicConfigs>& configs,
                                                            bool validateOnly) {
  return current()->alterConfigs(configs, validateOnly);
}
std::vector<ItemResult> ReloadingClusterAdmin::deleteTopics(const std::vector<std::string>& topics) {
  return current()->deleteTopics(topics);
}
std::vector<GroupDescribeResult> ReloadingClusterAdmin::describeGroups(const std::vector<std::string>& groups) {
  return current()->describeGroups(groups);
}
std::vector<RecordAt> ReloadingClusterAdmin::recordTimestamps(const std::vector<RecordAt>& at) {
  return current()->recordTimestamps(at);
}
std::vector<GroupOffsets> ReloadingClusterAdmin::listGroupOffsets(const std::vector<std::string>& groups,
                                                                  const GroupPartitions& only) {
  return current()->listGroupOffsets(groups, only);
}
std::vector<GroupOffsets> ReloadingClusterAdmin::alterGroupOffsets(const std::vector<GroupOffsets>& changes) {
  return current()->alterGroupOffsets(changes);
}
std::vector<GroupResult> ReloadingClusterAdmin::deleteGroups(const std::vector<std::string>& groups) {
  return current()->deleteGroups(groups);
}
std::vector<PartitionOffset> ReloadingClusterAdmin::listOffsets(const std::vector<OffsetQuery>& queries) {
  return current()->listOffsets(queries);
}

}  // namespace tributary::op::kafka
