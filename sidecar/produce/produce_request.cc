#include "sidecar/produce/produce_request.h"

#include <limits>
#include <nlohmann/json.hpp>

#include "common/codec/base64.h"

namespace tributary::sidecar {
namespace {

using Json = nlohmann::json;

constexpr int kMaxJsonDepth = 64;
struct TooDeep {};

ApiError invalid(const std::string& where, const std::string& what) {
  return {400, "INVALID_REQUEST", where + ": " + what, std::nullopt};
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// `text` or `base64` form of one field (key or value); sets `out` or returns an error.
std::optional<ApiError> bytesField(const Json& rec, const std::string& where, const char* name, const char* b64Name,
                                   bool stringAsText, std::optional<std::string>& out) {
  auto plain = rec.find(name);
  auto b64 = rec.find(b64Name);
  if (plain != rec.end() && b64 != rec.end())
    return invalid(where, std::string("set either \"") + name + "\" or \"" + b64Name + "\", not both");
  if (b64 != rec.end()) {
    if (b64->is_null()) return std::nullopt;
    if (!b64->is_string()) return invalid(where + "." + b64Name, "must be a base64 string");
    auto bytes = base64Decode(b64->get_ref<const std::string&>());
    if (!bytes)
      return ApiError{400, "INVALID_BASE64",
                      where + "." + b64Name + ": is not valid base64 (standard alphabet, padded with '=')",
                      std::nullopt};
    out = std::move(*bytes);
    return std::nullopt;
  }
  if (plain != rec.end() && !plain->is_null()) {
    out = (stringAsText && plain->is_string()) ? plain->get<std::string>() : plain->dump();
  }
  return std::nullopt;
}

}  // namespace

bool isJsonContentType(std::string_view ct) {
  std::string t = lower(ct.substr(0, ct.find(';')));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  return t == "application/json";
}

std::variant<std::vector<OutgoingRecord>, ApiError> parseJsonRecords(const std::string& topic,
                                                                     std::string_view body) {
  Json doc;
  try {
    // Nesting is bounded: serializing a value recurses once per level, so an
    // unbounded depth would let one request exhaust a worker thread's stack.
    doc = Json::parse(body, [](int depth, Json::parse_event_t, Json&) {
      if (depth > kMaxJsonDepth) throw TooDeep();
      return true;
    });
  } catch (const Json::parse_error& e) {
    return ApiError{400, "INVALID_JSON", std::string("the body is not valid JSON (") + e.what() + ")", std::nullopt};
  } catch (const TooDeep&) {
    return ApiError{400, "INVALID_JSON",
                    "the body nests arrays/objects deeper than " + std::to_string(kMaxJsonDepth) + " levels",
                    std::nullopt};
  }
  if (!doc.is_object()) return invalid("body", "must be a JSON object {\"records\":[...]}");
  for (const auto& [k, v] : doc.items())
    if (k != "records") return invalid("body", "unknown field \"" + k + "\" (expected only \"records\")");
  auto recs = doc.find("records");
  if (recs == doc.end() || !recs->is_array())
    return invalid("records", "must be an array of records, e.g. {\"records\":[{\"value\":{}}]}");
  if (recs->empty()) return invalid("records", "must contain at least one record");

  std::vector<OutgoingRecord> out;
  out.reserve(recs->size());
  for (size_t i = 0; i < recs->size(); ++i) {
    const Json& rec = (*recs)[i];
    const std::string where = "records[" + std::to_string(i) + "]";
    if (!rec.is_object()) return invalid(where, "must be an object");
    for (const auto& [k, v] : rec.items()) {
      if (k != "key" && k != "keyBase64" && k != "value" && k != "valueBase64" && k != "headers" && k != "partition")
        return invalid(where, "unknown field \"" + k +
                                  "\" (known: key, keyBase64, value, valueBase64, headers, partition)");
    }
    OutgoingRecord r;
    r.topic = topic;
    if (auto e = bytesField(rec, where, "key", "keyBase64", true, r.key)) return *e;
    if (auto e = bytesField(rec, where, "value", "valueBase64", false, r.value)) return *e;
    if (auto h = rec.find("headers"); h != rec.end() && !h->is_null()) {
      if (!h->is_object()) return invalid(where + ".headers", "must be an object of header names to string values");
      for (const auto& [name, value] : h->items()) {
        if (!value.is_string()) return invalid(where + ".headers." + name, "must be a string");
        r.headers.emplace_back(name, value.get<std::string>());
      }
    }
    if (auto p = rec.find("partition"); p != rec.end() && !p->is_null()) {
      if (!p->is_number_integer() || p->get<int64_t>() < 0 ||
          p->get<int64_t>() > std::numeric_limits<int32_t>::max())
        return invalid(where + ".partition", "must be a non-negative integer");
      r.partition = static_cast<int32_t>(p->get<int64_t>());
    }
    out.push_back(std::move(r));
  }
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
