#include "operator/inject/webhook_certificates.h"

#include <algorithm>

#include "common/codec/base64.h"
#include "common/log/log.h"

namespace tributary::op::inject {

using Json = nlohmann::json;

struct WebhookCertificates::Material {
  std::string caCert, caKey;  // the signing CA
  std::string caBundle;       // ca.crt: the signing CA first, then older CAs not yet expired
  std::string tlsCert, tlsKey;
};

namespace {

using namespace std::chrono_literals;
constexpr int kAttempts = 5;
constexpr std::chrono::milliseconds kMaxRetry = std::chrono::minutes(5);
// Certificates start a little in the past: the API server's clock may be behind ours.
constexpr auto kBackdate = std::chrono::minutes(5);

std::string dataOf(const Json& secret, const char* key) {
  const Json data = secret.value("data", Json::object());
  if (!data.is_object() || !data.contains(key) || !data[key].is_string()) return "";
  return base64Decode(data[key].get<std::string>()).value_or("");
}

// Less than a third of its lifetime left (or expired, or not yet valid).
bool dueForRenewal(const CertificateInfo& info, WallTime now) {
  if (now >= info.notAfter || now < info.notBefore) return true;
  return (info.notAfter - now) * 3 < (info.notAfter - info.notBefore);
}

std::string shortFingerprint(const std::string& pem) {
  auto info = inspectCertificate(pem);
  return info ? info->fingerprint.substr(0, 16) : "";
}

}  // namespace

WebhookCertificates::WebhookCertificates(WebhookCertificateOptions options, std::shared_ptr<kube::KubeClient> client,
                                         std::shared_ptr<ServingCertificateStore> store, runtime::Clock& clock,
                                         WallClock wallClock)
    : options_(std::move(options)),
      client_(std::move(client)),
      store_(std::move(store)),
      wallClock_(std::move(wallClock)),
      task_(clock, [this]() -> std::chrono::milliseconds {
        try {
          reconcile();
          failures_ = 0;
          return options_.checkInterval;
        } catch (const std::exception& e) {
          // retryInterval, doubling with each failure in a row, at most 5 minutes.
          auto delay = options_.retryInterval * (int64_t{1} << std::min(failures_++, 10));
          delay = std::min<std::chrono::milliseconds>(delay, std::max(options_.retryInterval, kMaxRetry));
          log::warn("webhook certificate check failed; retrying",
                    {{"error", e.what()}, {"retryInMs", std::to_string(delay.count())}});
          return delay;
        }
      }) {}

WebhookCertificates::~WebhookCertificates() { stop(); }

void WebhookCertificates::start() { task_.start(); }
void WebhookCertificates::stop() { task_.stop(); }

std::vector<std::string> WebhookCertificates::dnsNames() const {
  const std::string svc = options_.serviceName + "." + options_.namespace_ + ".svc";
  return {svc, svc + ".cluster.local", options_.serviceName, options_.serviceName + "." + options_.namespace_};
}

WebhookCertificates::Material WebhookCertificates::fresh(WallTime now) const {
  CertificatePair ca = issueCa("tributary-webhook-ca", now - kBackdate, options_.caValidity);
  CertificatePair leaf = issueServing(ca, dnsNames(), now - kBackdate, options_.servingValidity);
  return {ca.certPem, ca.keyPem, ca.certPem, leaf.certPem, leaf.keyPem};
}

std::optional<WebhookCertificates::Material> WebhookCertificates::renewed(const Material& current, WallTime now) const {
  const auto bundle = splitPemCertificates(current.caBundle);
  auto signing = std::find_if(bundle.begin(), bundle.end(),
                              [&](const std::string& c) { return keyMatchesCertificate(c, current.caKey); });
  if (signing == bundle.end()) {
    log::warn("webhook certificate Secret has no usable CA (ca.crt/ca.key); issuing a new one",
              {{"secret", options_.namespace_ + "/" + options_.secretName}});
    return fresh(now);
  }
  Material next = current;
  next.caCert = *signing;
  auto caInfo = inspectCertificate(next.caCert);
  bool issueLeaf = false;
  if (!caInfo || dueForRenewal(*caInfo, now)) {
    // A new CA; the old ones stay in the bundle until they expire, so that
    // serving certificates they signed (other replicas may still serve one)
    // stay trusted during the overlap.
    CertificatePair ca = issueCa("tributary-webhook-ca", now - kBackdate, options_.caValidity);
    next.caCert = ca.certPem;
    next.caKey = ca.keyPem;
    next.caBundle = ca.certPem;
    for (const auto& c : bundle)
      if (auto info = inspectCertificate(c); info && now < info->notAfter) next.caBundle += c;
    issueLeaf = true;
    log::info("webhook CA rotated", {{"ca", shortFingerprint(next.caCert)}});
  } else {
    // The signing CA first, then other CAs that have not expired.
    next.caBundle = next.caCert;
    for (const auto& c : bundle)
      if (c != next.caCert)
        if (auto info = inspectCertificate(c); info && now < info->notAfter) next.caBundle += c;
  }
  if (!issueLeaf) {
    auto leaf = inspectCertificate(current.tlsCert);
    const auto wanted = dnsNames();
    issueLeaf = !leaf || dueForRenewal(*leaf, now) || !keyMatchesCertificate(current.tlsCert, current.tlsKey) ||
                !signedBy(current.tlsCert, next.caCert) ||
                !std::all_of(wanted.begin(), wanted.end(), [&](const std::string& n) {
                  return std::find(leaf->dnsNames.begin(), leaf->dnsNames.end(), n) != leaf->dnsNames.end();
                });
  }
  if (issueLeaf) {
    CertificatePair leaf = issueServing({next.caCert, next.caKey}, dnsNames(), now - kBackdate, options_.servingValidity);
    next.tlsCert = leaf.certPem;
    next.tlsKey = leaf.keyPem;
    log::info("webhook serving certificate issued", {{"certificate", shortFingerprint(next.tlsCert)}});
  }
  if (!issueLeaf && next.caBundle == current.caBundle) return std::nullopt;
  return next;
}

void WebhookCertificates::reconcile() {
  const WallTime now = wallClock_();
  auto secretObject = [&](const Material& m) {
    return Json{{"apiVersion", "v1"},
                {"kind", "Secret"},
                {"metadata",
                 {{"name", options_.secretName},
                  {"namespace", options_.namespace_},
                  {"labels", {{"app.kubernetes.io/name", "tributary-operator"}, {"app.kubernetes.io/part-of", "tributary"}}}}},
                {"type", "kubernetes.io/tls"},
                {"data",
                 {{"tls.crt", base64Encode(m.tlsCert)},
                  {"tls.key", base64Encode(m.tlsKey)},
                  {"ca.crt", base64Encode(m.caBundle)},
                  {"ca.key", base64Encode(m.caKey)}}}};
  };
  std::optional<Material> settled;
  for (int attempt = 0; attempt < kAttempts && !settled; ++attempt) {
    std::optional<Json> secret;
    try {
      secret = client_->get(kSecrets, options_.namespace_, options_.secretName);
    } catch (const kube::ApiError& e) {
      if (!kube::isNotFound(e)) throw;
    }
    if (!secret) {
      Material m = fresh(now);
      try {
        client_->create(kSecrets, options_.namespace_, secretObject(m));
        log::info("webhook certificate Secret created", {{"secret", options_.namespace_ + "/" + options_.secretName}});
        settled = m;
      } catch (const kube::ApiError& e) {
        // Another replica created it first: use theirs.
        if (e.kind() != kube::ApiError::Kind::AlreadyExists) throw;
      }
      continue;
    }
    Material current{"", dataOf(*secret, "ca.key"), dataOf(*secret, "ca.crt"), dataOf(*secret, "tls.crt"),
                     dataOf(*secret, "tls.key")};
    auto next = renewed(current, now);
    if (!next) {
      settled = current;
      continue;
    }
    Json updated = secretObject(*next);
    updated["metadata"] = secret->value("metadata", Json::object());
    try {
      client_->update(kSecrets, options_.namespace_, updated);
      settled = next;
    } catch (const kube::ApiError& e) {
      if (!kube::isConflict(e)) throw;  // another replica renewed it first: re-read
    }
  }
  if (!settled) throw CertificateError("the Secret " + options_.namespace_ + "/" + options_.secretName +
                                       " kept changing under us; trying again later");
  // The caBundle first: the API server must trust the CA before it meets a
  // certificate signed by it.
  patchCaBundle(settled->caBundle);
  if (store_->set(settled->tlsCert, settled->tlsKey))
    log::info("webhook serving certificate loaded", {{"certificate", shortFingerprint(settled->tlsCert)}});
}

void WebhookCertificates::patchCaBundle(const std::string& caBundlePem) {
  const std::string encoded = base64Encode(caBundlePem);
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    Json config;
    try {
      config = client_->get(kMutatingWebhookConfigurations, "", options_.webhookConfigurationName);
    } catch (const kube::ApiError& e) {
      if (!kube::isNotFound(e)) throw;
      if (!warnedNoWebhookConfiguration_)
        log::warn("MutatingWebhookConfiguration not found: no caBundle to patch (install manifests/install.yaml)",
                  {{"name", options_.webhookConfigurationName}});
      warnedNoWebhookConfiguration_ = true;
      return;
    }
    warnedNoWebhookConfiguration_ = false;
    Json webhooks = config.value("webhooks", Json::array());
    if (!webhooks.is_array()) return;
    bool changed = false;
    for (auto& w : webhooks) {
      if (!w.is_object()) continue;
      Json& clientConfig = w["clientConfig"];
      if (!clientConfig.is_object()) clientConfig = Json::object();
      if (clientConfig.value("caBundle", "") != encoded) {
        clientConfig["caBundle"] = encoded;
        changed = true;
      }
    }
    if (!changed) return;
    // A merge patch replaces the whole list, so it carries the resourceVersion
    // we read it at: a concurrent change makes it fail (409) instead of being
    // overwritten, and we start again from a fresh read.
    Json patch{{"metadata", {{"resourceVersion", config["metadata"].value("resourceVersion", "")}}},
               {"webhooks", webhooks}};
    try {
      client_->patch(kMutatingWebhookConfigurations, "", options_.webhookConfigurationName, patch);
      log::info("webhook caBundle patched", {{"webhookConfiguration", options_.webhookConfigurationName}});
      return;
    } catch (const kube::ApiError& e) {
      if (!kube::isConflict(e)) throw;
    }
  }
  throw CertificateError("the MutatingWebhookConfiguration " + options_.webhookConfigurationName +
                         " kept changing under us; trying again later");
}

}  // namespace tributary::op::inject
