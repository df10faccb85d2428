#!/bin/sh
# node-test.sh: the driver of the tests of tests/node/ (tests/node.cmake).
#
#   node-test.sh setup WORK SRC
#       checks for node, npm and protoc; copies package.json,
#       package-lock.json and the test scripts of SRC/tests/node into WORK (in
#       the build tree: node_modules never lands in the source tree); runs
#       `npm ci` there; generates the protobuf-es code of
#       SRC/proto/readstates.proto into WORK/gen with protoc and
#       protoc-gen-es; bundles the browser page's script with esbuild into
#       WORK/www. The fixture `node_env` of the other tests.
#   node-test.sh run WORK SCRIPT ARGS...
#       runs WORK/SCRIPT with node (what setup copied there).
#
# Missing tools fail the test with the Debian packages to install; nothing
# here skips.
set -eu

die() {
    echo "node-test: FAIL: $*" >&2
    exit 1
}

need() { # need PROGRAM DEBIAN-PACKAGES
    command -v "$1" >/dev/null 2>&1 ||
        die "'$1' is not installed; on Debian 12: apt-get install $2 (deploy/install-deps.sh)"
}

node_major() {
    node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

[ $# -ge 3 ] || die "usage: node-test.sh setup WORK SRC | run WORK SCRIPT ARGS..."
mode=$1
work=$2
shift 2

need node nodejs
major=$(node_major)
[ "$major" -ge 18 ] 2>/dev/null ||
    die "node $(node --version 2>/dev/null) is too old: the Connect-ES clients need node >= 18"

case "$mode" in
setup)
    src=$1
    need npm npm
    need protoc protobuf-compiler
    [ -f "$src/tests/node/package-lock.json" ] || die "no $src/tests/node/package-lock.json"
    mkdir -p "$work"
    rm -rf "$work/gen" "$work/www"
    mkdir -p "$work/gen" "$work/www"
    cp "$src/tests/node/package.json" "$src/tests/node/package-lock.json" "$work/"
    cp "$src/tests/node/"*.mjs "$work/"
    cp "$src/tests/node/www/index.html" "$src/tests/node/www/page.mjs" "$work/www/"
    echo "node-test: node $(node --version), npm $(npm --version), $(protoc --version)"
    start=$(date +%s)
    # --ignore-scripts: nothing from the registry runs at install (esbuild
    # finds its platform package without its postinstall step).
    (cd "$work" && npm ci --prefer-offline --ignore-scripts --no-audit --no-fund --loglevel=error) ||
        die "npm ci in $work failed (is the npm registry reachable?)"
    echo "node-test: npm ci took $(($(date +%s) - start)) s"
    [ -x "$work/node_modules/.bin/protoc-gen-es" ] || die "npm ci left no protoc-gen-es"
    protoc --plugin=protoc-gen-es="$work/node_modules/.bin/protoc-gen-es" \
        --es_out="$work/gen" --es_opt=target=js,import_extension=js \
        --proto_path="$src/proto" "$src/proto/readstates.proto" ||
        die "protoc --es_out failed for $src/proto/readstates.proto"
    [ -f "$work/gen/readstates_pb.js" ] || die "protoc-gen-es wrote no readstates_pb.js"
    (cd "$work" && node build-browser.mjs) || die "bundling the browser page failed"
    echo "node-test: setup done in $work"
    ;;
run)
    script=$1
    shift
    [ -f "$work/$script" ] && [ -d "$work/node_modules" ] ||
        die "$work/$script or its node_modules is missing: the node_setup test (fixture node_env) did not run"
    case "$script" in browser.mjs | selftest.mjs) need chromium chromium ;; esac
    cd "$work"
    exec node "$script" "$@"
    ;;
*)
    die "unknown mode $mode"
    ;;
esac
