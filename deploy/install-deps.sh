#!/usr/bin/env bash
# Install what readstates needs to build, test and run on Debian 12.
# Idempotent: installs only packages that are missing. Needs root (or sudo)
# when something is missing.
#
#   deploy/install-deps.sh            build + run + test dependencies
#   deploy/install-deps.sh --runtime  only what the main job needs
set -euo pipefail

runtime=(cmake make gcc pkg-config protobuf-c-compiler libprotobuf-c-dev libevent-dev
         libhiredis-dev libgoogle-perftools-dev libjansson-dev libgc-dev libsystemd-dev
         redis-server curl libssl-dev libnghttp2-dev)
testing=(libcmocka-dev zlib1g-dev openssl clang libclang-rt-14-dev clang-format prometheus chromium python3-yaml
         python3-grpcio python3-protobuf protobuf-compiler nghttp2-client)
# The Connect clients' tests (tests/node) need Node.js and npm: Debian's,
# unless the machine already has them (a nodejs that bundles npm conflicts
# with Debian's npm package).
command -v node >/dev/null 2>&1 || testing+=(nodejs)
command -v npm >/dev/null 2>&1 || testing+=(npm)

pkgs=("${runtime[@]}")
[ "${1:-}" = "--runtime" ] || pkgs+=("${testing[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
