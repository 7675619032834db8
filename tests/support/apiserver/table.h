#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/apiserver/resource_registry.h"
#include "tests/support/apiserver/timestamps.h"

namespace tributary::apiserver {

// What a Table row carries besides its cells (`includeObject=` query parameter).
enum class IncludeObject { None, Metadata, Object };

// Server-side printing, as `kubectl get` asks for it
// (Accept: application/json;as=Table;v=v1;g=meta.k8s.io): a meta.k8s.io Table
// whose columns are Name plus the CRD's additionalPrinterColumns for
// `version` (Age when it declares none; Name and Age for built-in kinds), and
// one row per object with cells evaluated from the columns' JSONPaths.
struct TableRequest {
  std::string tableVersion = "v1";  // meta.k8s.io version: v1 or v1beta1
  IncludeObject include = IncludeObject::Metadata;
  bool columnDefinitions = true;  // watch events after the first omit them
};

nlohmann::json makeTable(const ResourceType& type, const std::string& version,
                         const std::vector<nlohmann::json>& objects, const TableRequest& request, SystemTime now);

}  // namespace tributary::apiserver
