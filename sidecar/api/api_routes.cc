#include "sidecar/api/api_routes.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "common/config/duration.h"
#include "common/kafka/topic_name.h"
#include "sidecar/api/pull_api.h"
#include "sidecar/produce/produce_request.h"

namespace tributary::sidecar {
namespace {

using Json = nlohmann::json;

// Compares in time independent of where the strings differ.
bool sameSecret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::string& longer = a.size() >= b.size() ? a : b;
  for (size_t i = 0; i < longer.size(); ++i)
    diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

void reply(httplib::Response& res, int status, std::string body, std::optional<int> retryAfter) {
  res.status = status;
  if (retryAfter) res.set_header("Retry-After", std::to_string(*retryAfter));
  // Moved, not copied (set_content copies): a batch's answer is ~30 bytes a record.
  res.body = std::move(body);
  res.set_header("Content-Type", "application/json");
}

void methodNotAllowed(httplib::Server& s, const std::string& pattern, const std::string& allow) {
  auto h = [allow](const httplib::Request& req, httplib::Response& res) {
    res.set_header("Allow", allow);
    HttpServer::setError(res, 405, "METHOD_NOT_ALLOWED", req.method + " is not supported here; use " + allow);
  };
  if (allow != "GET") s.Get(pattern, h);
  if (allow != "POST") s.Post(pattern, h);
  s.Put(pattern, h);
  s.Patch(pattern, h);
  s.Delete(pattern, h);
  s.Options(pattern, h);
}

}  // namespace

void installApiRoutes(HttpServer& server, const ApiConfig& config, std::chrono::milliseconds deliveryTimeout,
                      ProduceService& produce, ApiInfo info) {
  httplib::Server& s = server.routes();
  const std::string token = config.token;
  // Authentication runs inside each handler, after httplib has read the body:
  // answering from a pre-routing handler would leave an unread body on a
  // keep-alive connection, to be parsed as the next request.
  auto authed = [token](httplib::Server::Handler handler) -> httplib::Server::Handler {
    if (token.empty()) return handler;
    return [token, handler](const httplib::Request& req, httplib::Response& res) {
      const std::string auth = req.get_header_value("Authorization");
      const std::string prefix = "Bearer ";
      if (auth.rfind(prefix, 0) == 0 && sameSecret(auth.substr(prefix.size()), token)) return handler(req, res);
      res.set_header("WWW-Authenticate", "Bearer");
      HttpServer::setError(res, 401, "UNAUTHORIZED",
                           auth.empty() ? "this API needs \"Authorization: Bearer <token>\""
                                        : "the bearer token is not valid for this sidecar");
    };
  };

  const std::set<std::string> allowed(config.allowedTopics.begin(), config.allowedTopics.end());
  const std::string recordsPath = R"(/v1/topics/([^/]+)/records)";
  const size_t maxBody = config.maxBodyBytes;
  s.Post(recordsPath, authed([&produce, allowed, maxBody](const httplib::Request& req, httplib::Response& res) {
    const auto received = std::chrono::steady_clock::now();
    const std::string topic = req.matches[1];
    if (!isValidTopicName(topic)) {
      produce.countRequest("(invalid)", 400);
      return HttpServer::setError(res, 400, "INVALID_TOPIC",
                                  "\"" + topic + "\" is not a valid Kafka topic name: use 1-249 characters of "
                                  "letters, digits, '.', '_' and '-'");
    }
    if (!allowed.empty() && !allowed.count(topic)) {
      produce.countRequest("(not-allowed)", 403);
      return HttpServer::setError(res, 403, "TOPIC_NOT_ALLOWED",
                                  "this sidecar may not produce to \"" + topic + "\" (see api.allowedTopics)");
    }
    // httplib enforces the limit on Content-Length bodies; chunked ones are checked here.
    if (req.body.size() > maxBody) {
      produce.countRequest(topic, 413);
      return HttpServer::setError(res, 413, "PAYLOAD_TOO_LARGE",
                                  "the request body is larger than the limit of " + std::to_string(maxBody) +
                                      " bytes; split it into several requests");
    }
    const std::string async = req.get_param_value("async");
    if (!async.empty() && async != "true" && async != "false") {
      produce.countRequest(topic, 400);
      return HttpServer::setError(res, 400, "INVALID_REQUEST", "async must be true or false");
    }
    const std::string contentType = req.get_header_value("Content-Type");
    // The body is not needed once its records are parsed (or it became the
    // record): it is released here rather than when httplib drops the request
    // after the answer, so that a request waiting for its delivery reports
    // does not hold it (sidecar/README.md, "Memory"). httplib's Request is
    // not const itself; nothing reads the body after the handler.
    std::string& body = const_cast<std::string&>(req.body);
    std::vector<OutgoingRecord> records;
    if (isJsonContentType(contentType)) {
      auto parsed = parseJsonRecords(topic, body);
      std::string().swap(body);
      if (auto* e = std::get_if<ApiError>(&parsed)) {
        produce.countRequest(topic, e->status);
        return HttpServer::setError(res, e->status, e->code, e->message);
      }
      records = std::move(std::get<std::vector<OutgoingRecord>>(parsed));
    } else {
      std::optional<std::string> key;
      if (req.has_header("Kafka-Key")) key = req.get_header_value("Kafka-Key");
      records.push_back(rawRecord(topic, std::move(body), std::move(key), contentType));
      std::string().swap(body);
    }
    ProduceService::TraceHeaders trace;
    if (req.has_header("traceparent")) {
      trace.traceparent = req.get_header_value("traceparent");
      trace.repeated = req.get_header_value_count("traceparent") > 1;
      // Several tracestate headers are one list (W3C: combine them with commas).
      for (size_t i = 0, n = req.get_header_value_count("tracestate"); i < n; ++i)
        trace.tracestate += (i ? "," : "") + req.get_header_value("tracestate", i);
    }
    auto r = produce.produce(topic, std::move(records), async == "true", received, trace);
    reply(res, r.status, std::move(r.body), r.retryAfterSeconds);
  }));
  methodNotAllowed(s, recordsPath, "POST");

  Json infoBody{{"version", TRIBUTARY_VERSION},
                {"mode", info.devMode ? "dev" : "cluster"},
                {"allowedTopics", config.allowedTopics.empty() ? Json("*") : Json(config.allowedTopics)},
                {"maxBodyBytes", config.maxBodyBytes},
                {"deliveryTimeout", formatDuration(deliveryTimeout)},
                {"authentication", config.token.empty() ? "none" : "bearer"}};
  if (info.devMode) infoBody["bootstrapServers"] = info.bootstrapServers;
  const std::string infoText = infoBody.dump();
  s.Get("/v1/info", authed([infoText](const httplib::Request&, httplib::Response& res) {
    res.set_content(infoText, "application/json");
  }));
  methodNotAllowed(s, "/v1/info", "GET");

  // Pull subscriptions. The broker map is fixed before the server starts.
  const PullSubscriptions pull = info.pull;
  auto findBroker = [pull](const std::string& name, httplib::Response& res) -> LeaseBroker* {
    if (auto it = pull.brokers.find(name); it != pull.brokers.end()) return it->second;
    if (pull.push.count(name))
      HttpServer::setError(res, 409, "NOT_A_PULL_SUBSCRIPTION",
                           "subscription \"" + name + "\" is a push subscription: the sidecar POSTs its records to "
                           "the app's endpoint; poll, ack and nack are for mode: pull");
    else
      HttpServer::setError(res, 404, "UNKNOWN_SUBSCRIPTION",
                           "no subscription is named \"" + name + "\"; GET /v1/subscriptions lists them");
    return nullptr;
  };
  const std::string pollPath = R"(/v1/subscriptions/([^/]+)/poll)";
  s.Post(pollPath, authed([findBroker](const httplib::Request& req, httplib::Response& res) {
    LeaseBroker* broker = findBroker(req.matches[1], res);
    if (!broker) return;
    const std::string max = req.get_param_value("max"), wait = req.get_param_value("waitMs");
    auto parsed = parsePollRequest(req.has_param("max") ? &max : nullptr, req.has_param("waitMs") ? &wait : nullptr);
    if (auto* e = std::get_if<ApiError>(&parsed)) return HttpServer::setError(res, e->status, e->code, e->message);
    const auto& poll = std::get<PollRequest>(parsed);
    auto leases = broker->poll(poll.max, poll.wait);
    if (leases.empty() && broker->closed()) {
      res.set_header("Retry-After", "1");
      return HttpServer::setError(res, 503, "SHUTTING_DOWN",
                                  "the sidecar is shutting down; unacknowledged records will be delivered again "
                                  "by the next owner of their partitions");
    }
    res.set_content(leasesToJson(leases), "application/json");
  }));
  methodNotAllowed(s, pollPath, "POST");
  for (const char* verb : {"ack", "nack"}) {
    const bool isNack = std::string(verb) == "nack";
    const std::string path = std::string(R"(/v1/subscriptions/([^/]+)/)") + verb;
    s.Post(path, authed([findBroker, isNack, maxBody](const httplib::Request& req, httplib::Response& res) {
      LeaseBroker* broker = findBroker(req.matches[1], res);
      if (!broker) return;
      if (req.body.size() > maxBody)
        return HttpServer::setError(res, 413, "PAYLOAD_TOO_LARGE",
                                    "the request body is larger than the limit of " + std::to_string(maxBody) +
                                        " bytes; settle fewer ids per request");
      auto parsed = parseSettleRequest(req.body, isNack);
      if (auto* e = std::get_if<ApiError>(&parsed)) return HttpServer::setError(res, e->status, e->code, e->message);
      const auto& r = std::get<SettleRequest>(parsed);
      auto result = isNack ? broker->nack(r.ids, r.retryable, r.reason) : broker->ack(r.ids);
      res.set_content(settleResultToJson(isNack ? "nacked" : "acknowledged", result), "application/json");
    }));
    methodNotAllowed(s, path, "POST");
  }

  auto list = info.subscriptions;
  s.Get("/v1/subscriptions", authed([list](const httplib::Request&, httplib::Response& res) {
    res.set_content(list ? list() : R"({"subscriptions":[]})", "application/json");
  }));
  methodNotAllowed(s, "/v1/subscriptions", "GET");
}

}  // namespace tributary::sidecar
