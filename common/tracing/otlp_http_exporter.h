#pragma once
#include <memory>
#include <string>

#include "common/tracing/tracer.h"

namespace tributary::tracing {

// The production SpanExporter: OTLP over HTTP with JSON encoding, one
// `POST <otlpEndpoint>/v1/traces` per batch on a keep-alive connection
// (libcurl), with `config.headers` and `config.timeout`. A 2xx answer is
// success; anything else (or no answer) fails the batch.
// Only this adapter includes libcurl.
std::unique_ptr<SpanExporter> makeOtlpHttpExporter(const TracingConfig& config, const std::string& serviceName);

// `<endpoint>/v1/traces`, without doubling a slash; an endpoint that already
// ends in /v1/traces is kept as it is.
std::string otlpTracesUrl(const std::string& endpoint);

// The URL fit for a log line: user:password@ (if any) replaced with ***@.
std::string redactedUrl(const std::string& url);

}  // namespace tributary::tracing
