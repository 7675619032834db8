#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace tributary {

// "127.0.0.1:9191", "0.0.0.0:9192", ":8080" (all interfaces), "[::1]:9191".
// Port 0 asks the kernel for a free port (tests use it).
struct ListenAddress {
  std::string host;
  int port = 0;
  std::string toString() const;
};

std::optional<ListenAddress> parseListenAddress(std::string_view text);

}  // namespace tributary
