#include "tests/support/apiserver/object_store.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <set>

#include "common/codec/base64.h"
#include "tests/support/apiserver/builtin_validation.h"
#include "tests/support/apiserver/managed_fields.h"
#include "tests/support/apiserver/names.h"
#include "tests/support/apiserver/object_meta.h"
#include "tests/support/apiserver/schema.h"

namespace tributary::apiserver {

using Json = nlohmann::json;

namespace {

const char* kNamespaces = "/namespaces";
const char* kCrds = "apiextensions.k8s.io/customresourcedefinitions";

bool isNamespaceType(const ResourceType& t) { return t.storageKey() == kNamespaces; }
bool isCrdType(const ResourceType& t) { return t.storageKey() == kCrds; }

SystemTime now() { return std::chrono::system_clock::now(); }

bool startsWith(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

std::optional<uint64_t> parseResourceVersion(const std::string& text) {
  if (text.empty() || text.size() > 19 || !std::all_of(text.begin(), text.end(), ::isdigit)) return std::nullopt;
  return std::stoull(text);
}

// The continue token: opaque to clients, here base64 of
// {"v":"meta.k8s.io/v1","rv":<snapshot>,"start":"<last key>\u0000"} like the real one.
std::string encodeContinue(uint64_t rv, const std::string& lastKey) {
  Json token{{"v", "meta.k8s.io/v1"}, {"rv", rv}, {"start", lastKey + std::string(1, '\0')}};
  return base64Encode(token.dump());
}

std::pair<uint64_t, std::string> decodeContinue(const std::string& text) {
  auto raw = base64Decode(text);
  // Clients may send it URL-safe-unpadded; accept padded standard base64 only, like the real decoder.
  Json token = raw ? Json::parse(*raw, nullptr, false) : Json();
  if (!token.is_object() || token.value("v", "") != "meta.k8s.io/v1" || !token["rv"].is_number_unsigned() ||
      !token["start"].is_string())
    throw badRequest("continue key is not valid: the token is not a continue token of this server");
  std::string start = token["start"].get<std::string>();
  if (start.empty() || start.back() != '\0')
    throw badRequest("continue key is not valid: the token is not a continue token of this server");
  start.pop_back();
  return {token["rv"].get<uint64_t>(), start};
}

// Everything but metadata (and status, when the type has a status
// subresource) is what `generation` counts changes of.
bool sameSpec(const Json& a, const Json& b, bool skipStatus) {
  auto relevant = [&](const std::string& k) { return k != "metadata" && !(skipStatus && k == "status"); };
  size_t na = 0, nb = 0;
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (!relevant(it.key())) continue;
    ++na;
    auto other = b.find(it.key());
    if (other == b.end() || *other != it.value()) return false;
  }
  for (auto it = b.begin(); it != b.end(); ++it)
    if (relevant(it.key())) ++nb;
  return na == nb;
}

void validateName(const ResourceType& type, const std::string& name) {
  std::string problem;
  if (isNamespaceType(type)) {
    if (!isDnsLabel(name))
      problem = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
                "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
  } else if (type.group == "rbac.authorization.k8s.io") {
    // RBAC names are path segments ("system:controller:x" is valid).
    if (name == "." || name == ".." || name.find_first_of("/%") != std::string::npos)
      problem = "may not contain '/' or '%', and may not be '.' or '..'";
  } else if (!isDnsSubdomain(name)) {
    problem = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
              "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
              "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
  }
  if (!problem.empty())
    throw invalid(type.group, type.kind, name,
                  {{"FieldValueInvalid", "metadata.name", "Invalid value: \"" + name + "\": " + problem}});
}

// apiVersion/kind of a request body: built-in kinds default missing ones from
// the URL (typed decoding); custom resources must carry both (unstructured).
void checkTypeMeta(const ResourceType& type, const std::string& version, Json& body) {
  const std::string want = type.apiVersion(version);
  auto field = [&](const char* f) -> std::string {
    auto it = body.find(f);
    if (it == body.end() || it->is_null()) return "";
    if (!it->is_string()) throw badRequest(std::string("json: cannot unmarshal ") + it->type_name() + " into Go struct field of type string (" + f + ")");
    return it->get<std::string>();
  };
  std::string apiVersion = field("apiVersion"), kind = field("kind");
  if (!type.builtin && kind.empty())
    throw badRequest("Object 'Kind' is missing in '" + body.dump().substr(0, 200) + "'");
  if (!type.builtin && apiVersion.empty())
    throw badRequest("Object 'apiVersion' is missing in '" + body.dump().substr(0, 200) + "'");
  if (!apiVersion.empty() && apiVersion != want)
    throw badRequest("the API version in the data (" + apiVersion + ") does not match the expected API version (" +
                     want + ")");
  if (!kind.empty() && kind != type.kind)
    throw badRequest("the kind in the data (" + kind + ") does not match the expected kind (" + type.kind + ")");
}

Json& metadataFor(Json& body) {
  auto it = body.find("metadata");
  if (it == body.end() || it->is_null()) return body["metadata"] = Json::object();
  if (!it->is_object()) throw badRequest("metadata must be an object");
  return *it;
}

void validateLabelsAndAnnotations(const ResourceType& type, const Json& object) {
  std::vector<Cause> causes;
  const Json& meta = metadataOf(object);
  if (auto l = meta.find("labels"); l != meta.end() && !l->is_null()) {
    if (!l->is_object()) throw badRequest("metadata.labels must be a map of strings");
    for (auto it = l->begin(); it != l->end(); ++it) {
      if (!it.value().is_string()) throw badRequest("metadata.labels." + it.key() + " must be a string");
      if (!isQualifiedName(it.key()))
        causes.push_back({"FieldValueInvalid", "metadata.labels", "Invalid value: \"" + it.key() + "\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"});
      if (!isLabelValue(it.value().get<std::string>()))
        causes.push_back({"FieldValueInvalid", "metadata.labels",
                          "Invalid value: \"" + it.value().get<std::string>() +
                              "\": a valid label must be an empty string or consist of alphanumeric characters, '-', "
                              "'_' or '.', and must start and end with an alphanumeric character"});
    }
  }
  if (auto a = meta.find("annotations"); a != meta.end() && !a->is_null()) {
    if (!a->is_object()) throw badRequest("metadata.annotations must be a map of strings");
    for (auto it = a->begin(); it != a->end(); ++it)
      if (!it.value().is_string()) throw badRequest("metadata.annotations." + it.key() + " must be a string");
  }
  if (auto f = meta.find("finalizers"); f != meta.end() && !f->is_null()) {
    if (!f->is_array()) throw badRequest("metadata.finalizers must be a list of strings");
    for (const auto& v : *f)
      if (!v.is_string()) throw badRequest("metadata.finalizers must be a list of strings");
  }
  if (!causes.empty()) throw invalid(type.group, type.kind, nameOf(object), causes);
}

// ---- the scale subresource

// ".spec.replicas" → {"spec", "replicas"}.
std::vector<std::string> pathSegments(const std::string& path) {
  std::vector<std::string> out;
  size_t i = path.empty() || path[0] != '.' ? 0 : 1;
  while (i < path.size()) {
    size_t dot = path.find('.', i);
    out.push_back(path.substr(i, dot == std::string::npos ? std::string::npos : dot - i));
    if (dot == std::string::npos) break;
    i = dot + 1;
  }
  return out;
}

const Json* atPath(const Json& object, const std::string& path) {
  const Json* at = &object;
  for (const auto& seg : pathSegments(path)) {
    if (!at->is_object()) return nullptr;
    auto it = at->find(seg);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at;
}

void setAtPath(Json& object, const std::string& path, Json value) {
  Json* at = &object;
  for (const auto& seg : pathSegments(path)) {
    if (!at->is_object()) *at = Json::object();
    at = &(*at)[seg];
  }
  *at = std::move(value);
}

// A LabelSelector as its string form: requirements sorted by key, as
// metav1.LabelSelectorAsSelector(...).String() renders them.
std::string selectorString(const Json& selector) {
  std::vector<std::pair<std::string, std::string>> reqs;
  if (!selector.is_object()) return "";
  if (auto ml = selector.find("matchLabels"); ml != selector.end() && ml->is_object())
    for (auto it = ml->begin(); it != ml->end(); ++it)
      if (it->is_string()) reqs.emplace_back(it.key(), it.key() + "=" + it->get<std::string>());
  if (auto me = selector.find("matchExpressions"); me != selector.end() && me->is_array())
    for (const auto& e : *me) {
      if (!e.is_object()) continue;
      const std::string key = e.value("key", ""), op = e.value("operator", "");
      std::vector<std::string> values;
      if (e.contains("values") && e["values"].is_array())
        for (const auto& v : e["values"])
          if (v.is_string()) values.push_back(v.get<std::string>());
      std::sort(values.begin(), values.end());
      std::string list;
      for (const auto& v : values) list += (list.empty() ? "" : ",") + v;
      if (op == "In") reqs.emplace_back(key, key + " in (" + list + ")");
      else if (op == "NotIn") reqs.emplace_back(key, key + " notin (" + list + ")");
      else if (op == "Exists") reqs.emplace_back(key, key);
      else if (op == "DoesNotExist") reqs.emplace_back(key, "!" + key);
    }
  std::stable_sort(reqs.begin(), reqs.end(), [](auto& a, auto& b) { return a.first < b.first; });
  std::string out;
  for (const auto& r : reqs) out += (out.empty() ? "" : ",") + r.second;
  return out;
}

int64_t replicasAt(const Json& object, const std::string& path, int64_t absent) {
  const Json* v = atPath(object, path);
  return v && v->is_number_integer() ? v->get<int64_t>() : absent;
}

// The object as an autoscaling/v1 Scale (spec.replicas is omitempty there:
// 0 replicas is `"spec": {}`).
Json scaleOf(const ResourceType& type, const Json& object) {
  const ScaleSubresource& sc = *type.scale;
  const Json& meta = metadataOf(object);
  Json m = Json::object();
  for (const char* f : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"})
    if (meta.contains(f)) m[f] = meta[f];
  Json spec = Json::object();
  if (int64_t r = replicasAt(object, sc.specReplicasPath, sc.absentReplicas); r != 0) spec["replicas"] = r;
  Json status{{"replicas", replicasAt(object, sc.statusReplicasPath, 0)}};
  std::string selector;
  if (type.builtin) {
    if (const Json* sel = atPath(object, ".spec.selector")) selector = selectorString(*sel);
  } else if (!sc.labelSelectorPath.empty()) {
    if (const Json* sel = atPath(object, sc.labelSelectorPath); sel && sel->is_string()) selector = sel->get<std::string>();
  }
  if (!selector.empty()) status["selector"] = selector;
  return {{"kind", "Scale"}, {"apiVersion", "autoscaling/v1"}, {"metadata", m}, {"spec", spec}, {"status", status}};
}

}  // namespace

ObjectStore::ObjectStore(Options options) : options_(options), random_(std::random_device{}()) {
  // What a fresh cluster has.
  auto nsType = registry_.findGroupResource("", "namespaces");
  for (const char* name : {"default", "kube-system", "kube-public", "kube-node-lease"})
    createLocked(*nsType, "v1", "", Json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}},
                 false);
}

ResourceTypePtr ObjectStore::resolve(const std::string& group, const std::string& version,
                                     const std::string& plural) const {
  std::lock_guard lock(mu_);
  return registry_.find(group, version, plural);
}

const ObjectStore::ObjectMap* ObjectStore::objectsOf(const ResourceType& type) const {
  auto it = data_.find(type.storageKey());
  return it == data_.end() ? nullptr : &it->second;
}

ObjectPtr ObjectStore::find(const ResourceType& type, const std::string& key) const {
  const ObjectMap* objects = objectsOf(type);
  if (!objects) return nullptr;
  auto it = objects->find(key);
  return it == objects->end() ? nullptr : it->second;
}

void ObjectStore::requireServed(const ResourceType& type) const {
  // The caller resolved `type` before taking the lock; its CRD may be gone since.
  if (!registry_.findGroupResource(type.group, type.plural)) throw resourceNotFound();
}

uint64_t ObjectStore::resourceVersion() const {
  std::lock_guard lock(mu_);
  return resourceVersion_;
}

// ---------------------------------------------------------------- reads

ObjectPtr ObjectStore::get(const ResourceType& type, const std::string& ns, const std::string& name) const {
  std::lock_guard lock(mu_);
  requireServed(type);
  auto obj = find(type, objectKey(ns, name));
  if (!obj) throw notFound(type.group, type.plural, name);
  return obj;
}

ObjectStore::ObjectMap ObjectStore::snapshotAt(const ResourceType& type, uint64_t rv) const {
  // Undo, newest first, every change made after `rv`: the state a consistent
  // read at `rv` sees (what etcd's MVCC gives the real server).
  ObjectMap snapshot;
  if (const ObjectMap* objects = objectsOf(type)) snapshot = *objects;
  const std::string storageKey = type.storageKey();
  for (auto it = log_.rbegin(); it != log_.rend() && (*it)->resourceVersion > rv; ++it) {
    const Event& e = **it;
    if (e.storageKey != storageKey) continue;
    if (e.type == EventType::Added)
      snapshot.erase(e.key);
    else
      snapshot[e.key] = e.prev;
  }
  return snapshot;
}

ListResult ObjectStore::list(const ResourceType& type, const std::string& ns, const ListOptions& options) const {
  std::lock_guard lock(mu_);
  requireServed(type);
  uint64_t snapshotRv = resourceVersion_;
  std::string startAfter;
  if (!options.continueToken.empty()) {
    if (!options.resourceVersion.empty() && options.resourceVersion != "0")
      throw badRequest("specifying resource version is not allowed when using continue");
    auto [rv, start] = decodeContinue(options.continueToken);
    if (rv > resourceVersion_) throw badRequest("continue key is not valid: the token is from the future");
    if (rv < compactedThrough_) {
      ApiError e = expired(
          "The provided continue parameter is too old to display a consistent list result. You can start a new list "
          "without the continue parameter, or use the continue token in this response to retrieve the remainder of "
          "the results. Continuing with the provided token results in an inconsistent list - objects that were "
          "created, modified, or deleted between the time the first chunk was returned and now may show up in the "
          "list.");
      e.metadata = {{"continue", encodeContinue(resourceVersion_, start)}};
      throw e;
    }
    snapshotRv = rv;
    startAfter = start;
  } else if (!options.resourceVersion.empty() && options.resourceVersion != "0") {
    auto rv = parseResourceVersion(options.resourceVersion);
    if (!rv) throw badRequest("invalid resource version: " + options.resourceVersion);
    if (*rv > resourceVersion_) throw tooLargeResourceVersion(*rv, resourceVersion_);
    if (options.resourceVersionMatch == "Exact") {
      if (*rv < compactedThrough_)
        throw expired("too old resource version: " + std::to_string(*rv) + " (" + std::to_string(compactedThrough_) + ")");
      snapshotRv = *rv;
    }
  }

  ObjectMap snapshot;
  const ObjectMap* source = objectsOf(type);
  if (snapshotRv != resourceVersion_) {
    snapshot = snapshotAt(type, snapshotRv);
    source = &snapshot;
  }
  ListResult result;
  result.resourceVersion = snapshotRv;
  if (!source) return result;

  const std::string prefix = ns.empty() ? "" : ns + "/";
  auto it = !startAfter.empty() ? source->upper_bound(startAfter) : source->lower_bound(prefix);
  std::string lastKey;
  bool more = false;
  for (; it != source->end() && startsWith(it->first, prefix); ++it) {
    // Like the real server: once the page is full, any further key (matching
    // or not) means "there may be more", and the client gets a continue token.
    if (options.limit > 0 && static_cast<int64_t>(result.items.size()) == options.limit) {
      more = true;
      break;
    }
    if (!options.labels.matches(*it->second) || !options.fields.matches(*it->second)) continue;
    result.items.push_back(it->second);
    lastKey = it->first;
  }
  if (more) {
    result.continueToken = encodeContinue(snapshotRv, lastKey);
    if (options.labels.empty() && options.fields.empty()) {
      int64_t remaining = 0;
      for (; it != source->end() && startsWith(it->first, prefix); ++it) ++remaining;
      result.remainingItemCount = remaining;
    }
  }
  return result;
}

// ---------------------------------------------------------------- writes

ObjectPtr ObjectStore::commit(const ResourceType& type, EventType eventType, Json next, ObjectPtr prev) {
  const uint64_t rv = ++resourceVersion_;
  next["metadata"]["resourceVersion"] = std::to_string(rv);
  auto object = std::make_shared<const Json>(std::move(next));
  auto event = std::make_shared<Event>();
  event->resourceVersion = rv;
  event->storageKey = type.storageKey();
  event->ns = namespaceOf(*object);
  event->key = objectKey(event->ns, nameOf(*object));
  event->type = eventType;
  event->object = object;
  event->prev = std::move(prev);

  ObjectMap& objects = mutableObjectsOf(type);
  if (eventType == EventType::Deleted)
    objects.erase(event->key);
  else
    objects[event->key] = object;

  log_.push_back(event);
  if (options_.maxRetainedEvents > 0) {
    while (log_.size() > options_.maxRetainedEvents) {
      compactedThrough_ = log_.front()->resourceVersion;
      log_.pop_front();
    }
  }
  for (auto& w : watchers_)
    if (!w->closed_ && w->type->storageKey() == event->storageKey && (w->ns.empty() || w->ns == event->ns))
      w->queue_.push_back(event);
  changed_.notify_all();
  return object;
}

void ObjectStore::validateForWrite(const ResourceType& type, const std::string& version, Json& object) const {
  validateLabelsAndAnnotations(type, object);
  if (!type.builtin) {
    // Custom resources: the CRD's structural schema prunes unknown fields,
    // applies defaults and validates, as the real server does.
    auto it = type.schemas.find(version);
    if (it == type.schemas.end()) it = type.schemas.find(type.storageVersion);
    if (it != type.schemas.end()) {
      auto causes = applySchema(it->second, object);
      if (!causes.empty()) throw invalid(type.group, type.kind, nameOf(object), causes);
    }
  }
  if (isCrdType(type)) {
    resourceTypeFromCrd(object);  // throws 422 when the CRD is invalid
  }
  if (type.builtin) {
    auto causes = validateBuiltin(type.group, type.kind, object);
    if (!causes.empty()) throw invalid(type.group, type.kind, nameOf(object), causes);
  }
}

ObjectPtr ObjectStore::create(const ResourceType& type, const std::string& version, const std::string& ns, Json body,
                              bool dryRun, const std::string& manager) {
  std::lock_guard lock(mu_);
  requireServed(type);
  return createLocked(type, version, ns, std::move(body), dryRun, manager);
}

ObjectPtr ObjectStore::createLocked(const ResourceType& type, const std::string& version, const std::string& ns,
                                    Json body, bool dryRun, const std::string& manager) {
  if (!body.is_object()) throw badRequest("the body of the request must be a JSON object");
  checkTypeMeta(type, version, body);
  Json& meta = metadataFor(body);
  if (type.namespaced) {
    const std::string bodyNs = metaString(body, "namespace");
    if (!bodyNs.empty() && bodyNs != ns)
      throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
    meta["namespace"] = ns;
  } else {
    meta.erase("namespace");
  }
  std::string name = metaString(body, "name");
  if (name.empty()) {
    std::string prefix = metaString(body, "generateName");
    if (!prefix.empty()) {
      // The real server truncates the prefix to leave room for 5 random characters.
      name = prefix.substr(0, 58) + generateNameSuffix();
      meta["name"] = name;
    }
  }
  if (name.empty())
    throw invalid(type.group, type.kind, "",
                  {{"FieldValueRequired", "metadata.name", "Required value: name or generateName is required"}});
  validateName(type, name);
  if (!metaString(body, "resourceVersion").empty())
    throw badRequest("resourceVersion should not be set on objects to be created");

  if (type.namespaced) {
    auto nsObj = find(*registry_.findGroupResource("", "namespaces"), ns);
    if (!nsObj) throw notFound("", "namespaces", ns);
    if (isTerminating(*nsObj)) {
      ApiError e = forbidden(type.group, type.plural, name,
                             "unable to create new content in namespace " + ns + " because it is being terminated");
      e.details["causes"] = {{{"reason", "NamespaceTerminating"},
                              {"message", "namespace " + ns + " is being terminated"},
                              {"field", "metadata.namespace"}}};
      throw e;
    }
  }
  if (!type.builtin) {
    auto crd = find(*registry_.findGroupResource("apiextensions.k8s.io", "customresourcedefinitions"),
                    type.plural + "." + type.group);
    if (crd && isTerminating(*crd))
      throw methodNotAllowed("create not allowed while custom resource definition is terminating");
  }
  const std::string key = objectKey(type.namespaced ? ns : "", name);
  if (find(type, key)) throw alreadyExists(type.group, type.plural, name);

  meta["uid"] = newUid();
  meta["creationTimestamp"] = formatTimestamp(now());
  meta["generation"] = 1;
  for (const char* f : {"deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"}) meta.erase(f);
  if (type.statusSubresource) body.erase("status");  // status is written through /status only
  body["apiVersion"] = type.apiVersion(type.storageVersion);
  body["kind"] = type.kind;
  if (isNamespaceType(type)) {
    body["spec"]["finalizers"] = {"kubernetes"};
    body["status"] = {{"phase", "Active"}};
    meta["labels"]["kubernetes.io/metadata.name"] = name;  // set (and kept) by the real server since 1.21
  }
  if (isCrdType(type)) defaultCrd(body);
  validateForWrite(type, version, body);
  if (isCrdType(type) && typeOfCrd(body))  // a built-in resource of the same group and plural
    throw alreadyExists("apiextensions.k8s.io", "customresourcedefinitions", name);
  if (!manager.empty()) updateManagedFields(type, type.apiVersion(version), nullptr, body, manager, false, now());
  if (dryRun) return std::make_shared<const Json>(std::move(body));

  auto created = commit(type, EventType::Added, std::move(body), nullptr);
  afterCreate(type, created);
  return created;
}

ObjectPtr ObjectStore::update(const ResourceType& type, const std::string& version, const std::string& ns,
                              const std::string& name, Json body, Target target, bool dryRun,
                              const std::string& manager) {
  std::lock_guard lock(mu_);
  requireServed(type);
  if (!body.is_object()) throw badRequest("the body of the request must be a JSON object");
  checkTypeMeta(type, version, body);
  return updateLocked(type, version, ns, name, std::move(body), target, dryRun, manager);
}

ObjectPtr ObjectStore::patch(const ResourceType& type, const std::string& version, const std::string& ns,
                             const std::string& name, PatchType patchType, const std::string& patchBody, Target target,
                             bool dryRun, const std::string& manager) {
  std::lock_guard lock(mu_);
  requireServed(type);
  auto current = find(type, objectKey(ns, name));
  if (!current) throw notFound(type.group, type.plural, name);
  // The patch applies to the object as the client sees it (its version).
  Json base = *current;
  base["apiVersion"] = type.apiVersion(version);
  Json patched = applyPatch(patchType, base, patchBody, !type.builtin);
  if (!patched.is_object()) throw badRequest("the patched object is not a JSON object");
  checkTypeMeta(type, version, patched);
  return updateLocked(type, version, ns, name, std::move(patched), target, dryRun, manager);
}

ObjectPtr ObjectStore::updateLocked(const ResourceType& type, const std::string& version, const std::string& ns,
                                    const std::string& name, Json body, Target target, bool dryRun,
                                    const std::string& manager) {
  Json& meta = metadataFor(body);
  const std::string bodyName = metaString(body, "name");
  if (bodyName != name)
    throw badRequest("the name of the object (" + bodyName + ") does not match the name on the URL (" + name + ")");
  if (type.namespaced) {
    const std::string bodyNs = metaString(body, "namespace");
    if (!bodyNs.empty() && bodyNs != ns)
      throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
    meta["namespace"] = ns;
  } else {
    meta.erase("namespace");
  }
  auto current = find(type, objectKey(ns, name));
  if (!current) throw notFound(type.group, type.plural, name);

  // Optimistic concurrency: a resourceVersion in the body must be the stored one.
  const std::string rv = metaString(body, "resourceVersion");
  if (!rv.empty() && rv != resourceVersionOf(*current)) throw conflict(type.group, type.plural, name);
  const std::string uid = metaString(body, "uid"), currentUid = metaString(*current, "uid");
  if (!uid.empty() && uid != currentUid)
    throw conflict(type.group, type.plural, name,
                   "Precondition failed: UID in precondition: " + uid + ", UID in object meta: " + currentUid);

  Json next;
  if (target == Target::Status) {
    // Through /status only .status changes; spec and metadata stay as stored.
    next = *current;
    if (body.contains("status"))
      next["status"] = body["status"];
    else
      next.erase("status");
  } else {
    next = std::move(body);
    Json& nm = next["metadata"];
    const Json& cm = (*current)["metadata"];
    for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"}) {
      if (cm.contains(f))
        nm[f] = cm[f];
      else
        nm.erase(f);
    }
    // managedFields: absent, null or [] keep the stored ones (a client that
    // PUTs an object it read without them loses nothing); [{}] resets them;
    // anything else replaces them — the real server's rules.
    const auto sent = nm.find("managedFields");
    const bool keep = sent == nm.end() || sent->is_null() || (sent->is_array() && sent->empty());
    const bool reset = sent != nm.end() && sent->is_array() && sent->size() == 1 && (*sent)[0] == Json::object();
    if (keep && cm.contains("managedFields"))
      nm["managedFields"] = cm["managedFields"];
    else if (keep || reset || !sent->is_array())
      nm.erase("managedFields");
    nm.erase("selfLink");
    if (type.statusSubresource) {
      // The main resource ignores .status when the type has a status subresource.
      if (current->contains("status"))
        next["status"] = (*current)["status"];
      else
        next.erase("status");
    }
    if (isNamespaceType(type)) {
      next["spec"] = current->value("spec", Json::object());  // spec.finalizers: /finalize only
      nm["labels"]["kubernetes.io/metadata.name"] = name;
    }
    if (isTerminating(*current)) {
      auto before = finalizersOf(*current);
      std::vector<std::string> added;
      for (const auto& f : finalizersOf(next))
        if (std::find(before.begin(), before.end(), f) == before.end()) added.push_back(f);
      if (!added.empty()) {
        std::string list;
        for (const auto& f : added) list += (list.empty() ? "\"" : ", \"") + f + "\"";
        throw invalid(type.group, type.kind, name,
                      {{"FieldValueForbidden", "metadata.finalizers",
                        "Forbidden: no new finalizers can be added if the object is being deleted, found new "
                        "finalizers []string{" + list + "}"}});
      }
    }
  }
  next["apiVersion"] = type.apiVersion(type.storageVersion);
  next["kind"] = type.kind;
  validateForWrite(type, version, next);
  if (!manager.empty())
    updateManagedFields(type, type.apiVersion(version), current.get(), next, manager, target == Target::Status, now());
  return commitUpdate(type, current, std::move(next), dryRun);
}

ObjectPtr ObjectStore::commitUpdate(const ResourceType& type, const ObjectPtr& current, Json next, bool dryRun) {
  Json& meta = next["metadata"];
  const int64_t generation = (*current)["metadata"].value("generation", int64_t{0});
  meta["generation"] = sameSpec(*current, next, type.statusSubresource) ? generation : generation + 1;
  meta["resourceVersion"] = resourceVersionOf(*current);
  // Writing what is already stored changes nothing: no new resourceVersion,
  // no watch event (etcd's guaranteedUpdate short-circuits the same way).
  if (next == *current) return current;
  if (dryRun) return std::make_shared<const Json>(std::move(next));

  const bool unblocked = isTerminating(next) && finalizersOf(next).empty() &&
                         !(isNamespaceType(type) && !namespaceEmpty(nameOf(next))) &&
                         !(isCrdType(type) && typeOfCrd(next) && crdHasInstances(*typeOfCrd(next)));
  if (unblocked) {
    // The last finalizer is gone from an object being deleted: it goes now.
    // The DELETED event carries the last stored state (as etcd's does).
    erase(type, current);
    meta["resourceVersion"] = std::to_string(resourceVersion_);
    return std::make_shared<const Json>(std::move(next));
  }
  auto updated = commit(type, EventType::Modified, std::move(next), current);
  afterUpdate(type, updated);
  return updated;
}

// ---------------------------------------------------------------- scale

Json ObjectStore::getScale(const ResourceType& type, const std::string& ns, const std::string& name) const {
  std::lock_guard lock(mu_);
  requireServed(type);
  auto obj = find(type, objectKey(ns, name));
  if (!obj) throw notFound(type.group, type.plural, name);
  return scaleOf(type, *obj);
}

Json ObjectStore::updateScale(const ResourceType& type, const std::string& ns, const std::string& name, Json scale,
                              bool dryRun) {
  std::lock_guard lock(mu_);
  requireServed(type);
  return updateScaleLocked(type, ns, name, std::move(scale), dryRun);
}

Json ObjectStore::patchScale(const ResourceType& type, const std::string& ns, const std::string& name,
                             PatchType patchType, const std::string& patchBody, bool dryRun) {
  std::lock_guard lock(mu_);
  requireServed(type);
  auto current = find(type, objectKey(ns, name));
  if (!current) throw notFound(type.group, type.plural, name);
  // Scale is a built-in kind: strategic merge patches are accepted, also for custom resources.
  Json patched = applyPatch(patchType, scaleOf(type, *current), patchBody, false);
  return updateScaleLocked(type, ns, name, std::move(patched), dryRun);
}

Json ObjectStore::updateScaleLocked(const ResourceType& type, const std::string& ns, const std::string& name,
                                    Json scale, bool dryRun) {
  if (!scale.is_object()) throw badRequest("the body of the request must be a JSON object");
  const std::string kind = scale.value("kind", ""), apiVersion = scale.value("apiVersion", "");
  if (!kind.empty() && kind != "Scale")
    throw badRequest("the kind in the data (" + kind + ") does not match the expected kind (Scale)");
  if (!apiVersion.empty() && apiVersion != "autoscaling/v1")
    throw badRequest("the API version in the data (" + apiVersion +
                     ") does not match the expected API version (autoscaling/v1)");
  Json& meta = metadataFor(scale);
  const std::string bodyName = meta.value("name", "");
  if (bodyName != name)
    throw badRequest("the name of the object (" + bodyName + ") does not match the name on the URL (" + name + ")");
  if (type.namespaced && meta.contains("namespace") && meta["namespace"].is_string() && meta["namespace"] != ns)
    throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
  auto current = find(type, objectKey(ns, name));
  if (!current) throw notFound(type.group, type.plural, name);
  const std::string rv = meta.value("resourceVersion", "");
  if (!rv.empty() && rv != resourceVersionOf(*current)) throw conflict(type.group, type.plural, name);

  int64_t replicas = 0;  // omitempty: no spec.replicas is 0
  if (scale.contains("spec") && scale["spec"].is_object() && scale["spec"].contains("replicas")) {
    const Json& r = scale["spec"]["replicas"];
    if (!r.is_number_integer())
      throw badRequest("json: cannot unmarshal " + std::string(r.type_name()) +
                       " into Go struct field ScaleSpec.spec.replicas of type int32");
    replicas = r.get<int64_t>();
  }
  if (replicas < 0)
    throw invalid("autoscaling", "Scale", name,
                  {{"FieldValueInvalid", "spec.replicas",
                    "Invalid value: " + std::to_string(replicas) + ": must be greater than or equal to 0"}});
  Json next = *current;
  setAtPath(next, type.scale->specReplicasPath, replicas);
  validateForWrite(type, type.storageVersion, next);
  auto updated = commitUpdate(type, current, std::move(next), dryRun);
  return scaleOf(type, *updated);
}

DeleteResult ObjectStore::remove(const ResourceType& type, const std::string& ns, const std::string& name,
                                 const Json& options, bool dryRun) {
  std::lock_guard lock(mu_);
  requireServed(type);
  return removeLocked(type, ns, name, options, dryRun);
}

std::vector<ObjectPtr> ObjectStore::removeCollection(const ResourceType& type, const std::string& ns,
                                                     const ListOptions& selection, const Json& options, bool dryRun) {
  std::lock_guard lock(mu_);
  requireServed(type);
  std::vector<std::pair<std::string, std::string>> selected;  // namespace, name
  if (const ObjectMap* objects = objectsOf(type)) {
    const std::string prefix = ns.empty() ? "" : ns + "/";
    for (auto it = objects->lower_bound(prefix); it != objects->end() && startsWith(it->first, prefix); ++it)
      if (selection.labels.matches(*it->second) && selection.fields.matches(*it->second))
        selected.emplace_back(namespaceOf(*it->second), nameOf(*it->second));
  }
  std::vector<ObjectPtr> out;
  for (const auto& [objNs, name] : selected) {
    if (!find(type, objectKey(objNs, name))) continue;  // went with an earlier one (a namespace's contents)
    out.push_back(removeLocked(type, objNs, name, options, dryRun).object);
  }
  return out;
}

DeleteResult ObjectStore::removeLocked(const ResourceType& type, const std::string& ns, const std::string& name,
                                       const Json& options, bool dryRun) {
  auto current = find(type, objectKey(ns, name));
  if (!current) throw notFound(type.group, type.plural, name);
  if (options.is_object() && options.contains("preconditions") && options["preconditions"].is_object()) {
    const Json& pre = options["preconditions"];
    const std::string uid = pre.value("uid", ""), rv = pre.value("resourceVersion", "");
    if (!uid.empty() && uid != metaString(*current, "uid"))
      throw conflict(type.group, type.plural, name,
                     "Precondition failed: UID in precondition: " + uid + ", UID in object meta: " +
                         metaString(*current, "uid"));
    if (!rv.empty() && rv != resourceVersionOf(*current))
      throw conflict(type.group, type.plural, name,
                     "Precondition failed: ResourceVersion in precondition: " + rv +
                         ", ResourceVersion in object meta: " + resourceVersionOf(*current));
  }
  if (isNamespaceType(type) && (name == "default" || name == "kube-system" || name == "kube-public"))
    throw forbidden("", "namespaces", name, "this namespace may not be deleted");
  if (isTerminating(*current)) return {current, false};  // already on its way out

  const bool graceful = !finalizersOf(*current).empty() || isNamespaceType(type) ||
                        (isCrdType(type) && typeOfCrd(*current) && crdHasInstances(*typeOfCrd(*current)));
  if (!graceful) {
    if (dryRun) return {current, true};
    Json last = *current;
    erase(type, current);
    last["metadata"]["resourceVersion"] = std::to_string(resourceVersion_);
    return {std::make_shared<const Json>(std::move(last)), true};
  }
  // Finalizers (or contents) keep it: mark it, and let whoever owns the
  // finalizers remove them. The real server bumps generation here too.
  Json next = *current;
  next["metadata"]["deletionTimestamp"] = formatTimestamp(now());
  next["metadata"]["deletionGracePeriodSeconds"] = 0;
  next["metadata"]["generation"] = (*current)["metadata"].value("generation", int64_t{0}) + 1;
  if (isNamespaceType(type)) next["status"]["phase"] = "Terminating";
  if (dryRun) return {std::make_shared<const Json>(std::move(next)), false};
  auto marked = commit(type, EventType::Modified, std::move(next), current);
  if (isNamespaceType(type)) beginNamespaceTermination(marked);
  if (isCrdType(type)) beginCrdTermination(marked);
  auto after = find(type, objectKey(ns, name));
  return {after ? after : marked, after == nullptr};
}

void ObjectStore::erase(const ResourceType& type, const ObjectPtr& current) {
  commit(type, EventType::Deleted, *current, current);
  if (isCrdType(type)) {
    if (auto crType = typeOfCrd(*current)) {
      // Its custom resources' endpoints disappear and their watches end.
      for (auto& w : watchers_)
        if (w->type->storageKey() == crType->storageKey()) w->closed_ = true;
      data_.erase(crType->storageKey());
      registry_.remove(crType->group, crType->plural);
      changed_.notify_all();
    }
  }
  finishTerminations(type, namespaceOf(*current));
}

void ObjectStore::finishTerminations(const ResourceType& type, const std::string& ns) {
  if (type.namespaced && !ns.empty()) {
    auto nsType = registry_.findGroupResource("", "namespaces");
    auto nsObj = find(*nsType, ns);
    if (nsObj && isTerminating(*nsObj) && finalizersOf(*nsObj).empty() && namespaceEmpty(ns)) erase(*nsType, nsObj);
  }
  if (!type.builtin) {
    auto crdType = registry_.findGroupResource("apiextensions.k8s.io", "customresourcedefinitions");
    auto crd = find(*crdType, type.plural + "." + type.group);
    if (crd && isTerminating(*crd) && finalizersOf(*crd).empty() && !crdHasInstances(type)) erase(*crdType, crd);
  }
}

// ---------------------------------------------------------------- kinds with behaviour

void ObjectStore::afterCreate(const ResourceType& type, const ObjectPtr& created) {
  if (isCrdType(type)) {
    registry_.put(resourceTypeFromCrd(*created));
    writeCrdStatus(created);
  }
}

void ObjectStore::afterUpdate(const ResourceType& type, const ObjectPtr& updated) {
  if (isCrdType(type) && !isTerminating(*updated)) {
    registry_.put(resourceTypeFromCrd(*updated));
    writeCrdStatus(updated);
  }
}

void ObjectStore::writeCrdStatus(const ObjectPtr& crd) {
  // What the apiextensions controllers write: the names are accepted, the
  // CRD is established (served), and which versions objects were stored in.
  Json next = *crd;
  Json& status = next["status"];
  if (!status.is_object()) status = Json::object();
  auto condition = [&](const std::string& type, const std::string& reason, const std::string& message) {
    Json c{{"type", type}, {"status", "True"}, {"reason", reason}, {"message", message},
           {"lastTransitionTime", formatTimestamp(now())}};
    if (status.contains("conditions"))
      for (const auto& old : status["conditions"])
        if (old.value("type", "") == type && old.value("status", "") == "True")
          c["lastTransitionTime"] = old.value("lastTransitionTime", c["lastTransitionTime"].get<std::string>());
    return c;
  };
  Json conditions = Json::array({condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                                 condition("Established", "InitialNamesAccepted", "the initial names have been accepted")});
  status["conditions"] = conditions;
  status["acceptedNames"] = next["spec"]["names"];
  Json stored = status.contains("storedVersions") && status["storedVersions"].is_array() ? status["storedVersions"]
                                                                                         : Json::array();
  if (auto t = typeOfCrd(next); t && std::find(stored.begin(), stored.end(), t->storageVersion) == stored.end())
    stored.push_back(t->storageVersion);
  status["storedVersions"] = stored;
  if (next != *crd) commit(*registry_.findGroupResource("apiextensions.k8s.io", "customresourcedefinitions"),
                           EventType::Modified, std::move(next), crd);
}

void ObjectStore::beginNamespaceTermination(const ObjectPtr& nsObj) {
  // The namespace controller's work, done at once: delete everything in it.
  // Objects with finalizers stay (terminating) and hold the namespace until
  // they are gone; then finishTerminations removes it.
  const std::string ns = nameOf(*nsObj);
  const std::string prefix = ns + "/";
  std::vector<ResourceTypePtr> types = registry_.all();
  for (const auto& t : types) {
    if (!t->namespaced || !registry_.findGroupResource(t->group, t->plural)) continue;
    std::vector<std::string> names;
    if (const ObjectMap* objects = objectsOf(*t))
      for (auto it = objects->lower_bound(prefix); it != objects->end() && startsWith(it->first, prefix); ++it)
        names.push_back(nameOf(*it->second));
    for (const auto& name : names)
      if (find(*t, objectKey(ns, name))) removeLocked(*t, ns, name, nullptr, false);
  }
  auto nsType = registry_.findGroupResource("", "namespaces");
  auto current = find(*nsType, ns);
  if (current && finalizersOf(*current).empty() && namespaceEmpty(ns)) erase(*nsType, current);
}

void ObjectStore::beginCrdTermination(const ObjectPtr& crd) {
  // The CRD's cleanup: delete every instance; those with finalizers hold the CRD.
  auto crType = typeOfCrd(*crd);
  auto crdType = registry_.findGroupResource("apiextensions.k8s.io", "customresourcedefinitions");
  if (crType) {
    std::vector<std::pair<std::string, std::string>> instances;
    if (const ObjectMap* objects = objectsOf(*crType))
      for (const auto& [key, obj] : *objects) instances.emplace_back(namespaceOf(*obj), nameOf(*obj));
    for (const auto& [ns, name] : instances)
      if (find(*crType, objectKey(ns, name))) removeLocked(*crType, ns, name, nullptr, false);
  }
  auto current = find(*crdType, nameOf(*crd));
  if (current && finalizersOf(*current).empty() && !(crType && crdHasInstances(*crType))) erase(*crdType, current);
}

bool ObjectStore::namespaceEmpty(const std::string& ns) const {
  const std::string prefix = ns + "/";
  for (const auto& [storageKey, objects] : data_) {
    auto it = objects.lower_bound(prefix);
    if (it != objects.end() && startsWith(it->first, prefix)) return false;
  }
  return true;
}

bool ObjectStore::crdHasInstances(const ResourceType& crType) const {
  const ObjectMap* objects = objectsOf(crType);
  return objects && !objects->empty();
}

ResourceTypePtr ObjectStore::typeOfCrd(const Json& crd) const {
  auto spec = crd.find("spec");
  if (spec == crd.end() || !spec->is_object() || !spec->contains("names")) return nullptr;
  return registry_.findGroupResource(spec->value("group", ""), (*spec)["names"].value("plural", ""));
}

// ---------------------------------------------------------------- watch

std::shared_ptr<Watcher> ObjectStore::watch(ResourceTypePtr type, const std::string& version, const std::string& ns,
                                            const WatchOptions& options) {
  std::lock_guard lock(mu_);
  auto w = std::make_shared<Watcher>();
  w->type = type;
  w->version = version;
  w->ns = ns;
  w->labels = options.labels;
  w->fields = options.fields;
  if (shutdown_) {
    w->closed_ = true;
    return w;
  }
  requireServed(*type);
  const std::string& rvText = options.resourceVersion;
  if (rvText.empty() || rvText == "0" || options.sendInitialEvents) {
    // No resourceVersion: the current state as ADDED events, then changes.
    if (const ObjectMap* objects = objectsOf(*type)) {
      const std::string prefix = ns.empty() ? "" : ns + "/";
      for (auto it = objects->lower_bound(prefix); it != objects->end() && startsWith(it->first, prefix); ++it) {
        auto e = std::make_shared<Event>();
        e->resourceVersion = std::stoull(resourceVersionOf(*it->second));
        e->storageKey = type->storageKey();
        e->key = it->first;
        e->ns = namespaceOf(*it->second);
        e->type = EventType::Added;
        e->object = it->second;
        w->queue_.push_back(e);
      }
    }
    if (options.sendInitialEvents) {
      auto e = std::make_shared<Event>();
      e->resourceVersion = resourceVersion_;
      e->type = EventType::InitialEventsEnd;
      w->queue_.push_back(e);
    }
  } else {
    auto rv = parseResourceVersion(rvText);
    if (!rv) throw badRequest("invalid resource version: " + rvText);
    if (*rv < compactedThrough_) {
      // The real server answers 200 and an ERROR event carrying the 410.
      w->error_ = expired("too old resource version: " + rvText + " (" + std::to_string(compactedThrough_) + ")");
      return w;
    }
    if (*rv > resourceVersion_) {
      w->error_ = tooLargeResourceVersion(*rv, resourceVersion_);
      return w;
    }
    auto first = std::upper_bound(log_.begin(), log_.end(), *rv,
                                  [](uint64_t v, const EventPtr& e) { return v < e->resourceVersion; });
    for (auto it = first; it != log_.end(); ++it)
      if ((*it)->storageKey == type->storageKey() && (ns.empty() || (*it)->ns == ns)) w->queue_.push_back(*it);
  }
  watchers_.push_back(w);
  return w;
}

PollResult ObjectStore::poll(Watcher& w, std::chrono::steady_clock::time_point until) {
  std::unique_lock lock(mu_);
  changed_.wait_until(lock, until, [&] { return !w.queue_.empty() || w.closed_ || w.error_ || shutdown_; });
  PollResult r;
  r.events.assign(w.queue_.begin(), w.queue_.end());
  w.queue_.clear();
  r.error = std::move(w.error_);
  w.error_.reset();
  r.closed = w.closed_ || shutdown_ || r.error.has_value();
  r.resourceVersion = resourceVersion_;
  return r;
}

void ObjectStore::unregister(const std::shared_ptr<Watcher>& watcher) {
  std::lock_guard lock(mu_);
  std::erase(watchers_, watcher);
}

size_t ObjectStore::openWatches() const {
  std::lock_guard lock(mu_);
  return watchers_.size();
}

void ObjectStore::closeWatches() {
  std::lock_guard lock(mu_);
  for (auto& w : watchers_) w->closed_ = true;
  changed_.notify_all();
}

void ObjectStore::shutdown() {
  std::lock_guard lock(mu_);
  shutdown_ = true;
  for (auto& w : watchers_) w->closed_ = true;
  changed_.notify_all();
}

void ObjectStore::compact() {
  std::lock_guard lock(mu_);
  compactedThrough_ = resourceVersion_;
  log_.clear();
}

// ---------------------------------------------------------------- identity

std::string ObjectStore::newUid() {
  uint64_t hi = random_(), lo = random_();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64, uint64_t{hi >> 32},
                uint64_t{(hi >> 16) & 0xffff}, uint64_t{hi & 0xffff}, uint64_t{lo >> 48}, uint64_t{lo & 0xffffffffffffULL});
  return buf;
}

std::string ObjectStore::generateNameSuffix() {
  static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";  // the real generator's: no vowels, no 0/1/3
  std::string s;
  for (int i = 0; i < 5; ++i) s += alphabet[random_() % (sizeof alphabet - 1)];
  return s;
}

}  // namespace tributary::apiserver
