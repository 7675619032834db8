// tributary-test-apiserver: the test Kubernetes API server as a process, for
// e2e scenarios and for trying kubectl against it by hand.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "tests/support/apiserver/test_api_server.h"

namespace {

int usage(const char* why) {
  std::fprintf(stderr,
               "%s\nusage: tributary-test-apiserver [--port N] [--host ADDR] [--bookmark-interval-ms N]\n"
               "  Serves the Kubernetes API over plain HTTP until SIGTERM or SIGINT.\n",
               why);
  return 2;
}

bool parseInt(const char* text, long min, long max, long& out) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < min || v > max) return false;
  out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  tributary::apiserver::TestApiServerOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    long n = 0;
    if (arg == "--port") {
      const char* v = value();
      if (!v || !parseInt(v, 0, 65535, n)) return usage("--port needs a number from 0 to 65535");
      options.port = static_cast<int>(n);
    } else if (arg == "--host") {
      const char* v = value();
      if (!v) return usage("--host needs an address");
      options.host = v;
    } else if (arg == "--bookmark-interval-ms") {
      const char* v = value();
      if (!v || !parseInt(v, 1, 3'600'000, n)) return usage("--bookmark-interval-ms needs a positive number");
      options.bookmarkInterval = std::chrono::milliseconds(n);
    } else if (arg == "--help" || arg == "-h") {
      usage("");
      return 0;
    } else {
      return usage(("unknown argument: " + arg).c_str());
    }
  }

  // Signals are taken synchronously by this thread; the server's threads,
  // started after, inherit the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  tributary::apiserver::TestApiServer server(options);
  try {
    server.start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tributary-test-apiserver: %s\n", e.what());
    return 1;
  }
  std::cout << "tributary-test-apiserver listening on " << server.url() << std::endl;
  std::fprintf(stderr, "tributary-test-apiserver listening on %s\n", server.url().c_str());

  int sig = 0;
  sigwait(&signals, &sig);
  std::fprintf(stderr, "tributary-test-apiserver: %s, stopping\n", strsignal(sig));
  server.stop();
  return 0;
}
