#!/usr/bin/env bash
# Installs the Debian bookworm packages Tributary builds and tests with.
# Idempotent: installs only what is missing, so a second run does nothing.
#   scripts/install-deps.sh          build and test packages (make build, make run)
#   scripts/install-deps.sh images   the container tools of make images and the
#                                    e2e pod test (podman, buildah, runc; catatonit
#                                    is the pods' infra process) — never for make run
set -euo pipefail

case "${1:-}" in
  "")
    packages=(
      build-essential cmake pkg-config ccache
      librdkafka-dev libcpp-httplib-dev libcurl4-openssl-dev libssl-dev
      libyaml-cpp-dev nlohmann-json3-dev prometheus-cpp-dev libsimdjson-dev libjq-dev
      libgtest-dev libgmock-dev
      curl kcat openssl
      # tests/support/helm-render renders the Helm chart as `helm template` does
      # (Go's text/template + Helm's libraries, GOPATH mode, nothing downloaded).
      golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev
      golang-github-xeipuuv-gojsonschema-dev
    ) ;;
  images) packages=(podman buildah runc catatonit ca-certificates binutils) ;;
  *) echo "install-deps: unknown package set '$1' (known: images)" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
