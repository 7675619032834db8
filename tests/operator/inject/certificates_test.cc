// The webhook's TLS against the test API server: the Secret created, shared by
// replicas (also when they race: 409s), repaired, rotated with a fake wall
// clock; the MutatingWebhookConfiguration's caBundle patched; the HTTPS
// endpoint checked with libcurl verifying the CA from the Secret and the
// service's host name; --webhook-cert-dir reloaded.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "common/codec/base64.h"
#include "operator/inject/certificate_authority.h"
#include "operator/inject/certificate_directory.h"
#include "operator/inject/webhook_certificates.h"
#include "operator/inject/webhook_server.h"
#include "tests/operator/inject/https_client.h"
#include "tests/operator/kube/kube_fixture.h"

namespace tributary::op::inject {
namespace {

using namespace std::chrono_literals;
using kube::test::KubeTest;
using test::postHttps;

// Forwards to a real client; lets a test run something just before a write
// (another replica's move), once.
class InterposingClient : public kube::KubeClient {
 public:
  explicit InterposingClient(std::shared_ptr<kube::KubeClient> inner) : inner_(std::move(inner)) {}
  std::function<void()> beforeCreate, beforeUpdate, beforePatch;

  Json get(const kube::ResourceRef& r, const std::string& ns, const std::string& name) override {
    return inner_->get(r, ns, name);
  }
  kube::ListResult list(const kube::ResourceRef& r, const std::string& ns, const kube::ListOptions& o) override {
    return inner_->list(r, ns, o);
  }
  Json create(const kube::ResourceRef& r, const std::string& ns, const Json& o) override {
    once(beforeCreate);
    return inner_->create(r, ns, o);
  }
  Json update(const kube::ResourceRef& r, const std::string& ns, const Json& o) override {
    once(beforeUpdate);
    return inner_->update(r, ns, o);
  }
  Json updateStatus(const kube::ResourceRef& r, const std::string& ns, const Json& o) override {
    return inner_->updateStatus(r, ns, o);
  }
  Json patch(const kube::ResourceRef& r, const std::string& ns, const std::string& name, const Json& p,
             bool status) override {
    once(beforePatch);
    return inner_->patch(r, ns, name, p, status);
  }
  std::optional<Json> remove(const kube::ResourceRef& r, const std::string& ns, const std::string& name,
                             const kube::DeleteOptions& o) override {
    return inner_->remove(r, ns, name, o);
  }
  std::unique_ptr<kube::WatchStream> watch(const kube::ResourceRef& r, const std::string& ns,
                                           const kube::WatchOptions& o) override {
    return inner_->watch(r, ns, o);
  }

 private:
  static void once(std::function<void()>& f) {
    if (!f) return;
    auto run = std::move(f);
    f = nullptr;
    run();
  }
  std::shared_ptr<kube::KubeClient> inner_;
};

class CertificatesTest : public KubeTest {
 protected:
  void SetUp() override {
    KubeTest::SetUp();
    shared = std::shared_ptr<kube::KubeClient>(newClient(clientRegistry).release());
    // The test's namespace plays tributary-system; the webhook configuration
    // (cluster-scoped) gets a name no other test uses.
    webhookNs = ns;
    webhookHost = "tributary-webhook." + webhookNs + ".svc";
    webhookConfig = apiServer->uniqueName("tributary-sidecar-injector");
    options.namespace_ = webhookNs;
    options.webhookConfigurationName = webhookConfig;
    wallNow = std::chrono::system_clock::now();
    options.caValidity = std::chrono::hours(24 * 30);      // 30 days
    options.servingValidity = std::chrono::hours(24 * 9);  // 9 days: renewed with less than 3 left
  }

  void installWebhookConfiguration(int webhooks = 2) {
    Json config{{"apiVersion", "admissionregistration.k8s.io/v1"},
                {"kind", "MutatingWebhookConfiguration"},
                {"metadata", {{"name", webhookConfig}}},
                {"webhooks", Json::array()}};
    for (int i = 0; i < webhooks; ++i)
      config["webhooks"].push_back(
          {{"name", "inject" + std::to_string(i) + ".tributary.dev"},
           {"clientConfig",
            {{"service",
              {{"namespace", webhookNs}, {"name", "tributary-webhook"}, {"path", "/inject"}, {"port", 443}}}}},
           {"rules", Json::array({{{"operations", Json::array({"CREATE"})},
                                   {"apiGroups", Json::array({""})},
                                   {"apiVersions", Json::array({"v1"})},
                                   {"resources", Json::array({"pods"})}}})},
           // Matches no pod: on a real cluster this configuration must not
           // send the cluster's pods to a webhook that does not exist.
           {"objectSelector", {{"matchLabels", {{"tributary.dev/test-webhook", webhookNs}}}}},
           {"failurePolicy", "Fail"},
           {"sideEffects", "None"},
           {"admissionReviewVersions", Json::array({"v1"})}});
    apiServer->deleteAfterwards(kMutatingWebhookConfigurations, webhookConfig);
    client->create(kMutatingWebhookConfigurations, "", config);
  }

  std::unique_ptr<WebhookCertificates> replica(std::shared_ptr<ServingCertificateStore> store,
                                               std::shared_ptr<kube::KubeClient> via = nullptr) {
    return std::make_unique<WebhookCertificates>(options, via ? via : shared, store, clock, [this] { return wallNow; });
  }

  void TearDown() override {
    // Our clients' idle keep-alive connections would hold the server's stop().
    shared.reset();
    KubeTest::TearDown();
  }

  Json secret() { return client->get(kSecrets, webhookNs, "tributary-webhook-tls"); }
  std::string secretData(const char* key) {
    return base64Decode(secret()["data"][key].get<std::string>()).value_or("");
  }
  std::string fingerprint(const std::string& pem) {
    auto info = inspectCertificate(pem);
    return info ? info->fingerprint : "(none)";
  }
  std::vector<std::string> caBundles() {
    std::vector<std::string> out;
    const Json config = client->get(kMutatingWebhookConfigurations, "", webhookConfig);
    for (const auto& w : config["webhooks"])
      out.push_back(base64Decode(w["clientConfig"].value("caBundle", "")).value_or("(not base64)"));
    return out;
  }

  std::string webhookNs, webhookHost, webhookConfig;
  prometheus::Registry clientRegistry;
  std::shared_ptr<kube::KubeClient> shared;
  runtime::FakeClock clock;
  WallTime wallNow;
  WebhookCertificateOptions options;
};

TEST_F(CertificatesTest, CreatesTheSecretServesItsCertificateAndPatchesEveryCaBundle) {
  installWebhookConfiguration(2);
  auto store = std::make_shared<ServingCertificateStore>();
  replica(store)->reconcile();

  Json s = secret();
  EXPECT_EQ(s["type"], "kubernetes.io/tls");
  for (const char* key : {"tls.crt", "tls.key", "ca.crt", "ca.key"}) EXPECT_TRUE(s["data"].contains(key)) << key;
  const std::string leaf = secretData("tls.crt"), ca = secretData("ca.crt");
  auto info = inspectCertificate(leaf);
  ASSERT_TRUE(info);
  EXPECT_FALSE(info->isCa);
  for (const std::string& name : {webhookHost, webhookHost + ".cluster.local", std::string("tributary-webhook")})
    EXPECT_NE(std::find(info->dnsNames.begin(), info->dnsNames.end(), name), info->dnsNames.end()) << name;
  EXPECT_TRUE(signedBy(leaf, ca));
  EXPECT_TRUE(keyMatchesCertificate(leaf, secretData("tls.key")));
  EXPECT_TRUE(inspectCertificate(ca)->isCa);
  EXPECT_EQ(store->certPem(), leaf);
  EXPECT_EQ(caBundles(), (std::vector<std::string>{ca, ca}));
  // The other fields of the webhooks are untouched.
  Json config = client->get(kMutatingWebhookConfigurations, "", webhookConfig);
  EXPECT_EQ(config["webhooks"][1]["clientConfig"]["service"]["name"], "tributary-webhook");
  EXPECT_EQ(config["webhooks"][1]["failurePolicy"], "Fail");

  // Steady state: a second check writes nothing.
  clearRequests();
  replica(store)->reconcile();
  EXPECT_EQ(countRequests("create") + countRequests("update") + countRequests("patch"), 0u);
}

TEST_F(CertificatesTest, ASecondReplicaServesTheSameCertificate) {
  installWebhookConfiguration(1);
  auto a = std::make_shared<ServingCertificateStore>(), b = std::make_shared<ServingCertificateStore>();
  replica(a)->reconcile();
  clearRequests();
  replica(b)->reconcile();
  EXPECT_EQ(a->certPem(), b->certPem());
  EXPECT_EQ(countRequests("update", "secrets"), 0u);
}

TEST_F(CertificatesTest, TwoReplicasCreatingAtOnceBothServeTheWinnersCertificate) {
  installWebhookConfiguration(1);
  auto a = std::make_shared<ServingCertificateStore>(), b = std::make_shared<ServingCertificateStore>();
  auto racing = std::make_shared<InterposingClient>(shared);
  auto replicaA = replica(a);
  // B has seen no Secret; just before its create, A creates one: B's is a 409.
  racing->beforeCreate = [&] { replicaA->reconcile(); };
  replica(b, racing)->reconcile();
  EXPECT_EQ(a->certPem(), secretData("tls.crt"));
  EXPECT_EQ(b->certPem(), secretData("tls.crt")) << "the loser uses the winner's Secret";
  bool saw409 = false;
  for (const auto& r : apiServer->calls().calls()) saw409 = saw409 || (r.verb == "create" && r.status == 409);
  EXPECT_TRUE(saw409);
}

TEST_F(CertificatesTest, TwoReplicasRenewingAtOnceSettleOnOneCertificate) {
  installWebhookConfiguration(1);
  auto a = std::make_shared<ServingCertificateStore>(), b = std::make_shared<ServingCertificateStore>();
  auto replicaA = replica(a);
  replicaA->reconcile();
  const std::string first = secretData("tls.crt");
  wallNow += std::chrono::hours(24 * 7);  // 2 of 9 days left: both want to renew
  auto racing = std::make_shared<InterposingClient>(shared);
  racing->beforeUpdate = [&] { replicaA->reconcile(); };
  replica(b, racing)->reconcile();
  const std::string renewed = secretData("tls.crt");
  EXPECT_NE(renewed, first);
  EXPECT_EQ(a->certPem(), renewed);
  EXPECT_EQ(b->certPem(), renewed);
  size_t conflicts = 0;
  for (const auto& r : apiServer->calls().calls()) conflicts += r.verb == "update" && r.status == 409;
  EXPECT_EQ(conflicts, 1u);
}

TEST_F(CertificatesTest, ACaBundlePatchThatMeetsAConcurrentChangeIsRetriedAndKeepsTheChange) {
  installWebhookConfiguration(1);
  auto racing = std::make_shared<InterposingClient>(shared);
  racing->beforePatch = [&] {
    Json config = client->get(kMutatingWebhookConfigurations, "", webhookConfig);
    config["webhooks"][0]["timeoutSeconds"] = 7;
    client->update(kMutatingWebhookConfigurations, "", config);
  };
  auto store = std::make_shared<ServingCertificateStore>();
  replica(store, racing)->reconcile();
  Json config = client->get(kMutatingWebhookConfigurations, "", webhookConfig);
  EXPECT_EQ(config["webhooks"][0]["timeoutSeconds"], 7) << "the concurrent change survived";
  EXPECT_EQ(caBundles(), (std::vector<std::string>{secretData("ca.crt")}));
  EXPECT_EQ(countRequests("patch", "mutatingwebhookconfigurations"), 2u) << "one 409, one success";
}

TEST_F(CertificatesTest, TheServingCertificateIsRenewedWithAThirdOfItsLifetimeLeftFromTheSameCa) {
  installWebhookConfiguration(1);
  auto store = std::make_shared<ServingCertificateStore>();
  auto r = replica(store);
  r->reconcile();
  const std::string leaf1 = store->certPem(), ca1 = secretData("ca.crt");

  wallNow += std::chrono::hours(24 * 5);  // 4 of 9 days left: more than a third
  r->reconcile();
  EXPECT_EQ(store->certPem(), leaf1);

  wallNow += std::chrono::hours(24 * 2);  // 2 days left
  clearRequests();
  r->reconcile();
  const std::string leaf2 = store->certPem();
  EXPECT_NE(leaf2, leaf1);
  EXPECT_EQ(secretData("tls.crt"), leaf2);
  EXPECT_EQ(secretData("ca.crt"), ca1) << "same CA: the API server needs no new caBundle";
  EXPECT_TRUE(signedBy(leaf2, ca1));
  EXPECT_EQ(countRequests("patch", "mutatingwebhookconfigurations"), 0u);
  auto info = inspectCertificate(leaf2);
  EXPECT_GT(info->notAfter, wallNow + std::chrono::hours(24 * 8));
}

TEST_F(CertificatesTest, TheCaIsRotatedWithTheOldOneKeptInTheBundleUntilItExpires) {
  installWebhookConfiguration(1);
  auto store = std::make_shared<ServingCertificateStore>();
  auto r = replica(store);
  r->reconcile();
  const std::string ca1 = secretData("ca.crt");

  wallNow += std::chrono::hours(24 * 21);  // 9 of 30 days left: a new CA
  r->reconcile();
  auto bundle = splitPemCertificates(secretData("ca.crt"));
  ASSERT_EQ(bundle.size(), 2u);
  EXPECT_NE(bundle[0], ca1) << "the new CA signs from now on";
  EXPECT_EQ(bundle[1], ca1) << "the old one stays trusted during the overlap";
  EXPECT_TRUE(signedBy(store->certPem(), bundle[0]));
  EXPECT_EQ(caBundles(), (std::vector<std::string>{bundle[0] + bundle[1]}));

  wallNow += std::chrono::hours(24 * 10);  // the old CA has expired
  r->reconcile();
  EXPECT_EQ(splitPemCertificates(secretData("ca.crt")), (std::vector<std::string>{bundle[0]}));
  EXPECT_EQ(caBundles(), (std::vector<std::string>{bundle[0]}));
}

TEST_F(CertificatesTest, AnUnusableSecretIsReplaced) {
  installWebhookConfiguration(1);
  client->create(kSecrets, webhookNs,
                 Json{{"apiVersion", "v1"},
                      {"kind", "Secret"},
                      {"metadata", {{"name", "tributary-webhook-tls"}}},
                      {"type", "kubernetes.io/tls"},
                      {"data", {{"tls.crt", base64Encode("garbage")}, {"tls.key", base64Encode("garbage")}}}});
  auto store = std::make_shared<ServingCertificateStore>();
  replica(store)->reconcile();
  EXPECT_TRUE(signedBy(secretData("tls.crt"), secretData("ca.crt")));
  EXPECT_EQ(store->certPem(), secretData("tls.crt"));
}

TEST_F(CertificatesTest, WithoutAWebhookConfigurationTheCertificateIsStillServed) {
  auto store = std::make_shared<ServingCertificateStore>();
  replica(store)->reconcile();
  EXPECT_TRUE(store->hasCertificate());
}

TEST_F(CertificatesTest, ThePeriodicCheckRunsHourlyOnTheClockAndRetriesFailures) {
  SKIP_UNLESS_TEST_SERVER("failNextRequests()");
  installWebhookConfiguration(1);
  auto store = std::make_shared<ServingCertificateStore>();
  server->failNextRequests(1, 503, "/secrets/");
  auto r = replica(store);
  r->start();
  ASSERT_TRUE(r->awaitPasses(1, 30s));
  EXPECT_FALSE(store->hasCertificate()) << "the first check failed (503)";
  ASSERT_TRUE(clock.awaitWaiters(1, 30s));
  clock.advance(options.retryInterval);  // retried after retryInterval, not an hour
  ASSERT_TRUE(r->awaitPasses(2, 30s));
  EXPECT_TRUE(store->hasCertificate());
  const std::string leaf1 = store->certPem();

  wallNow += std::chrono::hours(24 * 7);  // due for renewal, noticed at the next hourly check
  ASSERT_TRUE(clock.awaitWaiters(1, 30s));
  clock.advance(std::chrono::minutes(59));
  EXPECT_EQ(r->passes(), 2u);
  clock.advance(std::chrono::minutes(1));
  ASSERT_TRUE(r->awaitPasses(3, 30s));
  EXPECT_NE(store->certPem(), leaf1);
  r->stop();
}

std::string podReview() {
  return Json{{"apiVersion", "admission.k8s.io/v1"},
              {"kind", "AdmissionReview"},
              {"request",
               {{"uid", "u-1"},
                {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
                {"namespace", "shop"},
                {"operation", "CREATE"},
                {"object",
                 {{"metadata", {{"name", "p"}, {"annotations", {{"tributary.dev/inject", "true"}}}}},
                  {"spec", {{"containers", Json::array({{{"name", "app"}}})}}}}}}}}
      .dump();
}

class WebhookHttpsTest : public CertificatesTest {
 protected:
  void SetUp() override {
    CertificatesTest::SetUp();
    store = std::make_shared<ServingCertificateStore>();
    auto injector = std::make_shared<const SidecarInjector>(InjectorSettings{});
    handler = std::make_shared<AdmissionHandler>([injector] { return injector; }, shared, metrics);
    webhook = std::make_unique<WebhookServer>(store, handler);
    std::string error;
    ASSERT_TRUE(webhook->bind({"127.0.0.1", 0}, error)) << error;
    webhook->start();
  }
  void TearDown() override {
    if (webhook) webhook->stop();
    webhook.reset();
    handler.reset();
    CertificatesTest::TearDown();
  }
  prometheus::Registry metrics;
  std::shared_ptr<ServingCertificateStore> store;
  std::shared_ptr<AdmissionHandler> handler;
  std::unique_ptr<WebhookServer> webhook;
};

TEST_F(WebhookHttpsTest, ServesAdmissionReviewsOverTlsVerifiedWithTheCaFromTheSecret) {
  installWebhookConfiguration(1);
  replica(store)->reconcile();
  const std::string ca = secretData("ca.crt");
  auto reply = postHttps(webhookHost, webhook->port(), "/inject", podReview(), ca);
  ASSERT_EQ(reply.curlCode, 0) << reply.curlError;
  EXPECT_EQ(reply.status, 200);
  Json out = Json::parse(reply.body);
  EXPECT_EQ(out["response"]["uid"], "u-1");
  EXPECT_EQ(out["response"]["allowed"], true);
  EXPECT_EQ(out["response"]["patchType"], "JSONPatch");
  // Every SAN the API server may use.
  for (const std::string& host : {webhookHost + ".cluster.local", std::string("tributary-webhook")})
    EXPECT_EQ(postHttps(host, webhook->port(), "/inject", podReview(), ca).curlCode, 0) << host;
  // A malformed review over the same endpoint: 400 with a message.
  auto bad = postHttps(webhookHost, webhook->port(), "/inject", "{}", ca);
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("AdmissionReview"), std::string::npos) << bad.body;
}

TEST_F(WebhookHttpsTest, AClientTrustingAnotherCaOrNameRefusesTheConnection) {
  replica(store)->reconcile();
  CertificatePair other = issueCa("someone-else", std::chrono::system_clock::now(), std::chrono::hours(24));
  auto reply = postHttps(webhookHost, webhook->port(), "/inject", podReview(), other.certPem);
  EXPECT_NE(reply.curlCode, 0) << "verification must fail";
  auto wrongName = postHttps("evil.example.com", webhook->port(), "/inject", podReview(), secretData("ca.crt"));
  EXPECT_NE(wrongName.curlCode, 0);
}

TEST_F(WebhookHttpsTest, ARotatedCertificateIsServedFromTheNextConnectionWithoutARestart) {
  installWebhookConfiguration(1);
  // The real clock here: the served certificate must be valid now.
  auto r = replica(store);
  r->reconcile();
  const std::string ca = secretData("ca.crt");
  auto before = postHttps(webhookHost, webhook->port(), "/inject", podReview(), ca);
  ASSERT_EQ(before.curlCode, 0) << before.curlError;
  EXPECT_EQ(fingerprint(before.serverCertPem), fingerprint(store->certPem()));

  // Renewed by hand (as another replica would): a new leaf from the same CA in the Secret.
  Json s = secret();
  // Issued at wallNow (not later): one whose notBefore is past the replica's clock
  // would be "not yet valid" and replaced (a race seen when a second boundary fell in between).
  CertificatePair leaf =
      issueServing({ca, secretData("ca.key")}, r->dnsNames(), wallNow, std::chrono::hours(24 * 9));
  s["data"]["tls.crt"] = base64Encode(leaf.certPem);
  s["data"]["tls.key"] = base64Encode(leaf.keyPem);
  client->update(kSecrets, webhookNs, s);
  r->reconcile();  // the periodic check reads it
  auto after = postHttps(webhookHost, webhook->port(), "/inject", podReview(), ca);
  ASSERT_EQ(after.curlCode, 0) << after.curlError;
  EXPECT_EQ(fingerprint(after.serverCertPem), fingerprint(leaf.certPem));
}

TEST_F(WebhookHttpsTest, NoCertificateYetFailsTheHandshakeInsteadOfServingPlainText) {
  CertificatePair ca = issueCa("x", std::chrono::system_clock::now(), std::chrono::hours(1));
  auto reply = postHttps(webhookHost, webhook->port(), "/inject", podReview(), ca.certPem);
  EXPECT_NE(reply.curlCode, 0);
  EXPECT_EQ(reply.status, 0);
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/tributary-certdir-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  void write(const std::string& name, const std::string& text) {
    // As the kubelet does: a new file renamed over the old one.
    std::ofstream(path + "/." + name + ".tmp") << text;
    std::filesystem::rename(path + "/." + name + ".tmp", path + "/" + name);
  }
  std::string path;
};

TEST_F(WebhookHttpsTest, CertDirIsServedAndReloadedWhenItsFilesChange) {
  const auto now = std::chrono::system_clock::now();
  const std::vector<std::string> names{webhookHost};
  CertificatePair ca = issueCa("given-ca", now, std::chrono::hours(24));
  CertificatePair leaf1 = issueServing(ca, names, now, std::chrono::hours(24));
  CertificatePair leaf2 = issueServing(ca, names, now, std::chrono::hours(24));
  TempDir dir;
  dir.write("tls.crt", leaf1.certPem);
  dir.write("tls.key", leaf1.keyPem);
  CertificateDirectory certs(dir.path, store, clock, 10s);
  certs.start();
  ASSERT_TRUE(certs.awaitPasses(1, 30s));
  auto first = postHttps(webhookHost, webhook->port(), "/inject", podReview(), ca.certPem);
  ASSERT_EQ(first.curlCode, 0) << first.curlError;
  EXPECT_EQ(fingerprint(first.serverCertPem), fingerprint(leaf1.certPem));

  // A key that does not match: refused, the previous certificate stays.
  dir.write("tls.key", leaf2.keyPem);
  std::string error;
  EXPECT_FALSE(certs.load(error));
  EXPECT_NE(error.find("tls.key"), std::string::npos) << error;
  EXPECT_NE(error.find("does not belong"), std::string::npos) << error;
  EXPECT_EQ(fingerprint(store->certPem()), fingerprint(leaf1.certPem));

  dir.write("tls.crt", leaf2.certPem);
  ASSERT_TRUE(clock.awaitWaiters(1, 30s));
  clock.advance(10s);
  ASSERT_TRUE(certs.awaitPasses(2, 30s));
  auto second = postHttps(webhookHost, webhook->port(), "/inject", podReview(), ca.certPem);
  ASSERT_EQ(second.curlCode, 0) << second.curlError;
  EXPECT_EQ(fingerprint(second.serverCertPem), fingerprint(leaf2.certPem));
  certs.stop();
}

}  // namespace
}  // namespace tributary::op::inject
