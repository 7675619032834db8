#include "tests/support/apiserver/patch.h"

#include "tests/support/apiserver/api_error.h"

namespace tributary::apiserver {

using Json = nlohmann::json;

namespace {

const char* kPatchTypes = "application/json-patch+json, application/merge-patch+json";

std::string mediaType(const std::string& contentType) {
  std::string t = contentType.substr(0, contentType.find(';'));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  return t;
}

Json parsePatch(const std::string& body) {
  Json p = Json::parse(body, nullptr, false);
  if (p.is_discarded()) throw badRequest("error decoding patch: the patch is not valid JSON");
  return p;
}

// Strategic merge patch, minus the list strategies: `$patch: delete` removes
// the map, `$patch: replace` replaces it, other `$...` directives
// ($setElementOrder/..., $retainKeys, $deleteFromPrimitiveList/...) are
// instructions to the merge, never data, so they are dropped.
void strategicMerge(Json& target, const Json& patch) {
  if (!patch.is_object()) {
    target = patch;
    return;
  }
  if (auto d = patch.find("$patch"); d != patch.end() && d->is_string()) {
    if (*d == "delete") {
      target = nullptr;
      return;
    }
    if (*d == "replace") {
      Json replacement = patch;
      replacement.erase("$patch");
      target = Json::object();
      strategicMerge(target, replacement);
      return;
    }
  }
  if (!target.is_object()) target = Json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (!it.key().empty() && it.key()[0] == '$') continue;
    if (it.value().is_null()) {
      target.erase(it.key());
    } else {
      Json& slot = target[it.key()];
      strategicMerge(slot, it.value());
      if (slot.is_null()) target.erase(it.key());
    }
  }
}

}  // namespace

PatchType patchTypeFor(const std::string& contentType) {
  const std::string t = mediaType(contentType);
  if (t == "application/merge-patch+json") return PatchType::Merge;
  if (t == "application/json-patch+json") return PatchType::Json;
  if (t == "application/strategic-merge-patch+json") return PatchType::Strategic;
  // Server-side apply (application/apply-patch+yaml) is not implemented.
  throw unsupportedMediaType(t.empty() ? "no Content-Type" : t, kPatchTypes);
}

Json applyPatch(PatchType type, const Json& current, const std::string& patchBody, bool customResource) {
  switch (type) {
    case PatchType::Merge: {
      Json patch = parsePatch(patchBody);
      Json out = current;
      out.merge_patch(patch);
      return out;
    }
    case PatchType::Json: {
      Json patch = parsePatch(patchBody);
      if (!patch.is_array()) throw badRequest("error decoding patch: a JSON patch must be an array of operations");
      try {
        return current.patch(patch);
      } catch (const nlohmann::json::exception& e) {
        // The real server answers a JSON patch that does not apply with 422.
        throw ApiError(422, "Invalid", std::string("the server rejected our request due to an error in our request: ") + e.what());
      }
    }
    case PatchType::Strategic: {
      if (customResource) throw unsupportedMediaType("application/strategic-merge-patch+json", kPatchTypes);
      Json patch = parsePatch(patchBody);
      if (!patch.is_object()) throw badRequest("error decoding patch: a strategic merge patch must be a JSON object");
      Json out = current;
      strategicMerge(out, patch);
      return out;
    }
  }
  throw badRequest("unknown patch type");
}

}  // namespace tributary::apiserver
