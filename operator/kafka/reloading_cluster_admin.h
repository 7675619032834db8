#pragma once
// The admin client of one cluster whose `properties` hold ${file:...} /
// ${env:...} references (common/config/config_providers.h): resolved when it is
// made, and again before a call whenever a referenced file changed (inode, size
// or mtime: a rewrite, or the symlink swap by which Kubernetes updates a
// mounted Secret). A change makes a new client with the new values; calls in
// flight finish on the old one, which goes when its last call returns. The
// shape is operator/inject/reloading_injector.h's: checked on use, cheap stats.
// A change that does not resolve (a file half-rotated, a key gone) or that
// librdkafka refuses is logged, naming the property and path, never a value,
// and the previous client is kept.
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/config/config_providers.h"
#include "operator/kafka/cluster_admin.h"
#include "operator/kafka/rdkafka_cluster_admin.h"

namespace tributary::op::kafka {

// Threads: every ClusterAdmin call from any thread, several at once (as the
// KafkaTopic and KafkaConsumerGroup controllers share an admin); reloads() too.
class ReloadingClusterAdmin final : public ClusterAdmin {
 public:
  // Makes the real client from a connection whose references are resolved.
  using Factory = std::function<std::unique_ptr<ClusterAdmin>(const ClusterConnection& resolved, std::string& error)>;

  // nullptr with `error` (naming `keyPrefix.<property>` and the path or
  // variable) when a reference does not resolve or `factory` fails. Without
  // file references nothing can change: the factory's client is returned as it is.
  static std::unique_ptr<ClusterAdmin> create(const ClusterConnection& connection, std::string keyPrefix,
                                              Factory factory, std::string& error,
                                              const ConfigProviderSource& source = systemConfigProviderSource());

  // Clients made after the first one (tests await it; operators may log it).
  uint64_t reloads() const { return reloads_.load(); }

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
  ReloadingClusterAdmin(ClusterConnection connection, std::string keyPrefix, Factory factory,
                        const ConfigProviderSource& source);
  // The client to use now, remade first when a referenced file changed.
  std::shared_ptr<ClusterAdmin> current();
  std::map<std::string, std::optional<FileFingerprint>> fingerprints(const std::set<std::string>& files) const;

  const ClusterConnection raw_;  // properties as configured, references unresolved
  const std::string keyPrefix_;
  const Factory factory_;
  const ConfigProviderSource& source_;
  std::mutex mutex_;
  std::shared_ptr<ClusterAdmin> admin_;                                  // guarded by mutex_
  std::map<std::string, std::string> resolved_;                         // guarded by mutex_
  std::map<std::string, std::optional<FileFingerprint>> seen_;          // guarded by mutex_
  std::atomic<uint64_t> reloads_{0};
};

}  // namespace tributary::op::kafka
