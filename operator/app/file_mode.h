#pragma once
// `tributary-operator apply -f PATH...`: the TopicReconciler from YAML files
// against Kafka, with no Kubernetes. See operator/app/README.md.
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "operator/kafka/cluster_admin.h"
#include "operator/kafka/rdkafka_cluster_admin.h"

namespace tributary::op::app {

// Exit codes of `apply`.
inline constexpr int kExitConverged = 0;  // everything matches (dry run: the plan has no refusal)
inline constexpr int kExitFailed = 1;     // something was refused, invalid, or Kafka failed
inline constexpr int kExitUsage = 2;      // bad command line or configuration file

// Makes the ClusterAdmin for one named cluster; nullptr with `error` set when
// it cannot. Tests pass one that returns a test double.
using AdminFactory = std::function<std::unique_ptr<kafka::ClusterAdmin>(
    const std::string& clusterName, const kafka::ClusterConnection& connection, std::string& error)>;

// The production factory: RdKafkaClusterAdmin.
AdminFactory rdkafkaAdminFactory();

// Runs `apply` with `args` (the words after "apply"). The plan/result goes to
// `out` (text or JSON), notes and errors to `err`. Returns the exit code.
// Threads: any thread; uses nothing global but the factory it is given.
int runApply(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, const AdminFactory& factory);

extern const char* const kApplyUsage;

}  // namespace tributary::op::app
