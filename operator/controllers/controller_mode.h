#pragma once
#include <ostream>
#include <string>
#include <vector>

#include "operator/controllers/operator_manager.h"

namespace tributary::op::controllers {

// `tributary-operator [FLAGS]`: controller mode. Flags: --config FILE,
// --bootstrap-servers LIST, --kubeconfig PATH, --leader-elect[=true|false],
// --metrics-bind-address ADDR (:8080), --health-probe-bind-address ADDR (:8081),
// --webhook-bind-address ADDR (:9443, 0 off), --webhook-cert-dir DIR,
// --sidecar-image IMG, --sidecar-config FILE, --help. Runs until SIGTERM/SIGINT, then stops gracefully (releasing the
// lease). Exit codes: 0 after a clean stop, 1 when it cannot start (API server
// configuration, ports, Kafka client), 2 on usage or configuration errors.
// Threads: the main thread; SIGTERM/SIGINT must be blocked by the caller's
// other threads (it blocks them for the process before starting any).
int runControllerMode(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
// The same with the Kafka admin clients made by `admins` (end-to-end tests run
// the real command line over a ClusterAdmin double).
int runControllerMode(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                      const AdminFactory& admins);

}  // namespace tributary::op::controllers
