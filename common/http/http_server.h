#pragma once
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <httplib.h>

#include "common/config/listen_address.h"

namespace tributary {

// cpp-httplib's server set up the way every Tributary listener needs it:
// TCP_NODELAY on (without it a keep-alive client waits for delayed ACKs),
// keep-alive connections that stay open (httplib's default closes after 5
// requests), a fixed worker pool (one thread per open connection), and errors
// the router produces itself (unknown route, oversized or malformed request)
// answered as JSON {"error","errorCode"} rather than an empty body.
//
// Threads: routes are added and bind() is called before start(); handlers run
// on the worker pool; stop() may be called from any thread, once.
class HttpServer {
 public:
  HttpServer(size_t workerThreads, size_t maxBodyBytes);
  // The same set-up on a given server, e.g. an httplib::SSLServer for HTTPS.
  HttpServer(std::unique_ptr<httplib::Server> server, size_t workerThreads, size_t maxBodyBytes);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  httplib::Server& routes() { return *server_; }

  // Binds the listening socket; on failure says why in `error`.
  bool bind(const ListenAddress& address, std::string& error);
  int port() const { return port_; }
  // Accepts connections on a thread of its own.
  void start();
  // Stops accepting, lets running handlers finish, joins the workers.
  void stop();

  // The JSON body Tributary answers errors with.
  static std::string errorBody(const std::string& code, const std::string& message);
  static void setError(httplib::Response& res, int status, const std::string& code, const std::string& message);

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  int listenFd_ = -1;  // the listening socket, seen in httplib's socket-options hook
  bool started_ = false;
};

}  // namespace tributary
