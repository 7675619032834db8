#include "sidecar/produce/produce_service.h"

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

}  // namespace

ProduceService::ProduceService(Producer& producer, SidecarMetrics& metrics, std::chrono::milliseconds deliveryTimeout)
    : producer_(producer), metrics_(metrics), deliveryTimeout_(deliveryTimeout) {}

void ProduceService::countRequest(const std::string& topic, int status) {
  metrics_.produceRequests.Add({{"topic", topic}, {"code", std::to_string(status)}}).Increment();
}

ProduceService::Reply ProduceService::produce(const std::string& topic, std::vector<OutgoingRecord> records,
                                              bool async, Clock::time_point received) {
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

  auto pending = std::make_shared<PendingProduce>(records.size(), metrics_, topic);
  std::vector<ProduceError> errors;
  std::vector<std::string> messages;
  producer_.enqueueAll(records, pending, errors, messages);
  std::vector<std::optional<ApiError>> refused(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    if (errors[i] != ProduceError::None) {
      refused[i] = toApiError(errors[i], messages[i]);
      pending->refuse(i, {errors[i], -1, -1, messages[i]});
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
  slots.reserve(records.size() * 32 + 16);
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
    for (size_t i = 0; i < refused.size(); ++i) {
      if (i) slots.push_back(',');
      if (refused[i]) {
        consider(*refused[i]);
        errorSlot(*refused[i]);
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
  std::string body;
  body.reserve(slots.size() + 64);
  body.append(R"({"offsets":[)").append(slots).push_back(']');
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
