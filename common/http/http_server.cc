#include "common/http/http_server.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/log/log.h"

namespace tributary {

HttpServer::HttpServer(size_t workerThreads, size_t maxBodyBytes, ListenerLimits limits)
    : HttpServer(std::make_unique<ManagedServer>(workerThreads, std::move(limits)), workerThreads, maxBodyBytes) {}

HttpServer::HttpServer(std::unique_ptr<httplib::Server> server, size_t workerThreads, size_t maxBodyBytes)
    : server_(std::move(server)), managed_(dynamic_cast<ManagedServer*>(server_.get())) {
  if (!managed_) server_->new_task_queue = [workerThreads] { return new httplib::ThreadPool(workerThreads); };
  server_->set_tcp_nodelay(true);
  // httplib's default also sets SO_REUSEPORT, which lets a second process bind
  // the same port and silently share the traffic; a taken port must be an error.
  server_->set_socket_options([this](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listenFd_ = sock;
  });
  server_->set_keep_alive_max_count(1'000'000);
  // httplib's own model (a given server that is no ManagedServer): an idle keep-alive connection holds its
  // worker, and stop() waits for it, for up to this long (httplib only checks
  // for shutdown between requests): short, so that shutdown is prompt; clients
  // simply reconnect after idling. A ManagedServer uses ListenerLimits instead.
  server_->set_keep_alive_timeout(2);
  // A ManagedServer only announces it (Keep-Alive: timeout=N): say its own.
  if (managed_)
    server_->set_keep_alive_timeout(std::max<time_t>(
        1, std::chrono::duration_cast<std::chrono::seconds>(managed_->limits().idleTimeout).count()));
  server_->set_read_timeout(30);
  server_->set_write_timeout(30);
  server_->set_payload_max_length(maxBodyBytes);
  server_->set_error_handler([maxBodyBytes](const httplib::Request& req, httplib::Response& res) {
    const auto refusal = ManagedServer::refusal();
    if (refusal == ManagedServer::Refusal::TooLarge) res.status = 413;
    if (refusal == ManagedServer::Refusal::OverBudget) {
      res.set_header("Retry-After", "1");
      return setError(res, 503, "OVERLOADED",
                      "requests in flight hold the listener's whole byte budget (maxInflightBytes); retry after "
                      "the Retry-After seconds");
    }
    // A handler already said what went wrong.
    if (!res.body.empty() && refusal == ManagedServer::Refusal::None) return;
    switch (res.status) {
      case 404:
        setError(res, 404, "NOT_FOUND", "no such endpoint: " + req.method + " " + req.path);
        break;
      case 413:
        setError(res, 413, "PAYLOAD_TOO_LARGE",
                 "the request body is larger than the limit of " + std::to_string(maxBodyBytes) +
                     " bytes; split it into several requests");
        break;
      case 400:
        setError(res, 400, "BAD_REQUEST", "the HTTP request is malformed");
        break;
      default:
        setError(res, res.status, "HTTP_" + std::to_string(res.status), "the request could not be served");
    }
  });
  server_->set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log::error("request handler failed", {{"path", req.path}, {"error", what}});
    setError(res, 500, "INTERNAL", "the server failed to handle the request (a bug; the log has it): " + what);
  });
}

HttpServer::~HttpServer() { stop(); }

bool HttpServer::bind(const ListenAddress& address, std::string& error) {
  if (address.port == 0) {
    port_ = server_->bind_to_any_port(address.host);
    if (port_ <= 0) {
      error = "cannot listen on " + address.toString();
      return false;
    }
  } else {
    if (!server_->bind_to_port(address.host, address.port)) {
      error = "cannot listen on " + address.toString() + " (address in use, or not allowed)";
      return false;
    }
    port_ = address.port;
  }
  // httplib listens with a backlog of 5: a burst of new connections (64 clients
  // starting at once) overflows it and some fail. Listening again on the bound
  // socket raises the backlog (Linux updates it in place).
  if (listenFd_ >= 0) ::listen(listenFd_, SOMAXCONN);
  return true;
}

void HttpServer::start() {
  started_ = true;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // httplib's stop() does nothing until the accept loop runs: a stop() right
  // after start() would then wait forever in join(). Return once it runs.
  for (int i = 0; i < 5000 && !server_->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void HttpServer::stop() {
  if (!started_) return;
  started_ = false;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  if (managed_) managed_->stopServing();
}

std::string HttpServer::errorBody(const std::string& code, const std::string& message) {
  return nlohmann::json{{"error", message}, {"errorCode", code}}.dump(-1, ' ', false,
                                                                      nlohmann::json::error_handler_t::replace);
}

void HttpServer::setError(httplib::Response& res, int status, const std::string& code, const std::string& message) {
  res.status = status;
  res.set_content(errorBody(code, message), "application/json");
}

}  // namespace tributary
