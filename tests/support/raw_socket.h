#pragma once
#include <chrono>
#include <string>

namespace tributary::test {

// A plain loopback TCP connection, for what an HTTP client library would not
// send: a POST with no Content-Length, a head dripped a line at a time, a
// connection that never sends anything.
class RawSocket {
 public:
  explicit RawSocket(int port);  // connects; ok() says whether it did
  ~RawSocket();
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;
  RawSocket(RawSocket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }

  bool ok() const { return fd_ >= 0; }
  bool send(const std::string& bytes);  // false once the peer closed
  // Reads until the peer closes, or `guard` passes (a hang guard, not a
  // measurement); what arrived.
  std::string readUntilClosed(std::chrono::milliseconds guard);
  // True once the peer closed the connection (waits up to `guard`).
  bool awaitClosed(std::chrono::milliseconds guard);
  void close();

 private:
  int fd_ = -1;
};

// One request on a fresh connection with "Connection: close"; the whole answer.
std::string rawRequest(int port, const std::string& request, std::chrono::milliseconds guard);

// Open file descriptors and OS threads of this process (from /proc/self).
size_t openFdCount();
size_t threadCount();
// Raises the soft fd limit to at least `n` (up to the hard limit); the limit now.
size_t raiseFdLimit(size_t n);

}  // namespace tributary::test
