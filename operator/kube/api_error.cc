#include "operator/kube/api_error.h"

namespace tributary::op::kube {

namespace {
std::string describe(ApiError::Kind kind, int status, const std::string& message) {
  std::string out = ApiError::kindName(kind);
  if (status != 0) out += " (" + std::to_string(status) + ")";
  out += ": " + message;
  return out;
}
}  // namespace

ApiError::ApiError(Kind kind, int status, std::string reason, std::string message, int retryAfterSeconds)
    : std::runtime_error(describe(kind, status, message)),
      kind_(kind),
      status_(status),
      reason_(std::move(reason)),
      message_(std::move(message)),
      retryAfterSeconds_(retryAfterSeconds) {}

ApiError::Kind ApiError::kindFor(int status, const std::string& reason) {
  switch (status) {
    case 400: return Kind::BadRequest;
    case 401: return Kind::Unauthorized;
    case 403: return Kind::Forbidden;
    case 404: return Kind::NotFound;
    case 408: return Kind::Timeout;
    case 409: return reason == "AlreadyExists" ? Kind::AlreadyExists : Kind::Conflict;
    case 410: return Kind::Gone;
    case 422: return Kind::Invalid;
    case 429: return Kind::TooManyRequests;
    case 504: return Kind::Timeout;
    default: break;
  }
  if (status >= 500) return Kind::ServerError;
  return Kind::BadRequest;
}

const char* ApiError::kindName(Kind kind) {
  switch (kind) {
    case Kind::NotFound: return "NotFound";
    case Kind::AlreadyExists: return "AlreadyExists";
    case Kind::Conflict: return "Conflict";
    case Kind::Gone: return "Gone";
    case Kind::Forbidden: return "Forbidden";
    case Kind::Unauthorized: return "Unauthorized";
    case Kind::Invalid: return "Invalid";
    case Kind::Timeout: return "Timeout";
    case Kind::TooManyRequests: return "TooManyRequests";
    case Kind::ServerError: return "ServerError";
    case Kind::Unavailable: return "Unavailable";
    case Kind::BadRequest: return "BadRequest";
  }
  return "Unknown";
}

}  // namespace tributary::op::kube
