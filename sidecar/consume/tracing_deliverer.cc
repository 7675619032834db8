#include "sidecar/consume/tracing_deliverer.h"

#include <mutex>
#include <set>
#include <unordered_map>

namespace tributary::sidecar {
namespace {

using tracing::ActiveSpan;
using tracing::Span;

// server.address / server.port of an http(s):// endpoint (HTTP semantic conventions).
void serverOf(const std::string& url, std::string& host, int64_t& port) {
  const auto schemeEnd = url.find("://");
  const bool https = url.rfind("https://", 0) == 0;
  const size_t start = schemeEnd == std::string::npos ? 0 : schemeEnd + 3;
  std::string authority = url.substr(start, url.find('/', start) - start);
  port = https ? 443 : 80;
  const auto colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
    port = std::atoll(authority.c_str() + colon + 1);
    authority.resize(colon);
  }
  if (authority.size() > 1 && authority.front() == '[') authority = authority.substr(1, authority.size() - 2);
  host = authority;
}

struct Shared {
  std::mutex mutex;
  // The copy handed to the inner deliverer → the runner's original, so that
  // withdraw() gives back what the runner knows. Guarded by mutex.
  std::unordered_map<const ConsumedRecord*, std::shared_ptr<const ConsumedRecord>> originals;
};

class TracingDeliverer final : public Deliverer {
 public:
  TracingDeliverer(Deliverer& inner, tracing::Tracer& tracer, const SubscriptionConfig& sub)
      : inner_(inner), tracer_(tracer), push_(sub.mode == SubscriptionConfig::Mode::Push), subscription_(sub.name),
        group_(sub.group), endpoint_(sub.endpoint) {
    if (push_) serverOf(endpoint_, host_, port_);
  }

  void deliver(std::shared_ptr<const ConsumedRecord> record, int attempt, Done done) override {
    const std::optional<tracing::TraceContext> parent = tracing::fromRecordHeaders(record->headers);
    const std::string& topic = record->tp.topic;
    ActiveSpan span = tracer_.start((push_ ? "process " : "receive ") + topic, Span::Kind::Consumer, parent);
    if (!span.recording) return inner_.deliver(std::move(record), attempt, std::move(done));
    messagingAttributes(span.span, *record, attempt);
    std::optional<ActiveSpan> client;
    if (push_) client = tracer_.start("POST", Span::Kind::Client, span.context());
    // The app continues the trace from the innermost span.
    const tracing::TraceContext toApp = client ? client->context() : span.context();

    auto copy = std::make_shared<ConsumedRecord>(*record);
    bool replaced = false;
    for (auto& [name, value] : copy->headers)
      if (name == "traceparent") {
        value = tracing::formatTraceparent(toApp);
        replaced = true;
      }
    if (!replaced) copy->headers.emplace_back("traceparent", tracing::formatTraceparent(toApp));
    {
      std::lock_guard lock(shared_->mutex);
      shared_->originals.emplace(copy.get(), std::move(record));
    }
    const ConsumedRecord* key = copy.get();
    inner_.deliver(std::move(copy), attempt,
                   [shared = shared_, tracer = &tracer_, key, span = std::move(span), client = std::move(client),
                    push = push_, url = endpoint_, host = host_, port = port_,
                    done = std::move(done)](AttemptResult result) mutable {
                     {
                       std::lock_guard lock(shared->mutex);
                       shared->originals.erase(key);
                     }
                     finish(*tracer, span, client, push, url, host, port, result);
                     done(std::move(result));
                   });
  }

  std::vector<std::shared_ptr<const ConsumedRecord>> withdraw(const std::vector<TopicPartition>& partitions) override {
    auto copies = inner_.withdraw(partitions);
    std::vector<std::shared_ptr<const ConsumedRecord>> out;
    out.reserve(copies.size());
    std::lock_guard lock(shared_->mutex);
    for (const auto& c : copies) {
      // A withdrawn attempt never reached the app: its spans are not exported
      // (they end with the done wrapper, which is now never called).
      auto it = shared_->originals.find(c.get());
      if (it == shared_->originals.end()) {
        out.push_back(c);  // not one of ours (unsampled: passed on as it was)
        continue;
      }
      out.push_back(std::move(it->second));
      shared_->originals.erase(it);
    }
    return out;
  }

 private:
  void messagingAttributes(Span& s, const ConsumedRecord& r, int attempt) const {
    s.set("messaging.system", std::string("kafka"));
    s.set("messaging.operation.type", std::string(push_ ? "process" : "receive"));
    s.set("messaging.operation.name", std::string(push_ ? "process" : "receive"));
    s.set("messaging.destination.name", r.tp.topic);
    s.set("messaging.consumer.group.name", group_);
    s.set("messaging.destination.partition.id", std::to_string(r.tp.partition));
    s.set("messaging.kafka.offset", static_cast<int64_t>(r.offset));
    if (r.key) s.set("messaging.kafka.message.key", *r.key);
    s.set("tributary.subscription", subscription_);
    s.set("tributary.attempt", static_cast<int64_t>(attempt));
  }

  static void finish(tracing::Tracer& tracer, ActiveSpan& span, std::optional<ActiveSpan>& client, bool push,
                     const std::string& url, const std::string& host, int64_t port, const AttemptResult& result) {
    const int64_t end = tracing::unixNanosNow();
    const bool ok = result.outcome == AttemptOutcome::Delivered;
    if (client) {
      // HTTP semantic conventions for the app call; it took `took` up to now.
      Span& c = client->span;
      c.startUnixNanos = end - std::chrono::duration_cast<std::chrono::nanoseconds>(result.took).count();
      c.endUnixNanos = end;
      c.set("http.request.method", std::string("POST"));
      c.set("url.full", url);
      c.set("server.address", host);
      c.set("server.port", port);
      if (result.httpStatus > 0) c.set("http.response.status_code", static_cast<int64_t>(result.httpStatus));
      if (!ok) {
        c.status = Span::Status::Error;
        c.statusMessage = result.error;
        c.set("error.type", result.httpStatus > 0 ? std::to_string(result.httpStatus) : std::string("no_answer"));
      }
      tracer.end(std::move(*client));
    }
    span.span.endUnixNanos = end;
    if (!ok) {
      span.span.status = Span::Status::Error;
      span.span.statusMessage = result.error;
      span.span.set("error.type", std::string(result.outcome == AttemptOutcome::Retryable ? "retryable" : "not_retryable"));
    }
    if (!push) span.span.set("tributary.settled", std::string(ok ? "ack" : result.error.rfind("lease expired", 0) == 0 ? "expired" : "nack"));
    tracer.end(std::move(span));
  }

  Deliverer& inner_;
  tracing::Tracer& tracer_;
  const bool push_;
  const std::string subscription_;
  const std::string group_;
  const std::string endpoint_;
  std::string host_;
  int64_t port_ = 0;
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
};

}  // namespace

std::unique_ptr<Deliverer> makeTracingDeliverer(Deliverer& inner, tracing::Tracer& tracer,
                                                const SubscriptionConfig& subscription) {
  return std::make_unique<TracingDeliverer>(inner, tracer, subscription);
}

}  // namespace tributary::sidecar
