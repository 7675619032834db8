#include "operator/kube/curl_kube_client.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include <deque>
#include <fstream>
#include <sstream>

#include "common/log/log.h"

namespace tributary::op::kube {

using Clock = std::chrono::steady_clock;

struct CurlKubeClient::Request {
  const char* verb;    // for metrics: get, list, create, update, patch, delete
  std::string method;  // HTTP method
  std::string target;  // path and query
  std::string body;
  std::string contentType;  // "" = no body
  std::string accept = "application/json";
};

namespace {

std::once_flag curlGlobalInit;

size_t appendToString(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t readRetryAfter(char* data, size_t size, size_t n, void* user) {
  std::string line(data, size * n);
  const std::string name = "retry-after:";
  if (line.size() > name.size()) {
    std::string head = line.substr(0, name.size());
    for (auto& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (head == name) {
      try {
        *static_cast<int*>(user) = std::stoi(line.substr(name.size()));
      } catch (const std::exception&) {
        // An HTTP-date Retry-After: ignore, callers back off on their own.
      }
    }
  }
  return size * n;
}

std::string trimmed(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(s.find_last_not_of(ws) + 1);
  s.erase(0, s.find_first_not_of(ws));
  return s;
}

// An error answer as an ApiError, with the Status's reason and message when
// the body is one (it is, from any real API server).
ApiError errorFrom(long status, const std::string& body, int retryAfter) {
  std::string reason, message;
  Json j = Json::parse(body, nullptr, false);
  if (j.is_object() && j.value("kind", "") == "Status") {
    reason = j.value("reason", "");
    message = j.value("message", "");
  }
  if (message.empty()) message = body.empty() ? "HTTP " + std::to_string(status) : body.substr(0, 512);
  int code = static_cast<int>(status);
  return ApiError(ApiError::kindFor(code, reason), code, reason, message, retryAfter);
}

Json parseBody(const std::string& body) {
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded()) throw ApiError(ApiError::Kind::ServerError, 200, "", "the server answered with invalid JSON");
  return j;
}

// A watch response read with the multi interface, driven by the thread that
// calls next(): no thread of its own, and cancel() wakes a blocked poll.
class CurlWatchStream : public WatchStream {
 public:
  CurlWatchStream(CURL* easy, curl_slist* headers, std::chrono::milliseconds silence,
                  prometheus::Family<prometheus::Counter>& requests)
      : easy_(easy), headers_(headers), silence_(silence), requests_(requests) {
    curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &CurlWatchStream::onData);
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, errorBuffer_);
    multi_ = curl_multi_init();
    curl_multi_add_handle(multi_, easy_);
    lastByte_ = Clock::now();
  }

  ~CurlWatchStream() override {
    curl_multi_remove_handle(multi_, easy_);
    curl_easy_cleanup(easy_);
    curl_multi_cleanup(multi_);
    curl_slist_free_all(headers_);
  }

  // Drives the transfer until the status line arrived; throws ApiError for an
  // error answer or a connection that could not be made.
  void awaitStatus(std::chrono::milliseconds limit) {
    auto deadline = Clock::now() + limit;
    while (true) {
      pump(std::chrono::milliseconds(100));
      long code = 0;
      curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &code);
      if (done_ && transportError_ != CURLE_OK) {
        requests_.Add({{"verb", "watch"}, {"code", "error"}}).Increment();
        throw ApiError(ApiError::Kind::Unavailable, 0, "", transportMessage());
      }
      if (code != 0 && (code == 200 || done_)) {
        requests_.Add({{"verb", "watch"}, {"code", std::to_string(code)}}).Increment();
        if (code != 200) throw errorFrom(code, errorBody_, 0);
        return;
      }
      if (Clock::now() >= deadline) {
        requests_.Add({{"verb", "watch"}, {"code", "error"}}).Increment();
        throw ApiError(ApiError::Kind::Unavailable, 0, "", "no answer to the watch request in time");
      }
    }
  }

  Status next(std::chrono::milliseconds timeout, WatchEvent& out) override {
    auto deadline = Clock::now() + timeout;
    bool pumped = false;
    while (true) {
      if (!events_.empty()) {
        out = std::move(events_.front());
        events_.pop_front();
        return Status::Event;
      }
      if (done_ || cancelled_.load()) return Status::Ended;
      auto now = Clock::now();
      if (now - lastByte_ >= silence_) {
        // Bytes that arrived while nobody called next() are not silence: read first.
        if (!pumped) {
          pump(std::chrono::milliseconds(0));
          pumped = true;
          continue;
        }
        log::warn("kube: watch went silent, ending it", {{"silenceMs", std::to_string(silence_.count())}});
        done_ = true;
        return Status::Ended;
      }
      if (now >= deadline && pumped) return Status::Timeout;
      auto until = std::min(deadline, lastByte_ + silence_);
      pump(std::max(std::chrono::duration_cast<std::chrono::milliseconds>(until - now), std::chrono::milliseconds(0)) +
           std::chrono::milliseconds(1));
      pumped = true;
    }
  }

  void cancel() override {
    cancelled_.store(true);
    curl_multi_wakeup(multi_);
  }

 private:
  void pump(std::chrono::milliseconds wait) {
    int running = 0;
    curl_multi_perform(multi_, &running);
    if (running > 0 && events_.empty() && !cancelled_.load()) {
      curl_multi_poll(multi_, nullptr, 0, static_cast<int>(std::max<int64_t>(wait.count(), 0)), nullptr);
      curl_multi_perform(multi_, &running);
    }
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
      if (msg->msg == CURLMSG_DONE) {
        done_ = true;
        transportError_ = msg->data.result;
        if (transportError_ != CURLE_OK && !failed_)
          log::info("kube: watch stream ended", {{"error", transportMessage()}});
      }
    }
  }

  std::string transportMessage() const {
    return errorBuffer_[0] != '\0' ? std::string(errorBuffer_) : std::string(curl_easy_strerror(transportError_));
  }

  static size_t onData(char* data, size_t size, size_t n, void* user) {
    auto* self = static_cast<CurlWatchStream*>(user);
    size_t len = size * n;
    self->lastByte_ = Clock::now();
    long code = 0;
    curl_easy_getinfo(self->easy_, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200) {
      self->errorBody_.append(data, len);
      return len;
    }
    self->buffer_.append(data, len);
    size_t start = 0;
    while (true) {
      size_t nl = self->buffer_.find('\n', start);
      if (nl == std::string::npos) break;
      std::string line = self->buffer_.substr(start, nl - start);
      start = nl + 1;
      if (trimmed(line).empty()) continue;
      if (!self->parseLine(line)) {
        self->failed_ = true;
        return 0;  // aborts the transfer: the caller re-watches
      }
    }
    self->buffer_.erase(0, start);
    return len;
  }

  bool parseLine(const std::string& line) {
    Json j = Json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
      log::warn("kube: unreadable watch event, ending the stream", {{"line", line.substr(0, 200)}});
      return false;
    }
    WatchEvent ev;
    const std::string type = j["type"].get<std::string>();
    if (type == "ADDED") ev.type = WatchEvent::Type::Added;
    else if (type == "MODIFIED") ev.type = WatchEvent::Type::Modified;
    else if (type == "DELETED") ev.type = WatchEvent::Type::Deleted;
    else if (type == "BOOKMARK") ev.type = WatchEvent::Type::Bookmark;
    else if (type == "ERROR") ev.type = WatchEvent::Type::Error;
    else return false;
    ev.object = j.contains("object") ? std::move(j["object"]) : Json::object();
    events_.push_back(std::move(ev));
    return true;
  }

  CURL* easy_;
  CURLM* multi_;
  curl_slist* headers_;
  const std::chrono::milliseconds silence_;
  prometheus::Family<prometheus::Counter>& requests_;
  std::atomic<bool> cancelled_{false};
  bool done_ = false;
  bool failed_ = false;
  CURLcode transportError_ = CURLE_OK;
  Clock::time_point lastByte_;
  std::string buffer_;
  std::string errorBody_;
  char errorBuffer_[CURL_ERROR_SIZE] = {0};
  std::deque<WatchEvent> events_;
};

}  // namespace

KubeClientMetrics::KubeClientMetrics(prometheus::Registry& registry)
    : requests(prometheus::BuildCounter()
                   .Name("tributary_operator_api_requests_total")
                   .Help("Kubernetes API requests by verb and HTTP status code (\"error\": no answer)")
                   .Register(registry)) {}

CurlKubeClient::CurlKubeClient(ClusterConnection connection, prometheus::Registry& registry,
                               CurlClientOptions options)
    : connection_(std::move(connection)), options_(std::move(options)), metrics_(registry) {
  std::call_once(curlGlobalInit, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  token_ = connection_.token;
}

CurlKubeClient::~CurlKubeClient() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* CurlKubeClient::acquireHandle() {
  {
    std::lock_guard lock(poolMu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      // Reset drops options but keeps the connection cache: keep-alive survives.
      curl_easy_reset(static_cast<CURL*>(h));
      return h;
    }
  }
  return curl_easy_init();
}

void CurlKubeClient::releaseHandle(void* easy) {
  std::lock_guard lock(poolMu_);
  if (idle_.size() < options_.poolSize) {
    idle_.push_back(easy);
    return;
  }
  curl_easy_cleanup(static_cast<CURL*>(easy));
}

std::string CurlKubeClient::bearerToken() {
  std::lock_guard lock(tokenMu_);
  if (connection_.tokenFile.empty()) return token_;
  struct stat st {};
  if (::stat(connection_.tokenFile.c_str(), &st) != 0) return token_;  // keep the last one we read
  int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  if (mtime != tokenMtimeNs_ || st.st_size != tokenSize_) {
    std::ifstream in(connection_.tokenFile, std::ios::binary);
    if (in) {
      std::ostringstream ss;
      ss << in.rdbuf();
      token_ = trimmed(ss.str());
      tokenMtimeNs_ = mtime;
      tokenSize_ = st.st_size;
    }
  }
  return token_;
}

void CurlKubeClient::configure(void* handle, const std::string& target, curl_slist** headers,
                               const std::string& contentType, const std::string& accept) {
  CURL* easy = static_cast<CURL*>(handle);
  std::string server = connection_.server;
  while (!server.empty() && server.back() == '/') server.pop_back();
  curl_easy_setopt(easy, CURLOPT_URL, (server + target).c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, options_.userAgent.c_str());
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connectTimeout.count()));

  if (connection_.insecureSkipTlsVerify) {
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!connection_.caFile.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, connection_.caFile.c_str());
  if (!connection_.caData.empty()) {
    curl_blob blob{const_cast<char*>(connection_.caData.data()), connection_.caData.size(), CURL_BLOB_COPY};
    curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &blob);
  }
  if (!connection_.clientCertFile.empty()) curl_easy_setopt(easy, CURLOPT_SSLCERT, connection_.clientCertFile.c_str());
  if (!connection_.clientCertData.empty()) {
    curl_blob blob{const_cast<char*>(connection_.clientCertData.data()), connection_.clientCertData.size(),
                   CURL_BLOB_COPY};
    curl_easy_setopt(easy, CURLOPT_SSLCERT_BLOB, &blob);
    curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
  }
  if (!connection_.clientKeyFile.empty()) curl_easy_setopt(easy, CURLOPT_SSLKEY, connection_.clientKeyFile.c_str());
  if (!connection_.clientKeyData.empty()) {
    curl_blob blob{const_cast<char*>(connection_.clientKeyData.data()), connection_.clientKeyData.size(),
                   CURL_BLOB_COPY};
    curl_easy_setopt(easy, CURLOPT_SSLKEY_BLOB, &blob);
    curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
  }

  *headers = curl_slist_append(*headers, ("Accept: " + accept).c_str());
  if (!contentType.empty()) *headers = curl_slist_append(*headers, ("Content-Type: " + contentType).c_str());
  std::string token = bearerToken();
  if (!token.empty()) *headers = curl_slist_append(*headers, ("Authorization: Bearer " + token).c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, *headers);
}

CurlKubeClient::Answer CurlKubeClient::perform(const Request& request) {
  CURL* easy = static_cast<CURL*>(acquireHandle());
  if (easy == nullptr) throw ApiError(ApiError::Kind::Unavailable, 0, "", "curl_easy_init failed");
  curl_slist* headers = nullptr;
  configure(easy, request.target, &headers, request.contentType, request.accept);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.requestTimeout.count()));
  if (request.method == "GET") {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (!request.contentType.empty()) {
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
    }
  }
  Answer answer;
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &appendToString);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &answer.body);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &readRetryAfter);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &answer.retryAfterSeconds);
  char errorBuffer[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errorBuffer);
  CURLcode rc = curl_easy_perform(easy);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, nullptr);  // the buffer dies with this frame
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    releaseHandle(easy);
    metrics_.requests.Add({{"verb", request.verb}, {"code", "error"}}).Increment();
    // Any failure without an HTTP answer (refused, reset, TLS, timed out) is
    // Unavailable: the caller retries with backoff; the message says which.
    std::string what = errorBuffer[0] != '\0' ? errorBuffer : curl_easy_strerror(rc);
    throw ApiError(ApiError::Kind::Unavailable, 0, "", what + " (" + request.method + " " + request.target + ")");
  }
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &answer.status);
  releaseHandle(easy);
  metrics_.requests.Add({{"verb", request.verb}, {"code", std::to_string(answer.status)}}).Increment();
  return answer;
}

CurlKubeClient::Answer CurlKubeClient::send(const std::string& method, const std::string& target,
                                            const std::string& body, const std::string& contentType,
                                            const std::string& accept) {
  Request request{"raw", method, target, body, contentType, accept};
  return perform(request);
}

Json CurlKubeClient::call(const Request& request) {
  Answer answer = perform(request);
  if (answer.status < 200 || answer.status >= 300) throw errorFrom(answer.status, answer.body, answer.retryAfterSeconds);
  return parseBody(answer.body);
}

namespace {
std::string nameOf(const Json& object) {
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].contains("name") ||
      !object["metadata"]["name"].is_string())
    throw ApiError(ApiError::Kind::Invalid, 0, "", "the object has no metadata.name");
  return object["metadata"]["name"].get<std::string>();
}
}  // namespace

Json CurlKubeClient::get(const ResourceRef& resource, const std::string& ns, const std::string& name) {
  return call({"get", "GET", resource.objectPath(ns, name), "", ""});
}

Json CurlKubeClient::getSubresource(const ResourceRef& resource, const std::string& ns, const std::string& name,
                                    const std::string& subresource) {
  return call({"get", "GET", resource.objectPath(ns, name, subresource), "", ""});
}

Json CurlKubeClient::updateSubresource(const ResourceRef& resource, const std::string& ns, const std::string& name,
                                       const std::string& subresource, const Json& body) {
  return call({"update", "PUT", resource.objectPath(ns, name, subresource), body.dump(), "application/json"});
}

Json CurlKubeClient::getNonResource(const std::string& path) { return call({"get", "GET", path, "", ""}); }

ListResult CurlKubeClient::list(const ResourceRef& resource, const std::string& ns, const ListOptions& options) {
  Json body = call({"list", "GET", resource.collectionPath(ns) + listQuery(options), "", ""});
  ListResult out;
  if (body.contains("items") && body["items"].is_array()) {
    out.items.reserve(body["items"].size());
    for (auto& item : body["items"]) out.items.push_back(std::move(item));
  }
  const Json& meta = body.contains("metadata") ? body["metadata"] : Json::object();
  out.resourceVersion = meta.value("resourceVersion", "");
  out.continueToken = meta.value("continue", "");
  return out;
}

Json CurlKubeClient::create(const ResourceRef& resource, const std::string& ns, const Json& object) {
  return call({"create", "POST", resource.collectionPath(ns), object.dump(), "application/json"});
}

Json CurlKubeClient::update(const ResourceRef& resource, const std::string& ns, const Json& object) {
  return call({"update", "PUT", resource.objectPath(ns, nameOf(object)), object.dump(), "application/json"});
}

Json CurlKubeClient::updateStatus(const ResourceRef& resource, const std::string& ns, const Json& object) {
  return call({"update", "PUT", resource.objectPath(ns, nameOf(object), "status"), object.dump(), "application/json"});
}

Json CurlKubeClient::patch(const ResourceRef& resource, const std::string& ns, const std::string& name,
                           const Json& mergePatch, bool statusSubresource) {
  return call({"patch", "PATCH", resource.objectPath(ns, name, statusSubresource ? "status" : ""), mergePatch.dump(),
               "application/merge-patch+json"});
}

std::optional<Json> CurlKubeClient::remove(const ResourceRef& resource, const std::string& ns, const std::string& name,
                                           const DeleteOptions& options) {
  Json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (options.preconditionUid) body["preconditions"]["uid"] = *options.preconditionUid;
  if (options.preconditionResourceVersion) body["preconditions"]["resourceVersion"] = *options.preconditionResourceVersion;
  if (!options.propagationPolicy.empty()) body["propagationPolicy"] = options.propagationPolicy;
  Json answer = call({"delete", "DELETE", resource.objectPath(ns, name), body.dump(), "application/json"});
  if (answer.is_object() && answer.value("kind", "") == "Status") return std::nullopt;
  return answer;
}

std::unique_ptr<WatchStream> CurlKubeClient::watch(const ResourceRef& resource, const std::string& ns,
                                                   const WatchOptions& options) {
  const std::string query = watchQuery(options);
  CURL* easy = curl_easy_init();
  if (easy == nullptr) throw ApiError(ApiError::Kind::Unavailable, 0, "", "curl_easy_init failed");
  curl_slist* headers = nullptr;
  configure(easy, resource.collectionPath(ns) + query, &headers, "");
  curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  // No CURLOPT_TIMEOUT: a watch lasts as long as the server keeps it; silence ends it instead.
  auto stream = std::make_unique<CurlWatchStream>(easy, headers, options_.watchSilenceTimeout, metrics_.requests);
  stream->awaitStatus(options_.connectTimeout + options_.requestTimeout);
  return stream;
}

}  // namespace tributary::op::kube
