#pragma once
#include <functional>
#include <string>

#include "common/http/http_server.h"
#include "sidecar/config/sidecar_config.h"
#include "sidecar/produce/produce_service.h"

namespace tributary::sidecar {

// What GET /v1/info reports besides the configuration.
struct ApiInfo {
  bool devMode = false;
  std::string bootstrapServers;  // reported in dev mode only
  // The JSON body of GET /v1/subscriptions, built when asked (any thread).
  std::function<std::string()> subscriptions;
};

// Installs the /v1 API on `server`: bearer-token check, the produce route,
// /v1/info, and 405 for known paths with the wrong method.
void installApiRoutes(HttpServer& server, const ApiConfig& config, std::chrono::milliseconds deliveryTimeout,
                      ProduceService& produce, ApiInfo info);

}  // namespace tributary::sidecar
