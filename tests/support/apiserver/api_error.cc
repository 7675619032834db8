#include "tests/support/apiserver/api_error.h"

namespace tributary::apiserver {

using Json = nlohmann::json;

ApiError::ApiError(int c, std::string r, const std::string& message, Json d)
    : std::runtime_error(message), code(c), reason(std::move(r)), details(std::move(d)) {}

Json ApiError::status() const {
  Json s{{"kind", "Status"},          {"apiVersion", "v1"}, {"metadata", metadata},
         {"status", "Failure"},       {"message", what()},  {"reason", reason},
         {"code", code}};
  if (!details.is_null()) s["details"] = details;
  return s;
}

std::string qualifiedResource(const std::string& group, const std::string& plural) {
  return group.empty() ? plural : plural + "." + group;
}

namespace {
Json detailsFor(const std::string& group, const std::string& kind, const std::string& name) {
  Json d{{"name", name}, {"kind", kind}};
  if (!group.empty()) d["group"] = group;
  return d;
}
}  // namespace

ApiError notFound(const std::string& group, const std::string& plural, const std::string& name) {
  return {404, "NotFound", qualifiedResource(group, plural) + " \"" + name + "\" not found",
          detailsFor(group, plural, name)};
}

ApiError alreadyExists(const std::string& group, const std::string& plural, const std::string& name) {
  return {409, "AlreadyExists", qualifiedResource(group, plural) + " \"" + name + "\" already exists",
          detailsFor(group, plural, name)};
}

ApiError conflict(const std::string& group, const std::string& plural, const std::string& name,
                  const std::string& why) {
  return {409, "Conflict",
          "Operation cannot be fulfilled on " + qualifiedResource(group, plural) + " \"" + name + "\": " + why,
          detailsFor(group, plural, name)};
}

ApiError invalid(const std::string& group, const std::string& kind, const std::string& name,
                 const std::vector<Cause>& causes) {
  // Real format: `KafkaTopic.tributary.dev "x" is invalid: [a: ..., b: ...]`
  // (brackets only when there is more than one cause).
  std::string list;
  Json jcauses = Json::array();
  for (const auto& c : causes) {
    if (!list.empty()) list += ", ";
    list += c.field + ": " + c.message;
    jcauses.push_back({{"reason", c.type}, {"message", c.message}, {"field", c.field}});
  }
  if (causes.size() > 1) list = "[" + list + "]";
  std::string qualifiedKind = group.empty() ? kind : kind + "." + group;
  Json d = detailsFor(group, kind, name);
  d["causes"] = jcauses;
  return {422, "Invalid", qualifiedKind + " \"" + name + "\" is invalid: " + list, d};
}

ApiError badRequest(const std::string& message) { return {400, "BadRequest", message}; }

ApiError methodNotAllowed(const std::string& message) { return {405, "MethodNotAllowed", message}; }

ApiError forbidden(const std::string& group, const std::string& plural, const std::string& name,
                   const std::string& why) {
  return {403, "Forbidden", qualifiedResource(group, plural) + " \"" + name + "\" is forbidden: " + why,
          detailsFor(group, plural, name)};
}

ApiError expired(const std::string& message) { return {410, "Expired", message}; }

ApiError unsupportedMediaType(const std::string& contentType, const std::string& accepted) {
  return {415, "UnsupportedMediaType",
          "the body of the request was in an unknown format (" + contentType +
              ") - accepted media types include: " + accepted};
}

ApiError notAcceptable(const std::string& accept) {
  return {406, "NotAcceptable",
          "only the following media types are accepted: application/json, application/json;as=Table;v=v1;g=meta.k8s.io"
          " (asked for: " + accept + ")"};
}

ApiError resourceNotFound() { return {404, "NotFound", "the server could not find the requested resource", Json::object()}; }

ApiError tooLargeResourceVersion(uint64_t requested, uint64_t current) {
  // The real server waits ~3s for its cache to catch up, then answers this.
  Json d{{"causes", {{{"reason", "ResourceVersionTooLarge"}, {"message", "Too large resource version"}}}},
         {"retryAfterSeconds", 1}};
  return {504, "Timeout",
          "Too large resource version: " + std::to_string(requested) + ", current: " + std::to_string(current), d};
}

ApiError injected(int code) {
  switch (code) {
    case 429:
      return {429, "TooManyRequests", "the server has received too many requests and has asked us to try again later",
              Json{{"retryAfterSeconds", 1}}};
    case 500:
      return {500, "InternalError", "Internal error occurred: injected fault", Json{{"causes", {{{"message", "injected fault"}}}}}};
    case 503:
      return {503, "ServiceUnavailable", "the server is currently unable to handle the request"};
    case 504:
      return {504, "Timeout", "the server was unable to return a response in the time allotted, but may still be processing the request"};
    case 401:
      return {401, "Unauthorized", "Unauthorized"};
    case 403:
      return {403, "Forbidden", "forbidden: injected fault"};
    case 409:
      return {409, "Conflict", "Operation cannot be fulfilled: injected conflict"};
    default:
      return {code, code >= 500 ? "InternalError" : "BadRequest", "injected fault (HTTP " + std::to_string(code) + ")"};
  }
}

}  // namespace tributary::apiserver
