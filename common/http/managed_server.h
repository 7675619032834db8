#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

typedef struct ssl_ctx_st SSL_CTX;  // OpenSSL stays out of this header

namespace tributary {

// What a listener bounds, so that slow or idle clients cannot starve it.
struct ListenerLimits {
  // Open connections at most. At the bound a new connection closes the oldest
  // idle one (no request in progress); failing that, the oldest one still
  // sending a request head; failing that (every connection is being served),
  // the new one is closed.
  size_t maxConnections = 1024;
  // A request's head must be complete within this time of its first byte, and
  // its body within this time of a worker starting to read it: a client that
  // sends slowly is closed then, whatever the pace of its bytes. On a TLS
  // listener the handshake, too, must end within this time of the accept.
  std::chrono::milliseconds requestTimeout{10'000};
  // A keep-alive connection with no request is closed after this long.
  std::chrono::milliseconds idleTimeout{30'000};
  // After answering, a worker waits this long for the next request of the same
  // connection before handing it back to the acceptor (a busy keep-alive client
  // then costs no extra wake-ups per request; an idle one holds no worker).
  std::chrono::milliseconds linger{2};
  // GET requests for these paths are served by workers of their own, so that
  // probes answer while data-plane or scrape requests occupy every worker.
  std::vector<std::string> priorityPaths{"/healthz", "/readyz"};
  size_t priorityWorkers = 1;
  // The request bytes all requests in flight may hold together (0: no
  // budget). A request is admitted before its body is read: with a
  // Content-Length it reserves that many bytes at once; a chunked body
  // reserves its bytes as they arrive. Past the budget: 503 with
  // Retry-After: 1 (a refused Content-Length body is read and thrown away, so
  // that the connection stays usable; a chunked one is cut off and the
  // connection closed). Reservations end when the answer is written.
  size_t maxInflightBytes = 0;
};

// An httplib::Server that does not give each connection a thread. httplib's
// own model (one worker per open connection, a per-read timeout) lets 4
// connections that send a header line a second hold 4 workers forever. Here:
//
// - One acceptor thread (epoll) holds every connection that is idle or still
//   sending its request head, reads what arrives and times them out.
// - A connection goes to a worker only once its head is complete ("\r\n\r\n"
//   seen — framing only; httplib parses the request). The worker runs
//   httplib's own request processing (routing, handlers, errors, responses)
//   over a stream whose reads stop at the request deadline.
// - Requests whose request line is `GET <priority path>` go to a separate pool.
// - With TLS (a set-up callback for the SSL_CTX), the acceptor also runs each
//   handshake, non-blocking and under the request deadline, and frames the
//   decrypted bytes; workers read and write through the connection's SSL.
//   Every connection is HTTPS then: nothing is served in plain text.
//
// Threads: configure and bind as an httplib::Server before listen; httplib's
// accept thread hands sockets over; stopServing() from any thread after
// httplib's listen loop returned.
class ManagedServer final : public httplib::Server {
 public:
  // Makes a TLS server's context (certificates, versions); false: unusable.
  using TlsSetup = std::function<bool(SSL_CTX&)>;
  // `tls` empty: plain HTTP.
  ManagedServer(size_t workers, ListenerLimits limits, TlsSetup tls = nullptr);
  ~ManagedServer() override;

  // False when TLS was asked for and its context could not be set up.
  bool is_valid() const override;

  // After httplib::Server::stop() and the listen loop returned: closes every
  // idle connection, lets workers finish the request in hand, joins threads.
  void stopServing();

  size_t openConnections() const { return open_.load(); }
  const ListenerLimits& limits() const { return limits_; }
  size_t inflightBytes() const { return inflightBytes_.load(); }

  // On a worker thread, while httplib handles a request: whether the request
  // was refused before its body was read, and why (the error handler answers
  // 503 for the budget, 413 for a chunked body past the payload limit).
  enum class Refusal { None, OverBudget, TooLarge };
  static Refusal refusal();
  // Takes `bytes` of the budget; false (nothing taken) past it. Any thread.
  bool reserve(size_t bytes);

  struct Conn;

 private:
  // httplib's accept loop calls this for every accepted socket (through an
  // inline task queue): adopt it, never block.
  bool process_and_close_socket(socket_t sock) override;

  void reactorLoop();
  void workerLoop(bool priority);
  void serve(Conn* c);
  void onReadable(Conn* c);
  void dispatch(Conn* c);
  void closeConn(Conn* c);            // reactor thread, or a worker for a conn it holds
  void unlink(Conn* c);               // reactor thread: off the idle/reading lists and epoll
  void makeRoom();                    // reactor thread
  bool handshake(Conn* c);            // reactor thread: false when it failed
  void rearm(Conn* c);                // reactor thread: epoll interest after a TLS step
  void handBack(Conn* c, bool reading);  // worker → reactor
  void post(Conn* c, bool adopt, bool reading);
  bool isPriority(const Conn& c) const;

  const ListenerLimits limits_;
  SSL_CTX* tls_ = nullptr;  // TLS listener: shared by every connection's SSL
  bool tlsFailed_ = false;
  int epoll_ = -1;
  int wake_ = -1;  // eventfd
  std::atomic<size_t> open_{0};
  std::atomic<size_t> inflightBytes_{0};
  std::atomic<bool> stopping_{false};

  // Reactor thread only.
  std::list<Conn*> idle_;     // oldest idle first
  std::list<Conn*> reading_;  // oldest request start first

  struct Handoff {
    Conn* conn;
    bool adopt;    // a new socket
    bool reading;  // returned with part of a head
  };
  std::mutex mailboxMutex_;
  std::vector<Handoff> mailbox_;  // guarded by mailboxMutex_

  std::mutex queueMutex_;
  std::condition_variable queueCv_, priorityCv_;
  std::deque<Conn*> queue_, priorityQueue_;  // guarded by queueMutex_

  std::thread reactor_;
  std::vector<std::thread> workers_;
  bool stopped_ = false;
};

}  // namespace tributary
