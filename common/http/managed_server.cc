#include "common/http/managed_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <csignal>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace tributary {
namespace {

using Clock = std::chrono::steady_clock;

// What the acceptor buffers of a request head at most before handing it to a
// worker anyway (httplib then answers 400/414 for a head it will not take).
constexpr size_t kMaxHeadBytes = 16 * 1024;
// Reads below this size go through the connection's buffer (httplib reads a
// head byte by byte); larger ones (bodies) go straight to the caller.
constexpr size_t kChunk = 16 * 1024;

// httplib 0.11 reads the body of a POST/PUT/PATCH/DELETE with neither
// Content-Length nor Transfer-Encoding "until the connection closes" (the rule
// for responses), so a keep-alive client that sends a bodiless POST — curl -X
// POST does — waits for the read timeout and gets 400. For a request, RFC 9112
// §6.3 says such a body has length zero: say so before httplib reads it.
void bodylessMeansEmpty(httplib::Request& req) {
  if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding"))
    req.headers.emplace("Content-Length", "0");
}

// Runs every task where it is enqueued: httplib's accept thread hands each
// socket straight to ManagedServer::process_and_close_socket, which only adopts it.
class InlineQueue final : public httplib::TaskQueue {
 public:
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override {}
};

int waitFor(int fd, short events, int timeoutMs) {
  pollfd p{fd, events, 0};
  for (;;) {
    int r = ::poll(&p, 1, std::max(timeoutMs, 0));
    if (r < 0 && errno == EINTR) continue;
    return r;
  }
}

int msUntil(Clock::time_point t) {
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count();
  return d <= 0 ? 0 : static_cast<int>(std::min<long long>(d, 1'000'000));
}

void ipAndPort(const sockaddr_storage& addr, std::string& ip, int& port) {
  char host[NI_MAXHOST] = {0};
  char serv[NI_MAXSERV] = {0};
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), sizeof addr, host, sizeof host, serv, sizeof serv,
                  NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    ip = host;
    port = std::atoi(serv);
  }
}

// The request a worker thread is handling, for httplib's hooks (which run on
// that thread and know nothing of connections).
struct RequestState {
  size_t reserved = 0;      // bytes of the budget this request holds
  size_t discard = 0;       // refused: Content-Length bytes to read and throw away
  bool refused = false;     // refused for the budget
  bool countBody = false;   // chunked: reserve the body's bytes as they arrive
  bool cutOff = false;      // a chunked body went past the budget
  bool tooLarge = false;    // a chunked body went past the payload limit
  size_t maxBody = 0;       // the payload limit
};
thread_local RequestState* tlRequest = nullptr;

// The reactor and the workers write to sockets through OpenSSL, which uses
// write(2): a peer that went away would raise SIGPIPE and end the process
// unless its owner ignores it. These threads block it instead (a write then
// fails with EPIPE), so that no embedding program has to. Only they send a
// TLS close_notify.
thread_local bool tlSigpipeBlocked = false;
void blockSigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  tlSigpipeBlocked = true;
}

// What a failed SSL call means; clears the thread's OpenSSL error queue, so
// that the next call's SSL_get_error is about that call.
int sslError(SSL* ssl, int ret) {
  const int e = SSL_get_error(ssl, ret);
  ERR_clear_error();
  return e;
}

}  // namespace

struct ManagedServer::Conn {
  enum class Where { Nowhere, Idle, Reading };
  int fd = -1;
  std::string buf;     // bytes received and not yet consumed, from `off`
  size_t off = 0;
  size_t scanned = 0;  // where the search for the end of the head resumes
  Where where = Where::Nowhere;
  std::list<Conn*>::iterator pos;
  Clock::time_point since;  // idle since, or the request's first byte (or the accept, while handshaking)
  SSL* ssl = nullptr;       // a TLS listener's connection
  bool handshaking = false;  // TLS: until the handshake is done (in `reading_`, under the request deadline)
  bool wantWrite = false;    // TLS: OpenSSL waits for the socket to take bytes (epoll for EPOLLOUT too)

  // Decrypted bytes OpenSSL holds that epoll cannot see.
  bool sslPending() const { return ssl && SSL_pending(ssl) > 0; }

  size_t buffered() const { return buf.size() - off; }
  void compact() {
    if (off == buf.size()) {
      buf.clear();
      off = scanned = 0;
    } else if (off > kChunk) {
      buf.erase(0, off);
      scanned = scanned > off ? scanned - off : 0;
      off = 0;
    }
  }
  bool headComplete() {
    size_t from = std::max(off, scanned >= 3 ? scanned - 3 : 0);
    scanned = buf.size();
    return buf.find("\r\n\r\n", from) != std::string::npos;
  }
  // Reads what the socket has now, without waiting. False at end of stream or error.
  bool drain() {
    compact();
    while (buffered() < kMaxHeadBytes) {
      const size_t at = buf.size();
      buf.resize(at + 4096);
      if (ssl) {
        // Until OpenSSL needs more from the socket: what it has decrypted
        // already would not wake epoll again.
        const int n = SSL_read(ssl, buf.data() + at, 4096);
        if (n > 0) {
          buf.resize(at + static_cast<size_t>(n));
          continue;
        }
        buf.resize(at);
        const int e = sslError(ssl, n);
        wantWrite = e == SSL_ERROR_WANT_WRITE;
        return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
      }
      ssize_t n = ::recv(fd, buf.data() + at, 4096, MSG_DONTWAIT);
      if (n > 0) {
        buf.resize(at + static_cast<size_t>(n));
        if (static_cast<size_t>(n) < 4096) return true;
        continue;
      }
      buf.resize(at);
      if (n < 0 && errno == EINTR) continue;
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
    return true;
  }
};

namespace {

// httplib's view of a connection while a worker serves one request: reads come
// from the connection's buffer, then from the socket until `deadline` (a
// deadline for the whole request, not per read); writes wait up to the write
// timeout per write as httplib's own stream does.
class DeadlineStream final : public httplib::Stream {
 public:
  DeadlineStream(ManagedServer::Conn& c, Clock::time_point deadline, int writeTimeoutMs, ManagedServer* budget)
      : c_(c), deadline_(deadline), writeTimeoutMs_(writeTimeoutMs), budget_(budget) {}

  bool is_readable() const override;
  bool is_writable() const override { return waitFor(fd(), POLLOUT, writeTimeoutMs_) > 0; }
  ssize_t read(char* ptr, size_t size) override {
    ssize_t n = readRaw(ptr, size);
    // A chunked body reserves its bytes as they arrive (RequestState::countBody).
    if (n > 0 && budget_ && tlRequest && tlRequest->countBody) {
      // Past the body limit it is a 413 (retrying cannot help), not a 503.
      if (tlRequest->reserved + static_cast<size_t>(n) > tlRequest->maxBody) tlRequest->tooLarge = true;
      if (tlRequest->tooLarge || !budget_->reserve(static_cast<size_t>(n))) {
        tlRequest->cutOff = true;
        return -1;
      }
      tlRequest->reserved += static_cast<size_t>(n);
    }
    return n;
  }
  ssize_t readRaw(char* ptr, size_t size);
  ssize_t readTls(char* ptr, size_t size);
  ssize_t write(const char* ptr, size_t size) override {
    if (c_.ssl) return writeTls(ptr, size);
    if (!is_writable()) return -1;
    for (;;) {
      ssize_t n = ::send(fd(), ptr, size, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      return n;
    }
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getpeername(fd(), reinterpret_cast<sockaddr*>(&addr), &len) == 0) ipAndPort(addr, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd(), reinterpret_cast<sockaddr*>(&addr), &len) == 0) ipAndPort(addr, ip, port);
  }
  socket_t socket() const override { return fd(); }

 private:
  // Blocking semantics over the non-blocking socket: OpenSSL says what it
  // waits for; each write waits up to the write timeout, as above.
  ssize_t writeTls(const char* ptr, size_t size) {
    if (size == 0) return 0;
    for (;;) {
      const int n = SSL_write(c_.ssl, ptr, static_cast<int>(std::min<size_t>(size, 1 << 30)));
      if (n > 0) return n;
      const int e = sslError(c_.ssl, n);
      if (e == SSL_ERROR_WANT_WRITE && waitFor(fd(), POLLOUT, writeTimeoutMs_) > 0) continue;
      if (e == SSL_ERROR_WANT_READ && waitFor(fd(), POLLIN, writeTimeoutMs_) > 0) continue;
      return -1;
    }
  }

  int fd() const;
  ManagedServer::Conn& c_;
  const Clock::time_point deadline_;
  const int writeTimeoutMs_;
  ManagedServer* const budget_;  // null: no budget
};

}  // namespace

int DeadlineStream::fd() const { return c_.fd; }

bool DeadlineStream::is_readable() const {
  if (c_.buffered() > 0 || c_.sslPending()) return true;
  return Clock::now() < deadline_ && waitFor(c_.fd, POLLIN, msUntil(deadline_)) > 0;
}

ssize_t DeadlineStream::readRaw(char* ptr, size_t size) {
  if (const size_t have = c_.buffered(); have > 0) {
    const size_t n = std::min(size, have);
    std::memcpy(ptr, c_.buf.data() + c_.off, n);
    c_.off += n;
    return static_cast<ssize_t>(n);
  }
  c_.compact();
  if (c_.ssl) return readTls(ptr, size);
  for (;;) {
    if (!is_readable()) return -1;
    if (size >= kChunk) {
      ssize_t n = ::recv(c_.fd, ptr, size, MSG_DONTWAIT);
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      return n;
    }
    c_.buf.resize(kChunk);
    ssize_t n = ::recv(c_.fd, c_.buf.data(), kChunk, MSG_DONTWAIT);
    if (n <= 0) {
      c_.buf.clear();
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      return n;
    }
    c_.buf.resize(static_cast<size_t>(n));
    const size_t give = std::min(size, static_cast<size_t>(n));
    std::memcpy(ptr, c_.buf.data(), give);
    c_.off = give;
    return static_cast<ssize_t>(give);
  }
}

// OpenSSL keeps the rest of a record it decrypted (SSL_pending), so small
// reads cost no extra syscalls; waiting happens only when it wants the socket,
// and never past the request deadline.
ssize_t DeadlineStream::readTls(char* ptr, size_t size) {
  for (;;) {
    const int n = SSL_read(c_.ssl, ptr, static_cast<int>(std::min<size_t>(size, 1 << 30)));
    if (n > 0) return n;
    const int e = sslError(c_.ssl, n);
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    const short wait = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (wait == 0 || Clock::now() >= deadline_ || waitFor(fd(), wait, msUntil(deadline_)) <= 0) return -1;
  }
}

ManagedServer::ManagedServer(size_t workers, ListenerLimits limits, TlsSetup tls) : limits_(std::move(limits)) {
  new_task_queue = [] { return new InlineQueue(); };
  if (tls) {
    tls_ = SSL_CTX_new(TLS_server_method());
    // Renegotiation would let a client make the server work (and write) in
    // the middle of a request; idle connections keep no read buffers.
    if (tls_) {
      SSL_CTX_set_options(tls_, SSL_OP_NO_RENEGOTIATION);
      SSL_CTX_set_mode(tls_, SSL_MODE_RELEASE_BUFFERS);
    }
    if (!tls_ || !tls(*tls_)) tlsFailed_ = true;
  }
  if (limits_.maxInflightBytes > 0) {
    // Runs after the head is read and before httplib reads the body: a refused
    // request is answered without its body ever being held.
    set_pre_routing_handler([](const httplib::Request&, httplib::Response& res) {
      if (!tlRequest || !tlRequest->refused) return HandlerResponse::Unhandled;
      res.status = 503;  // the error handler says why, with Retry-After
      return HandlerResponse::Handled;
    });
  }
  epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // the wake-up
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &ev);
  reactor_ = std::thread([this] { reactorLoop(); });
  for (size_t i = 0; i < std::max<size_t>(workers, 1); ++i) workers_.emplace_back([this] { workerLoop(false); });
  if (!limits_.priorityPaths.empty())
    for (size_t i = 0; i < std::max<size_t>(limits_.priorityWorkers, 1); ++i)
      workers_.emplace_back([this] { workerLoop(true); });
}

ManagedServer::~ManagedServer() {
  stopServing();
  ::close(epoll_);
  ::close(wake_);
  if (tls_) SSL_CTX_free(tls_);
}

bool ManagedServer::is_valid() const { return !tlsFailed_; }

bool ManagedServer::process_and_close_socket(socket_t sock) {
  int yes = 1;
  ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  auto* c = new Conn;
  c->fd = sock;
  ++open_;
  post(c, true, false);
  return true;
}

void ManagedServer::post(Conn* c, bool adopt, bool reading) {
  {
    std::lock_guard lock(mailboxMutex_);
    if (!stopped_) {
      const bool wasEmpty = mailbox_.empty();
      mailbox_.push_back({c, adopt, reading});
      if (!wasEmpty) return;  // the reactor is already woken for the others
      uint64_t one = 1;
      ssize_t ignored = ::write(wake_, &one, sizeof one);
      (void)ignored;
      return;
    }
  }
  closeConn(c);
}

void ManagedServer::handBack(Conn* c, bool reading) { post(c, false, reading); }

void ManagedServer::closeConn(Conn* c) {
  if (c->ssl) {
    // close_notify, best effort and without waiting (a non-blocking socket),
    // only where SIGPIPE cannot end the process.
    if (tlSigpipeBlocked && !c->handshaking) SSL_shutdown(c->ssl);
    ERR_clear_error();
    SSL_free(c->ssl);
  }
  ::close(c->fd);
  delete c;
  --open_;
}

void ManagedServer::unlink(Conn* c) {
  if (c->where == Conn::Where::Nowhere) return;
  (c->where == Conn::Where::Idle ? idle_ : reading_).erase(c->pos);
  c->where = Conn::Where::Nowhere;
  ::epoll_ctl(epoll_, EPOLL_CTL_DEL, c->fd, nullptr);
}

void ManagedServer::makeRoom() {
  while (open_.load() > limits_.maxConnections) {
    std::list<Conn*>& from = !idle_.empty() ? idle_ : reading_;
    if (from.empty()) return;  // every other connection is being served: the caller refuses the new one
    Conn* victim = from.front();
    unlink(victim);
    closeConn(victim);
  }
}

bool ManagedServer::handshake(Conn* c) {
  const int r = SSL_do_handshake(c->ssl);
  if (r == 1) {
    c->handshaking = false;
    c->wantWrite = false;
    return true;
  }
  const int e = sslError(c->ssl, r);
  c->wantWrite = e == SSL_ERROR_WANT_WRITE;
  return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

void ManagedServer::rearm(Conn* c) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (c->wantWrite ? EPOLLOUT : 0u);
  ev.data.ptr = c;
  ::epoll_ctl(epoll_, EPOLL_CTL_MOD, c->fd, &ev);
}

void ManagedServer::reactorLoop() {
  blockSigpipe();
  std::vector<epoll_event> events(256);
  auto watch = [this](Conn* c, Conn::Where where, Clock::time_point since) {
    auto& list = where == Conn::Where::Idle ? idle_ : reading_;
    c->where = where;
    c->since = since;
    c->pos = list.insert(list.end(), c);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (c->wantWrite ? EPOLLOUT : 0u);
    ev.data.ptr = c;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, c->fd, &ev);
  };
  for (;;) {
    // Sleep until the oldest idle connection or the oldest unfinished head is due.
    int timeout = -1;
    if (!idle_.empty()) timeout = msUntil(idle_.front()->since + limits_.idleTimeout);
    if (!reading_.empty()) {
      const int t = msUntil(reading_.front()->since + limits_.requestTimeout);
      timeout = timeout < 0 ? t : std::min(timeout, t);
    }
    const int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), timeout);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == nullptr) {
        uint64_t count;
        ssize_t ignored = ::read(wake_, &count, sizeof count);
        (void)ignored;
        continue;
      }
      onReadable(static_cast<Conn*>(events[i].data.ptr));
    }
    std::vector<Handoff> handoffs;
    bool stop = false;
    {
      std::lock_guard lock(mailboxMutex_);
      handoffs.swap(mailbox_);
      stop = stopping_.load();
      if (stop) stopped_ = true;  // later hand-overs close their connection themselves
    }
    const auto now = Clock::now();
    for (const auto& h : handoffs) {
      if (stop) {
        closeConn(h.conn);
        continue;
      }
      if (h.adopt) {
        if (open_.load() > limits_.maxConnections) makeRoom();
        if (open_.load() > limits_.maxConnections) {
          closeConn(h.conn);
          continue;
        }
        if (tls_) {
          // Non-blocking, so that OpenSSL never waits in this thread; the
          // handshake is under the request deadline from now.
          ::fcntl(h.conn->fd, F_SETFL, ::fcntl(h.conn->fd, F_GETFL) | O_NONBLOCK);
          h.conn->ssl = SSL_new(tls_);
          if (!h.conn->ssl || SSL_set_fd(h.conn->ssl, h.conn->fd) != 1) {
            ERR_clear_error();
            closeConn(h.conn);
            continue;
          }
          SSL_set_accept_state(h.conn->ssl);
          h.conn->handshaking = true;
          watch(h.conn, Conn::Where::Reading, now);
          continue;
        }
      }
      watch(h.conn, h.reading ? Conn::Where::Reading : Conn::Where::Idle, now);
    }
    if (stop) {
      for (auto* list : {&idle_, &reading_})
        while (!list->empty()) {
          Conn* c = list->front();
          unlink(c);
          closeConn(c);
        }
      return;
    }
    while (!idle_.empty() && idle_.front()->since + limits_.idleTimeout <= now) {
      Conn* c = idle_.front();
      unlink(c);
      closeConn(c);
    }
    while (!reading_.empty() && reading_.front()->since + limits_.requestTimeout <= now) {
      Conn* c = reading_.front();
      unlink(c);
      closeConn(c);
    }
  }
}

void ManagedServer::onReadable(Conn* c) {
  const bool wantedWrite = c->wantWrite;
  if (c->handshaking) {
    if (!handshake(c)) {
      unlink(c);
      return closeConn(c);
    }
    if (c->wantWrite != wantedWrite) rearm(c);
    if (c->handshaking) return;
    // Done: idle until a request's first byte (which may have come with the
    // handshake's last message, hence the read below).
    reading_.erase(c->pos);
    c->where = Conn::Where::Idle;
    c->since = Clock::now();
    c->pos = idle_.insert(idle_.end(), c);
  }
  const bool ok = c->drain();
  if (!ok) {
    unlink(c);
    return closeConn(c);
  }
  if (c->wantWrite != wantedWrite) rearm(c);
  if (c->buffered() == 0) return;  // a spurious wake-up
  if (c->where == Conn::Where::Idle) {
    // The first bytes of a request: its deadline starts now.
    idle_.erase(c->pos);
    c->where = Conn::Where::Reading;
    c->since = Clock::now();
    c->pos = reading_.insert(reading_.end(), c);
  }
  if (c->headComplete() || c->buffered() >= kMaxHeadBytes) {
    unlink(c);
    dispatch(c);
  }
}

bool ManagedServer::isPriority(const Conn& c) const {
  const std::string_view line(c.buf.data() + c.off, c.buffered());
  if (line.rfind("GET ", 0) != 0) return false;
  for (const auto& path : limits_.priorityPaths) {
    if (line.size() <= 4 + path.size() || line.compare(4, path.size(), path) != 0) continue;
    const char next = line[4 + path.size()];
    if (next == ' ' || next == '?') return true;
  }
  return false;
}

void ManagedServer::dispatch(Conn* c) {
  const bool priority = !limits_.priorityPaths.empty() && isPriority(*c);
  {
    std::lock_guard lock(queueMutex_);
    (priority ? priorityQueue_ : queue_).push_back(c);
  }
  (priority ? priorityCv_ : queueCv_).notify_one();
}

void ManagedServer::workerLoop(bool priority) {
  blockSigpipe();
  auto& queue = priority ? priorityQueue_ : queue_;
  auto& cv = priority ? priorityCv_ : queueCv_;
  for (;;) {
    Conn* c = nullptr;
    {
      std::unique_lock lock(queueMutex_);
      cv.wait(lock, [&] { return stopping_.load() || !queue.empty(); });
      if (queue.empty()) return;  // stopping
      c = queue.front();
      queue.pop_front();
    }
    if (stopping_) {
      closeConn(c);  // accepted but not started: closed, as httplib's own pool does on stop
      continue;
    }
    serve(c);
  }
}

bool ManagedServer::reserve(size_t bytes) {
  size_t now = inflightBytes_.load();
  do {
    if (now + bytes > limits_.maxInflightBytes) return false;
  } while (!inflightBytes_.compare_exchange_weak(now, now + bytes));
  return true;
}

ManagedServer::Refusal ManagedServer::refusal() {
  if (!tlRequest) return Refusal::None;
  if (tlRequest->tooLarge) return Refusal::TooLarge;
  return tlRequest->refused || tlRequest->cutOff ? Refusal::OverBudget : Refusal::None;
}

void ManagedServer::serve(Conn* c) {
  const int writeTimeoutMs = static_cast<int>(write_timeout_sec_ * 1000 + write_timeout_usec_ / 1000);
  const bool budget = limits_.maxInflightBytes > 0;
  for (;;) {
    bool closed = false;
    DeadlineStream stream(*c, Clock::now() + limits_.requestTimeout, writeTimeoutMs, budget ? this : nullptr);
    RequestState state;
    state.maxBody = payload_max_length_;
    tlRequest = &state;
    // After the head is parsed, before routing (and the body).
    auto setup = [&](httplib::Request& req) {
      bodylessMeansEmpty(req);
      if (!budget) return;
      if (req.has_header("Transfer-Encoding")) {
        state.countBody = true;
        return;
      }
      const std::string length = req.get_header_value("Content-Length");
      const size_t bytes = std::strtoull(length.c_str(), nullptr, 10);
      if (bytes == 0 || bytes > payload_max_length_) return;  // httplib answers 413 without reading it
      if (reserve(bytes)) {
        state.reserved = bytes;
      } else {
        state.refused = true;
        state.discard = bytes;
      }
    };
    bool ok = process_request(stream, stopping_.load(), closed, setup);
    tlRequest = nullptr;
    inflightBytes_ -= state.reserved;
    char scratch[16 * 1024];
    if (state.cutOff) {
      // Close only after the client sent the rest (until the request deadline):
      // closing with unread bytes would reset the connection, and the client
      // might lose the 503 it has not read yet.
      ::shutdown(c->fd, SHUT_WR);
      while (stream.read(scratch, sizeof scratch) > 0) {
      }
      return closeConn(c);
    }
    // A refused body was never read: throw it away, so that the connection
    // can carry the next request (and the client reads its 503 rather than a reset).
    while (ok && state.discard > 0) {
      const ssize_t n = stream.read(scratch, std::min(sizeof scratch, state.discard));
      if (n <= 0) ok = false;
      else state.discard -= static_cast<size_t>(n);
    }
    if (!ok || closed || stopping_) return closeConn(c);
    c->scanned = c->off;  // what follows is the next request
    if (c->headComplete()) continue;  // pipelined
    // Decrypted bytes of the next request that OpenSSL holds: poll() cannot see them.
    if (c->buffered() == 0 && c->sslPending() && !c->drain()) return closeConn(c);
    // Stay a moment for the next request: a busy client sends it right away.
    if (c->buffered() == 0 && waitFor(c->fd, POLLIN, static_cast<int>(limits_.linger.count())) > 0 &&
        !c->drain())
      return closeConn(c);
    if (c->buffered() > 0 && c->headComplete()) continue;
    return handBack(c, c->buffered() > 0);
  }
}

void ManagedServer::stopServing() {
  if (stopping_.exchange(true)) {
    // A second call (the destructor after stop()): the threads are joined already.
  } else {
    uint64_t one = 1;
    ssize_t ignored = ::write(wake_, &one, sizeof one);
    (void)ignored;
    {
      std::lock_guard lock(queueMutex_);  // no worker between its check and its wait
    }
    queueCv_.notify_all();
    priorityCv_.notify_all();
  }
  if (reactor_.joinable()) reactor_.join();
  for (auto& w : workers_)
    if (w.joinable()) w.join();
  // Connections queued for a worker when the workers stopped.
  std::lock_guard lock(queueMutex_);
  for (auto* q : {&queue_, &priorityQueue_})
    while (!q->empty()) {
      closeConn(q->front());
      q->pop_front();
    }
}

}  // namespace tributary
