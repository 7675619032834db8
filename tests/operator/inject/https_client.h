#pragma once
// A real TLS client for the webhook tests: libcurl, verifying the server's
// certificate against a given CA bundle and the host name the API server would
// use (resolved to 127.0.0.1), as the kube-apiserver does when it calls a webhook.
#include <string>

namespace tributary::op::inject::test {

struct HttpsReply {
  int curlCode = 0;         // CURLE_OK (0) when the exchange happened
  std::string curlError;    // curl's message otherwise
  long status = 0;
  std::string body;
  std::string serverCertPem;  // the leaf the server presented
};

HttpsReply postHttps(const std::string& host, int port, const std::string& path, const std::string& body,
                     const std::string& caBundlePem);

}  // namespace tributary::op::inject::test
