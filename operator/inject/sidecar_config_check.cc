#include "operator/inject/sidecar_config_check.h"

#include "sidecar/config/sidecar_config.h"

namespace tributary::op::inject {

std::vector<std::string> checkSidecarConfig(const std::string& yaml) {
  // No environment: the pod's TRIBUTARY_* variables are not known here; nor are
  // its files and variables: ${file:...} / ${env:...} are checked, not read.
  return sidecar::parseSidecarConfig(yaml, {}, nullptr).errors;
}

}  // namespace tributary::op::inject
