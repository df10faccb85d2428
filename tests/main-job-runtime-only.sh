#!/usr/bin/env bash
# main-job-runtime-only.sh: the README's main job as a newcomer's machine
# runs it, with only the runtime packages visible. Every pkg-config file on
# the machine except cmocka's (the test-only library) is linked into a
# private PKG_CONFIG_LIBDIR, so the configure sees what a machine with only
# `deploy/install-deps.sh --runtime` would see. Then loadgen/run-main.sh
# (short) configures and builds in its own directory, starts a private
# redis-server and readstated, fills and drives them, and must print its
# report with every request answered OK.
#
#   tests/main-job-runtime-only.sh [BUILD_DIR]     (default build-runtime)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${1:-$root/build-runtime}
work=$(mktemp -d "${TMPDIR:-/tmp}/readstates-runtime.XXXXXX")
trap 'rm -rf "$work"' EXIT

fail() {
  echo "main-job-runtime-only: FAILED: $*" >&2
  exit 1
}

mkdir -p "$work/pc"
for d in $(pkg-config --variable pc_path pkg-config | tr ':' ' '); do
  [ -d "$d" ] || continue
  for f in "$d"/*.pc; do
    [ -e "$f" ] || continue
    case "$(basename "$f")" in cmocka.pc) ;; *) ln -sf "$f" "$work/pc/" ;; esac
  done
done
PKG_CONFIG_LIBDIR=$work/pc pkg-config --exists cmocka && fail "cmocka still visible"

# A fresh configure each time: a cache from a configure that saw cmocka
# would hide the case this checks.
rm -rf "$build"
PKG_CONFIG_LIBDIR=$work/pc RS_BUILD=$build \
  loadgen/run-main.sh --duration 3 --rate 1000 --users 500 --out "$work/out" \
  >"$work/run.log" 2>&1 || {
  cat "$work/run.log"
  [ -f "$build/configure.log" ] && tail -20 "$build/configure.log"
  fail "loadgen/run-main.sh exited non-zero"
}
grep -q "tests skipped: cmocka not found" "$build/configure.log" ||
  fail "configure did not say in one line that the tests are skipped"

lg=$build/bin/readstate-loadgen
answered=$("$lg" field "$work/out/main.json" totals.answered)
ok=$("$lg" field "$work/out/main.json" totals.ok)
errors=$("$lg" field "$work/out/main.json" totals.errors)
[ "${answered%.*}" -gt 0 ] || fail "no request answered (totals.answered=$answered)"
[ "${errors%.*}" -eq 0 ] || fail "$errors requests failed"
[ "${ok%.*}" -eq "${answered%.*}" ] || fail "answered $answered but ok $ok"
grep -q "latency p99" "$work/run.log" || fail "no latency report printed"
echo "main-job-runtime-only: configure skipped the tests without cmocka; run-main answered $answered requests, $errors errors"
