#include "tests/operator/inject/https_client.h"

#include <curl/curl.h>

namespace tributary::op::inject::test {
namespace {

size_t collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

}  // namespace

HttpsReply postHttps(const std::string& host, int port, const std::string& path, const std::string& body,
                     const std::string& caBundlePem) {
  HttpsReply reply;
  CURL* curl = curl_easy_init();
  const std::string url = "https://" + host + ":" + std::to_string(port) + path;
  curl_slist* resolve = curl_slist_append(nullptr, (host + ":" + std::to_string(port) + ":127.0.0.1").c_str());
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_blob ca{const_cast<char*>(caBundlePem.data()), caBundlePem.size(), CURL_BLOB_COPY};
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &ca);
  curl_easy_setopt(curl, CURLOPT_CAPATH, nullptr);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_CERTINFO, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
  CURLcode rc = curl_easy_perform(curl);
  reply.curlCode = rc;
  reply.curlError = error[0] ? error : curl_easy_strerror(rc);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_certinfo* info = nullptr;
  if (rc == CURLE_OK && curl_easy_getinfo(curl, CURLINFO_CERTINFO, &info) == CURLE_OK && info && info->num_of_certs > 0)
    for (curl_slist* s = info->certinfo[0]; s; s = s->next) {
      std::string line = s->data;
      if (line.rfind("Cert:", 0) == 0) reply.serverCertPem = line.substr(5);
    }
  curl_slist_free_all(resolve);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return reply;
}

}  // namespace tributary::op::inject::test
