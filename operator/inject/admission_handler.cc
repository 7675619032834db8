#include "operator/inject/admission_handler.h"

#include <prometheus/counter.h>

#include "common/codec/base64.h"
#include "common/http/http_server.h"
#include "common/log/log.h"
#include "operator/inject/annotations.h"

namespace tributary::op::inject {
namespace {

std::string str(const Json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Json review(const std::string& uid, bool allowed) {
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"response", {{"uid", uid}, {"allowed", allowed}}}};
}

Json denied(const std::string& uid, int code, const std::string& reason, const std::string& message) {
  Json r = review(uid, false);
  r["response"]["status"] = {{"status", "Failure"}, {"code", code}, {"reason", reason}, {"message", message}};
  return r;
}

AdmissionAnswer ok(const Json& review) {
  return {200, review.dump(-1, ' ', false, Json::error_handler_t::replace)};
}

}  // namespace

AdmissionHandler::AdmissionHandler(InjectorSource injector, std::shared_ptr<kube::KubeClient> client,
                                   prometheus::Registry& registry)
    : injector_(std::move(injector)),
      client_(std::move(client)),
      admissions_(prometheus::BuildCounter()
                      .Name("tributary_operator_admissions_total")
                      .Help("Admission requests answered by the sidecar injector webhook, by result")
                      .Register(registry)) {
  for (const char* r : {"injected", "already_injected", "not_requested", "refused", "api_error", "malformed"})
    admissions_.Add({{"result", r}});
}

void AdmissionHandler::count(const std::string& result) { admissions_.Add({{"result", result}}).Increment(); }

AdmissionAnswer AdmissionHandler::handle(const std::string& body) {
  auto malformed = [&](const std::string& why) {
    count("malformed");
    return AdmissionAnswer{400, HttpServer::errorBody("BAD_REQUEST", why)};
  };
  Json in;
  try {
    in = Json::parse(body);
  } catch (const Json::parse_error& e) {
    return malformed(std::string("the body is not JSON: ") + e.what());
  }
  if (!in.is_object()) return malformed("the body is not an AdmissionReview object");
  if (str(in, "apiVersion") != "admission.k8s.io/v1" || str(in, "kind") != "AdmissionReview")
    return malformed("expected apiVersion admission.k8s.io/v1, kind AdmissionReview; got apiVersion \"" +
                     str(in, "apiVersion") + "\", kind \"" + str(in, "kind") + "\"");
  const Json request = in.value("request", Json());
  if (!request.is_object()) return malformed("request: missing (an AdmissionReview to answer has a request)");
  const std::string uid = str(request, "uid");
  if (uid.empty()) return malformed("request.uid: missing");

  const Json kind = request.value("kind", Json::object());
  const bool podCreate = str(kind, "group").empty() && str(kind, "kind") == "Pod" &&
                         str(request, "operation") == "CREATE" && str(request, "subResource").empty();
  if (!podCreate) {
    count("not_requested");
    return ok(review(uid, true));
  }
  const Json pod = request.value("object", Json());
  if (!pod.is_object()) return malformed("request.object: missing (a Pod CREATE carries the pod)");

  std::string ns = str(request, "namespace");
  if (ns.empty()) ns = str(pod.value("metadata", Json::object()), "namespace");
  std::string name = str(pod.value("metadata", Json::object()), "name");
  if (name.empty()) name = str(pod.value("metadata", Json::object()), "generateName") + "*";

  auto injector = injector_();
  InjectionResult result = injector->inject(pod);
  switch (result.outcome) {
    case InjectionResult::Outcome::NotRequested:
    case InjectionResult::Outcome::AlreadyInjected:
      count(outcomeName(result.outcome));
      return ok(review(uid, true));
    case InjectionResult::Outcome::Refused:
      count("refused");
      log::info("pod refused", {{"namespace", ns}, {"pod", name}, {"reason", result.message}});
      return ok(denied(uid, 400, "BadRequest", result.message));
    case InjectionResult::Outcome::Injected: break;
  }
  if (!result.configMap.empty()) {
    const std::string where = "ConfigMap \"" + result.configMap + "\" in namespace \"" + ns + "\"";
    try {
      Json cm = client_->get(kube::resources::kConfigMaps, ns, result.configMap);
      const Json data = cm.value("data", Json::object());
      if (!data.is_object() || !data.contains(kConfigKey)) {
        count("refused");
        return ok(denied(uid, 400, "BadRequest",
                         std::string("annotation ") + annotations::kConfig + ": " + where + " has no key " + kConfigKey +
                             " (the sidecar's configuration)"));
      }
    } catch (const kube::ApiError& e) {
      if (kube::isNotFound(e)) {
        count("refused");
        return ok(denied(uid, 400, "BadRequest",
                         std::string("annotation ") + annotations::kConfig + ": " + where +
                             " not found (create it with the sidecar's configuration under the key " + kConfigKey +
                             ")"));
      }
      count("api_error");
      log::warn("cannot read the ConfigMap of a pod", {{"namespace", ns}, {"pod", name}, {"error", e.what()}});
      return ok(denied(uid, 503, "ServiceUnavailable",
                       std::string("annotation ") + annotations::kConfig + ": cannot read " + where + ": " + e.what() +
                           " (the pod is refused rather than created without its sidecar; its controller retries)"));
    }
  }
  count("injected");
  Json out = review(uid, true);
  out["response"]["patchType"] = "JSONPatch";
  out["response"]["patch"] = base64Encode(result.patch.dump());
  log::debug("pod injected",
             {{"namespace", ns}, {"pod", name}, {"form", result.native ? "native" : "classic"}});
  return ok(out);
}

}  // namespace tributary::op::inject
