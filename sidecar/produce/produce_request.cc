#include "sidecar/produce/produce_request.h"

#include <simdjson.h>

#include <cctype>
#include <limits>

#include "common/codec/base64.h"
#include "common/codec/json_validate.h"

// The envelope is read with simdjson's On-Demand API, and a record's key and
// value are taken as their own JSON text rather than rebuilt from a DOM: a DOM
// round trip re-sorts object members, re-prints numbers (1e3 -> 1000.0, -0 -> 0)
// and loses digits of integers beyond 64 bits, so the bytes in Kafka would not
// be the bytes the app sent (a signature over the payload would break). Every
// value is still walked in full, so invalid JSON anywhere is refused as before.

namespace tributary::sidecar {
namespace {

namespace od = simdjson::ondemand;

constexpr int kMaxJsonDepth = 64;

ApiError invalid(const std::string& where, const std::string& what) {
  return {400, "INVALID_REQUEST", where + ": " + what, std::nullopt};
}

ApiError invalidJson(simdjson::error_code e) {
  return {400, "INVALID_JSON", std::string("the body is not valid JSON (") + simdjson::error_message(e) + ")",
          std::nullopt};
}

ApiError tooDeep() {
  return {400, "INVALID_JSON",
          "the body nests arrays/objects deeper than " + std::to_string(kMaxJsonDepth) + " levels", std::nullopt};
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The outcome of one step: nothing (go on) or the request's answer.
using Failure = std::optional<ApiError>;

// Walks `v` in full so that the library validates every number, string, escape
// and bracket of it; nesting is bounded so a request cannot exhaust the worker's
// stack. `depth` counts the enclosing arrays/objects.
Failure validate(od::value v, int depth) {
  if (auto e = json::validateValue(v, depth, kMaxJsonDepth)) return e == simdjson::DEPTH_ERROR ? tooDeep() : invalidJson(e);
  return std::nullopt;
}

// `v` as the JSON text the app sent, minus insignificant whitespace.
Failure rawJson(od::document& doc, od::value v, std::string& out) {
  const std::string_view token = v.raw_json_token();
  const char* begin = token.data();
  const char* end = begin + token.size();
  od::json_type type;
  if (auto e = v.type().get(type)) return invalidJson(e);
  const bool container = type == od::json_type::object || type == od::json_type::array;
  if (auto f = validate(v, 0)) return f;
  if (container) {
    // After the walk the iterator stands on the token that follows the value
    // (a ',' or the record's '}'), so the value's text ends there.
    const char* next;
    if (auto e = doc.current_location().get(next)) return invalidJson(e);
    end = next;
  }
  out.resize(static_cast<size_t>(end - begin));
  size_t written = 0;
  if (auto e = simdjson::minify(begin, out.size(), out.data(), written)) return invalidJson(e);
  out.resize(written);
  return std::nullopt;
}

enum Member : unsigned {
  kKey = 1u << 0,
  kKeyBase64 = 1u << 1,
  kValue = 1u << 2,
  kValueBase64 = 1u << 3,
  kHeaders = 1u << 4,
  kPartition = 1u << 5,
};

std::optional<Member> recordMember(std::string_view name) {
  if (name == "key") return kKey;
  if (name == "keyBase64") return kKeyBase64;
  if (name == "value") return kValue;
  if (name == "valueBase64") return kValueBase64;
  if (name == "headers") return kHeaders;
  if (name == "partition") return kPartition;
  return std::nullopt;
}

// Where a problem is, named for the answer ("records[3].headers"); built only
// when there is a problem, so a good request costs no string per field.
struct Place {
  size_t index;
  std::string_view field;
  std::string str() const {
    std::string s = "records[" + std::to_string(index) + "]";
    if (!field.empty()) s.append(".").append(field);
    return s;
  }
};

// A static name: `name` above points into the parser's buffer, which the next string reuses.
std::string_view memberName(Member m) {
  switch (m) {
    case kKey: return "key";
    case kKeyBase64: return "keyBase64";
    case kValue: return "value";
    case kValueBase64: return "valueBase64";
    case kHeaders: return "headers";
    case kPartition: return "partition";
  }
  return {};
}

Failure base64Field(od::value v, const Place& where, std::optional<std::string>& out) {
  od::json_type type;
  if (auto e = v.type().get(type)) return invalidJson(e);
  if (type == od::json_type::null) return validate(v, 0);
  if (type != od::json_type::string) return invalid(where.str(), "must be a base64 string");
  std::string_view text;
  if (auto e = v.get_string().get(text)) return invalidJson(e);
  auto bytes = base64Decode(std::string(text));
  if (!bytes)
    return ApiError{400, "INVALID_BASE64", where.str() + ": is not valid base64 (standard alphabet, padded with '=')",
                    std::nullopt};
  out = std::move(*bytes);
  return std::nullopt;
}

Failure parseRecord(od::document& doc, od::value v, size_t index, OutgoingRecord& r) {

  od::json_type type;
  if (auto e = v.type().get(type)) return invalidJson(e);
  if (type != od::json_type::object) return invalid(Place{index, {}}.str(), "must be an object");
  od::object o;
  if (auto e = v.get_object().get(o)) return invalidJson(e);
  unsigned seen = 0;
  for (auto field : o) {
    std::string_view name;
    if (auto e = field.unescaped_key().get(name)) return invalidJson(e);
    auto member = recordMember(name);
    if (!member)
      return invalid(Place{index, {}}.str(), "unknown field \"" + std::string(name) +
                                "\" (known: key, keyBase64, value, valueBase64, headers, partition)");
    // A duplicate member is refused rather than resolved: which of two values
    // the app meant is a guess, and a guess here would put the wrong bytes in Kafka.
    if (seen & *member) return invalid(Place{index, {}}.str(), "the field \"" + std::string(name) + "\" appears twice");
    seen |= *member;
    if ((seen & (kKey | kKeyBase64)) == (kKey | kKeyBase64))
      return invalid(Place{index, {}}.str(), "set either \"key\" or \"keyBase64\", not both");
    if ((seen & (kValue | kValueBase64)) == (kValue | kValueBase64))
      return invalid(Place{index, {}}.str(), "set either \"value\" or \"valueBase64\", not both");
    od::value fv;
    if (auto e = field.value().get(fv)) return invalidJson(e);
    od::json_type ft;
    if (auto e = fv.type().get(ft)) return invalidJson(e);
    const Place at{index, memberName(*member)};
    switch (*member) {
      case kKey:
        if (ft == od::json_type::null) {
          if (auto f = validate(fv, 0)) return f;
        } else if (ft == od::json_type::string) {
          // A string key is sent as its text, so "user-1" partitions and
          // compacts as user-1, as every Kafka tool shows keys.
          std::string_view text;
          if (auto e = fv.get_string().get(text)) return invalidJson(e);
          r.key = std::string(text);
        } else {
          r.key.emplace();
          if (auto f = rawJson(doc, fv, *r.key)) return f;
        }
        break;
      case kValue:
        if (ft == od::json_type::null) {
          if (auto f = validate(fv, 0)) return f;
        } else {
          r.value.emplace();
          if (auto f = rawJson(doc, fv, *r.value)) return f;
        }
        break;
      case kKeyBase64:
        if (auto f = base64Field(fv, at, r.key)) return f;
        break;
      case kValueBase64:
        if (auto f = base64Field(fv, at, r.value)) return f;
        break;
      case kHeaders: {
        if (ft == od::json_type::null) {
          if (auto f = validate(fv, 0)) return f;
          break;
        }
        if (ft != od::json_type::object) return invalid(at.str(), "must be an object of header names to string values");
        od::object headers;
        if (auto e = fv.get_object().get(headers)) return invalidJson(e);
        for (auto h : headers) {
          std::string_view hname;
          if (auto e = h.unescaped_key().get(hname)) return invalidJson(e);
          std::string headerName(hname);  // the key's buffer is reused by the next string
          od::value hv;
          if (auto e = h.value().get(hv)) return invalidJson(e);
          od::json_type ht;
          if (auto e = hv.type().get(ht)) return invalidJson(e);
          if (ht != od::json_type::string) return invalid(at.str() + "." + headerName, "must be a string");
          std::string_view text;
          if (auto e = hv.get_string().get(text)) return invalidJson(e);
          r.headers.emplace_back(std::move(headerName), std::string(text));
        }
        break;
      }
      case kPartition: {
        if (ft == od::json_type::null) {
          if (auto f = validate(fv, 0)) return f;
          break;
        }
        if (ft != od::json_type::number) return invalid(at.str(), "must be a non-negative integer");
        od::number_type nt;
        if (auto e = fv.get_number_type().get(nt)) return invalidJson(e);
        int64_t p = -1;
        if (nt != od::number_type::signed_integer || fv.get_int64().get(p) || p < 0 ||
            p > std::numeric_limits<int32_t>::max()) {
          if (nt != od::number_type::signed_integer) {
            if (auto f = validate(fv, 0)) return f;  // a malformed number is INVALID_JSON
          }
          return invalid(at.str(), "must be a non-negative integer");
        }
        r.partition = static_cast<int32_t>(p);
        break;
      }
    }
  }
  return std::nullopt;
}

// One parser per worker thread: it keeps its buffers between requests.
od::parser& threadParser() {
  thread_local od::parser parser;
  return parser;
}

// A worker keeps its parser's buffers and its padded copy for bodies up to
// this size (batches as apps send them, 100 records of 1 KiB included: no
// allocation per request). Those of a larger body are released after it:
// they are ~3-6 bytes per body byte (the padded copy, simdjson's structural
// index and string buffer), and every one of the API's workers that once
// parsed a 1 MiB body would hold them for good, outside api.maxInflightBytes
// (sidecar/README.md, "Memory").
constexpr size_t kKeepBuffersUpTo = 128 * 1024;

}  // namespace

bool isJsonContentType(std::string_view ct) {
  std::string t = lower(ct.substr(0, ct.find(';')));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  return t == "application/json";
}

std::variant<std::vector<OutgoingRecord>, ApiError> parseJsonRecords(const std::string& topic,
                                                                     std::string_view body) {
  // simdjson reads up to SIMDJSON_PADDING bytes past the end of its input.
  thread_local std::string padded;
  struct ReleaseLarge {
    std::string& padded;
    size_t size;
    ~ReleaseLarge() {
      if (size <= kKeepBuffersUpTo) return;
      std::string().swap(padded);
      threadParser() = od::parser{};
    }
  } release{padded, body.size()};
  padded.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  padded.assign(body.data(), body.size());
  simdjson::padded_string_view input(padded.data(), padded.size(), padded.capacity());

  od::document doc;
  if (auto e = threadParser().iterate(input).get(doc)) return invalidJson(e);
  od::json_type type;
  if (auto e = doc.type().get(type)) return invalidJson(e);
  if (type != od::json_type::object) return invalid("body", "must be a JSON object {\"records\":[...]}");
  od::object envelope;
  if (auto e = doc.get_object().get(envelope)) return invalidJson(e);

  std::vector<OutgoingRecord> out;
  bool sawRecords = false;
  for (auto field : envelope) {
    std::string_view name;
    if (auto e = field.unescaped_key().get(name)) return invalidJson(e);
    if (name != "records")
      return invalid("body", "unknown field \"" + std::string(name) + "\" (expected only \"records\")");
    if (sawRecords) return invalid("body", "the field \"records\" appears twice");
    sawRecords = true;
    od::value recs;
    if (auto e = field.value().get(recs)) return invalidJson(e);
    od::json_type rt;
    if (auto e = recs.type().get(rt)) return invalidJson(e);
    if (rt != od::json_type::array)
      return invalid("records", "must be an array of records, e.g. {\"records\":[{\"value\":{}}]}");
    od::array array;
    if (auto e = recs.get_array().get(array)) return invalidJson(e);
    size_t i = 0;
    for (auto element : array) {
      od::value rec;
      if (auto e = element.get(rec)) return invalidJson(e);
      OutgoingRecord r;
      r.topic = topic;
      if (auto f = parseRecord(doc, rec, i, r)) return *f;
      out.push_back(std::move(r));
      ++i;
    }
  }
  // current_location() answers OUT_OF_BOUNDS once the whole input is read.
  const char* rest;
  if (doc.current_location().get(rest) == simdjson::SUCCESS) return invalidJson(simdjson::TRAILING_CONTENT);
  if (!sawRecords) return invalid("records", "must be an array of records, e.g. {\"records\":[{\"value\":{}}]}");
  if (out.empty()) return invalid("records", "must contain at least one record");
  return out;
}

OutgoingRecord rawRecord(const std::string& topic, std::string body, std::optional<std::string> key,
                         std::string_view contentType) {
  OutgoingRecord r;
  r.topic = topic;
  r.key = std::move(key);
  r.value = std::move(body);
  if (!contentType.empty()) r.headers.emplace_back("content-type", std::string(contentType));
  return r;
}

}  // namespace tributary::sidecar
