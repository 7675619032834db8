#pragma once
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace tributary::apiserver {

// An error the API answers with a `Status` object, shaped as the real server
// shapes it (reason, code, message, details) so that clients classify errors
// by `reason`/`code` here exactly as they would against a real cluster.
// Thrown anywhere below the HTTP layer; the HTTP layer turns it into the answer.
struct ApiError : std::runtime_error {
  ApiError(int code, std::string reason, const std::string& message, nlohmann::json details = nullptr);

  int code;
  std::string reason;
  nlohmann::json details;  // null, or {name, group, kind, causes, retryAfterSeconds}
  nlohmann::json metadata = nlohmann::json::object();  // ListMeta: an expired list's fresh `continue`

  nlohmann::json status() const;
};

// `groupResource` is the qualified resource as the real messages print it:
// "configmaps" for the core group, "kafkatopics.tributary.dev" otherwise.
ApiError notFound(const std::string& group, const std::string& plural, const std::string& name);
ApiError alreadyExists(const std::string& group, const std::string& plural, const std::string& name);
// Optimistic concurrency: the caller's resourceVersion is not the stored one.
ApiError conflict(const std::string& group, const std::string& plural, const std::string& name,
                  const std::string& why = "the object has been modified; please apply your changes to the latest "
                                           "version and try again");
struct Cause {
  std::string type;     // FieldValueRequired, FieldValueInvalid, FieldValueForbidden, ...
  std::string field;    // "metadata.name"
  std::string message;  // "Required value: name or generateName is required"
};
// 422: `kind` is the Kind ("KafkaTopic"); the message lists every cause.
ApiError invalid(const std::string& group, const std::string& kind, const std::string& name,
                 const std::vector<Cause>& causes);
ApiError badRequest(const std::string& message);
ApiError methodNotAllowed(const std::string& message = "the server does not allow this method on the requested resource");
ApiError forbidden(const std::string& group, const std::string& plural, const std::string& name, const std::string& why);
ApiError expired(const std::string& message);  // 410, reason Expired
// 415 for a request body in another format than the verb takes: `accepted`
// lists what would have been (JSON for POST/PUT, the patch types for PATCH).
ApiError unsupportedMediaType(const std::string& contentType, const std::string& accepted);
ApiError notAcceptable(const std::string& accept);
ApiError resourceNotFound();  // 404 for a path that names no resource
ApiError tooLargeResourceVersion(uint64_t requested, uint64_t current);
// The answer of an injected fault: a plausible Status for `code` (500, 503, 429, 504, ...).
ApiError injected(int code);

std::string qualifiedResource(const std::string& group, const std::string& plural);

}  // namespace tributary::apiserver
