#!/usr/bin/env bash
# bench.sh: the standard benchmark suite, readstated against the same
# workload sent straight to Redis (the baseline a team would otherwise build).
#
#   loadgen/bench.sh [--quick] [--out DIR] [--users N] [--channels M]
#                    [--connections N] [--no-build]
#
# Builds if needed (Release, tcmalloc), starts a private redis-server
# (appendonly yes, appendfsync everysec) and readstated --redis on free
# loopback ports, both stopped by PID on exit, then runs:
#   1. fill: users x channels pre-loaded through the service (cache hits
#      afterwards; write-behind puts them in Redis for the baseline too)
#   2. max throughput, 50 connections, pipeline 1 and 16, 90/10 ack/get,
#      service vs Redis-direct; and redis-benchmark -t hset with the same
#      connections and pipeline, for the server CPU per request
#   3. fixed rate at half the service's measured max (pipeline 16) for 60 s
#      (5 s with --quick), service vs Redis-direct
#   4. cold-heavy: half of the requests for users never seen before, at a
#      quarter of that max, service vs Redis-direct
# and writes JSON, CSV and HTML per run plus a comparison HTML per pair into
# the output directory (default out/bench-<time>), then prints a ratio table
# and, for the fixed-rate runs (3 and 4, run with --hiccups), the platform's
# own hiccups and steal next to their latency.
# Every run is bounded in time.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"

QUICK=0
OUT=""
USERS=100000
CHANNELS=20
CONNS=50
BUILD_ARG=""
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    --users) USERS=$2; shift 2 ;;
    --channels) CHANNELS=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --no-build) BUILD_ARG=--no-build; shift ;;
    -h | --help) sed -n '2,24p' "$0"; exit 0 ;;
    *) rs_die "unknown argument $1" ;;
    esac
done
if [ $QUICK = 1 ]; then
    MAX_S=5; RATE_S=5; WARM_S=1; HSET_N=100000
else
    MAX_S=15; RATE_S=60; WARM_S=3; HSET_N=1000000
fi
[ -n "$OUT" ] || OUT=$RS_ROOT/out/bench-$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

rs_build $BUILD_ARG
rs_tmp
rs_start_redis
rs_start_server

SVC="rs://127.0.0.1:$RS_SERVER_PORT"
RDS="redis://127.0.0.1:$RS_REDIS_PORT"
MIX=(--ack 90 --get-one 10 --users "$USERS" --channels-per-user "$CHANNELS")
field() { "$RS_LOADGEN" field "$@"; }
# a figure that may be absent (null then)
fieldq() { "$RS_LOADGEN" field "$@" 2>/dev/null || echo null; }
# microseconds to milliseconds (three decimals), or n/a
ms() { awk -v v="$1" 'BEGIN { if (v == "null" || v == "") print "n/a"; else printf "%.3f", v / 1000 }'; }
# two decimals, or n/a for a missing figure
f2() { awk -v v="$1" 'BEGIN { if (v == "null" || v == "") print "n/a"; else printf "%.2f", v }'; }

# run NAME TARGET SERVER_PID LIMIT_S [loadgen flags...]
run() {
    local name=$1 target=$2 pid=$3 limit=$4
    shift 4
    rs_log "run $name"
    timeout "$limit" "$RS_LOADGEN" --target "$target" --server-pid "$pid" --label "$name" \
        --quiet --json "$OUT/$name.json" --csv "$OUT/$name.csv" --html "$OUT/$name.html" \
        "$@" >"$OUT/$name.txt" || rs_die "$name failed (see $OUT/$name.txt)"
}

# Redis's own CPU per HSET under redis-benchmark, same connections/pipeline.
hset_bench() {
    local p=$1 before after
    before=$(rs_cpu_s "$RS_REDIS_PID")
    timeout 300 redis-benchmark -h 127.0.0.1 -p "$RS_REDIS_PORT" -c "$CONNS" -P "$p" \
        -n "$HSET_N" -r 100000 -t hset -q >"$OUT/redis-benchmark-hset-p$p.txt" 2>&1 ||
        rs_die "redis-benchmark failed"
    after=$(rs_cpu_s "$RS_REDIS_PID")
    awk -v a="$after" -v b="$before" -v n="$HSET_N" 'BEGIN { printf "%.3f", (a - b) * 1e6 / n }' \
        >"$OUT/redis-benchmark-hset-p$p.cpu_us"
}

# 1. fill
rs_log "fill: $USERS users x $CHANNELS channels"
run fill "$SVC" "$RS_SERVER_PID" 900 --fill-users "$USERS" --fill-channels "$CHANNELS" \
    --connections 8 --pipeline 16 --duration 800
LIMIT=$((MAX_S + WARM_S + 60))

# 2. max throughput at pipeline 1 and 16
for p in 1 16; do
    redis_cpu0=$(rs_cpu_s "$RS_REDIS_PID")
    run "svc-max-p$p" "$SVC" "$RS_SERVER_PID" $LIMIT --max --connections "$CONNS" \
        --pipeline $p --duration $MAX_S --warmup $WARM_S "${MIX[@]}"
    redis_cpu1=$(rs_cpu_s "$RS_REDIS_PID")
    awk -v a="$redis_cpu1" -v b="$redis_cpu0" 'BEGIN { printf "%.2f", a - b }' \
        >"$OUT/svc-max-p$p.redis_cpu_s"
    run "redis-max-p$p" "$RDS" "$RS_REDIS_PID" $LIMIT --max --connections "$CONNS" \
        --pipeline $p --duration $MAX_S --warmup $WARM_S "${MIX[@]}"
    rs_log "redis-benchmark -t hset -c $CONNS -P $p -n $HSET_N"
    hset_bench $p
done

# 3. fixed rate at half the service's max (pipeline 16)
MAX16=$(field "$OUT/svc-max-p16.json" totals.throughput_rps)
RATE=$(awk -v m="$MAX16" 'BEGIN { r = int(m / 2); if (r < 100) r = 100; print r }')
LIMIT=$((RATE_S + WARM_S + 90))
# --hiccups: the platform's own stalls, measured in the same runs
run svc-rate "$SVC" "$RS_SERVER_PID" $LIMIT --rate "$RATE" --connections "$CONNS" \
    --pipeline 16 --duration $RATE_S --warmup $WARM_S --hiccups "${MIX[@]}"
run redis-rate "$RDS" "$RS_REDIS_PID" $LIMIT --rate "$RATE" --connections "$CONNS" \
    --pipeline 16 --duration $RATE_S --warmup $WARM_S --hiccups "${MIX[@]}"

# 4. cold-heavy
COLD_RATE=$(awk -v r="$RATE" 'BEGIN { c = int(r / 2); if (c < 100) c = 100; print c }')
LIMIT=$((MAX_S + WARM_S + 90))
run svc-cold "$SVC" "$RS_SERVER_PID" $LIMIT --rate "$COLD_RATE" --cold 50 \
    --connections "$CONNS" --pipeline 16 --duration $MAX_S --warmup $WARM_S --hiccups \
    "${MIX[@]}"
run redis-cold "$RDS" "$RS_REDIS_PID" $LIMIT --rate "$COLD_RATE" --cold 50 \
    --connections "$CONNS" --pipeline 16 --duration $MAX_S --warmup $WARM_S --hiccups \
    "${MIX[@]}"

# Comparisons and the ratio table.
for pair in max-p1 max-p16 rate cold; do
    "$RS_LOADGEN" compare "$OUT/svc-$pair.json" "$OUT/redis-$pair.json" \
        --html "$OUT/compare-$pair.html" >"$OUT/compare-$pair.txt"
done
{
    printf '\nreadstated (svc) vs Redis-direct (redis), %s connections; ratio = svc/redis\n' "$CONNS"
    printf '%-9s %12s %12s %7s %9s %9s %9s %9s %9s %9s %10s %10s %8s %8s\n' run svc_rps \
        redis_rps ratio svc_p50 redis_p50 svc_p99 redis_p99 svc_max redis_max svc_cpu_us \
        redis_cpu_us svc_err redis_err
    for pair in max-p1 max-p16 rate cold; do
        s=$OUT/svc-$pair.json
        r=$OUT/redis-$pair.json
        printf '%-9s %12.0f %12.0f %7.2f %9.3f %9.3f %9.3f %9.3f %9.2f %9.2f %10s %10s %8s %8s\n' \
            "$pair" \
            "$(field "$s" totals.throughput_rps)" "$(field "$r" totals.throughput_rps)" \
            "$(awk -v a="$(field "$s" totals.throughput_rps)" -v b="$(field "$r" totals.throughput_rps)" \
                'BEGIN { print (b > 0 ? a / b : 0) }')" \
            "$(awk -v v="$(field "$s" latency.all.p50_us)" 'BEGIN { print v / 1000 }')" \
            "$(awk -v v="$(field "$r" latency.all.p50_us)" 'BEGIN { print v / 1000 }')" \
            "$(awk -v v="$(field "$s" latency.all.p99_us)" 'BEGIN { print v / 1000 }')" \
            "$(awk -v v="$(field "$r" latency.all.p99_us)" 'BEGIN { print v / 1000 }')" \
            "$(awk -v v="$(field "$s" latency.all.max_us)" 'BEGIN { print v / 1000 }')" \
            "$(awk -v v="$(field "$r" latency.all.max_us)" 'BEGIN { print v / 1000 }')" \
            "$(f2 "$(field "$s" cpu.server_us_per_req)")" "$(f2 "$(field "$r" cpu.server_us_per_req)")" \
            "$(field "$s" totals.errors)" "$(field "$r" totals.errors)"
    done
    printf '(latencies in ms, from the scheduled send time; cpu = server CPU per answered request;\n'
    printf ' err = errors, unsent and unanswered requests included)\n'
    printf '\nthe platform during the fixed-rate runs: latency next to the hiccups of a thread\n'
    printf 'sleeping 1 ms (how late it woke), measured in the same run (ms; %%):\n'
    printf '%-11s %9s %9s %9s %9s %9s %9s %7s\n' run lat_p99 lat_max hic_p99 hic_p99.9 \
        hic_max 'hic>1ms' steal
    for n in svc-rate redis-rate svc-cold redis-cold; do
        j=$OUT/$n.json
        printf '%-11s %9s %9s %9s %9s %9s %9s %7s\n' "$n" \
            "$(ms "$(field "$j" latency.all.p99_us)")" "$(ms "$(field "$j" latency.all.max_us)")" \
            "$(ms "$(fieldq "$j" hiccups.p99_us)")" "$(ms "$(fieldq "$j" hiccups.p999_us)")" \
            "$(ms "$(fieldq "$j" hiccups.max_us)")" "$(f2 "$(fieldq "$j" hiccups.over_1ms_pct)")" \
            "$(f2 "$(fieldq "$j" steal_pct)")"
    done
    printf '(hic>1ms = share of the run spent in hiccups over 1 ms; steal = hypervisor steal,\n'
    printf ' %% of all CPU time. A hiccup p99.9 in the ms means a fixed-rate latency p99 in the\n'
    printf ' ms is the platform'"'"'s, not the server'"'"'s.)\n'
    printf '\nserver CPU per request (us): readstated under the loadgen vs redis-server under\n'
    printf 'redis-benchmark -t hset with the same connections and pipeline:\n'
    for p in 1 16; do
        printf '  pipeline %-3s readstated %8s   redis-server HSET %8s   (Redis also spent %s s\n' \
            "$p" "$(f2 "$(field "$OUT/svc-max-p$p.json" cpu.server_us_per_req)")" \
            "$(cat "$OUT/redis-benchmark-hset-p$p.cpu_us")" "$(cat "$OUT/svc-max-p$p.redis_cpu_s")"
        printf '               CPU on the service'"'"'s write-behind flushes during that run)\n'
    done
    printf '\nload generator CPU per request (us), to check it costs less than what it drives:\n'
    for n in svc-max-p1 svc-max-p16 svc-rate redis-max-p16; do
        printf '  %-14s loadgen %8s   server %8s\n' "$n" \
            "$(f2 "$(field "$OUT/$n.json" cpu.loadgen_us_per_req)")" \
            "$(f2 "$(field "$OUT/$n.json" cpu.server_us_per_req)")"
    done
} | tee "$OUT/summary.txt"
rs_log "results in $OUT (summary.txt, compare-*.html, <run>.json/.csv/.html)"
