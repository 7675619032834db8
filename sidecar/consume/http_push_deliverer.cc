#include <httplib.h>

#include <condition_variable>
#include <ctime>
#include <deque>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/codec/base64.h"
#include "common/codec/json_text.h"
#include "common/codec/utf8.h"
#include "common/tracing/trace_context.h"
#include "sidecar/consume/deliverer.h"

namespace tributary::sidecar {
namespace {

// Fit for an HTTP header value as is: UTF-8 without control characters.
bool isText(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return isValidUtf8(s);
}

std::string rfc3339(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

class HttpPushDeliverer final : public Deliverer {
 public:
  HttpPushDeliverer(const std::string& endpoint, std::chrono::milliseconds timeout, int workers,
                    std::string source, int batchSize, const std::vector<std::pair<std::string, std::string>>& headers)
      : timeout_(timeout), source_(std::move(source)), batchSize_(static_cast<size_t>(std::max(1, batchSize))) {
    for (const auto& [name, value] : headers) extraHeaders_.emplace(name, value);
    const auto schemeEnd = endpoint.find("://");
    const auto pathStart = endpoint.find('/', schemeEnd == std::string::npos ? 0 : schemeEnd + 3);
    base_ = endpoint.substr(0, pathStart);
    path_ = pathStart == std::string::npos ? "/" : endpoint.substr(pathStart);
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
  }

  ~HttpPushDeliverer() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  void deliver(std::shared_ptr<const ConsumedRecord> record, int attempt, Done done) override {
    bool wake;
    {
      std::lock_guard lock(mutex_);
      // A worker is woken when records start waiting, and for each further
      // full batch; records arriving meanwhile join the batch of the worker
      // already woken (or of the next one to finish), so batches fill under
      // load without ever waiting for it.
      wake = jobs_.empty() || jobs_.size() + 1 >= batchSize_;
      // A caller that flushes (see Deliverer::flush) gets batches of the
      // whole round: a worker is woken per full batch here, and once for the
      // rest in flush(), not for the round's first record.
      if (flushing_ && batchSize_ > 1) wake = (jobs_.size() + 1) % batchSize_ == 0;
      jobs_.push_back({std::move(record), attempt, std::move(done)});
    }
    if (wake) cv_.notify_one();
  }

  void flush() override {
    bool wake;
    {
      std::lock_guard lock(mutex_);
      flushing_ = true;
      wake = batchSize_ > 1 && jobs_.size() % batchSize_ != 0;
    }
    if (wake) cv_.notify_one();
  }

 private:
  struct Job {
    std::shared_ptr<const ConsumedRecord> record;
    int attempt;
    Done done;
  };

  void work() {
    httplib::Client client(base_);
    client.set_tcp_nodelay(true);
    client.set_keep_alive(true);
    const auto secs = timeout_.count() / 1000;
    const auto usecs = (timeout_.count() % 1000) * 1000;
    client.set_connection_timeout(secs, usecs);
    client.set_read_timeout(secs, usecs);
    client.set_write_timeout(secs, usecs);
    if (!extraHeaders_.empty()) client.set_default_headers(extraHeaders_);
    std::vector<Job> batch;
    while (true) {
      batch.clear();
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
        // Jobs left at shutdown are still answered, so every record is accounted for.
        if (jobs_.empty()) return;
        // Whatever is waiting, up to batchSize: a batch never waits to fill.
        while (!jobs_.empty() && batch.size() < batchSize_) {
          batch.push_back(std::move(jobs_.front()));
          jobs_.pop_front();
        }
        // More left: another worker may take them now.
        if (!jobs_.empty()) cv_.notify_one();
      }
      if (batchSize_ == 1) {
        batch.front().done(attempt(client, *batch.front().record, batch.front().attempt));
        continue;
      }
      // One answer settles the attempt of every record in the batch.
      const AttemptResult result = attemptBatch(client, batch);
      for (auto& job : batch) job.done(result);
    }
  }

  AttemptResult attemptBatch(httplib::Client& client, const std::vector<Job>& batch) {
    std::vector<std::pair<const ConsumedRecord*, int>> records;
    records.reserve(batch.size());
    for (const auto& job : batch) records.emplace_back(job.record.get(), job.attempt);
    const auto start = std::chrono::steady_clock::now();
    auto res = client.Post(path_.c_str(), cloudEventBatch(records, source_), "application/cloudevents-batch+json");
    return classify(res, start);
  }

  AttemptResult attempt(httplib::Client& client, const ConsumedRecord& r, int attempt) {
    httplib::Headers headers;
    std::string contentType;
    for (auto& [k, v] : cloudEventHeaders(r, attempt, source_)) {
      if (k == "Content-Type") contentType = v;
      else headers.emplace(k, v);
    }
    const auto start = std::chrono::steady_clock::now();
    auto res = client.Post(path_.c_str(), headers, r.value.value_or(""), contentType.c_str());
    return classify(res, start);
  }

  AttemptResult classify(const httplib::Result& res, std::chrono::steady_clock::time_point start) {
    AttemptResult out;
    out.took = std::chrono::steady_clock::now() - start;
    if (!res) {
      out.outcome = AttemptOutcome::Retryable;
      out.error = "no HTTP answer from " + base_ + path_ + ": " + httplib::to_string(res.error());
      return out;
    }
    out.httpStatus = res->status;
    out.outcome = classifyHttpStatus(res->status);
    if (out.outcome != AttemptOutcome::Delivered) {
      out.error = "HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 512);
      if (res->has_header("Retry-After"))
        out.retryAfter = parseRetryAfter(res->get_header_value("Retry-After"), std::time(nullptr));
    }
    return out;
  }

  const std::chrono::milliseconds timeout_;
  const std::string source_;
  httplib::Headers extraHeaders_;  // sent with every request
  const size_t batchSize_;
  std::string base_;
  std::string path_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;  // guarded by mutex_
  bool stopping_ = false; // guarded by mutex_
  bool flushing_ = false; // guarded by mutex_
  std::vector<std::thread> threads_;
};

}  // namespace

namespace {

// The record's CloudEvents context attributes, by name: binary mode sends each
// as the header ce-<name>, a batch as a member of the event.
std::vector<std::pair<std::string, std::string>> contextAttributes(const ConsumedRecord& r, int attempt,
                                                                   const std::string& source) {
  std::vector<std::pair<std::string, std::string>> a = {
      {"specversion", "1.0"},
      {"id", r.tp.topic + "-" + std::to_string(r.tp.partition) + "-" + std::to_string(r.offset) +
                 (r.output > 0 ? "-" + std::to_string(r.output) : std::string())},
      {"source", source + "/" + r.tp.topic},
      {"type", "dev.tributary.kafka.record"},
      {"partition", std::to_string(r.tp.partition)},
      {"offset", std::to_string(r.offset)},
      {"tributaryattempt", std::to_string(attempt)},
  };
  if (r.timestampMs >= 0) a.emplace_back("time", rfc3339(r.timestampMs));
  if (r.key) {
    if (isText(*r.key)) {
      a.emplace_back("key", *r.key);
    } else {
      a.emplace_back("key", base64Encode(*r.key));
      a.emplace_back("keyencoding", "base64");
    }
  }
  return a;
}

// A `content-type` record header, else by whether the value is JSON.
// `valueIsJson` is asked only when no content-type header says it.
template <typename IsJson>
std::string contentTypeOf(const ConsumedRecord& r, IsJson valueIsJson) {
  const std::string* header = nullptr;
  for (const auto& [name, value] : r.headers)
    if (name == "content-type") header = &value;  // the last one, if repeated
  if (header) return *header;
  return valueIsJson() ? "application/json" : "application/octet-stream";
}

}  // namespace

std::vector<std::pair<std::string, std::string>> cloudEventHeaders(const ConsumedRecord& r, int attempt,
                                                                  const std::string& source) {
  std::vector<std::pair<std::string, std::string>> h;
  for (auto& [name, value] : contextAttributes(r, attempt, source))
    // The attempt is not a CloudEvents attribute in binary mode: a header of its own.
    h.emplace_back(name == "tributaryattempt" ? "Tributary-Attempt" : "ce-" + name, std::move(value));
  for (const auto& [name, value] : r.headers)
    // Header values must be text on the wire; anything else travels as base64.
    h.emplace_back("Kafka-Header-" + name, isText(value) ? value : base64Encode(value));
  // W3C trace context, for tracing libraries (which read `traceparent`, not
  // Kafka-Header-traceparent) and as the CloudEvents distributed-tracing extension.
  if (auto trace = tracing::fromRecordHeaders(r.headers)) {
    const std::string traceparent = tracing::formatTraceparent(*trace);
    h.emplace_back("traceparent", traceparent);
    h.emplace_back("ce-traceparent", traceparent);
    if (!trace->traceState.empty()) {
      h.emplace_back("tracestate", trace->traceState);
      h.emplace_back("ce-tracestate", trace->traceState);
    }
  }
  h.emplace_back("Content-Type", contentTypeOf(r, [&] { return r.value && isJsonText(*r.value); }));
  return h;
}

std::string cloudEventBatch(const std::vector<std::pair<const ConsumedRecord*, int>>& recordsAndAttempts,
                            const std::string& source) {
  // Structured-mode CloudEvents with the attributes of binary mode (extension
  // attributes are strings, as they are in headers). Record headers have no
  // CloudEvents attribute of their own: they travel in "tributaryheaders" as
  // [{"name", "value" | "valueBase64"}], in order, duplicates kept.
  //
  // Written as text, without a JSON tree per record: the members in the order
  // a JSON object of the library prints them (by name), so the bytes are what
  // they were when each event was built as a tree; strings escaped by
  // appendJsonString (invalid UTF-8 replaced: Kafka does not check header names).
  std::string out = "[";
  auto member = [&out](const char* name, std::string_view value) {
    out += '"';
    out += name;
    out += "\":";
    appendJsonString(out, value);
    out += ',';
  };
  for (const auto& [r, attempt] : recordsAndAttempts) {
    if (out.size() > 1) out += ',';
    out += '{';
    // The value is checked once, for "data" and for the content type, and a JSON
    // value is embedded as the bytes it is in Kafka (not parsed and printed again).
    const bool isJson = r->value && isJsonText(*r->value);
    if (r->value && !isJson) member("data_base64", base64Encode(*r->value));
    member("datacontenttype", contentTypeOf(*r, [&] { return isJson; }));
    const std::string partition = std::to_string(r->tp.partition);
    const std::string offset = std::to_string(r->offset);
    member("id", r->tp.topic + "-" + partition + "-" + offset);
    if (r->key) {
      if (isText(*r->key)) {
        member("key", *r->key);
      } else {
        member("key", base64Encode(*r->key));
        member("keyencoding", "base64");
      }
    }
    member("offset", offset);
    member("partition", partition);
    member("source", source + "/" + r->tp.topic);
    member("specversion", "1.0");
    if (r->timestampMs >= 0) member("time", rfc3339(r->timestampMs));
    // The CloudEvents distributed-tracing extension, per event: a batch mixes traces.
    const auto trace = tracing::fromRecordHeaders(r->headers);
    if (trace) {
      member("traceparent", tracing::formatTraceparent(*trace));
      if (!trace->traceState.empty()) member("tracestate", trace->traceState);
    }
    member("tributaryattempt", std::to_string(attempt));
    if (!r->headers.empty()) {
      out += "\"tributaryheaders\":[";
      bool first = true;
      for (const auto& [name, value] : r->headers) {
        if (!first) out += ',';
        first = false;
        out += "{\"name\":";
        appendJsonString(out, name);
        if (isValidUtf8(value)) {
          out += ",\"value\":";
          appendJsonString(out, value);
        } else {
          out += ",\"valueBase64\":";
          appendJsonString(out, base64Encode(value));
        }
        out += '}';
      }
      out += "],";
    }
    member("type", "dev.tributary.kafka.record");
    out.pop_back();  // the last member's ','
    if (isJson) {
      out += R"(,"data":)";
      out += *r->value;
    }
    out += '}';
  }
  out += ']';
  return out;
}

std::unique_ptr<Deliverer> makeHttpPushDeliverer(const std::string& endpoint, std::chrono::milliseconds timeout,
                                                 int workers, const std::string& source, int batchSize,
                                                 const std::vector<std::pair<std::string, std::string>>& headers) {
  return std::make_unique<HttpPushDeliverer>(endpoint, timeout, workers, source, batchSize, headers);
}

}  // namespace tributary::sidecar
