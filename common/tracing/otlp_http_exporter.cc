#include "common/tracing/otlp_http_exporter.h"

#include <curl/curl.h>

#include <mutex>

#include "common/tracing/otlp_json.h"

namespace tributary::tracing {
namespace {

size_t collect(char* data, size_t size, size_t n, void* out) {
  auto* body = static_cast<std::string*>(out);
  // Only the start of an error answer is reported; the rest is not kept.
  if (body->size() < 512) body->append(data, std::min(size * n, 512 - body->size()));
  return size * n;
}

class OtlpHttpExporter final : public SpanExporter {
 public:
  OtlpHttpExporter(const TracingConfig& config, std::string serviceName)
      : url_(otlpTracesUrl(config.otlpEndpoint)), shownUrl_(redactedUrl(url_)), serviceName_(std::move(serviceName)), timeout_(config.timeout) {
    static std::once_flag global;
    std::call_once(global, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    headers_ = curl_slist_append(headers_, "Content-Type: application/json");
    // No "Expect: 100-continue" round trip before larger bodies.
    headers_ = curl_slist_append(headers_, "Expect:");
    for (const auto& [name, value] : config.headers) headers_ = curl_slist_append(headers_, (name + ": " + value).c_str());
    easy_ = curl_easy_init();
  }

  ~OtlpHttpExporter() override {
    if (easy_) curl_easy_cleanup(easy_);
    curl_slist_free_all(headers_);
  }

  bool exportSpans(const std::vector<Span>& spans, std::string& error) override {
    if (!easy_) {
      error = "curl_easy_init failed";
      return false;
    }
    const std::string body = otlpJson(spans, serviceName_);
    std::string answer;
    // Reset keeps the connection cache: the next export reuses the connection.
    curl_easy_reset(easy_);
    curl_easy_setopt(easy_, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
    curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy_, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, &answer);
    const CURLcode rc = curl_easy_perform(easy_);
    if (rc != CURLE_OK) {
      error = shownUrl_ + ": " + curl_easy_strerror(rc);
      return false;
    }
    long status = 0;
    curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
      error = shownUrl_ + ": HTTP " + std::to_string(status) + ": " + answer;
      return false;
    }
    return true;
  }

 private:
  const std::string url_;
  const std::string shownUrl_;  // for messages: no credentials
  const std::string serviceName_;
  const std::chrono::milliseconds timeout_;
  curl_slist* headers_ = nullptr;
  CURL* easy_ = nullptr;
};

}  // namespace

std::string otlpTracesUrl(const std::string& endpoint) {
  std::string base = endpoint;
  const std::string suffix = "/v1/traces";
  if (base.size() >= suffix.size() && base.compare(base.size() - suffix.size(), suffix.size(), suffix) == 0)
    return base;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + suffix;
}

std::string redactedUrl(const std::string& url) {
  const auto schemeEnd = url.find("://");
  const size_t start = schemeEnd == std::string::npos ? 0 : schemeEnd + 3;
  const auto at = url.find('@', start);
  if (at == std::string::npos || at > url.find('/', start)) return url;
  return url.substr(0, start) + "***" + url.substr(at);
}

std::unique_ptr<SpanExporter> makeOtlpHttpExporter(const TracingConfig& config, const std::string& serviceName) {
  return std::make_unique<OtlpHttpExporter>(config, serviceName);
}

}  // namespace tributary::tracing
