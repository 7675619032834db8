#include "operator/kube/kube_config.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/codec/base64.h"

extern char** environ;

namespace tributary::op::kube {

namespace fs = std::filesystem;

namespace {

std::string join(const std::vector<std::string>& problems) {
  std::string out = "invalid Kubernetes client configuration:";
  for (const auto& p : problems) out += "\n  " + p;
  return out;
}

bool readFile(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

std::string trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(s.find_last_not_of(ws) + 1);
  s.erase(0, s.find_first_not_of(ws));
  return s;
}

// Reads kubeconfig sections, collecting problems instead of stopping at the first.
class KubeconfigReader {
 public:
  KubeconfigReader(std::string path) : path_(std::move(path)) {
    dir_ = fs::path(path_).parent_path();
  }

  ClusterConnection read() {
    YAML::Node root;
    try {
      root = YAML::LoadFile(path_);
    } catch (const YAML::BadFile&) {
      throw KubeConfigError({path_ + ": cannot read the file"});
    } catch (const YAML::Exception& e) {
      throw KubeConfigError({path_ + ": not valid YAML: " + e.what()});
    }
    if (!root.IsMap()) throw KubeConfigError({path_ + ": not a kubeconfig (expected a mapping at the top)"});

    ClusterConnection out;
    std::string contextName = scalar(root, "current-context", "current-context");
    if (contextName.empty()) {
      problem("current-context", "missing: no context is selected");
      throw KubeConfigError(problems_);
    }
    YAML::Node context = findNamed(root, "contexts", contextName, "context");
    std::string clusterName, userName;
    if (context) {
      std::string at = "contexts[" + contextName + "].context";
      clusterName = scalar(context, "cluster", at + ".cluster");
      userName = scalar(context, "user", at + ".user");
      std::string ns = scalar(context, "namespace", at + ".namespace");
      if (!ns.empty()) out.defaultNamespace = ns;
      if (clusterName.empty()) problem(at + ".cluster", "missing");
    }
    if (!clusterName.empty()) {
      YAML::Node cluster = findNamed(root, "clusters", clusterName, "cluster");
      if (cluster) readCluster(cluster, "clusters[" + clusterName + "].cluster", out);
    }
    if (!userName.empty()) {
      YAML::Node user = findNamed(root, "users", userName, "user");
      if (user) readUser(user, "users[" + userName + "].user", out);
    }
    if (!problems_.empty()) throw KubeConfigError(problems_);
    out.source = "kubeconfig " + path_ + " (context " + contextName + ")";
    return out;
  }

 private:
  void problem(const std::string& key, const std::string& what) { problems_.push_back(path_ + ": " + key + ": " + what); }

  std::string scalar(const YAML::Node& node, const char* key, const std::string& at) {
    YAML::Node v = node[key];
    if (!v || v.IsNull()) return "";
    if (!v.IsScalar()) {
      problem(at, "must be a string");
      return "";
    }
    return v.Scalar();
  }

  bool boolean(const YAML::Node& node, const char* key, const std::string& at) {
    YAML::Node v = node[key];
    if (!v || v.IsNull()) return false;
    try {
      return v.as<bool>();
    } catch (const YAML::Exception&) {
      problem(at, "must be true or false");
      return false;
    }
  }

  // The `field` mapping of the entry named `name` in the list `list`.
  YAML::Node findNamed(const YAML::Node& root, const char* list, const std::string& name, const char* field) {
    YAML::Node entries = root[list];
    if (entries && !entries.IsNull() && !entries.IsSequence()) {
      problem(list, "must be a list");
      return YAML::Node();
    }
    if (entries) {
      for (const auto& entry : entries) {
        if (!entry.IsMap() || !entry["name"] || !entry["name"].IsScalar()) continue;
        if (entry["name"].Scalar() != name) continue;
        YAML::Node body = entry[field];
        if (!body || !body.IsMap()) {
          problem(std::string(list) + "[" + name + "]." + field, "missing or not a mapping");
          return YAML::Node();
        }
        return body;
      }
    }
    problem(list, "no entry named \"" + name + "\"");
    return YAML::Node();
  }

  std::string decoded(const YAML::Node& node, const char* key, const std::string& at) {
    std::string text = scalar(node, key, at);
    if (text.empty()) return "";
    auto bytes = base64Decode(text);
    if (!bytes) {
      problem(at, "not valid base64");
      return "";
    }
    return *bytes;
  }

  std::string file(const YAML::Node& node, const char* key, const std::string& at) {
    std::string path = scalar(node, key, at);
    if (path.empty()) return "";
    fs::path p(path);
    if (p.is_relative()) p = dir_ / p;
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) {
      problem(at, "file " + p.string() + " does not exist");
      return "";
    }
    return p.string();
  }

  void readCluster(const YAML::Node& c, const std::string& at, ClusterConnection& out) {
    out.server = scalar(c, "server", at + ".server");
    if (out.server.empty())
      problem(at + ".server", "missing");
    else if (out.server.rfind("https://", 0) != 0 && out.server.rfind("http://", 0) != 0)
      problem(at + ".server", "must be an http:// or https:// URL, got \"" + out.server + "\"");
    out.caFile = file(c, "certificate-authority", at + ".certificate-authority");
    out.caData = decoded(c, "certificate-authority-data", at + ".certificate-authority-data");
    out.insecureSkipTlsVerify = boolean(c, "insecure-skip-tls-verify", at + ".insecure-skip-tls-verify");
  }

  void readUser(const YAML::Node& u, const std::string& at, ClusterConnection& out) {
    out.clientCertFile = file(u, "client-certificate", at + ".client-certificate");
    out.clientCertData = decoded(u, "client-certificate-data", at + ".client-certificate-data");
    out.clientKeyFile = file(u, "client-key", at + ".client-key");
    out.clientKeyData = decoded(u, "client-key-data", at + ".client-key-data");
    out.token = scalar(u, "token", at + ".token");
    out.tokenFile = file(u, "tokenFile", at + ".tokenFile");
    bool hasCert = !out.clientCertFile.empty() || !out.clientCertData.empty();
    bool hasKey = !out.clientKeyFile.empty() || !out.clientKeyData.empty();
    if (hasCert && !hasKey) problem(at + ".client-key", "missing: a client certificate needs its key");
    if (hasKey && !hasCert) problem(at + ".client-certificate", "missing: a client key needs its certificate");
    for (const char* unsupported : {"exec", "auth-provider", "username"}) {
      if (u[unsupported]) problem(at + "." + unsupported, "not supported (use a token, tokenFile or client certificate)");
    }
  }

  std::string path_;
  fs::path dir_;
  std::vector<std::string> problems_;
};

}  // namespace

KubeConfigError::KubeConfigError(std::vector<std::string> problems)
    : std::runtime_error(join(problems)), problems_(std::move(problems)) {}

Environment processEnvironment() {
  Environment env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

ClusterConnection loadKubeconfig(const std::string& path) { return KubeconfigReader(path).read(); }

ClusterConnection loadInCluster(const Environment& env, const std::string& serviceAccountDir) {
  std::vector<std::string> problems;
  auto host = env.find("KUBERNETES_SERVICE_HOST");
  auto port = env.find("KUBERNETES_SERVICE_PORT");
  if (host == env.end() || host->second.empty()) problems.push_back("in-cluster: KUBERNETES_SERVICE_HOST: not set");
  if (port == env.end() || port->second.empty()) problems.push_back("in-cluster: KUBERNETES_SERVICE_PORT: not set");
  ClusterConnection out;
  if (problems.empty()) {
    std::string h = host->second;
    if (h.find(':') != std::string::npos) h = "[" + h + "]";  // an IPv6 service address
    out.server = "https://" + h + ":" + port->second;
  }
  fs::path dir(serviceAccountDir);
  std::string tokenPath = (dir / "token").string();
  std::string token;
  if (!readFile(tokenPath, token))
    problems.push_back("in-cluster: " + tokenPath + ": cannot read the service account token");
  else if (trim(token).empty())
    problems.push_back("in-cluster: " + tokenPath + ": the service account token is empty");
  out.tokenFile = tokenPath;
  std::string caPath = (dir / "ca.crt").string();
  std::error_code ec;
  if (!fs::is_regular_file(caPath, ec))
    problems.push_back("in-cluster: " + caPath + ": the cluster CA certificate is missing");
  out.caFile = caPath;
  std::string ns;
  if (readFile((dir / "namespace").string(), ns) && !trim(ns).empty()) out.defaultNamespace = trim(ns);
  if (!problems.empty()) throw KubeConfigError(problems);
  out.source = "in-cluster";
  return out;
}

ClusterConnection resolveConnection(const std::string& flagKubeconfig, const Environment& env,
                                    const std::string& serviceAccountDir) {
  if (!flagKubeconfig.empty()) return loadKubeconfig(flagKubeconfig);
  auto kc = env.find("KUBECONFIG");
  if (kc != env.end() && !kc->second.empty()) {
    // Like kubectl, a ':'-separated list; we read the first file (no merging).
    std::string first = kc->second.substr(0, kc->second.find(':'));
    if (!first.empty()) return loadKubeconfig(first);
  }
  auto host = env.find("KUBERNETES_SERVICE_HOST");
  if (host != env.end() && !host->second.empty()) return loadInCluster(env, serviceAccountDir);
  throw KubeConfigError({"no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, or run in a pod "
                         "(KUBERNETES_SERVICE_HOST is not set)"});
}

}  // namespace tributary::op::kube
