#!/usr/bin/env bash
# bench-flush-calls.sh: what merging many users per EVALSHA saves Redis.
#
#   loadgen/bench-flush-calls.sh [--rate R] [--duration S] [--calls "64 1"]
#                                [--no-build]   (default --calls "16 1")
#
# For each --flush-users-per-call value, in one invocation: a private
# redis-server (appendonly, everysec) and readstated --redis, a fill of
# 100k users x 20 channels, then a fixed-rate 90/10 ack/get run (default
# 60000 req/s for 15 s, 50 connections, pipeline 16). Redis's counters are
# reset after the fill, so the figures are the run's write-behind flushes
# only: Redis CPU seconds, users merged (the merge script starts every user
# of up to 500 states with one HGET of _v), Redis CPU per merged user, and
# the ratio to the first value. Every run is bounded.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"

RATE=60000
DUR=15
CALLS="16 1"
BUILD_ARG=""
while [ $# -gt 0 ]; do
    case "$1" in
    --rate) RATE=$2; shift 2 ;;
    --duration) DUR=$2; shift 2 ;;
    --calls) CALLS=$2; shift 2 ;;
    --no-build) BUILD_ARG=--no-build; shift ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) rs_die "unknown argument $1" ;;
    esac
done

rs_build $BUILD_ARG
rs_tmp
MIX=(--ack 90 --get-one 10 --users 100000 --channels-per-user 20)
# HGET calls since the last reset, from INFO commandstats
hget_calls() {
    redis-cli -h 127.0.0.1 -p "$RS_REDIS_PORT" info commandstats |
        awk -F'[=,]' '/^cmdstat_hget:/ { print $2; found = 1 } END { if (!found) print 0 }'
}

printf '%-15s %10s %12s %14s %14s %9s\n' users_per_call rps redis_cpu_s users_merged \
    cpu_us_per_user ratio >"$RS_TMP/table"
base=""
for n in $CALLS; do
    rs_start_redis
    rs_start_server --flush-users-per-call "$n"
    svc="rs://127.0.0.1:$RS_SERVER_PORT"
    rs_log "fill, then $RATE req/s for ${DUR}s with --flush-users-per-call $n"
    timeout 900 "$RS_LOADGEN" --target "$svc" --quiet --fill-users 100000 --fill-channels 20 \
        --connections 8 --pipeline 16 --duration 800 >/dev/null || rs_die "fill failed"
    sleep 2 # the fill's flushes drain
    redis-cli -h 127.0.0.1 -p "$RS_REDIS_PORT" config resetstat >/dev/null
    c0=$(rs_cpu_s "$RS_REDIS_PID")
    timeout $((DUR + 60)) "$RS_LOADGEN" --target "$svc" --quiet --json "$RS_TMP/run-$n.json" \
        --rate "$RATE" --connections 50 --pipeline 16 --duration "$DUR" "${MIX[@]}" \
        >/dev/null || rs_die "run failed"
    sleep 1 # the last window's flushes
    c1=$(rs_cpu_s "$RS_REDIS_PID")
    users=$(hget_calls)
    rps=$("$RS_LOADGEN" field "$RS_TMP/run-$n.json" totals.throughput_rps)
    per=$(awk -v a="$c1" -v b="$c0" -v u="$users" 'BEGIN { printf "%.2f", (u > 0 ? (a - b) * 1e6 / u : 0) }')
    [ -n "$base" ] || base=$per
    awk -v n="$n" -v r="$rps" -v a="$c1" -v b="$c0" -v u="$users" -v p="$per" -v base="$base" \
        'BEGIN { printf "%-15s %10.0f %12.2f %14d %14.2f %9.2f\n", n, r, a - b, u, p, (base > 0 ? p / base : 0) }' \
        >>"$RS_TMP/table"
    rs_stop_pid "$RS_SERVER_PID" 30
    rs_stop_pid "$RS_REDIS_PID" 10
    RS_SERVER_PID=""
    RS_REDIS_PID=""
done
cat "$RS_TMP/table"
