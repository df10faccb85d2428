#!/usr/bin/env bash
# bench-cpu.sh: server CPU per request, readstated vs redis-server, side by
# side in one run (the "core service" bar: readstated's CPU per cache-hit
# Ack must not exceed redis-server's CPU per HSET under redis-benchmark at
# the same connections and pipeline depth).
#
#   loadgen/bench-cpu.sh [--quick] [--no-build] [--connections N]
#                        [--users N] [--channels M]
#
# Builds if needed (Release, tcmalloc), then starts on free loopback ports,
# all stopped by PID on exit:
#   - a private redis-server (appendonly yes, appendfsync everysec),
#   - a second redis-server with no persistence at all (the strict
#     baseline: what Redis costs when it only keeps data in memory),
#   - readstated memory-only (no --redis),
#   - readstated --redis <the first redis> in write-behind (production).
# Both readstateds are filled with users x channels states (so every Ack
# is a cache hit), then for pipeline 1 and 16:
#   - readstate-loadgen --max --ack 100 against each readstated, with the
#     server's utime+stime from /proc/PID/stat (--server-pid),
#   - redis-benchmark -t hset -r users against each redis-server, with its
#     utime+stime before and after.
# Prints a table of microseconds of server CPU per request and the ratios
# readstated / redis-server (<= 1.00 meets the bar), against both Redis
# setups (vs_mem: no persistence; vs_aof: appendonly). The machine may be noisy:
# compare ratios from one run, and run it more than once. About a minute
# (half with --quick).
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"

QUICK=0
USERS=20000
CHANNELS=10
CONNS=50
BUILD_ARG=""
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=1; shift ;;
    --no-build) BUILD_ARG=--no-build; shift ;;
    --connections) CONNS=$2; shift 2 ;;
    --users) USERS=$2; shift 2 ;;
    --channels) CHANNELS=$2; shift 2 ;;
    -h | --help) sed -n '2,24p' "$0"; exit 0 ;;
    *) rs_die "unknown argument $1" ;;
    esac
done
if [ $QUICK = 1 ]; then
    RUN_S=2; WARM_S=1; HSET_N1=100000; HSET_N16=800000
else
    RUN_S=4; WARM_S=1; HSET_N1=200000; HSET_N16=1600000
fi

MEM_PID=""
MEM_PORT=""
PLAIN_PID=""
PLAIN_PORT=""
bench_cpu_cleanup() {
    local rc=$?
    rs_stop_pid "$MEM_PID" 30
    rs_stop_pid "$PLAIN_PID" 10
    MEM_PID=""
    PLAIN_PID=""
    (exit $rc)
    rs_cleanup
}

rs_build $BUILD_ARG
rs_tmp
trap bench_cpu_cleanup EXIT
OUT=$RS_TMP/out
mkdir -p "$OUT"

# A memory-only readstated (rs_start_server always attaches the Redis).
start_memory_server() {
    local i
    "$RS_READSTATED" --listen 127.0.0.1:0 --port-file "$RS_TMP/mem.port" --http off \
        >"$RS_TMP/mem.log" 2>&1 &
    MEM_PID=$!
    for ((i = 0; i < 150; i++)); do
        if [ -s "$RS_TMP/mem.port" ]; then
            MEM_PORT=$(cat "$RS_TMP/mem.port")
            rs_log "readstated (memory only) pid $MEM_PID on 127.0.0.1:$MEM_PORT"
            return 0
        fi
        kill -0 "$MEM_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$RS_TMP/mem.log" >&2
    rs_die "readstated (memory only) did not start"
}

# A redis-server that persists nothing (no RDB, no AOF).
start_plain_redis() {
    local try i
    for ((try = 0; try < 5; try++)); do
        PLAIN_PORT=$(rs_pick_port) || rs_die "no free port"
        mkdir -p "$RS_TMP/plain"
        redis-server --bind 127.0.0.1 --port "$PLAIN_PORT" --dir "$RS_TMP/plain" --save "" \
            --appendonly no --daemonize no >"$RS_TMP/plain.log" 2>&1 &
        PLAIN_PID=$!
        for ((i = 0; i < 100; i++)); do
            if redis-cli -h 127.0.0.1 -p "$PLAIN_PORT" ping 2>/dev/null | grep -q PONG; then
                rs_log "redis-server (no persistence) pid $PLAIN_PID on 127.0.0.1:$PLAIN_PORT"
                return 0
            fi
            kill -0 "$PLAIN_PID" 2>/dev/null || break
            sleep 0.1
        done
        rs_stop_pid "$PLAIN_PID" 5
        PLAIN_PID=""
    done
    cat "$RS_TMP/plain.log" >&2
    rs_die "redis-server (no persistence) did not start"
}

rs_start_redis
start_plain_redis
start_memory_server
rs_start_server

field() { "$RS_LOADGEN" field "$@"; }

# fill PORT PID
fill() {
    rs_log "fill 127.0.0.1:$1: $USERS users x $CHANNELS channels"
    timeout 300 "$RS_LOADGEN" --target "rs://127.0.0.1:$1" --server-pid "$2" --quiet \
        --fill-users "$USERS" --fill-channels "$CHANNELS" --connections 8 --pipeline 16 \
        --duration 250 >"$OUT/fill-$1.txt" || rs_die "fill failed (see $OUT/fill-$1.txt)"
}
fill "$MEM_PORT" "$MEM_PID"
fill "$RS_SERVER_PORT" "$RS_SERVER_PID"

# svc NAME PORT PID PIPELINE: cache-hit Acks at full speed
svc() {
    local name=$1 port=$2 pid=$3 p=$4
    rs_log "run $name: readstated pid $pid, $CONNS connections, pipeline $p, ${RUN_S}s"
    timeout $((RUN_S + WARM_S + 60)) "$RS_LOADGEN" --target "rs://127.0.0.1:$port" \
        --server-pid "$pid" --label "$name" --quiet --json "$OUT/$name.json" --max \
        --connections "$CONNS" --pipeline "$p" --duration "$RUN_S" --warmup "$WARM_S" \
        --ack 100 --users "$USERS" --channels-per-user "$CHANNELS" >"$OUT/$name.txt" ||
        rs_die "$name failed (see $OUT/$name.txt)"
}

# hset NAME PORT PID PIPELINE N: a redis-server's CPU per HSET under
# redis-benchmark
hset() {
    local name=$1 port=$2 pid=$3 p=$4 n=$5 before after t0 t1
    rs_log "run $name: redis-benchmark -t hset -c $CONNS -P $p -n $n -r $USERS, redis pid $pid"
    before=$(rs_cpu_s "$pid")
    t0=$(date +%s.%N)
    timeout 120 redis-benchmark -h 127.0.0.1 -p "$port" -c "$CONNS" -P "$p" \
        -n "$n" -r "$USERS" -t hset -q >"$OUT/$name.txt" 2>&1 ||
        rs_die "redis-benchmark failed (see $OUT/$name.txt)"
    t1=$(date +%s.%N)
    after=$(rs_cpu_s "$pid")
    awk -v a="$after" -v b="$before" -v n="$n" 'BEGIN { printf "%.3f", (a - b) * 1e6 / n }' \
        >"$OUT/$name.cpu_us"
    awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }' \
        >"$OUT/$name.rps"
}

for p in 1 16; do
    svc "mem-p$p" "$MEM_PORT" "$MEM_PID" "$p"
    redis0=$(rs_cpu_s "$RS_REDIS_PID")
    svc "wb-p$p" "$RS_SERVER_PORT" "$RS_SERVER_PID" "$p"
    redis1=$(rs_cpu_s "$RS_REDIS_PID")
    awk -v a="$redis1" -v b="$redis0" 'BEGIN { printf "%.2f", a - b }' >"$OUT/wb-p$p.redis_s"
    n=$HSET_N1
    [ "$p" = 16 ] && n=$HSET_N16
    hset "plain-p$p" "$PLAIN_PORT" "$PLAIN_PID" "$p" "$n"
    hset "aof-p$p" "$RS_REDIS_PORT" "$RS_REDIS_PID" "$p" "$n"
done

# two decimals, or n/a
f2() { awk -v v="$1" 'BEGIN { if (v == "null" || v == "") print "n/a"; else printf "%.2f", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "null") printf "%.2f", a / b; else print "n/a" }'; }

printf '\nserver CPU per request, %s connections, %s users x %s channels (cache hits)\n' \
    "$CONNS" "$USERS" "$CHANNELS"
printf '%-4s %-36s %10s %10s %7s %7s\n' pipe server req/s cpu_us/req vs_mem vs_aof
for p in 1 16; do
    m_us=$(cat "$OUT/plain-p$p.cpu_us")
    a_us=$(cat "$OUT/aof-p$p.cpu_us")
    for kind in mem wb; do
        j=$OUT/$kind-p$p.json
        us=$(field "$j" cpu.server_us_per_req)
        if [ $kind = mem ]; then
            label="readstated memory-only, Ack"
        else
            label="readstated write-behind, Ack"
        fi
        printf '%-4s %-36s %10.0f %10s %7s %7s\n' "$p" "$label" \
            "$(field "$j" totals.throughput_rps)" "$(f2 "$us")" "$(ratio "$us" "$m_us")" \
            "$(ratio "$us" "$a_us")"
    done
    printf '%-4s %-36s %10s %10s\n' "$p" "redis-server HSET, no persistence" \
        "$(cat "$OUT/plain-p$p.rps")" "$m_us"
    printf '%-4s %-36s %10s %10s\n' "$p" "redis-server HSET, appendonly" \
        "$(cat "$OUT/aof-p$p.rps")" "$a_us"
    printf '     (write-behind run: its Redis spent %s s CPU on flushes; errors mem %s wb %s)\n' \
        "$(cat "$OUT/wb-p$p.redis_s")" "$(field "$OUT/mem-p$p.json" totals.errors)" \
        "$(field "$OUT/wb-p$p.json" totals.errors)"
done
printf 'vs_mem / vs_aof = readstated CPU per request / redis-server CPU per HSET, without\n'
printf 'persistence / with appendonly (<= 1.00 meets the bar)\n'
