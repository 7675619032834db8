#include "common/codec/json_text.h"

#include <simdjson.h>

#include <nlohmann/json.hpp>

#include "common/codec/json_validate.h"

namespace tributary {

bool isJsonText(std::string_view bytes, int maxDepth) {
  // simdjson reads up to SIMDJSON_PADDING bytes past the input; Kafka's buffers
  // are not padded, so the bytes are copied into one that is (per thread, reused).
  thread_local std::string padded;
  thread_local simdjson::ondemand::parser parser;
  padded.reserve(bytes.size() + simdjson::SIMDJSON_PADDING);
  padded.assign(bytes.data(), bytes.size());
  simdjson::ondemand::document doc;
  if (parser.iterate(simdjson::padded_string_view(padded.data(), padded.size(), padded.capacity())).get(doc))
    return false;
  // A document that is a single scalar ("42", "true") is read as the document
  // itself; anything else through a value.
  bool scalar = false;
  if (doc.is_scalar().get(scalar)) return false;
  if (scalar) {
    simdjson::ondemand::json_type type;
    if (doc.type().get(type)) return false;
    switch (type) {
      case simdjson::ondemand::json_type::string: {
        std::string_view s;
        if (doc.get_string().get(s)) return false;
        break;
      }
      case simdjson::ondemand::json_type::number: {
        double d;
        if (doc.get_double().get(d)) return false;
        break;
      }
      case simdjson::ondemand::json_type::boolean: {
        bool b;
        if (doc.get_bool().get(b)) return false;
        break;
      }
      case simdjson::ondemand::json_type::null: {
        bool isNull = false;
        if (doc.is_null().get(isNull) || !isNull) return false;
        break;
      }
      default:
        return false;
    }
  } else {
    simdjson::ondemand::value root;
    if (doc.get_value().get(root)) return false;
    if (json::validateValue(root, 0, maxDepth)) return false;
  }
  // Nothing may follow the document: current_location() answers OUT_OF_BOUNDS at the end.
  const char* rest;
  return doc.current_location().get(rest) != simdjson::SUCCESS;
}

void appendJsonString(std::string& out, std::string_view s) {
  // Printable ASCII without '"' and '\\' is its own literal (the library's
  // output for it, without a copy into a JSON value); anything else goes
  // through the library.
  bool plain = true;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      plain = false;
      break;
    }
  }
  if (plain) {
    out += '"';
    out += s;
    out += '"';
    return;
  }
  out += nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tributary
