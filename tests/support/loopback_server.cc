#include "tests/support/loopback_server.h"

#include <sys/socket.h>

#include <memory>

namespace tributary::test {

int bindLoopback(httplib::Server& server) {
  auto fd = std::make_shared<socket_t>(INVALID_SOCKET);
  // Replaces httplib's default hook, which also sets SO_REUSEPORT (not wanted:
  // a second server could share the port).
  server.set_socket_options([fd](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    *fd = sock;
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  // Listening again on the bound socket raises the backlog (Linux updates it in place).
  if (port > 0 && *fd != INVALID_SOCKET) ::listen(*fd, SOMAXCONN);
  return port;
}

}  // namespace tributary::test
