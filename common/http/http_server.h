#pragma once
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <httplib.h>

#include "common/config/listen_address.h"
#include "common/http/managed_server.h"

namespace tributary {

// cpp-httplib's server set up the way every Tributary listener needs it:
// TCP_NODELAY on (without it a keep-alive client waits for delayed ACKs),
// keep-alive connections that stay open (httplib's default closes after 5
// requests), a fixed worker pool, and errors the router produces itself
// (unknown route, oversized or malformed request) answered as JSON
// {"error","errorCode"} rather than an empty body.
//
// A plain HTTP listener is a ManagedServer (see managed_server.h): idle and
// slow clients wait in one acceptor thread, not in workers; `limits` bound the
// connections and the time a request may take; probes have workers of their
// own; and a POST with no body and no Content-Length is a request with an
// empty body. A given ManagedServer (e.g. one with TLS, the injector's
// webhook) is set up the same way; any other given server keeps httplib's own
// model: one worker per open connection, a timeout per read.
//
// Threads: routes are added and bind() is called before start(); handlers run
// on the worker pool; stop() may be called from any thread, once.
class HttpServer {
 public:
  HttpServer(size_t workerThreads, size_t maxBodyBytes, ListenerLimits limits = {});
  // The same set-up on a given server, e.g. a ManagedServer with TLS.
  HttpServer(std::unique_ptr<httplib::Server> server, size_t workerThreads, size_t maxBodyBytes);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  httplib::Server& routes() { return *server_; }

  // Binds the listening socket; on failure says why in `error`.
  bool bind(const ListenAddress& address, std::string& error);
  int port() const { return port_; }
  // Connections open now (a plain HTTP listener; 0 otherwise). Any thread.
  size_t openConnections() const { return managed_ ? managed_->openConnections() : 0; }
  // Accepts connections on a thread of its own.
  void start();
  // Stops accepting, lets running handlers finish, joins the workers.
  void stop();

  // The JSON body Tributary answers errors with.
  static std::string errorBody(const std::string& code, const std::string& message);
  static void setError(httplib::Response& res, int status, const std::string& code, const std::string& message);

 private:
  std::unique_ptr<httplib::Server> server_;
  ManagedServer* managed_ = nullptr;  // server_, when it is one
  std::thread thread_;
  int port_ = 0;
  int listenFd_ = -1;  // the listening socket, seen in httplib's socket-options hook
  bool started_ = false;
};

}  // namespace tributary
