#pragma once
#include <string>
#include <vector>

#include "common/tracing/span.h"

namespace tributary::tracing {

// The OTLP/HTTP JSON body of an ExportTraceServiceRequest
// (opentelemetry-proto, JSON encoding: ids as lowercase hex, 64-bit integers
// as strings, enums as numbers): one resource with service.name, one scope
// "tributary", the spans.
std::string otlpJson(const std::vector<Span>& spans, const std::string& serviceName);

}  // namespace tributary::tracing
