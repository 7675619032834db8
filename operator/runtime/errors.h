#pragma once
#include <stdexcept>
#include <string>

namespace tributary::op::runtime {

// The one error type of the controller runtime: thrown for programming errors
// the caller can fix (invalid options, an invalid condition, start() twice).
// Reconcile failures are not exceptions of this type: they are ReconcileResults.
class ControllerRuntimeError : public std::runtime_error {
 public:
  explicit ControllerRuntimeError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace tributary::op::runtime
