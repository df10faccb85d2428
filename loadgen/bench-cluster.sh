#!/usr/bin/env bash
# bench-cluster.sh: readstated on a Redis Cluster against readstated on one
# Redis, in the same run, on the same machine.
#
#   loadgen/bench-cluster.sh [--quick] [--rounds N] [--rate R] [--duration S]
#                            [--max-duration S] [--users N] [--channels M]
#                            [--drain-users N] [--calls "16 1 16/16384"]
#                            [--primaries P] [--replicas K] [--out DIR]
#                            [--no-build]
#
# Starts, on free loopback ports, a private redis-server (appendonly,
# everysec) and a private Redis Cluster (deploy/redis-cluster.sh up: P
# primaries, default 3, K replicas each, default 1; AOF everysec too) in the
# run's temporary folder, then:
#   1. flush throughput: for each store and each flush shape in --calls, a
#      readstated whose flushes are held back (--flush-interval-ms 1 h) is
#      filled with N users x M channels (default 50000 x 20), then sent
#      SIGTERM: the shutdown flushes every
#      dirty user as fast as the store takes them. States/s from its log
#      (engine_flushing to engine_shutdown); Redis CPU (/proc/<pid>/stat,
#      utime + stime, summed over the primaries; the replicas apart) and
#      EVALSHA calls (INFO commandstats) per merged user.
#   2. rounds (default 2), alternating which store goes first, against a
#      readstated per store (write-behind, the first --calls value), both
#      filled with the hot users (default 100000 x 20): a fixed-rate run
#      (open loop, default 20000 req/s for 15 s, 90% Ack / 10%
#      GetReadStates, 16 connections x pipeline 8, --hiccups) with its
#      latency and the Redis CPU and EVALSHA calls per merged user of its
#      write-behind flushes; then a closed-loop run (--max, 50 connections x
#      pipeline 16, 8 s) with its throughput and the flush backlog it leaves.
#   3. for each other --calls value, the fixed-rate run once per store.
# A flush shape is N (--flush-users-per-call N) or N/B (and --flush-batch B);
# the default "16 1 16/16384" is 16 users per EVALSHA (the default), 1, and
# 16 with batches of up to 16384 users: the engine orders a batch by hash
# slot before cutting it into calls, so in a batch that large, users that
# share a slot merge in one EVALSHA on the cluster too (when that many are
# due at once, as in part 1). N over 64 without B raises --flush-batch to N.
# Before each measurement the previous one's flushes have drained (dirty
# users 0 on /metrics, bounded). Every run also reports the hypervisor's
# steal and the CPU that processes other than this benchmark's used (in
# cores): both disturb the comparison on a shared machine. With the cluster
# store, the server's readstates_redis_cluster_merge_* metrics (calls, and
# calls by users per slot group) are printed too.
#
# Prints Markdown tables at the end (also in DIR/tables.md; default DIR is
# out/bench-cluster-<time>, with every run's JSON, the servers' and the
# Redis nodes' logs).
# About 5 minutes; --quick: 1 round, 5 s runs, 20000 hot users, 10000 drain
# users (about a minute; later flags override). Every wait is bounded; every
# process it starts is stopped by PID on exit (the cluster's nodes by the
# PIDs in their pidfiles), on failure and Ctrl-C too. The build is
# $RS_BUILD (default build-release/); --no-build uses what is there.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"

ROUNDS=2
RATE=20000
DUR=15
MAX_DUR=8
WARM=2
USERS=100000
CHANNELS=20
DRAIN_USERS=50000
PRIMARIES=3
REPLICAS=1
CALLS="16 1 16/16384"
OUT=""
BUILD_ARG=""
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) ROUNDS=1; DUR=5; MAX_DUR=5; WARM=1; USERS=20000; DRAIN_USERS=10000; shift ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --duration) DUR=$2; shift 2 ;;
    --max-duration) MAX_DUR=$2; shift 2 ;;
    --users) USERS=$2; shift 2 ;;
    --channels) CHANNELS=$2; shift 2 ;;
    --drain-users) DRAIN_USERS=$2; shift 2 ;;
    --primaries) PRIMARIES=$2; shift 2 ;;
    --replicas) REPLICAS=$2; shift 2 ;;
    --calls) CALLS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-build) BUILD_ARG=--no-build; shift ;;
    -h | --help) sed -n '2,52p' "$0"; exit 0 ;;
    *) rs_die "unknown argument $1" ;;
    esac
done
for v in rounds=$ROUNDS rate=$RATE duration=$DUR max-duration=$MAX_DUR users=$USERS \
    channels=$CHANNELS drain-users=$DRAIN_USERS primaries=$PRIMARIES replicas=$REPLICAS; do
    if ! [[ ${v#*=} =~ ^[0-9]+$ ]] || { [ "${v#*=}" = 0 ] && [ "${v%%=*}" != replicas ]; }; then
        rs_die "--${v%%=*} must be a positive integer (replicas: 0 or more), got ${v#*=}"
    fi
done
for n in $CALLS; do
    if ! [[ $n =~ ^[0-9]+(/[0-9]+)?$ ]] || [ "${n%%/*}" -lt 1 ] || [ "${n%%/*}" -gt 100000 ] ||
        [ "${n#*/}" -lt 1 ] || [ "${n#*/}" -gt 1000000 ]; then
        rs_die "--calls: each value is N (1..100000 users per call) or N/B (and B, 1..1000000, users per flush batch), got $n"
    fi
done
# shellcheck disable=SC2086 # a list of numbers
set -- $CALLS
[ $# -ge 1 ] || rs_die "--calls needs at least one value"
FIRST=$1
# call_flags N[/B]: readstated's flags in CF: N users per merge call, B
# users per flush batch (without B: the default 64, or N when N is larger,
# so such calls can fill)
CF=()
call_flags() {
    local n=${1%%/*} b=${1#*/}
    CF=(--flush-users-per-call "$n")
    if [ "$b" != "$1" ]; then
        CF+=(--flush-batch "$b")
    elif [ "$n" -gt 64 ]; then
        CF+=(--flush-batch "$n")
    fi
}
tag() { echo "${1/\//b}"; } # N/B in file names: NbB
command -v curl >/dev/null 2>&1 || rs_die "curl is not installed (deploy/install-deps.sh --runtime)"
command -v redis-cli >/dev/null 2>&1 || rs_die "redis-cli is not installed (apt-get install redis-tools)"
[ -n "$OUT" ] || OUT=$RS_ROOT/out/bench-cluster-$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

rs_build $BUILD_ARG
rs_tmp

# ---- processes: the servers this run started, the cluster, then rs_cleanup --
declare -A SVC_PID=() SVC_PORT=() SVC_HTTP=()
bc_cleanup() {
    local rc=$?
    set +e
    local name grace=30
    [ $rc = 0 ] || grace=10
    for name in "${!SVC_PID[@]}"; do
        rs_stop_pid "${SVC_PID[$name]}" $grace
        cp "$RS_TMP/$name.log" "$OUT/" 2>/dev/null
    done
    SVC_PID=()
    cp "$RS_TMP/redis.log" "$OUT/redis-single.log" 2>/dev/null
    if [ -n "$RS_CLUSTER_DIR" ] && [ -d "$RS_CLUSTER_DIR" ]; then
        local d
        for d in "$RS_CLUSTER_DIR"/node-*; do
            cp "$d/redis.log" "$OUT/redis-cluster-${d##*/}.log" 2>/dev/null
        done
    fi
    rs_stop_cluster
    (exit $rc)
    rs_cleanup
}
trap bc_cleanup EXIT

rs_start_redis
rs_start_cluster "$PRIMARIES" "$REPLICAS"
SEEDS=$RS_CLUSTER_SEEDS
PRIM_PORTS=() PRIM_PIDS=() REPL_PIDS=() NODE_PIDS=()
for d in "$RS_CLUSTER_DIR"/node-*; do
    port=${d##*/node-}
    pid=$(<"$d/redis.pid")
    NODE_PIDS+=("$pid")
    if redis-cli -h 127.0.0.1 -p "$port" role 2>/dev/null | head -n 1 | grep -q master; then
        PRIM_PORTS+=("$port") PRIM_PIDS+=("$pid")
    else
        REPL_PIDS+=("$pid")
    fi
done
[ ${#PRIM_PORTS[@]} = "$PRIMARIES" ] || rs_die "found ${#PRIM_PORTS[@]} primaries, expected $PRIMARIES"
rs_log "Redis Cluster up: primaries ${PRIM_PORTS[*]} (pids ${PRIM_PIDS[*]}), replicas pids ${REPL_PIDS[*]:-none}"

# svc_start NAME single|cluster [readstated flags...]: a readstated with its
# HTTP port (for /metrics), ready once /readyz answers 200.
svc_start() {
    local name=$1 store=$2 i sa=()
    shift 2
    if [ "$store" = single ]; then sa=(--redis "127.0.0.1:$RS_REDIS_PORT"); else sa=(--redis-cluster "$SEEDS"); fi
    rm -f "$RS_TMP/$name.port" "$RS_TMP/$name.http"
    "$RS_READSTATED" --listen 127.0.0.1:0 --port-file "$RS_TMP/$name.port" \
        --http 127.0.0.1:0 --http-port-file "$RS_TMP/$name.http" "${sa[@]}" "$@" \
        >"$RS_TMP/$name.log" 2>&1 &
    SVC_PID[$name]=$!
    for ((i = 0; i < 150; i++)); do
        if [ -s "$RS_TMP/$name.port" ] && [ -s "$RS_TMP/$name.http" ] &&
            curl -sf --max-time 2 "http://127.0.0.1:$(<"$RS_TMP/$name.http")/readyz" >/dev/null; then
            SVC_PORT[$name]=$(<"$RS_TMP/$name.port")
            SVC_HTTP[$name]=$(<"$RS_TMP/$name.http")
            rs_log "readstated $name pid ${SVC_PID[$name]} on 127.0.0.1:${SVC_PORT[$name]} ($store $*)"
            return 0
        fi
        kill -0 "${SVC_PID[$name]}" 2>/dev/null || break
        sleep 0.1
    done
    cat "$RS_TMP/$name.log" >&2
    rs_die "readstated $name did not start or is not ready"
}

svc_stop() { # svc_stop NAME [grace_s]
    rs_stop_pid "${SVC_PID[$1]}" "${2:-30}"
    cp "$RS_TMP/$1.log" "$OUT/" 2>/dev/null || true
    unset "SVC_PID[$1]"
}

# metric NAME SERIES: the series' value (summed over its labels), or null
metric() {
    curl -s --max-time 5 "http://127.0.0.1:${SVC_HTTP[$1]}/metrics" |
        awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $2; f = 1 }
            END { if (f) printf "%.0f\n", s; else print "null" }'
}

# wait_clean NAME LIMIT_S: until the server has no dirty user; the wait in
# seconds (to 0.1 s) in WAITED
wait_clean() {
    local t0=$EPOCHREALTIME d
    while :; do
        d=$(metric "$1" readstates_dirty_users)
        [ "$d" = 0 ] && break
        awk -v a="$t0" -v b="$EPOCHREALTIME" -v l="$2" 'BEGIN { exit !(b - a < l) }' ||
            { note "$1 still had $d dirty users after waiting $2 s for its flushes"; break; }
        sleep 0.1
    done
    WAITED=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
}

store_ports() { if [ "$1" = single ]; then echo "$RS_REDIS_PORT"; else echo "${PRIM_PORTS[*]}"; fi; }
redis_each() { # redis_each single|cluster CMD...: on the store's primaries
    local p st=$1
    shift
    for p in $(store_ports "$st"); do
        timeout 30 redis-cli -h 127.0.0.1 -p "$p" "$@" >/dev/null || rs_die "redis-cli -p $p $* failed"
    done
}
evalsha_calls() { # EVALSHA calls on the store's primaries since their last RESETSTAT
    local p n=0 c
    for p in $(store_ports "$1"); do
        c=$(timeout 10 redis-cli -h 127.0.0.1 -p "$p" info commandstats |
            awk -F'[=,:]' '/^cmdstat_evalsha:/ { print $3; f = 1 } END { if (!f) print 0 }')
        n=$((n + c))
    done
    echo $n
}
cpu_sum() { # CPU seconds of the given PIDs
    local p t=0
    for p in "$@"; do t=$(awk -v t="$t" -v c="$(rs_cpu_s "$p")" 'BEGIN { print t + c }'); done
    echo "$t"
}
prim_cpu() { if [ "$1" = single ]; then cpu_sum "$RS_REDIS_PID"; else cpu_sum "${PRIM_PIDS[@]}"; fi; }
repl_cpu() { if [ "$1" = cluster ] && [ ${#REPL_PIDS[@]} -gt 0 ]; then cpu_sum "${REPL_PIDS[@]}"; else echo 0; fi; }
# The machine: busy and steal CPU seconds (all CPUs, /proc/stat), and the
# CPU seconds of this benchmark's own processes (Redis nodes, servers, and
# the children this script has reaped: load generator, redis-cli, curl).
TCK=$(getconf CLK_TCK)
machine() {
    awk -v t="$TCK" '$1 == "cpu" { printf "%.2f %.2f\n", ($2 + $3 + $4 + $7 + $8) / t, $9 / t }' /proc/stat
}
ours() {
    local mine
    mine=$(awk -v t="$TCK" '{ sub(/.*\) /, ""); print ($14 + $15) / t }' "/proc/$$/stat")
    awk -v a="$mine" -v b="$(cpu_sum "$RS_REDIS_PID" "${NODE_PIDS[@]}" "${SVC_PID[@]}")" \
        'BEGIN { print a + b }'
}
snap() { # snap: "busy steal ours monotonic_s"
    echo "$(machine) $(ours) $(awk '{ print $1 }' /proc/uptime)"
}
# others_and_steal "SNAP0" "SNAP1": other processes' CPU in cores, steal in %
others_and_steal() {
    awk -v a="$1" -v b="$2" -v n="$(nproc)" 'BEGIN {
        split(a, x, " "); split(b, y, " "); el = y[4] - x[4]; if (el <= 0) el = 1e-9
        o = ((y[1] - x[1]) - (y[3] - x[3])) / el; if (o < 0) o = 0
        printf "%.2f %.1f\n", o, 100 * (y[2] - x[2]) / (el * n) }'
}
ts_s() { date -u -d "$1" +%s.%N; } # a log timestamp in seconds
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN { if (b + 0 == 0 || a == "null") print "n/a"; else printf f "\n", a / b }'; }
lgf() { "$RS_LOADGEN" field "$1" "$2" 2>/dev/null || echo null; }
NOTES=()
note() { rs_log "warning: $*"; NOTES+=("$*"); }
ms() { awk -v v="$1" 'BEGIN { if (v == "null" || v == "") print "n/a"; else printf "%.2f", v / 1000 }'; }

fill() { # fill NAME USERS
    rs_log "fill $1: $2 users x $CHANNELS channels"
    timeout 900 "$RS_LOADGEN" --target "rs://127.0.0.1:${SVC_PORT[$1]}" --quiet \
        --fill-users "$2" --fill-channels "$CHANNELS" --connections 8 --pipeline 16 \
        --duration 800 --json "$OUT/fill-$1.json" >/dev/null || rs_die "fill of $1 failed"
    local e
    e=$(lgf "$OUT/fill-$1.json" totals.errors)
    [ "$e" = 0 ] || note "fill of $1: $e requests failed ($(grep -o '"UNAVAILABLE": *[0-9]*' "$OUT/fill-$1.json" | head -n 1 || true); see $1.log)"
}

# ---- 1. flush throughput: a held-back fill flushed at shutdown ---------------
DRAIN_ROWS=()
DRAIN_CFGS=()
for n in $CALLS; do DRAIN_CFGS+=("single $n" "cluster $n"); done
for cfg in "${DRAIN_CFGS[@]}"; do
    read -r st n <<<"$cfg"
    name=drain-$st-$(tag "$n")
    redis_each "$st" flushall
    call_flags "$n"
    svc_start "$name" "$st" "${CF[@]}" --flush-interval-ms 3600000 \
        --dirty-budget 8GiB --shutdown-timeout-ms 600000
    fill "$name" "$DRAIN_USERS"
    dirty=$(metric "$name" readstates_dirty_users)
    early=$(metric "$name" readstates_flush_users_total)
    [ "$early" = 0 ] || rs_log "warning: $name flushed $early users before the shutdown"
    redis_each "$st" config resetstat
    s0=$(snap) p0=$(prim_cpu "$st") r0=$(repl_cpu "$st")
    rs_log "drain $name: SIGTERM, $dirty dirty users"
    svc_stop "$name" 600
    sleep 0.5 # the replicas apply the tail of the stream
    s1=$(snap) p1=$(prim_cpu "$st") r1=$(repl_cpu "$st")
    calls=$(evalsha_calls "$st")
    log=$OUT/$name.log
    t0=$(ts_s "$(grep -m1 'event=engine_flushing' "$log" | sed 's/^ts=\([^ ]*\).*/\1/')")
    line=$(grep -m1 'event=engine_shutdown' "$log") || rs_die "$name: no engine_shutdown line"
    t1=$(ts_s "$(sed 's/^ts=\([^ ]*\).*/\1/' <<<"$line")")
    states=$(sed 's/.* flushed_states=\([0-9]*\).*/\1/' <<<"$line")
    grep -q 'unflushed_states=0 ' <<<"$line" || rs_log "warning: $name: $line"
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    read -r oth stl <<<"$(others_and_steal "$s0" "$s1")"
    DRAIN_ROWS+=("$st|$n|$(div "$states" "$secs" %.0f)|$secs|$(div "$calls" "$dirty" %.3f)|$(div "$(awk -v a="$p0" -v b="$p1" 'BEGIN { print (b - a) * 1e6 }')" "$dirty" %.1f)|$(div "$(awk -v a="$r0" -v b="$r1" 'BEGIN { print (b - a) * 1e6 }')" "$dirty" %.1f)|$stl|$oth")
    rs_log "drain $name: $states states in $secs s, $calls EVALSHA for $dirty users"
done

# ---- 2. and 3. fixed rate and max, alternating --------------------------------
MIX=(--ack 90 --get-one 10 --users "$USERS" --channels-per-user "$CHANNELS")
RATE_ROWS=()
FLUSH_ROWS=()
MAX_ROWS=()
rate_run() { # rate_run NAME STORE CALLS LABEL
    local name=$1 st=$2 n=$3 label=$4 j=$OUT/$4.json s0 s1 p0 p1 r0 r1 u0 u1 c0 c1 fe0 fe1 calls back oth stl
    wait_clean "$name" 60
    redis_each "$st" config resetstat
    u0=$(metric "$name" readstates_flush_users_total)
    fe0=$(metric "$name" readstates_flush_errors_total)
    c0=$(metric "$name" readstates_redis_cluster_merge_calls_total)
    s0=$(snap) p0=$(prim_cpu "$st") r0=$(repl_cpu "$st")
    rs_log "$label: $RATE req/s for ${DUR}s"
    timeout $((DUR + WARM + 90)) "$RS_LOADGEN" --target "rs://127.0.0.1:${SVC_PORT[$name]}" \
        --server-pid "${SVC_PID[$name]}" --label "$label" --quiet --json "$j" --hiccups \
        --rate "$RATE" --connections 16 --pipeline 8 --duration "$DUR" --warmup "$WARM" \
        "${MIX[@]}" >"$OUT/$label.txt" || rs_die "$label failed (see $OUT/$label.txt)"
    back=$(metric "$name" readstates_dirty_users)
    wait_clean "$name" 60
    s1=$(snap) p1=$(prim_cpu "$st") r1=$(repl_cpu "$st")
    u1=$(metric "$name" readstates_flush_users_total)
    c1=$(metric "$name" readstates_redis_cluster_merge_calls_total)
    calls=$(evalsha_calls "$st")
    read -r oth stl <<<"$(others_and_steal "$s0" "$s1")"
    fe1=$(metric "$name" readstates_flush_errors_total)
    [ "$fe1" = "$fe0" ] || note "$label: $((fe1 - fe0)) users' merges failed (readstates_flush_errors_total; see $name.log)"
    local users=$((u1 - u0)) mc="n/a"
    [ "$c0" = null ] || mc=$(div $((c1 - c0)) "$users" %.3f)
    local cpu_p cpu_r
    cpu_p=$(div "$(awk -v a="$p0" -v b="$p1" 'BEGIN { print (b - a) * 1e6 }')" "$users" %.1f)
    cpu_r=$(div "$(awk -v a="$r0" -v b="$r1" 'BEGIN { print (b - a) * 1e6 }')" "$users" %.1f)
    RATE_ROWS+=("$ROUND|$st|$n|$(ms "$(lgf "$j" latency.all.p50_us)")|$(ms "$(lgf "$j" latency.all.p99_us)")|$(ms "$(lgf "$j" latency.all.p999_us)")|$(ms "$(lgf "$j" latency.all.max_us)")|$(lgf "$j" totals.errors)|$(div "$(lgf "$j" cpu.server_us_per_req)" 1 %.2f)|$(ms "$(lgf "$j" hiccups.p999_us)")|$(div "$(lgf "$j" steal_pct)" 1 %.1f)|$oth")
    FLUSH_ROWS+=("$ROUND|$st|$n|$users|$(div "$calls" "$users" %.3f)|$mc|$cpu_p|$cpu_r|$back|$stl|$oth")
}
max_run() { # max_run NAME STORE LABEL
    local name=$1 st=$2 label=$3 j=$OUT/$3.json s0 s1 back oth stl
    wait_clean "$name" 60
    s0=$(snap)
    rs_log "$label: closed loop for ${MAX_DUR}s"
    timeout $((MAX_DUR + WARM + 90)) "$RS_LOADGEN" --target "rs://127.0.0.1:${SVC_PORT[$name]}" \
        --server-pid "${SVC_PID[$name]}" --label "$label" --quiet --json "$j" --max \
        --connections 50 --pipeline 16 --duration "$MAX_DUR" --warmup "$WARM" \
        "${MIX[@]}" >"$OUT/$label.txt" || rs_die "$label failed (see $OUT/$label.txt)"
    s1=$(snap)
    back=$(metric "$name" readstates_dirty_users)
    wait_clean "$name" 120
    read -r oth stl <<<"$(others_and_steal "$s0" "$s1")"
    MAX_ROWS+=("$ROUND|$st|$(div "$(lgf "$j" totals.throughput_rps)" 1 %.0f)|$(lgf "$j" totals.errors)|$(div "$(lgf "$j" cpu.server_us_per_req)" 1 %.2f)|$back|$WAITED|$(div "$(lgf "$j" steal_pct)" 1 %.1f)|$stl|$oth")
}

for n in $CALLS; do
    t=$(tag "$n")
    for st in single cluster; do
        redis_each "$st" flushall
        call_flags "$n"
        svc_start "$st-$t" "$st" "${CF[@]}"
        fill "$st-$t" "$USERS"
    done
    for st in single cluster; do wait_clean "$st-$t" 120; done
    rounds=$ROUNDS
    [ "$n" = "$FIRST" ] || rounds=1 # the other shapes: the fixed rate, once per store
    for ((ROUND = 1; ROUND <= rounds; ROUND++)); do
        order=(single cluster)
        [ $((ROUND % 2)) = 1 ] || order=(cluster single)
        for st in "${order[@]}"; do rate_run "$st-$t" "$st" "$n" "rate-$st-$t-r$ROUND"; done
        if [ "$n" = "$FIRST" ]; then
            for st in "${order[@]}"; do max_run "$st-$t" "$st" "max-$st-r$ROUND"; done
        fi
    done
    # the cluster store's own view of its merge calls, if it has one
    curl -s --max-time 5 "http://127.0.0.1:${SVC_HTTP[cluster-$t]}/metrics" |
        grep -E '^readstates_redis_cluster_merge' >"$OUT/cluster-merge-metrics-$t.txt" || true
    for st in single cluster; do svc_stop "$st-$t"; done
done

# ---- tables -----------------------------------------------------------------------
row() { local IFS='|'; read -r -a f <<<"$1"; printf '| %s ' "${f[@]}"; printf '|\n'; }
{
    printf '\n%s, %s, nproc %s; cluster: %s primaries x %s replica(s); %s\n\n' \
        "$(date -u +%Y-%m-%d)" "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
        "$(nproc)" "$PRIMARIES" "$REPLICAS" "$(redis-server --version | awk '{ print $3 }')"
    printf '**Flush throughput**: %s users x %s channels filled with the flush held back, then\n' "$DRAIN_USERS" "$CHANNELS"
    printf 'flushed at shutdown as fast as the store takes them.\n\n'
    printf '| store | users per call[/batch] | states/s | drain s | EVALSHA per user | Redis CPU per user, primaries (us) | replicas (us) | steal %% | others (cores) |\n'
    printf '|---|---|---|---|---|---|---|---|---|\n'
    for r in "${DRAIN_ROWS[@]}"; do row "$r"; done
    printf '\n**Fixed rate, %s req/s** (open loop, 90%% Ack, 10%% GetReadStates, %s hot users x %s\n' "$RATE" "$USERS" "$CHANNELS"
    printf 'channels, Zipf 0.99, 16 connections x pipeline 8, %s s; latency in ms from the schedule):\n\n' "$DUR"
    printf '| round | store | users per call[/batch] | p50 | p99 | p99.9 | max | errors | server CPU/req (us) | hiccup p99.9 | steal %% | others (cores) |\n'
    printf '|---|---|---|---|---|---|---|---|---|---|---|---|\n'
    for r in "${RATE_ROWS[@]}"; do row "$r"; done
    printf '\n**Their write-behind flushes** (from the start of each run until its flushes drained;\n'
    printf 'EVALSHA calls from INFO commandstats; dirty at end = users not yet flushed when the run\n'
    printf 'ended, about one flush interval'"'"'s worth when the store keeps up):\n\n'
    printf '| round | store | users per call[/batch] | users merged | EVALSHA per user | store calls per user | Redis CPU per user, primaries (us) | replicas (us) | dirty at end | steal %% | others (cores) |\n'
    printf '|---|---|---|---|---|---|---|---|---|---|---|\n'
    for r in "${FLUSH_ROWS[@]}"; do row "$r"; done
    printf '\n**Closed loop** (--max, 50 connections x pipeline 16, %s s):\n\n' "$MAX_DUR"
    printf '| round | store | req/s | errors | server CPU/req (us) | dirty at end | drained in (s) | steal %% | steal %% (whole) | others (cores) |\n'
    printf '|---|---|---|---|---|---|---|---|---|---|\n'
    for r in "${MAX_ROWS[@]}"; do row "$r"; done
    printf '\nRatios cluster / single per round:'
    for ((r = 1; r <= ROUNDS; r++)); do
        ms1=$(lgf "$OUT/max-single-r$r.json" totals.throughput_rps)
        mc1=$(lgf "$OUT/max-cluster-r$r.json" totals.throughput_rps)
        ps1=$(lgf "$OUT/rate-single-$(tag "$FIRST")-r$r.json" latency.all.p99_us)
        pc1=$(lgf "$OUT/rate-cluster-$(tag "$FIRST")-r$r.json" latency.all.p99_us)
        printf ' round %s: max %s, p99 %s;' "$r" "$(div "$mc1" "$ms1")" "$(div "$pc1" "$ps1")"
    done
    printf '\n'
    for n in $CALLS; do
        [ -s "$OUT/cluster-merge-metrics-$(tag "$n").txt" ] || continue
        printf '\nThe cluster store'"'"'s merge calls, users per call[/batch] %s (fill and runs):\n\n' "$n"
        sed 's/^/    /' "$OUT/cluster-merge-metrics-$(tag "$n").txt"
    done
    if [ ${#NOTES[@]} -gt 0 ]; then
        printf '\nWarnings:\n\n'
        printf -- '- %s\n' "${NOTES[@]}"
    fi
    printf '\n(steal %% in the latency tables: the load generator'"'"'s measured phase; elsewhere, and\n'
    printf 'others: from the start of the measurement until its flushes drained; others = CPU used\n'
    printf 'by processes other than this benchmark'"'"'s, in cores; store calls per user =\n'
    printf 'readstates_redis_cluster_merge_calls_total over users merged, n/a on one Redis.)\n'
} | tee "$OUT/tables.md"
rs_log "results in $OUT (tables.md, per-run JSON and text, server logs)"
