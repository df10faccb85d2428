#!/usr/bin/env bash
# bench-floor.sh: how much of a fixed-rate tail is the machine's.
#
#   loadgen/bench-floor.sh [--rate R] [--duration S] [--repeat N]
#                          [--batch-us U] [--no-build]
#
# Starts a private redis-server (appendonly, everysec), readstated --redis
# (write-behind) and a second, memory-only readstated, fills 100k users x 20
# channels into both, then alternates, N times (default 2), three fixed-rate
# runs at R req/s (default 60000, 10 s, 50 connections, pipeline 16,
# --hiccups):
#   ping: Ping only, which the server answers without cache or Redis work:
#         the floor of framing, loopback and wake-ups on this machine
#   mem:  90% Ack, 10% GetReadStates of one channel (cache hits) against
#         the memory-only server: the cache's own cost
#   wb:   the same mix against the write-behind server, whose flushes make
#         Redis work on the same vCPUs
# and prints latency, CPU per request, the platform's hiccups and steal for
# each. A run whose p99 sits within the ping runs' spread has no tail of its
# own. --batch-us is passed to the load generator (its send interval; default
# 50). Every run is bounded in time.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"

RATE=60000
DUR=10
REPEAT=2
BATCH_US=50
BUILD_ARG=""
while [ $# -gt 0 ]; do
    case "$1" in
    --rate) RATE=$2; shift 2 ;;
    --duration) DUR=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --batch-us) BATCH_US=$2; shift 2 ;;
    --no-build) BUILD_ARG=--no-build; shift ;;
    -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
    *) rs_die "unknown argument $1" ;;
    esac
done

rs_build $BUILD_ARG
rs_tmp
# the memory-only server first (bench-lib tracks one server: this one is
# ours to stop, on every exit)
MEM_PID=""
floor_cleanup() { # then rs_cleanup, which stops the rest and exits
    rs_stop_pid "$MEM_PID" 30
    MEM_PID=""
}
rs_start_server
MEM_PID=$RS_SERVER_PID
mem_svc="rs://127.0.0.1:$RS_SERVER_PORT"
# errexit off inside the trap, so a failed run still reaches rs_cleanup
# (which stops Redis and the server and exits with the run's status).
trap 'rs_st=$?; set +e; floor_cleanup; (exit "$rs_st"); rs_cleanup' EXIT
RS_SERVER_PID=""
rs_start_redis
rs_start_server
svc="rs://127.0.0.1:$RS_SERVER_PORT"
for target in "$mem_svc" "$svc"; do
    rs_log "fill $target: 100000 users x 20 channels"
    timeout 900 "$RS_LOADGEN" --target "$target" --quiet --fill-users 100000 \
        --fill-channels 20 --connections 8 --pipeline 16 --duration 800 >/dev/null ||
        rs_die "fill failed"
done

f() { "$RS_LOADGEN" field "$1" "$2"; }
ms() { awk -v v="$1" 'BEGIN { if (v == "null" || v == "") print "n/a"; else printf "%.3f", v / 1000 }'; }
n2() { awk -v v="$1" 'BEGIN { if (v == "null" || v == "") print "n/a"; else printf "%.2f", v }'; }
printf '%-5s %9s %9s %9s %9s %8s %8s %10s %10s %8s %7s\n' run p50_ms p99_ms p999_ms max_ms \
    srv_us lg_us hic_p99_ms hic_p999_ms hic_gt1 steal >"$RS_TMP/table"
for ((i = 1; i <= REPEAT; i++)); do
    for run in ping mem wb; do
        target=$svc pid=$RS_SERVER_PID mix=(--ack 90 --get-one 10)
        [ $run = ping ] && mix=(--ping 100)
        [ $run = mem ] && target=$mem_svc pid=$MEM_PID
        j=$RS_TMP/$run-$i.json
        rs_log "$run $i/$REPEAT: $RATE req/s for ${DUR}s"
        timeout $((DUR + 60)) "$RS_LOADGEN" --target "$target" --server-pid "$pid" \
            --quiet --json "$j" --hiccups --rate "$RATE" --batch-us "$BATCH_US" \
            --connections 50 --pipeline 16 \
            --duration "$DUR" --warmup 2 "${mix[@]}" --users 100000 --channels-per-user 20 \
            >/dev/null || rs_die "$run run failed"
        [ "$(f "$j" totals.errors)" = 0 ] || rs_die "$run run had errors"
        printf '%-5s %9s %9s %9s %9s %8s %8s %10s %10s %7s%% %6s%%\n' $run \
            "$(ms "$(f "$j" latency.all.p50_us)")" "$(ms "$(f "$j" latency.all.p99_us)")" \
            "$(ms "$(f "$j" latency.all.p999_us)")" "$(ms "$(f "$j" latency.all.max_us)")" \
            "$(n2 "$(f "$j" cpu.server_us_per_req)")" "$(n2 "$(f "$j" cpu.loadgen_us_per_req)")" \
            "$(ms "$(f "$j" hiccups.p99_us)")" "$(ms "$(f "$j" hiccups.p999_us)")" \
            "$(n2 "$(f "$j" hiccups.over_1ms_pct)")" "$(n2 "$(f "$j" steal_pct)")" \
            >>"$RS_TMP/table"
    done
done
printf '\n%s req/s, 50 connections x pipeline 16, --batch-us %s; hic_* = the platform hiccup meter (1 ms sleeps),\nhic_gt1 = share of time in hiccups over 1 ms, steal = hypervisor steal in the run\n' "$RATE" "$BATCH_US"
cat "$RS_TMP/table"
