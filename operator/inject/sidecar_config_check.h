#pragma once
// The sidecar's own configuration parser, run by the operator on the default
// sidecar config (--sidecar-config), so that a bad file is an error at the
// operator's start (or of `inject`) instead of in every injected pod.
#include <string>
#include <vector>

namespace tributary::op::inject {

// Every problem of `yaml` as the sidecar would report it ("kafka.x: unknown
// key ..."), empty when the sidecar would start with it. Pure, any thread.
std::vector<std::string> checkSidecarConfig(const std::string& yaml);

}  // namespace tributary::op::inject
