#include "common/codec/json_text.h"

#include "common/codec/utf8.h"

namespace tributary {
namespace {
struct TooDeep {};
}  // namespace

std::optional<nlohmann::json> parseJsonText(std::string_view bytes, int maxDepth) {
  if (!isValidUtf8(bytes)) return std::nullopt;
  // Most values that are not JSON are plain bytes or text: a parse error must
  // not cost an exception (unwinding showed as a sixth of the pull path's CPU).
  // Only the depth limit throws, and only on documents nested that deep.
  try {
    nlohmann::json doc = nlohmann::json::parse(
        bytes,
        [maxDepth](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
          if (depth > maxDepth) throw TooDeep();
          return true;
        },
        /*allow_exceptions=*/false);
    if (doc.is_discarded()) return std::nullopt;
    return doc;
  } catch (const TooDeep&) {
    return std::nullopt;
  }
}

}  // namespace tributary
