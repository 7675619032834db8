#pragma once
#include <stdexcept>
#include <string>

namespace tributary::op::kube {

// The one error type of the Kubernetes client. `kind` is what callers branch on
// (a Conflict is retried with a fresh read, NotFound is often success, Gone
// means relist); `status` is the HTTP status (0 for a transport failure);
// `reason` and `message` are the server's Status fields, carried verbatim so
// an operator's conditions and logs say what the API server said.
class ApiError : public std::runtime_error {
 public:
  enum class Kind {
    NotFound,
    AlreadyExists,
    Conflict,
    Gone,
    Forbidden,
    Unauthorized,
    Invalid,
    Timeout,
    TooManyRequests,
    ServerError,
    Unavailable,  // no HTTP answer at all: refused, reset, TLS failure, client-side timeout
    // (Timeout is the server saying 504/408.)
    BadRequest,   // any other 4xx (400, 405, 415, ...)
  };

  ApiError(Kind kind, int status, std::string reason, std::string message, int retryAfterSeconds = 0);

  Kind kind() const { return kind_; }
  int status() const { return status_; }
  const std::string& reason() const { return reason_; }
  const std::string& message() const { return message_; }
  // From a Retry-After header (429, 503), else 0.
  int retryAfterSeconds() const { return retryAfterSeconds_; }

  // Maps an HTTP status (and the Status reason, which separates AlreadyExists
  // from Conflict on a 409) to a kind.
  static Kind kindFor(int status, const std::string& reason);
  static const char* kindName(Kind kind);

 private:
  Kind kind_;
  int status_;
  std::string reason_;
  std::string message_;
  int retryAfterSeconds_;
};

inline bool isNotFound(const ApiError& e) { return e.kind() == ApiError::Kind::NotFound; }
inline bool isConflict(const ApiError& e) { return e.kind() == ApiError::Kind::Conflict; }
inline bool isGone(const ApiError& e) { return e.kind() == ApiError::Kind::Gone; }

}  // namespace tributary::op::kube
