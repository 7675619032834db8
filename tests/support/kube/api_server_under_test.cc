#include "tests/support/kube/api_server_under_test.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "operator/app/yaml_json.h"
#include "operator/kube/api_error.h"
#include "operator/kube/kube_config.h"

namespace tributary::test {

namespace kube = op::kube;
using apiserver::test::eventually;
using namespace std::chrono_literals;

// ---------------------------------------------------------------- CallLog

void CallLog::add(ClientCall call) {
  std::lock_guard lock(mu_);
  calls_.push_back(std::move(call));
}

std::vector<ClientCall> CallLog::calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

void CallLog::clear() {
  std::lock_guard lock(mu_);
  calls_.clear();
}

size_t CallLog::count(const std::string& verb, const std::string& contains) const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& c : calls_)
    if ((verb.empty() || c.verb == verb) && c.target.find(contains) != std::string::npos) ++n;
  return n;
}

// ---------------------------------------------------------------- RecordingKubeClient

namespace {

std::string nameOf(const Json& object) {
  if (object.is_object() && object.contains("metadata") && object["metadata"].is_object())
    return object["metadata"].value("name", "");
  return "";
}

}  // namespace

RecordingKubeClient::RecordingKubeClient(std::shared_ptr<kube::KubeClient> inner, std::shared_ptr<CallLog> log)
    : inner_(std::move(inner)), log_(std::move(log)) {}

template <typename Fn>
auto RecordingKubeClient::logged(const char* verb, std::string target, Fn&& fn) -> decltype(fn()) {
  try {
    auto result = fn();
    log_->add({verb, std::move(target), 200});
    return result;
  } catch (const kube::ApiError& e) {
    log_->add({verb, std::move(target), e.status()});
    throw;
  }
}

Json RecordingKubeClient::get(const kube::ResourceRef& r, const std::string& ns, const std::string& name) {
  return logged("get", r.objectPath(ns, name), [&] { return inner_->get(r, ns, name); });
}

kube::ListResult RecordingKubeClient::list(const kube::ResourceRef& r, const std::string& ns,
                                           const kube::ListOptions& options) {
  return logged("list", r.collectionPath(ns) + kube::listQuery(options), [&] { return inner_->list(r, ns, options); });
}

Json RecordingKubeClient::create(const kube::ResourceRef& r, const std::string& ns, const Json& object) {
  return logged("create", r.collectionPath(ns), [&] { return inner_->create(r, ns, object); });
}

Json RecordingKubeClient::update(const kube::ResourceRef& r, const std::string& ns, const Json& object) {
  return logged("update", r.objectPath(ns, nameOf(object)), [&] { return inner_->update(r, ns, object); });
}

Json RecordingKubeClient::updateStatus(const kube::ResourceRef& r, const std::string& ns, const Json& object) {
  return logged("update", r.objectPath(ns, nameOf(object), "status"),
                [&] { return inner_->updateStatus(r, ns, object); });
}

Json RecordingKubeClient::patch(const kube::ResourceRef& r, const std::string& ns, const std::string& name,
                                const Json& mergePatch, bool statusSubresource) {
  return logged("patch", r.objectPath(ns, name, statusSubresource ? "status" : ""),
                [&] { return inner_->patch(r, ns, name, mergePatch, statusSubresource); });
}

std::optional<Json> RecordingKubeClient::remove(const kube::ResourceRef& r, const std::string& ns,
                                                const std::string& name, const kube::DeleteOptions& options) {
  return logged("delete", r.objectPath(ns, name), [&] { return inner_->remove(r, ns, name, options); });
}

std::unique_ptr<kube::WatchStream> RecordingKubeClient::watch(const kube::ResourceRef& r, const std::string& ns,
                                                              const kube::WatchOptions& options) {
  return logged("watch", r.collectionPath(ns) + kube::watchQuery(options), [&] { return inner_->watch(r, ns, options); });
}

Json RecordingKubeClient::getNonResource(const std::string& path) {
  return logged("get", path, [&] { return inner_->getNonResource(path); });
}

Json RecordingKubeClient::getSubresource(const kube::ResourceRef& r, const std::string& ns, const std::string& name,
                                         const std::string& subresource) {
  return logged("get", r.objectPath(ns, name, subresource),
                [&] { return inner_->getSubresource(r, ns, name, subresource); });
}

Json RecordingKubeClient::updateSubresource(const kube::ResourceRef& r, const std::string& ns, const std::string& name,
                                            const std::string& subresource, const Json& body) {
  return logged("update", r.objectPath(ns, name, subresource),
                [&] { return inner_->updateSubresource(r, ns, name, subresource, body); });
}

// ---------------------------------------------------------------- RestClient

RestClient::RestClient(const kube::ClusterConnection& connection) : client_(connection, registry_) {}

apiserver::test::Reply RestClient::send(const std::string& method, const std::string& path, const std::string& body,
                                        const std::string& contentType, const httplib::Headers& headers) {
  std::string accept = "application/json";
  for (const auto& [name, value] : headers) {
    if (name != "Accept")
      throw std::invalid_argument("RestClient sends no header but Accept (asked for " + name + ")");
    accept = value;
  }
  apiserver::test::Reply reply;
  try {
    auto answer = client_.send(method, path, body, contentType, accept);
    reply.status = static_cast<int>(answer.status);
    reply.raw = std::move(answer.body);
    reply.body = Json::parse(reply.raw, nullptr, false);
    if (reply.body.is_discarded()) reply.body = nullptr;
  } catch (const kube::ApiError& e) {
    reply.status = 0;  // no answer, as ApiClient reports it
    reply.raw = e.what();
  }
  return reply;
}

apiserver::test::Reply RestClient::get(const std::string& path, const httplib::Headers& headers) {
  return send("GET", path, "", "", headers);
}
apiserver::test::Reply RestClient::post(const std::string& path, const Json& body) {
  return send("POST", path, body.dump(), "application/json");
}
apiserver::test::Reply RestClient::put(const std::string& path, const Json& body) {
  return send("PUT", path, body.dump(), "application/json");
}
apiserver::test::Reply RestClient::patch(const std::string& path, const std::string& body,
                                         const std::string& contentType) {
  return send("PATCH", path, body, contentType);
}
apiserver::test::Reply RestClient::del(const std::string& path, const Json& options) {
  if (options.is_null()) return send("DELETE", path, "", "");
  return send("DELETE", path, options.dump(), "application/json");
}

// ---------------------------------------------------------------- ApiServerUnderTest

namespace {

const kube::ResourceRef kCrds{"apiextensions.k8s.io", "v1", "customresourcedefinitions", false};

// Namespaced kinds whose finalizers the operator (gone by cleanup time) would remove.
const std::vector<kube::ResourceRef> kFinalizedKinds = {
    kube::resources::kConfigMaps,
    {"tributary.dev", "v1alpha1", "kafkatopics", true},
    {"tributary.dev", "v1alpha1", "kafkaconsumergroups", true},
};

kube::CurlClientOptions adminOptions() {
  kube::CurlClientOptions o;
  o.poolSize = 0;  // no idle keep-alive connection: the test server's stop() would wait for it
  return o;
}

std::string randomSuffix() {
  std::random_device rd;
  std::mt19937 gen(rd());
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 6; ++i) out += hex[gen() % 16];
  return out;
}

bool established(const Json& crd) {
  for (const auto& c : crd.value("status", Json::object()).value("conditions", Json::array()))
    if (c.value("type", "") == "Established" && c.value("status", "") == "True") return true;
  return false;
}

}  // namespace

std::string readSourceFile(const std::string& relative) {
  const std::string path = std::string(TRIBUTARY_SOURCE_DIR) + "/" + relative;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string ApiServerUnderTest::kubeconfigFromEnvironment() {
  const char* path = std::getenv(kTestKubeconfigEnv);
  return path ? std::string(path) : std::string();
}

ApiServerUnderTest::ApiServerUnderTest(apiserver::TestApiServerOptions options) : options_(std::move(options)) {
  const std::string kubeconfig = kubeconfigFromEnvironment();
  if (!kubeconfig.empty()) {
    connection_ = kube::loadKubeconfig(kubeconfig);  // KubeConfigError names the file and key
  } else {
    testServer_ = std::make_unique<apiserver::TestApiServer>(options_);
    testServer_->start();
    connection_.server = testServer_->url();
    connection_.source = "the in-process test API server";
  }
  admin_ = std::make_unique<kube::CurlKubeClient>(connection_, adminRegistry_, adminOptions());
  // Returns once the server answers: httplib's stop() is a no-op (and a later
  // join hangs) when it runs before the accept loop started.
  bool answering = eventually(
      [&] {
        try {
          admin_->getNonResource("/version");
          return true;
        } catch (const kube::ApiError&) {
          return false;
        }
      },
      30s);
  if (!answering) throw std::runtime_error("the API server at " + connection_.server + " does not answer /version");
  ns_ = createNamespace("");
}

ApiServerUnderTest::~ApiServerUnderTest() {
  cleanup();
  admin_.reset();
  if (testServer_) testServer_->stop();
}

std::string ApiServerUnderTest::freshNamespaceName(const std::string& hint) const {
  std::string base;
  if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info())
    base = std::string(info->test_suite_name()) + "-" + info->name();
  if (!hint.empty()) base = hint + "-" + base;
  std::string name = "t-";
  for (char ch : base) {
    unsigned char c = static_cast<unsigned char>(ch);
    char lower = static_cast<char>(std::tolower(c));
    if (std::isalnum(c))
      name += lower;
    else if (name.back() != '-')
      name += '-';
  }
  if (name.size() > 48) name.resize(48);
  while (name.back() == '-') name.pop_back();
  return name + "-" + randomSuffix();  // at most 55 of the 63 characters a namespace may have
}

void ApiServerUnderTest::createNamespaceNamed(const std::string& name) {
  admin_->create(kube::resources::kNamespaces, "",
                 Json{{"apiVersion", "v1"},
                      {"kind", "Namespace"},
                      // The label finds leftovers: kubectl delete ns -l tributary.dev/test=true
                      {"metadata", {{"name", name}, {"labels", {{"tributary.dev/test", "true"}}}}}});
}

std::string ApiServerUnderTest::createNamespace(const std::string& hint) {
  std::string name = freshNamespaceName(hint);
  createNamespaceNamed(name);
  namespaces_.push_back(name);
  return name;
}

std::string ApiServerUnderTest::uniqueName(const std::string& prefix) const { return prefix + "-" + ns_; }

std::unique_ptr<kube::KubeClient> ApiServerUnderTest::newClient(prometheus::Registry& registry,
                                                                kube::CurlClientOptions options) {
  auto curl = std::make_shared<kube::CurlKubeClient>(connection_, registry, options);
  return std::make_unique<RecordingKubeClient>(std::move(curl), calls_);
}

std::shared_ptr<kube::KubeClient> ApiServerUnderTest::newSharedClient(prometheus::Registry& registry,
                                                                      kube::CurlClientOptions options) {
  return newClient(registry, options);
}

void ApiServerUnderTest::installCrds(const std::vector<std::string>& files) {
  for (const auto& file : files) {
    for (Json crd : op::app::yamlDocumentsToJson(readSourceFile("crds/" + file))) {
      if (crd.value("kind", "") != "CustomResourceDefinition") continue;
      const std::string name = crd["metadata"]["name"];
      // Idempotent, like kubectl apply: create, or replace what is there (tests
      // in parallel may do the same: a conflict is retried on a fresh read).
      bool done = false;
      for (int attempt = 0; attempt < 10 && !done; ++attempt) {
        try {
          admin_->create(kCrds, "", crd);
          done = true;
        } catch (const kube::ApiError& e) {
          if (e.kind() != kube::ApiError::Kind::AlreadyExists) throw;
        }
        if (done) break;
        try {
          Json existing = admin_->get(kCrds, "", name);
          Json desired = crd;
          desired["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"];
          admin_->update(kCrds, "", desired);
          done = true;
        } catch (const kube::ApiError& e) {
          if (!kube::isConflict(e) && !kube::isNotFound(e)) throw;
        }
      }
      if (!done) throw std::runtime_error("could not install CustomResourceDefinition " + name);
      bool ready = eventually(
          [&] {
            try {
              return established(admin_->get(kCrds, "", name));
            } catch (const kube::ApiError&) {
              return false;
            }
          },
          60s);
      if (!ready) throw std::runtime_error("CustomResourceDefinition " + name + " did not become Established");
    }
  }
}

void ApiServerUnderTest::deleteAfterwards(const kube::ResourceRef& resource, const std::string& name) {
  clusterObjects_.emplace_back(resource, name);
}

void ApiServerUnderTest::stopTestServer() {
  if (testServer_) testServer_->stop();
}

void ApiServerUnderTest::restartTestServer() {
  if (!testServer_) return;
  apiserver::TestApiServerOptions o = options_;
  o.port = testServer_->port();
  testServer_->stop();
  testServer_.reset();
  testServer_ = std::make_unique<apiserver::TestApiServer>(o);
  testServer_->start();
  for (const auto& name : namespaces_) createNamespaceNamed(name);
}

void ApiServerUnderTest::cleanup() {
  if (cleanedUp_ || !admin_) return;
  cleanedUp_ = true;
  for (const auto& ns : namespaces_) {
    for (const auto& kind : kFinalizedKinds) {
      try {
        for (const auto& item : admin_->list(kind, ns).items) {
          const Json& meta = item["metadata"];
          if (meta.contains("finalizers") && !meta["finalizers"].empty())
            admin_->patch(kind, ns, meta["name"], {{"metadata", {{"finalizers", nullptr}}}});
        }
      } catch (const std::exception&) {
        // A kind without its CRD, a stopped test server: nothing to release.
      }
    }
  }
  for (const auto& [resource, name] : clusterObjects_) {
    try {
      admin_->remove(resource, "", name);
    } catch (const std::exception&) {
    }
  }
  for (const auto& ns : namespaces_) {
    try {
      admin_->remove(kube::resources::kNamespaces, "", ns);
    } catch (const std::exception&) {
    }
  }
}

}  // namespace tributary::test
