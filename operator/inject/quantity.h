#pragma once
// Kubernetes resource quantities ("500m", "64Mi", "1.5", "2e3"), the grammar of
// k8s.io/apimachinery's resource.Quantity. Pure functions, any thread.
#include <optional>
#include <string>

namespace tributary::op::inject {

// The value in base units (cores, bytes), or nullopt when `text` is not a
// quantity Kubernetes would accept.
std::optional<long double> parseQuantity(const std::string& text);

}  // namespace tributary::op::inject
