#pragma once
#include <chrono>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace tributary::op::kube {

// Where and how to reach the API server: the result of reading a kubeconfig or
// the in-cluster service account, validated once, then immutable. "Data"
// fields hold PEM bytes (already base64-decoded); "File" fields absolute paths.
struct ClusterConnection {
  std::string server;  // https://host:port (or http:// against a test server)
  std::string caFile;
  std::string caData;
  bool insecureSkipTlsVerify = false;
  std::string clientCertFile;
  std::string clientCertData;
  std::string clientKeyFile;
  std::string clientKeyData;
  std::string token;      // a static bearer token
  std::string tokenFile;  // re-read when it changes (in-cluster tokens rotate); wins over `token`
  std::string defaultNamespace = "default";
  std::string source;  // "kubeconfig /path (context x)" or "in-cluster": for logs and errors
};

// All problems found in a configuration, each naming the file and the key.
class KubeConfigError : public std::runtime_error {
 public:
  explicit KubeConfigError(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// The process environment as a map (tests pass their own).
using Environment = std::map<std::string, std::string>;
Environment processEnvironment();

inline const char* const kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

// Reads a kubeconfig: the current context's cluster (server,
// certificate-authority[-data], insecure-skip-tls-verify), user
// (client-certificate[-data], client-key[-data], token, tokenFile) and
// namespace. Relative file paths resolve against the kubeconfig's directory.
// Throws KubeConfigError listing every problem.
ClusterConnection loadKubeconfig(const std::string& path);

// The in-cluster service account: KUBERNETES_SERVICE_HOST/PORT from `env`,
// token, ca.crt and namespace from `serviceAccountDir`.
ClusterConnection loadInCluster(const Environment& env, const std::string& serviceAccountDir = kServiceAccountDir);

// --kubeconfig when given, else $KUBECONFIG (its first path), else in-cluster
// when KUBERNETES_SERVICE_HOST is set, else a KubeConfigError saying all three
// were tried.
ClusterConnection resolveConnection(const std::string& flagKubeconfig, const Environment& env,
                                    const std::string& serviceAccountDir = kServiceAccountDir);

}  // namespace tributary::op::kube
