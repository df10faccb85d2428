#!/usr/bin/env bash
# run-main.sh: the README's main job. Builds (Release, tcmalloc), starts a
# private redis-server and readstated on free loopback ports, pre-loads some
# read states, drives the service at a fixed rate for ~20 s with the
# open-loop load generator (with its platform hiccup meter), prints the
# latency report and the platform's own hiccups beside it, and stops both
# processes by PID.
#
#   loadgen/run-main.sh [--rate R] [--duration S] [--users N] [--out DIR] [--no-build]
#
# Results go to out/main/ (or --out DIR). The build lives in build-release/
# (or $RS_BUILD); --no-build runs the programs already there and builds
# nothing. Only Debian's runtime packages are needed (install-deps --runtime).
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"

RATE=5000
DURATION=20
USERS=20000
CHANNELS=20
OUT=""
BUILD_ARG=""
while [ $# -gt 0 ]; do
    case "$1" in
    --rate) RATE=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --users) USERS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-build) BUILD_ARG=--no-build; shift ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) rs_die "unknown argument $1" ;;
    esac
done

rs_build $BUILD_ARG
rs_tmp
[ -n "$OUT" ] || OUT=$RS_ROOT/out/main
mkdir -p "$OUT"
rs_start_redis
rs_start_server

rs_log "pre-loading $USERS users x $CHANNELS channels"
timeout 300 "$RS_LOADGEN" --target "rs://127.0.0.1:$RS_SERVER_PORT" --fill-users "$USERS" \
    --fill-channels "$CHANNELS" --connections 8 --pipeline 16 --quiet \
    --json "$OUT/fill.json" >/dev/null
rs_log "filled $("$RS_LOADGEN" field "$OUT/fill.json" totals.states_written) states"

rs_log "fixed rate: $RATE req/s for $DURATION s (90% ack, 10% get), latency from the schedule"
timeout $((DURATION + 120)) "$RS_LOADGEN" --target "rs://127.0.0.1:$RS_SERVER_PORT" \
    --rate "$RATE" --duration "$DURATION" --warmup 2 --connections 16 --pipeline 8 \
    --users "$USERS" --channels-per-user "$CHANNELS" --server-pid "$RS_SERVER_PID" \
    --hiccups --json "$OUT/main.json" --csv "$OUT/main.csv" --html "$OUT/main.html"
# the latency next to what the platform alone did in the same run
ms() { awk -v v="$1" 'BEGIN { if (v == "null" || v == "") print "n/a"; else printf "%.3f", v / 1000 }'; }
fieldq() { "$RS_LOADGEN" field "$OUT/main.json" "$1" 2>/dev/null || echo null; }
printf '\nlatency p99 %s ms, max %s ms; platform hiccups (1 ms sleeps) p99 %s ms, p99.9 %s ms,' \
    "$(ms "$(fieldq latency.all.p99_us)")" "$(ms "$(fieldq latency.all.max_us)")" \
    "$(ms "$(fieldq hiccups.p99_us)")" "$(ms "$(fieldq hiccups.p999_us)")"
printf ' max %s ms; steal %s%%\n(a hiccup p99.9 in the ms makes a latency p99 in the ms the platform'"'"'s)\n' \
    "$(ms "$(fieldq hiccups.max_us)")" "$(fieldq steal_pct | awk '{ if ($1 == "null") print "n/a"; else printf "%.1f", $1 }')"
rs_log "results: $OUT/main.json, main.csv, main.html (open main.html in a browser)"
