#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "tests/support/apiserver/resource_registry.h"
#include "tests/support/apiserver/table.h"

namespace tributary::apiserver {

// What shape an answer takes, from the request's Accept header:
//   application/json                                    the objects themselves
//   application/json;as=Table;g=meta.k8s.io;v=v1        a Table (kubectl get)
//   application/json;as=PartialObjectMetadata[List];... metadata only
// Alternatives are tried in order, like the real server; protobuf and
// unknown `as=` kinds are skipped; nothing acceptable → 406.
struct Representation {
  enum class Kind { Object, Table, Metadata } kind = Kind::Object;
  TableRequest table;  // for Table
  std::string metadataVersion = "v1";
  std::string contentType = "application/json";
};

// Throws ApiError 406. `includeObject` is the query parameter (may be "").
Representation negotiate(const std::string& accept, const std::string& includeObject);

// The stored object as the client asked for it: in `version` (custom
// resources are stored in their storage version and served in any, like the
// "None" conversion strategy).
nlohmann::json inVersion(const ResourceType& type, const std::string& version, const nlohmann::json& object);
// {kind: PartialObjectMetadata, apiVersion: meta.k8s.io/v1, metadata}.
nlohmann::json partialMetadata(const nlohmann::json& object, const std::string& metaVersion);

}  // namespace tributary::apiserver
