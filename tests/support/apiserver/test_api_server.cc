#include "tests/support/apiserver/test_api_server.h"

#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/apiserver/discovery.h"
#include "tests/support/apiserver/managed_fields.h"
#include "tests/support/apiserver/object_meta.h"
#include "tests/support/apiserver/representation.h"
#include "tests/support/apiserver/table.h"
#include "tests/support/apiserver/watch_stream.h"

namespace tributary::apiserver {

using Json = nlohmann::json;

namespace {

constexpr size_t kMaxBodyBytes = 16 * 1024 * 1024;

std::vector<std::string> splitPath(const std::string& path) {
  std::vector<std::string> out;
  std::stringstream ss(path);
  std::string seg;
  while (std::getline(ss, seg, '/'))
    if (!seg.empty()) out.push_back(seg);
  return out;
}

void writeJson(httplib::Response& res, int status, const std::string& body,
               const std::string& contentType = "application/json") {
  res.status = status;
  res.set_content(body, contentType.c_str());
}

void writeStatus(httplib::Response& res, const ApiError& e) {
  if (e.code == 429 || (e.details.is_object() && e.details.contains("retryAfterSeconds")))
    res.set_header("Retry-After", std::to_string(e.details.value("retryAfterSeconds", 1)));
  writeJson(res, e.code, e.status().dump());
}

std::string param(const httplib::Request& req, const char* name) {
  return req.has_param(name) ? req.get_param_value(name) : "";
}

bool boolParam(const httplib::Request& req, const char* name) {
  const std::string v = param(req, name);
  return v == "true" || v == "1";
}

bool dryRun(const httplib::Request& req) {
  const std::string v = param(req, "dryRun");
  if (v.empty()) return false;
  if (v == "All") return true;
  throw badRequest("dryRun: Unsupported value: \"" + v + "\": supported values: \"All\"");
}

int64_t intParam(const httplib::Request& req, const char* name) {
  const std::string v = param(req, name);
  if (v.empty()) return 0;
  try {
    size_t used = 0;
    int64_t n = std::stoll(v, &used);
    if (used == v.size()) return n;
  } catch (const std::exception&) {
  }
  throw badRequest(std::string(name) + ": Invalid value: \"" + v + "\": must be an integer");
}

Json parseBody(const httplib::Request& req, bool allowEmpty) {
  if (req.body.empty()) {
    if (allowEmpty) return nullptr;
    throw badRequest("the request has no body");
  }
  std::string type = req.get_header_value("Content-Type");
  type = type.substr(0, type.find(';'));
  // JSON only: kubectl's typed commands (`kubectl create namespace`, `create
  // configmap`) send protobuf, which this server does not decode; `kubectl
  // apply/create -f` send JSON.
  if (!type.empty() && type != "application/json" && type != "*/*")
    throw unsupportedMediaType(type, "application/json (this test server does not decode protobuf or YAML)");
  Json j = Json::parse(req.body, nullptr, false);
  if (j.is_discarded()) throw badRequest("the request body is not valid JSON");
  return j;
}

std::string classify(const std::string& method, bool collection, bool watch) {
  if (method == "GET") return watch ? "watch" : collection ? "list" : "get";
  if (method == "POST") return "create";
  if (method == "PUT") return "update";
  if (method == "PATCH") return "patch";
  if (method == "DELETE") return collection ? "deletecollection" : "delete";
  return "";
}

// A list body, built as text: at 10 000 objects, copying each into a new
// JSON tree costs more than the rest of the request.
std::string listBody(const ResourceType& type, const std::string& version, const ListResult& list) {
  Json meta{{"resourceVersion", std::to_string(list.resourceVersion)}};
  if (!list.continueToken.empty()) meta["continue"] = list.continueToken;
  if (list.remainingItemCount) meta["remainingItemCount"] = *list.remainingItemCount;
  std::string out = "{\"kind\":" + Json(type.listKind).dump() + ",\"apiVersion\":" +
                    Json(type.apiVersion(version)).dump() + ",\"metadata\":" + meta.dump() + ",\"items\":[";
  bool first = true;
  for (const auto& item : list.items) {
    if (!first) out += ',';
    first = false;
    if (type.builtin) {
      // Typed lists carry no apiVersion/kind on their items; custom resource lists do.
      Json copy = *item;
      copy.erase("apiVersion");
      copy.erase("kind");
      out += copy.dump();
    } else if (version == type.storageVersion) {
      out += item->dump();
    } else {
      out += inVersion(type, version, *item).dump();
    }
  }
  return out + "]}";
}

}  // namespace

TestApiServer::TestApiServer(TestApiServerOptions options)
    : options_(std::move(options)),
      store_(ObjectStore::Options{options_.maxRetainedEvents}),
      http_(options_.workerThreads, kMaxBodyBytes) {
  auto& routes = http_.routes();
  auto handler = [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); };
  routes.Get(".*", handler);
  routes.Post(".*", handler);
  routes.Put(".*", handler);
  routes.Patch(".*", handler);
  routes.Delete(".*", handler);
  // httplib would gzip JSON for clients that accept it (Go's do), including
  // watch streams, where the compressor holds events back until it has a
  // block. The real server streams watches uncompressed, so: no compression.
  // (The Request is httplib's own non-const object; the handler API is const.)
  routes.set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
    const_cast<httplib::Request&>(req).headers.erase("Accept-Encoding");
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Errors the router produces itself are answered as Status objects too.
  routes.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    ApiError e = res.status == 404 ? resourceNotFound()
                 : res.status == 413
                     ? ApiError(413, "RequestEntityTooLarge", "the request body is too large")
                     : ApiError(res.status, res.status >= 500 ? "InternalError" : "BadRequest",
                                "the request could not be served: " + req.method + " " + req.path);
    writeStatus(res, e);
  });
  routes.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    writeStatus(res, ApiError(500, "InternalError", "Internal error occurred: " + what));
  });
}

TestApiServer::~TestApiServer() { stop(); }

void TestApiServer::start() {
  std::string error;
  if (!http_.bind(ListenAddress{options_.host, options_.port}, error)) throw std::runtime_error(error);
  http_.start();
  running_ = true;
}

void TestApiServer::stop() {
  if (!running_) return;
  running_ = false;
  store_.shutdown();  // watch streams end first, or their workers would hold up the join
  http_.stop();
}

void TestApiServer::failNextRequests(int n, int status, const std::string& pathContains) {
  std::lock_guard lock(faultMu_);
  fault_ = Fault{n, status, pathContains};
}

void TestApiServer::dropWatches() { store_.closeWatches(); }

void TestApiServer::setDelay(std::chrono::milliseconds delay) { delayMs_ = delay.count(); }

void TestApiServer::compact() { store_.compact(); }

std::vector<RecordedRequest> TestApiServer::requests() const {
  std::lock_guard lock(requestsMu_);
  return requests_;
}

void TestApiServer::clearRequests() {
  std::lock_guard lock(requestsMu_);
  requests_.clear();
}

std::optional<int> TestApiServer::takeFault(const std::string& path) {
  std::lock_guard lock(faultMu_);
  if (fault_.remaining <= 0) return std::nullopt;
  if (!fault_.pathContains.empty() && path.find(fault_.pathContains) == std::string::npos) return std::nullopt;
  --fault_.remaining;
  return fault_.status;
}

void TestApiServer::handle(const httplib::Request& req, httplib::Response& res) {
  if (int64_t d = delayMs_.load(); d > 0) std::this_thread::sleep_for(std::chrono::milliseconds(d));
  RecordedRequest record{req.method, req.target, "", 0, req.get_header_value("User-Agent")};
  try {
    if (auto status = takeFault(req.path)) throw injected(*status);
    route(req, res, record);
  } catch (const ApiError& e) {
    writeStatus(res, e);
  } catch (const nlohmann::json::exception& e) {
    // A body of the wrong shape (a string where an object belongs, ...).
    writeStatus(res, badRequest(std::string("the request body has the wrong shape: ") + e.what()));
  }
  record.status = res.status;
  std::lock_guard lock(requestsMu_);
  requests_.push_back(std::move(record));
}

void TestApiServer::route(const httplib::Request& req, httplib::Response& res, RecordedRequest& record) {
  const auto segs = splitPath(req.path);
  auto onlyGet = [&] {
    if (req.method != "GET") throw methodNotAllowed();
  };
  if (segs.empty()) {
    onlyGet();
    writeJson(res, 200, Json{{"paths", {"/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"}}}.dump());
    return;
  }
  if (segs.size() == 1 && segs[0] == "version") {
    onlyGet();
    writeJson(res, 200, versionInfo(options_.gitVersion).dump());
    return;
  }
  if (segs.size() == 1 && (segs[0] == "healthz" || segs[0] == "livez" || segs[0] == "readyz")) {
    res.set_content("ok", "text/plain");
    return;
  }
  if (segs[0] == "api") {
    if (segs.size() == 1) {
      onlyGet();
      writeJson(res, 200, apiVersions(options_.host + ":" + std::to_string(port())).dump());
      return;
    }
    if (segs[1] != "v1") throw resourceNotFound();
    if (segs.size() == 2) {
      onlyGet();
      auto list = store_.withRegistry([](const ResourceRegistry& r) { return apiResourceList(r, "", "v1"); });
      writeJson(res, 200, list->dump());
      return;
    }
    serveResource(req, res, record, "", "v1", {segs.begin() + 2, segs.end()});
    return;
  }
  if (segs[0] == "apis") {
    if (segs.size() == 1) {
      onlyGet();
      writeJson(res, 200, store_.withRegistry([](const ResourceRegistry& r) { return apiGroupList(r); }).dump());
      return;
    }
    if (segs.size() == 2) {
      onlyGet();
      auto group = store_.withRegistry([&](const ResourceRegistry& r) { return apiGroup(r, segs[1]); });
      if (!group) throw resourceNotFound();
      writeJson(res, 200, group->dump());
      return;
    }
    if (segs.size() == 3) {
      onlyGet();
      auto list = store_.withRegistry([&](const ResourceRegistry& r) { return apiResourceList(r, segs[1], segs[2]); });
      if (!list) throw resourceNotFound();
      writeJson(res, 200, list->dump());
      return;
    }
    serveResource(req, res, record, segs[1], segs[2], {segs.begin() + 3, segs.end()});
    return;
  }
  // /openapi/v2 and /openapi/v3 included: no OpenAPI documents (kubectl
  // needs --validate=false, and falls back for everything else).
  throw resourceNotFound();
}

void TestApiServer::serveResource(const httplib::Request& req, httplib::Response& res, RecordedRequest& record,
                                  const std::string& group, const std::string& version, std::vector<std::string> rest) {
  // Path forms, after /api/v1 or /apis/{group}/{version}:
  //   [watch/]{plural}[/{name}[/{subresource}]]                     cluster-scoped, or all namespaces
  //   [watch/]namespaces/{ns}/{plural}[/{name}[/{subresource}]]     namespaced
  // (/api/v1/namespaces/{name}[/status] is the namespaces resource itself.)
  bool legacyWatch = false;
  if (!rest.empty() && rest[0] == "watch") {
    legacyWatch = true;
    rest.erase(rest.begin());
  }
  std::string ns;
  bool namespacedPath = false;
  if (rest.size() >= 3 && rest[0] == "namespaces") {
    auto t = store_.resolve(group, version, rest[2]);
    if (!group.empty() || (t && t->namespaced)) {
      namespacedPath = true;
      ns = rest[1];
      rest.erase(rest.begin(), rest.begin() + 2);
    }
  }
  if (rest.empty() || rest.size() > 3) throw resourceNotFound();
  const std::string plural = rest[0];
  const std::string name = rest.size() > 1 ? rest[1] : "";
  const std::string sub = rest.size() > 2 ? rest[2] : "";
  ResourceTypePtr type = store_.resolve(group, version, plural);
  if (!type) throw resourceNotFound();
  if (namespacedPath != type->namespaced && !(type->namespaced && !namespacedPath && name.empty()))
    throw resourceNotFound();
  if (!sub.empty() && !(sub == "status" && type->statusSubresource) && !(sub == "scale" && type->scale))
    throw resourceNotFound();
  // A namespaced type across all namespaces can only be read (list, watch).
  if (type->namespaced && !namespacedPath && req.method != "GET") throw methodNotAllowed();
  if (sub == "scale") {
    // autoscaling/v1 Scale, whatever version the object is read in; no Tables.
    if (!namespacedPath && type->namespaced) throw methodNotAllowed();
    if (req.method == "GET" && !boolParam(req, "watch")) {
      record.verb = "get";
      writeJson(res, 200, store_.getScale(*type, ns, name).dump());
    } else if (req.method == "PUT") {
      record.verb = "update";
      writeJson(res, 200, store_.updateScale(*type, ns, name, parseBody(req, false), dryRun(req)).dump());
    } else if (req.method == "PATCH") {
      record.verb = "patch";
      writeJson(res, 200,
                store_.patchScale(*type, ns, name, patchTypeFor(req.get_header_value("Content-Type")), req.body,
                                  dryRun(req))
                    .dump());
    } else {
      throw methodNotAllowed();
    }
    return;
  }
  const Target target = sub.empty() ? Target::Main : Target::Status;
  const bool collection = name.empty();
  const bool watch = req.method == "GET" && (legacyWatch || boolParam(req, "watch"));
  record.verb = classify(req.method, collection, watch);

  const Representation rep = negotiate(req.get_header_value("Accept"), param(req, "includeObject"));
  auto selection = [&] {
    ListOptions o;
    o.labels = LabelSelector::parse(param(req, "labelSelector"));
    o.fields = FieldSelector::parse(param(req, "fieldSelector"), type->fieldSelectors);
    return o;
  };
  auto answerObject = [&](int status, const ObjectPtr& obj) {
    switch (rep.kind) {
      case Representation::Kind::Object:
        writeJson(res, status, version == type->storageVersion ? obj->dump() : inVersion(*type, version, *obj).dump());
        break;
      case Representation::Kind::Metadata:
        writeJson(res, status, partialMetadata(*obj, rep.metadataVersion).dump(), rep.contentType);
        break;
      case Representation::Kind::Table: {
        Json table = makeTable(*type, version, {inVersion(*type, version, *obj)}, rep.table,
                               std::chrono::system_clock::now());
        table["metadata"]["resourceVersion"] = resourceVersionOf(*obj);
        writeJson(res, status, table.dump(), rep.contentType);
        break;
      }
    }
  };

  if (req.method == "GET" && watch) {
    WatchOptions wo;
    ListOptions sel = selection();
    wo.labels = sel.labels;
    wo.fields = collection ? sel.fields : FieldSelector::parse("metadata.name=" + name, {});
    wo.resourceVersion = param(req, "resourceVersion");
    wo.sendInitialEvents = boolParam(req, "sendInitialEvents");
    const bool bookmarks = boolParam(req, "allowWatchBookmarks");
    if (wo.sendInitialEvents) {
      std::vector<Cause> causes;
      if (param(req, "resourceVersionMatch") != "NotOlderThan")
        causes.push_back({"FieldValueForbidden", "resourceVersionMatch",
                          "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"});
      if (!bookmarks)
        causes.push_back({"FieldValueForbidden", "allowWatchBookmarks",
                          "Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true"});
      if (!causes.empty()) throw invalid("meta.k8s.io", "ListOptions", "", causes);
    }
    WatchStream::Settings settings;
    settings.bookmarks = bookmarks;
    settings.bookmarkInterval = options_.bookmarkInterval;
    const int64_t timeout = intParam(req, "timeoutSeconds");
    settings.deadline = std::chrono::steady_clock::now() +
                        (timeout > 0 ? std::chrono::seconds(timeout) : options_.defaultWatchTimeout);
    settings.representation = rep;
    auto watcher = store_.watch(type, version, ns, wo);
    auto stream = std::make_shared<WatchStream>(store_, watcher, settings);
    res.status = 200;
    res.set_chunked_content_provider(
        rep.contentType, [stream](size_t, httplib::DataSink& sink) { return stream->pump(sink); },
        [stream](bool) { stream->release(); });
    return;
  }

  if (req.method == "GET" && collection) {
    ListOptions o = selection();
    o.limit = intParam(req, "limit");
    o.continueToken = param(req, "continue");
    o.resourceVersion = param(req, "resourceVersion");
    o.resourceVersionMatch = param(req, "resourceVersionMatch");
    ListResult list = store_.list(*type, ns, o);
    if (rep.kind == Representation::Kind::Object) {
      writeJson(res, 200, listBody(*type, version, list));
      return;
    }
    Json meta{{"resourceVersion", std::to_string(list.resourceVersion)}};
    if (!list.continueToken.empty()) meta["continue"] = list.continueToken;
    if (list.remainingItemCount) meta["remainingItemCount"] = *list.remainingItemCount;
    if (rep.kind == Representation::Kind::Metadata) {
      Json items = Json::array();
      for (const auto& item : list.items) items.push_back(partialMetadata(*item, rep.metadataVersion));
      writeJson(res, 200,
                Json{{"kind", "PartialObjectMetadataList"}, {"apiVersion", "meta.k8s.io/" + rep.metadataVersion},
                     {"metadata", meta}, {"items", items}}
                    .dump(),
                rep.contentType);
      return;
    }
    std::vector<Json> objects;
    for (const auto& item : list.items) objects.push_back(inVersion(*type, version, *item));
    Json table = makeTable(*type, version, objects, rep.table, std::chrono::system_clock::now());
    table["metadata"] = meta;
    writeJson(res, 200, table.dump(), rep.contentType);
    return;
  }
  if (req.method == "GET") {
    answerObject(200, store_.get(*type, ns, name));
    return;
  }
  // Who writes, for metadata.managedFields (?fieldManager=, else the User-Agent's product).
  const std::string manager = fieldManagerOf(req.get_param_value("fieldManager"), req.get_header_value("User-Agent"));
  if (req.method == "POST") {
    if (!collection) throw methodNotAllowed();
    answerObject(201, store_.create(*type, version, ns, parseBody(req, false), dryRun(req), manager));
    return;
  }
  if (req.method == "PUT") {
    if (collection) throw methodNotAllowed();
    answerObject(200, store_.update(*type, version, ns, name, parseBody(req, false), target, dryRun(req), manager));
    return;
  }
  if (req.method == "PATCH") {
    if (collection) throw methodNotAllowed();
    const PatchType patchType = patchTypeFor(req.get_header_value("Content-Type"));
    answerObject(200, store_.patch(*type, version, ns, name, patchType, req.body, target, dryRun(req), manager));
    return;
  }
  if (req.method == "DELETE") {
    if (target == Target::Status) throw methodNotAllowed();
    const Json options = parseBody(req, true);
    // kubectl sends dry run for DELETE in the DeleteOptions body: {"dryRun":["All"]}.
    bool dry = dryRun(req);
    if (options.is_object() && options.contains("dryRun") && options["dryRun"].is_array())
      for (const auto& d : options["dryRun"]) {
        if (d != "All") throw badRequest("dryRun: Unsupported value: " + d.dump() + ": supported values: \"All\"");
        dry = true;
      }
    if (collection) {
      auto deleted = store_.removeCollection(*type, ns, selection(), options, dry);
      ListResult list;
      list.resourceVersion = store_.resourceVersion();
      list.items = deleted;
      writeJson(res, 200, listBody(*type, version, list));
      return;
    }
    DeleteResult result = store_.remove(*type, ns, name, options, dry);
    if (result.deletedNow && !type->returnDeletedObject) {
      Json details{{"name", name}, {"kind", type->plural}, {"uid", metaString(*result.object, "uid")}};
      if (!type->group.empty()) details["group"] = type->group;
      writeJson(res, 200,
                Json{{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", Json::object()}, {"status", "Success"},
                     {"details", details}}
                    .dump());
      return;
    }
    answerObject(200, result.object);
    return;
  }
  throw methodNotAllowed();
}

}  // namespace tributary::apiserver
