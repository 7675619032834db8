#pragma once
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/apiserver/api_error.h"

namespace tributary::apiserver {

// What the real server does to a custom resource with the CRD's structural
// openAPIV3Schema, in its order: prune fields the schema does not declare
// (unless x-kubernetes-preserve-unknown-fields), drop nulls that are not
// nullable, apply `default`s, then validate. `object` is modified in place;
// the result lists every violation (empty: valid). apiVersion, kind and
// metadata at the root are left alone.
//
// Validated: type (with x-kubernetes-int-or-string, nullable), required,
// enum, minimum/maximum (+exclusive), minLength/maxLength, pattern (ECMAScript
// regex, close to RE2 for the usual patterns), minItems/maxItems, uniqueItems,
// minProperties/maxProperties, properties, additionalProperties, items.
// Not validated: format, allOf/anyOf/oneOf/not, x-kubernetes-validations (CEL),
// list-type/map-type uniqueness.
std::vector<Cause> applySchema(const nlohmann::json& schema, nlohmann::json& object);

}  // namespace tributary::apiserver
