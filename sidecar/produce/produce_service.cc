#include "sidecar/produce/produce_service.h"

#include <strings.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "sidecar/api/api_error.h"

namespace tributary::sidecar {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// A JSON string literal for `s` (quotes and escapes by the JSON library).
std::string jsonString(const std::string& s) { return Json(s).dump(); }

std::string resultLabel(const ApiError& e) {
  std::string s = e.code;
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Collects the delivery reports of one request. Lives until the last report
// arrived, even if the HTTP request gave up waiting (shared ownership).
class PendingProduce final : public DeliveryListener {
 public:
  PendingProduce(size_t n, SidecarMetrics& metrics, const std::string& topic)
      : metrics_(metrics),
        topic_(topic),
        success_(metrics.produceRecords.Add({{"topic", topic}, {"result", "success"}})),
        reports_(n),
        settled_(n, false),
        remaining_(n) {}

  void onDelivery(size_t index, DeliveryReport report) override {
    count(report);
    settle(index, std::move(report));
  }

  // A record the producer refused: it never gets a delivery report.
  void refuse(size_t index, DeliveryReport report) {
    count(report);
    settle(index, std::move(report));
  }

  // Waits for every report until `deadline`; returns the reports, a missing one
  // as DeliveryTimeout.
  std::vector<DeliveryReport> wait(Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    done_.wait_until(lock, deadline, [&] { return remaining_ == 0; });
    // All in: nothing writes them any more, so they are moved out, not copied.
    if (remaining_ == 0) return std::move(reports_);
    std::vector<DeliveryReport> out = reports_;
    for (size_t i = 0; i < out.size(); ++i)
      if (!settled_[i]) out[i] = {ProduceError::DeliveryTimeout, -1, -1, "no delivery report within the deadline"};
    return out;
  }

 private:
  void count(const DeliveryReport& r) {
    if (r.error == ProduceError::None) {
      success_.Increment();
    } else {
      metrics_.produceRecords.Add({{"topic", topic_}, {"result", resultLabel(toApiError(r.error, ""))}})
          .Increment();
    }
  }

  void settle(size_t index, DeliveryReport report) {
    std::lock_guard lock(mutex_);
    reports_[index] = std::move(report);
    settled_[index] = true;
    if (--remaining_ == 0) done_.notify_all();
  }

  SidecarMetrics& metrics_;
  const std::string topic_;
  prometheus::Counter& success_;
  std::mutex mutex_;
  std::condition_variable done_;
  std::vector<DeliveryReport> reports_;  // guarded by mutex_
  std::vector<bool> settled_;            // guarded by mutex_
  size_t remaining_;                     // guarded by mutex_
};

bool hasTraceparent(const OutgoingRecord& r) {
  for (const auto& [name, value] : r.headers)
    if (name.size() == 11 && strncasecmp(name.c_str(), "traceparent", 11) == 0) return true;
  return false;
}

// The produce span's messaging attributes (OpenTelemetry semantic conventions
// for messaging, Kafka).
void publishAttributes(tracing::Span& s, const std::string& topic, const std::vector<OutgoingRecord>& records) {
  s.set("messaging.system", std::string("kafka"));
  s.set("messaging.operation.type", std::string("publish"));
  s.set("messaging.operation.name", std::string("publish"));
  s.set("messaging.destination.name", topic);
  if (records.size() == 1) {
    if (records[0].key) s.set("messaging.kafka.message.key", *records[0].key);
    if (!records[0].value) s.set("messaging.kafka.message.tombstone", true);
  } else {
    s.set("messaging.batch.message_count", static_cast<int64_t>(records.size()));
  }
}

}  // namespace

ProduceService::ProduceService(Producer& producer, SidecarMetrics& metrics, std::chrono::milliseconds deliveryTimeout,
                               tracing::Tracer* tracer)
    : producer_(producer), metrics_(metrics), deliveryTimeout_(deliveryTimeout), tracer_(tracer) {}

void ProduceService::countRequest(const std::string& topic, int status) {
  metrics_.produceRequests.Add({{"topic", topic}, {"code", std::to_string(status)}}).Increment();
}

ProduceService::Reply ProduceService::produce(const std::string& topic, std::vector<OutgoingRecord> records,
                                              bool async, Clock::time_point received, const TraceHeaders& trace) {
  {
    std::lock_guard lock(mutex_);
    ++running_;
  }
  struct Done {
    ProduceService* s;
    ~Done() {
      std::lock_guard lock(s->mutex_);
      if (--s->running_ == 0) s->idle_.notify_all();
    }
  } done{this};

  Reply reply;
  if (!accepting_.load()) {
    ApiError e = toApiError(ProduceError::ShuttingDown, "");
    reply = {e.status, Json{{"error", e.message}, {"errorCode", e.code}}.dump(), e.retryAfterSeconds};
    countRequest(topic, reply.status);
    return reply;
  }

  // W3C trace context: an invalid traceparent is ignored (the spec's rule),
  // counted, and never fails the request.
  std::optional<tracing::TraceContext> incoming;
  if (!trace.traceparent.empty()) {
    incoming = trace.repeated ? std::nullopt : tracing::parseTraceparent(trace.traceparent);
    if (!incoming) metrics_.invalidTraceparent.Increment();
    else if (!trace.tracestate.empty()) incoming->traceState = tracing::sanitizeTracestate(trace.tracestate);
  }
  std::optional<tracing::ActiveSpan> span;
  std::optional<tracing::TraceContext> outgoing = incoming;
  if (tracer_) {
    span = tracer_->start("publish " + topic, tracing::Span::Kind::Producer, incoming);
    outgoing = span->context();
    if (span->recording) publishAttributes(span->span, topic, records);
  }
  if (outgoing) {
    const std::string traceparent = tracing::formatTraceparent(*outgoing);
    for (auto& r : records) {
      if (hasTraceparent(r)) continue;  // the record's own context wins
      r.headers.emplace_back("traceparent", traceparent);
      if (!outgoing->traceState.empty()) r.headers.emplace_back("tracestate", outgoing->traceState);
    }
  }
  // Ends the span with the answer (any return below).
  struct EndSpan {
    tracing::Tracer* tracer;
    std::optional<tracing::ActiveSpan>& span;
    const Reply& reply;
    ~EndSpan() {
      if (!span || !span->recording) return;
      if (reply.status >= 400) {
        span->span.status = tracing::Span::Status::Error;
        auto body = Json::parse(reply.body, nullptr, false);
        const std::string code = body.is_object() ? body.value("errorCode", "") : "";
        span->span.set("error.type", code.empty() ? std::to_string(reply.status) : code);
        if (body.is_object()) span->span.statusMessage = body.value("error", "");
      }
      tracer->end(std::move(*span));
    }
  } endSpan{tracer_, span, reply};

  const size_t n = records.size();
  auto pending = std::make_shared<PendingProduce>(n, metrics_, topic);
  // The records the client refused at once, by index (usually none).
  std::vector<std::pair<size_t, ApiError>> refused;
  {
    std::vector<ProduceError> errors;
    std::vector<std::string> messages;
    producer_.enqueueAll(records, pending, errors, messages);
    // librdkafka holds its own copy of each record now: the request's are
    // released before it waits for the delivery reports (sidecar/README.md, "Memory").
    std::vector<OutgoingRecord>().swap(records);
    for (size_t i = 0; i < n; ++i) {
      if (errors[i] != ProduceError::None) {
        refused.emplace_back(i, toApiError(errors[i], messages[i]));
        pending->refuse(i, {errors[i], -1, -1, messages[i]});
      }
    }
  }

  // The worst outcome decides the status; per-record slots say the rest.
  std::optional<ApiError> worst;
  auto consider = [&](const ApiError& e) {
    if (!worst || e.status > worst->status) worst = e;
    if (worst && e.retryAfterSeconds) worst->retryAfterSeconds = std::max(worst->retryAfterSeconds.value_or(0), *e.retryAfterSeconds);
  };
  // The reply is written straight into its text: a DOM of one object per record
  // cost more than a tenth of the sidecar's CPU on batch requests.
  std::string slots;
  auto errorSlot = [&](const ApiError& e) {
    slots.append(R"({"error":)").append(jsonString(e.message)).append(R"(,"errorCode":)").append(jsonString(e.code));
    slots.push_back('}');
  };
  auto finish = [&](std::string body) {
    if (worst) {
      body.append(R"(,"error":)").append(jsonString(worst->message));
      body.append(R"(,"errorCode":)").append(jsonString(worst->code));
    }
    body.push_back('}');
    return body;
  };

  if (async) {
    size_t accepted = 0;
    auto next = refused.begin();
    for (size_t i = 0; i < n; ++i) {
      if (i) slots.push_back(',');
      if (next != refused.end() && next->first == i) {
        consider(next->second);
        errorSlot(next->second);
        ++next;
      } else {
        ++accepted;
        slots.append(R"({"accepted":true})");
      }
    }
    std::string body = R"({"accepted":)" + std::to_string(accepted);
    if (worst) body.append(R"(,"offsets":[)").append(slots).push_back(']');
    reply = {worst ? worst->status : 202, finish(std::move(body)), worst ? worst->retryAfterSeconds : std::nullopt};
    countRequest(topic, reply.status);
    return reply;
  }

  // librdkafka reports every record by deliveryTimeout; the margin only guards
  // against a report that never comes, so a caller is never left hanging.
  auto reports = pending->wait(received + deliveryTimeout_ + std::chrono::seconds(10));
  if (span && span->recording && reports.size() == 1 && reports[0].error == ProduceError::None) {
    span->span.set("messaging.destination.partition.id", std::to_string(reports[0].partition));
    span->span.set("messaging.kafka.offset", static_cast<int64_t>(reports[0].offset));
  }
  // Written straight into the answer (no second copy of ~30 bytes a record).
  slots.reserve(n * 32 + 64);
  slots.append(R"({"offsets":[)");
  for (size_t i = 0; i < reports.size(); ++i) {
    const auto& r = reports[i];
    if (i) slots.push_back(',');
    if (r.error == ProduceError::None) {
      slots.append(R"({"partition":)").append(std::to_string(r.partition));
      slots.append(R"(,"offset":)").append(std::to_string(r.offset)).push_back('}');
    } else {
      ApiError e = toApiError(r.error, r.message);
      consider(e);
      errorSlot(e);
    }
  }
  std::vector<DeliveryReport>().swap(reports);
  slots.push_back(']');
  std::string body = std::move(slots);
  metrics_.produceDuration.Observe(std::chrono::duration<double>(Clock::now() - received).count());
  reply = {worst ? worst->status : 200, finish(std::move(body)), worst ? worst->retryAfterSeconds : std::nullopt};
  countRequest(topic, reply.status);
  return reply;
}

void ProduceService::stopAccepting() { accepting_ = false; }

bool ProduceService::waitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return idle_.wait_for(lock, timeout, [&] { return running_ == 0; });
}

}  // namespace tributary::sidecar
