#pragma once
// `tributary-operator inject`: manual injection, the webhook's code on files.
#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/inject/sidecar_injector.h"

namespace tributary::op::inject {

// tributary-operator inject -f FILE|- [-f ...] [--sidecar-image IMG] [--sidecar-config FILE]
//                           [--native-sidecar=true|false]
// Prints every document of the input as YAML ("---"-separated), the pods and
// pod templates injected (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
// Job, CronJob, and the items of a List), other kinds unchanged. A pod without
// tributary.dev/inject is injected as if it said "true" (and gets the
// annotation); tributary.dev/inject: "false" leaves it alone.
// Exit codes: 0 printed; 1 a document was refused (the webhook's message, on
// stderr; nothing is printed) or an input cannot be read or parsed; 2 usage error.
// `in` is read for "-f -". Threads: the caller's, nothing shared.
int runInject(const std::vector<std::string>& args, std::istream& in, std::ostream& out, std::ostream& err);

// The injection of one document (recursing into Lists): `document` changed in
// place, refusals appended to `errors` ("Kind namespace/name: message").
void injectDocument(const SidecarInjector& injector, nlohmann::json& document, std::vector<std::string>& errors);

}  // namespace tributary::op::inject
