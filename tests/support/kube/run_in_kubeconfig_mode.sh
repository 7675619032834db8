#!/usr/bin/env bash
# Runs an operator test binary in kubeconfig mode: starts
# tributary-test-apiserver as a separate process, writes a kubeconfig for it
# and runs the binary with TRIBUTARY_TEST_KUBECONFIG set — the code path a
# real cluster takes (kubeconfig loading, namespace per test, CRD install,
# cleanup, skips), proven without one. The semantics of a real API server are
# proven only by running the same binaries against one (tests/operator/README.md).
#
# usage: run_in_kubeconfig_mode.sh APISERVER_BINARY TEST_BINARY [gtest args...]
set -euo pipefail
apiserver=$1
shift
dir=$(mktemp -d "${TMPDIR:-/tmp}/tributary-kubeconfig-mode-XXXXXX")
coproc SERVER { exec "$apiserver" --port 0; }
server_pid=$SERVER_PID
cleanup() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
# The server prints "tributary-test-apiserver listening on http://127.0.0.1:PORT" once it serves.
if ! read -r -t 30 line <&"${SERVER[0]}"; then
  echo "tributary-test-apiserver did not report its address within 30 s" >&2
  exit 1
fi
url=${line##* }
cat > "$dir/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "$url"}}]
contexts: [{name: test, context: {cluster: test, user: test, namespace: default}}]
current-context: test
users: [{name: test, user: {}}]
KUBECONFIG
echo "kubeconfig mode: $* against $url" >&2
TRIBUTARY_TEST_KUBECONFIG="$dir/kubeconfig" "$@"

# Every test cleaned up after itself: no test namespace, no webhook configuration left.
if command -v kubectl >/dev/null; then
  k() { kubectl --kubeconfig "$dir/kubeconfig" --cache-dir "$dir/cache" "$@"; }
  left=$(k get namespaces -l tributary.dev/test=true -o name; k get mutatingwebhookconfigurations -o name)
  if [ -n "$left" ]; then
    echo "left behind by the tests:" >&2
    echo "$left" >&2
    exit 1
  fi
fi
