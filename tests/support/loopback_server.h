#pragma once
#include <httplib.h>

namespace tributary::test {

// Binds `server` to a kernel-chosen loopback port, listening with a real
// server's backlog; returns the port (≤ 0 on failure).
//
// Debian's cpp-httplib 0.11 is a compiled library that listens with a backlog
// of 5 (CPPHTTPLIB_LISTEN_BACKLOG cannot be changed from our side). The
// sidecar opens up to maxInFlight connections to an app at once; with a
// backlog of 5 Linux answers the overflow with SYN cookies, and some of those
// connections are reset: a delivery fails with "Read" and is retried — correct
// behaviour, but not what a test of ordering or shutdown is about. Real apps
// listen with a backlog of 128 or more; test apps do too.
int bindLoopback(httplib::Server& server);

}  // namespace tributary::test
