#pragma once
#include <functional>
#include <map>
#include <set>
#include <string>

#include "common/http/http_server.h"
#include "sidecar/config/sidecar_config.h"
#include "sidecar/consume/lease_broker.h"
#include "sidecar/produce/produce_service.h"

namespace tributary::sidecar {

// The subscriptions the pull routes serve; fixed once the sidecar runs.
struct PullSubscriptions {
  std::map<std::string, LeaseBroker*> brokers;  // pull subscriptions by name
  std::set<std::string> push;                   // push subscriptions: poll is refused with a clear 409
};

// What GET /v1/info reports besides the configuration.
struct ApiInfo {
  bool devMode = false;
  std::string bootstrapServers;  // reported in dev mode only
  // The JSON body of GET /v1/subscriptions, built when asked (any thread).
  std::function<std::string()> subscriptions;
  PullSubscriptions pull;
};

// Installs the /v1 API on `server`: bearer-token check, the produce route,
// /v1/info, /v1/subscriptions and the pull routes (poll, ack, nack), and 405
// for known paths with the wrong method.
void installApiRoutes(HttpServer& server, const ApiConfig& config, std::chrono::milliseconds deliveryTimeout,
                      ProduceService& produce, ApiInfo info);

}  // namespace tributary::sidecar
