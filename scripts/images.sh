#!/usr/bin/env bash
# Builds the container images from the binaries of `make build` (see images/README.md).
#
#   scripts/images.sh [--build-dir DIR] [--probe] [IMAGE...]
#
# IMAGE: operator, sidecar (the default: both) and e2e-app (test-only image of
# the e2e pod scenario). Each image is FROM scratch with the stripped binary,
# the shared libraries ldd resolves for it on this Debian bookworm host, the
# dynamic loader, CA certificates and a passwd/group entry for 65532 (nonroot).
# Nothing is compiled and nothing is pulled from a registry.
#
# --probe: exit 77 ("skipped") with the reason when podman cannot run
# containers here (the e2e test fixture uses this), instead of failing.
#
# Exit codes: 0 built; 1 error (message says what); 2 usage; 77 skipped (--probe).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build_dir="$root/build"
probe=0
images=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$(cd "$2" && pwd); shift 2 ;;
    --build-dir=*) build_dir=$(cd "${1#*=}" && pwd); shift ;;
    --probe) probe=1; shift ;;
    operator|sidecar|e2e-app) images+=("$1"); shift ;;
    -h|--help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "images.sh: unknown argument '$1' (images: operator, sidecar, e2e-app)" >&2; exit 2 ;;
  esac
done
[ ${#images[@]} -gt 0 ] || images=(operator sidecar)

die() { echo "images.sh: $*" >&2; exit 1; }
skip() { echo "images.sh: skipped: $*" >&2; exit 77; }

# The libraries are copied from this host, so the host must be the platform the
# images claim to be (the binaries were built and tested against these libraries).
codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
[ "$codename" = bookworm ] ||
  die "the images are assembled from this host's Debian bookworm libraries, but /etc/os-release says '${codename:-unknown}'; build them on Debian 12 (bookworm)"

# One place for the version: CMakeLists.txt's project(tributary VERSION x.y.z).
version=$(sed -n 's/^project(tributary VERSION \([0-9][0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
[ -n "$version" ] || die "cannot read the version from project(tributary VERSION x.y.z) in CMakeLists.txt"

# Project-local configuration (runc, no default ulimits); /etc stays untouched.
export CONTAINERS_CONF="$root/images/containers.conf"

command -v podman >/dev/null || {
  [ $probe = 1 ] && skip "podman cannot run containers here (podman is not installed; make images installs it)"
  die "podman is not installed (make images installs podman, buildah and runc)"
}
# Can this machine build and run images at all (e.g. not inside an unprivileged container)?
if ! why=$(podman info --format '{{.Store.GraphDriverName}}' 2>&1); then
  [ $probe = 1 ] && skip "podman cannot run containers here ($(echo "$why" | tail -1))"
  die "podman does not work here: $(echo "$why" | tail -1)"
fi

binary_of() {
  case "$1" in
    operator) echo tributary-operator ;;
    sidecar) echo tributary-sidecar ;;
    e2e-app) echo tributary-e2e-app ;;
  esac
}

revision=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# Reproducible image metadata and file times: the commit's time, not now.
epoch=$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)
source_label=()
if remote=$(git -C "$root" remote get-url origin 2>/dev/null); then
  source_label=(--label "org.opencontainers.image.source=$remote")
fi

# Copies FILE to the same path under DEST, following symlinks (the soname link
# becomes a regular file with the library's content).
copy_file() {
  local file=$1 dest=$2
  mkdir -p "$dest$(dirname "$file")"
  cp -L "$file" "$dest$file"
}

stage() {
  local name=$1 bin=$2 rootfs=$3
  local src="$build_dir/bin/$bin"
  [ -x "$src" ] || die "$src does not exist; run 'make build' first (the images hold the binaries the tests ran)"
  rm -rf "$rootfs"
  mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc/ssl/certs" "$rootfs/usr/lib/ssl"

  # Debug info stays in build/bin/ for symbolizing; the build-id note survives strip.
  strip --strip-all -o "$rootfs/usr/local/bin/$bin" "$src"

  # The libraries the binary needs, transitively, as the loader resolves them
  # here, and the loader itself (the line without "=>").
  local ldd_out
  ldd_out=$(ldd "$src") || die "ldd $src failed"
  if grep -q 'not found' <<<"$ldd_out"; then
    die "$bin needs libraries this host does not have: $(grep 'not found' <<<"$ldd_out" | tr -s ' \t' ' ')"
  fi
  local lib
  while read -r lib; do
    [ -n "$lib" ] && copy_file "$lib" "$rootfs"
  done < <(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$ldd_out")

  # CA certificates, where OpenSSL (librdkafka) and libcurl look by default on Debian.
  [ -f /etc/ssl/certs/ca-certificates.crt ] ||
    die "/etc/ssl/certs/ca-certificates.crt is missing (install the ca-certificates package)"
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
  ln -s /etc/ssl/certs/ca-certificates.crt "$rootfs/usr/lib/ssl/cert.pem"
  ln -s /etc/ssl/certs "$rootfs/usr/lib/ssl/certs"

  printf 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n' > "$rootfs/etc/passwd"
  printf 'nonroot:x:65532:\n' > "$rootfs/etc/group"
  # glibc 2.36 has the files and dns NSS modules built in: nothing to dlopen.
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$rootfs/etc/nsswitch.conf"
}

containerfile_of() {
  case "$1" in
    e2e-app) echo "$root/e2e/pod/app.Containerfile" ;;
    *) echo "$root/images/$1.Containerfile" ;;
  esac
}

# Runs the staged root filesystem without an image, exactly as the image will
# run it (nonroot, read-only, no network): proves the binary finds every
# library in it, and whether podman can run containers here at all.
# Runs on a hard-linked copy: podman adds mount points (/proc, /etc/hosts, ...)
# to a --rootfs directory, and those do not belong in the image.
smoke_test_rootfs() {
  local bin=$1 rootfs=$2 out copy="$2.smoke"
  rm -rf "$copy"
  cp -al "$rootfs" "$copy"
  if ! out=$(podman run --rm --network none --read-only --user 65532:65532 \
      --rootfs "$copy" "/usr/local/bin/$bin" --version 2>&1); then
    rm -rf "$copy"
    [ $probe = 1 ] && skip "podman cannot run containers here ($(echo "$out" | tail -1))"
    die "running $bin --version in its staged root filesystem failed: $(echo "$out" | tail -3)"
  fi
  rm -rf "$copy"
}

for name in "${images[@]}"; do
  bin=$(binary_of "$name")
  context="$build_dir/images/$name"
  stage "$name" "$bin" "$context/rootfs"
  smoke_test_rootfs "$bin" "$context/rootfs"
  tag="tributary/$name:$version"
  previous=$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
  podman build --quiet --layers=false --file "$(containerfile_of "$name")" \
    --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
    --label "org.opencontainers.image.created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)" \
    "${source_label[@]}" --timestamp "$epoch" \
    --tag "$tag" "$context" >/dev/null ||
    die "podman build of $tag failed"
  # The image this tag named before, now untagged: removed so that rebuilds do
  # not pile up (kept if a container still uses it).
  if [ -n "$previous" ] && [ "$previous" != "$(podman image inspect --format '{{.Id}}' "$tag")" ]; then
    podman rmi "$previous" >/dev/null 2>&1 || true
  fi
  bytes=$(podman image inspect --format '{{.Size}}' "$tag")
  mib=$(awk -v b="$bytes" 'BEGIN {printf "%.1f", b / 1048576}')
  note=""
  [ "$bytes" -le $((40 * 1048576)) ] || note=" (over the 40 MiB target)"
  printf 'images: %-38s %6s MiB uncompressed (%s bytes)%s\n' "localhost/$tag" "$mib" "$bytes" "$note"
done
