#pragma once
// Walks a simdjson On-Demand value in full, so that the library checks every
// number, string, escape and bracket of it (On-Demand only checks what is read),
// without building a tree. Shared by the produce path (a record's key/value is
// taken as its own text once it is known to be valid) and the consume path
// (is a record's value a JSON document, to embed it as is?).
//
// Pure function; any thread.
#include <simdjson.h>

namespace tributary::json {

// SUCCESS, simdjson's error for the first invalid token, or DEPTH_ERROR when
// arrays/objects nest deeper than `maxDepth` counting `depth` enclosing levels
// (the walk recurses once per level, so the bound keeps a thread's stack safe).
simdjson::error_code validateValue(simdjson::ondemand::value v, int depth, int maxDepth);

}  // namespace tributary::json
