#pragma once
#include <optional>
#include <string>

#include "sidecar/produce/producer.h"

namespace tributary::sidecar {

// The one error type of the sidecar's HTTP API. `code` is stable and documented
// in sidecar/README.md; `message` tells the caller what to do.
struct ApiError {
  int status = 500;
  std::string code;
  std::string message;
  std::optional<int> retryAfterSeconds;  // sent as Retry-After
};

// A produce failure as the API reports it (per record or for the request).
ApiError toApiError(ProduceError error, const std::string& detail);

}  // namespace tributary::sidecar
