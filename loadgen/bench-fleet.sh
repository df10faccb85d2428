#!/usr/bin/env bash
# bench-fleet.sh: what a fleet of readstated processes costs per request,
# and what a second process adds to throughput, in one run on one machine.
#
#   loadgen/bench-fleet.sh [--quick] [--rounds N] [--rate R] [--duration S]
#                          [--max-duration S] [--users N] [--channels M]
#                          [--parts "rate max"] [--out DIR] [--no-build]
#
# Starts, on free loopback ports, one private redis-server (appendonly,
# everysec) and four setups on it (solo and f2 only with --parts max),
# each in its own Redis database (so their rings and users never meet),
# every readstated in write-behind (the default) with --redis:
#   solo   one readstated without --node-id (not in a fleet)
#   f1     one node, --node-id n0, in a ring of one
#   f2     two nodes n0 n1, the slots split evenly
#   f3     three nodes n0 n1 n2
# The rings are written with readstatectl cluster init; every node is
# ready (/readyz) before anything is measured. Each setup is filled with
# the hot users (default 50000 x 10 channels) through its first node; then
# every node's CPU with no load at all (ring reads, timers) is taken over 3 s.
#
# Part "rate": server CPU per request at a fixed rate (open loop, default
# 20000 req/s for 5 s, 90% Ack / 10% GetReadStates, Zipf 0.99 over the hot
# users, 16 connections x pipeline 8, --hiccups), nodes unpinned, in
# rounds (default 3) that rotate which setup goes first:
#   solo          the plain process
#   f1            the ring of one, the load generator not routing (as solo)
#   f1 --ring     the ring of one, the load generator routing by the ring
#                 (it then sends each request of a batch on the next
#                 connection of the owner, where without --ring a batch
#                 goes out in one write on one connection: compare f1
#                 with and without it)
#   f2 --ring     two nodes, each request sent straight to its user's owner
#   f3 --ring     three nodes, likewise
#   f3 via n0     three nodes, everything sent to n0, which forwards the
#                 calls for users n1 and n2 own (the hop's cost)
# Server CPU = the time the setup's nodes ran (/proc/<pid>/task/*/schedstat),
# summed, from before the load generator starts until every node has
# flushed its dirty users after it (bounded wait), divided by the requests
# answered (no warm-up: the fill warmed the caches), also per node. Redis's CPU over the
# same window is reported apart (it takes the write-behind flushes, on the
# same cores). Forwarded calls: readstates_fleet_forwarded_total
# {direction="out"} over the nodes, per request (0 with --ring). Server
# wake-ups: the nodes' voluntary context switches (/proc/<pid>/task/*/status,
# one per return from a blocking epoll_wait) per request: at the same total
# rate, each of N nodes sees 1/N of it, so fewer requests share a wake-up.
#
# Part "max": closed-loop throughput (--max, 50 connections x pipeline 16,
# default 5 s) of the solo process pinned to CPU 0 (taskset) against f2
# pinned one node per CPU (n0 on 0, n1 on 1) with --ring, in alternating
# rounds. The load generator is not pinned: on a 2-CPU machine it, and
# Redis, compete with the servers for the same two CPUs. For each run, the
# CPU each process used (in cores) is sampled inside the measured phase
# (from 1 s in to 0.5 s before its end).
#
# Every run also reports the hypervisor's steal (the load generator's
# measured phase) and the CPU that processes other than this benchmark's
# used meanwhile (in cores); /proc/loadavg is printed before and after each
# part. A busy machine makes the figures unfair: look at those columns.
#
# Prints Markdown tables at the end (also in DIR/tables.md; default DIR is
# out/bench-fleet-<time>, with every run's JSON and text, the servers' and
# Redis's logs and each node's /metrics at the end). About 3 minutes;
# --quick: 1 round, 3 s runs, 20000 hot users (about 45 s; later flags
# override). Everything listens on 127.0.0.1 only; every wait is bounded;
# every process it starts is stopped by PID on exit, on failure and Ctrl-C
# too. The build is $RS_BUILD (default build-release/); --no-build uses
# what is there.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"

ROUNDS=3
RATE=20000
DUR=5
MAX_DUR=5
USERS=50000
CHANNELS=10
PARTS="rate max"
OUT=""
BUILD_ARG=""
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) ROUNDS=1; DUR=3; MAX_DUR=3; USERS=20000; shift ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --duration) DUR=$2; shift 2 ;;
    --max-duration) MAX_DUR=$2; shift 2 ;;
    --users) USERS=$2; shift 2 ;;
    --channels) CHANNELS=$2; shift 2 ;;
    --parts) PARTS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-build) BUILD_ARG=--no-build; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) rs_die "unknown argument $1" ;;
    esac
done
for v in rounds=$ROUNDS rate=$RATE duration=$DUR max-duration=$MAX_DUR users=$USERS \
    channels=$CHANNELS; do
    if ! [[ ${v#*=} =~ ^[0-9]+$ ]] || [ "${v#*=}" = 0 ]; then
        rs_die "--${v%%=*} must be a positive integer, got ${v#*=}"
    fi
done
[ "$DUR" -ge 2 ] || rs_die "--duration must be at least 2"
[ "$MAX_DUR" -ge 3 ] || rs_die "--max-duration must be at least 3 (CPU is sampled from 1 s in)"
DO_RATE=0 DO_MAX=0
for p in $PARTS; do
    case "$p" in
    rate) DO_RATE=1 ;;
    max) DO_MAX=1 ;;
    *) rs_die "--parts: rate and/or max, got $p" ;;
    esac
done
[ $DO_RATE = 1 ] || [ $DO_MAX = 1 ] || rs_die "--parts names no part"
command -v curl >/dev/null 2>&1 || rs_die "curl is not installed (deploy/install-deps.sh --runtime)"
command -v redis-cli >/dev/null 2>&1 || rs_die "redis-cli is not installed (apt-get install redis-tools)"
command -v taskset >/dev/null 2>&1 || rs_die "taskset is not installed (util-linux)"
if [ $DO_MAX = 1 ] && [ "$(nproc)" -lt 2 ]; then
    rs_die "part max pins two processes to CPUs 0 and 1: this machine has $(nproc) CPU"
fi
[ -n "$OUT" ] || OUT=$RS_ROOT/out/bench-fleet-$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

rs_build $BUILD_ARG
RS_CTL=$RS_BUILD/bin/readstatectl
if [ -z "$BUILD_ARG" ]; then
    cmake --build "$RS_BUILD" -j2 --target readstatectl >/dev/null || rs_die "build of readstatectl failed"
fi
[ -x "$RS_CTL" ] || rs_die "$RS_CTL not built; run once without --no-build"
rs_tmp

# ---- processes: the nodes, a running load generator, then rs_cleanup ----------
declare -A NODE_PID=() NODE_PORT=() NODE_HTTP=() FLEET_NODES=()
LG_TPID=""
bf_cleanup() {
    local rc=$?
    set +e
    local name grace=30
    [ $rc = 0 ] || grace=10
    [ -z "$LG_TPID" ] || rs_stop_pid "$LG_TPID" 5
    for name in "${!NODE_PID[@]}"; do
        rs_stop_pid "${NODE_PID[$name]}" $grace
        cp "$RS_TMP/$name.log" "$OUT/" 2>/dev/null
    done
    NODE_PID=()
    cp "$RS_TMP/redis.log" "$OUT/redis.log" 2>/dev/null
    (exit $rc)
    rs_cleanup
}
trap bf_cleanup EXIT

rs_start_redis

# node_start NAME DB [readstated flags...]: a readstated on the private
# Redis's database DB, its TCP and HTTP ports picked by itself (port files)
node_start() {
    local name=$1 db=$2 i
    shift 2
    rm -f "$RS_TMP/$name.port" "$RS_TMP/$name.http"
    "$RS_READSTATED" --listen 127.0.0.1:0 --port-file "$RS_TMP/$name.port" \
        --http 127.0.0.1:0 --http-port-file "$RS_TMP/$name.http" \
        --redis "127.0.0.1:$RS_REDIS_PORT" --redis-db "$db" "$@" >"$RS_TMP/$name.log" 2>&1 &
    NODE_PID[$name]=$!
    for ((i = 0; i < 150; i++)); do
        if [ -s "$RS_TMP/$name.port" ] && [ -s "$RS_TMP/$name.http" ]; then
            NODE_PORT[$name]=$(<"$RS_TMP/$name.port")
            NODE_HTTP[$name]=$(<"$RS_TMP/$name.http")
            return 0
        fi
        kill -0 "${NODE_PID[$name]}" 2>/dev/null || break
        sleep 0.1
    done
    cat "$RS_TMP/$name.log" >&2
    rs_die "readstated $name did not start"
}
wait_ready() { # wait_ready NAME: /readyz 200 (a fleet node: it has read the ring)
    local i
    for ((i = 0; i < 100; i++)); do
        curl -sf --max-time 2 "http://127.0.0.1:${NODE_HTTP[$1]}/readyz" >/dev/null && return 0
        kill -0 "${NODE_PID[$1]}" 2>/dev/null || break
        sleep 0.1
    done
    cat "$RS_TMP/$1.log" >&2
    rs_die "readstated $1 is not ready after 10 s"
}

# fleet_start F DB N: N nodes F-n0.. in a ring (N = 0: one process, no fleet)
fleet_start() {
    local f=$1 db=$2 n=$3 i names=() nodes=()
    if [ "$n" = 0 ]; then
        node_start "$f" "$db"
        wait_ready "$f"
        FLEET_NODES[$f]=$f
        rs_log "setup $f: readstated pid ${NODE_PID[$f]} on 127.0.0.1:${NODE_PORT[$f]} (no fleet, db $db)"
        return 0
    fi
    for ((i = 0; i < n; i++)); do
        node_start "$f-n$i" "$db" --node-id "n$i"
        names+=("$f-n$i")
        nodes+=(--node "n$i=127.0.0.1:${NODE_PORT[$f-n$i]}")
    done
    timeout 30 "$RS_CTL" cluster init --redis "127.0.0.1:$RS_REDIS_PORT" --redis-db "$db" \
        "${nodes[@]}" >"$OUT/ring-$f.txt" 2>&1 || { cat "$OUT/ring-$f.txt" >&2; rs_die "cluster init of $f failed"; }
    for i in "${names[@]}"; do wait_ready "$i"; done
    FLEET_NODES[$f]="${names[*]}"
    local desc=""
    for i in "${names[@]}"; do desc+=" ${i#"$f"-}=pid ${NODE_PID[$i]} 127.0.0.1:${NODE_PORT[$i]}"; done
    rs_log "setup $f: $n nodes on db $db:$desc"
}

# metric NAME SERIES: the series' value on node NAME (summed over its labels
# when SERIES has none), or null
metric() {
    curl -s --max-time 5 "http://127.0.0.1:${NODE_HTTP[$1]}/metrics" |
        awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $2; f = 1 }
            END { if (f) printf "%.0f\n", s; else print "null" }'
}
fleet_metric() { # fleet_metric F SERIES: summed over the setup's nodes (null: none has it)
    local n v s=0 f=0
    for n in ${FLEET_NODES[$1]}; do
        v=$(metric "$n" "$2")
        [ "$v" = null ] || { s=$((s + v)); f=1; }
    done
    if [ $f = 1 ]; then echo "$s"; else echo null; fi
}
# wait_clean F LIMIT_S: until no node of the setup has a dirty user
wait_clean() {
    local t0=$EPOCHREALTIME d
    while :; do
        d=$(fleet_metric "$1" readstates_dirty_users)
        [ "$d" = 0 ] && return 0
        awk -v a="$t0" -v b="$EPOCHREALTIME" -v l="$2" 'BEGIN { exit !(b - a < l) }' ||
            { note "$1 still had $d dirty users after waiting $2 s for its flushes"; return 0; }
        sleep 0.2
    done
}

TCK=$(getconf CLK_TCK)
# CPU seconds of each of the given PIDs, in order, on one line: the time
# every thread of it ran (/proc/<pid>/task/*/schedstat, in ns: exact, where
# utime + stime in /proc/<pid>/stat only counts 10 ms ticks)
cpu_each() {
    local p files=()
    for p in "$@"; do files+=(/proc/"$p"/task/*/schedstat); done
    awk -v order="$*" '{ split(FILENAME, f, "/"); ns[f[3]] += $1 }
        END { k = split(order, o, " ")
              for (i = 1; i <= k; i++) printf "%s%.6f", (i > 1 ? " " : ""), ns[o[i]] / 1e9
              print "" }' "${files[@]}"
}
cpu_sum() { # CPU seconds of the given PIDs, summed
    cpu_each "$@" | awk '{ for (i = 1; i <= NF; i++) s += $i } END { printf "%.6f\n", s }'
}
# wakeups PID...: voluntary context switches of every thread of the PIDs: a
# server blocked in epoll_wait and woken up counts one
wakeups() {
    local p files=()
    for p in "$@"; do files+=(/proc/"$p"/task/*/status); done
    awk '$1 == "voluntary_ctxt_switches:" { s += $2 } END { print s + 0 }' "${files[@]}"
}
fleet_pids() { local n; for n in ${FLEET_NODES[$1]}; do echo "${NODE_PID[$n]}"; done; }
# sample "SERVER PIDS" [LOADGEN_PID]: one read of everything, in one process
# (quick enough to take inside a short run):
#   busy steal ours uptime servers loadgen redis
# busy and steal: CPU seconds of the whole machine (/proc/stat, all CPUs);
# ours: this benchmark's processes (this shell and the children it has
# reaped, Redis, every node, and the load generator when it is running);
# servers, loadgen, redis: CPU seconds of those
sample() {
    local p files=(/proc/uptime /proc/stat "/proc/$$/stat" /proc/"$RS_REDIS_PID"/task/*/schedstat)
    for p in "${NODE_PID[@]}"; do files+=(/proc/"$p"/task/*/schedstat); done
    [ -z "${2:-}" ] || files+=(/proc/"$2"/task/*/schedstat)
    awk -v t="$TCK" -v self=$$ -v redis="$RS_REDIS_PID" -v srv=" $1 " -v lg="${2:-}" '
        FILENAME == "/proc/uptime" { up = $1; next }
        FILENAME == "/proc/stat" { if ($1 == "cpu") { busy = ($2 + $3 + $4 + $7 + $8) / t; steal = $9 / t }; next }
        FILENAME ~ /schedstat$/ { # a thread of a process: ns on a CPU
            split(FILENAME, f, "/"); pid = f[3]; c = $1 / 1e9
            ours += c
            if (index(srv, " " pid " ")) s += c
            if (pid == lg) l += c
            if (pid == redis) r += c
            next
        }
        { # this shell, and the children it has reaped (10 ms ticks)
            sub(/.*\) /, ""); ours += ($12 + $13 + $14 + $15) / t
        }
        END { printf "%.2f %.2f %.3f %.3f %.3f %.3f %.3f\n", busy, steal, ours, up, s, l, r }' "${files[@]}"
}
# others_and_steal "SNAP0" "SNAP1": other processes' CPU in cores, steal in %
others_and_steal() {
    awk -v a="$1" -v b="$2" -v n="$(nproc)" 'BEGIN {
        split(a, x, " "); split(b, y, " "); el = y[4] - x[4]; if (el <= 0) el = 1e-9
        o = ((y[1] - x[1]) - (y[3] - x[3])) / el; if (o < 0) o = 0
        printf "%.2f %.1f\n", o, 100 * (y[2] - x[2]) / (el * n) }'
}
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN { if (b + 0 == 0 || a == "null" || a == "") print "n/a"; else printf f "\n", a / b }'; }
lgf() { "$RS_LOADGEN" field "$1" "$2" 2>/dev/null || echo null; }
ms() { awk -v v="$1" 'BEGIN { if (v == "null" || v == "") print "n/a"; else printf "%.2f", v / 1000 }'; }
NOTES=()
note() { rs_log "warning: $*"; NOTES+=("$*"); }
LOADS=()
loadavg() { LOADS+=("$1: $(cut -d' ' -f1-3 /proc/loadavg)"); rs_log "loadavg $1: $(cut -d' ' -f1-3 /proc/loadavg)"; }

fill() { # fill F: the hot users, through the setup's first node
    local f=$1 n
    n=${FLEET_NODES[$f]%% *}
    rs_log "fill $f: $USERS users x $CHANNELS channels through $n"
    timeout 600 "$RS_LOADGEN" --target "rs://127.0.0.1:${NODE_PORT[$n]}" --quiet \
        --fill-users "$USERS" --fill-channels "$CHANNELS" --connections 8 --pipeline 16 \
        --duration 500 --json "$OUT/fill-$f.json" >/dev/null || rs_die "fill of $f failed"
    local e
    e=$(lgf "$OUT/fill-$f.json" totals.errors)
    [ "$e" = 0 ] || note "fill of $f: $e requests failed (see $OUT/fill-$f.json and the nodes' logs)"
}

# ---- the setups ------------------------------------------------------------------
SETUPS=(solo f2) # part max needs these two; part rate all four
[ $DO_RATE = 0 ] || SETUPS=(solo f1 f2 f3)
declare -A SETUP_SIZE=([solo]=0 [f1]=1 [f2]=2 [f3]=3)
for f in "${SETUPS[@]}"; do fleet_start "$f" "${SETUP_SIZE[$f]}" "${SETUP_SIZE[$f]}"; done
for f in "${SETUPS[@]}"; do fill "$f"; done
for f in "${SETUPS[@]}"; do wait_clean "$f" 120; done

# what the nodes cost with no load at all (ring reads, timers): CPU ms per
# second of each node, over a few seconds
IDLE_S=3
read -r -a ALL_PIDS <<<"$(for f in "${SETUPS[@]}"; do fleet_pids "$f"; done | tr '\n' ' ')"
i0=$(cpu_each "${ALL_PIDS[@]}") u0=$(awk '{ print $1 }' /proc/uptime)
sleep "$IDLE_S"
i1=$(cpu_each "${ALL_PIDS[@]}") u1=$(awk '{ print $1 }' /proc/uptime)
IDLE=$(awk -v a="$i0" -v b="$i1" -v s="$u0" -v e="$u1" 'BEGIN { k = split(a, x, " "); split(b, y, " ")
    for (i = 1; i <= k; i++) printf "%s%.2f", (i > 1 ? " / " : ""), (y[i] - x[i]) * 1e3 / (e - s) }')
IDLE_WHO=$(for f in "${SETUPS[@]}"; do echo "${FLEET_NODES[$f]}"; done | tr '\n' ' ' | sed 's/ $//; s/ / \/ /g')
rs_log "idle CPU, ms per second ($IDLE_WHO): $IDLE"

MIX=(--ack 90 --get-one 10 --users "$USERS" --channels-per-user "$CHANNELS")
# a run's target: SETUP -> "fleet ring(0/1)"
declare -A SETUP_FLEET=([solo]=solo [one1]=f1 [ring1]=f1 [ring2]=f2 [ring3]=f3 [fwd3]=f3)
declare -A SETUP_RING=([solo]=0 [one1]=0 [ring1]=1 [ring2]=1 [ring3]=1 [fwd3]=0)
declare -A SETUP_DESC=([solo]="1 process, no fleet" [one1]="1 node (ring of one), no --ring"
    [ring1]="1 node (ring of one), --ring"
    [ring2]="2 nodes, --ring" [ring3]="3 nodes, --ring" [fwd3]="3 nodes, all to n0 (forwarding)")
# counters summed over a setup's nodes, one scrape each: "out in failures
# misrouted" (null where the node has no such series: not in a fleet)
fwd_counters() {
    local n
    for n in ${FLEET_NODES[$1]}; do
        curl -s --max-time 5 "http://127.0.0.1:${NODE_HTTP[$n]}/metrics"
    done | awk '
        $1 == "readstates_fleet_forwarded_total{direction=\"out\"}" { v[1] += $2; f = 1 }
        $1 == "readstates_fleet_forwarded_total{direction=\"in\"}" { v[2] += $2 }
        $1 == "readstates_fleet_forward_failures_total" { v[3] += $2 }
        $1 == "readstates_fleet_misrouted_total" { v[4] += $2 }
        END { if (f) printf "%.0f %.0f %.0f %.0f\n", v[1], v[2], v[3], v[4]; else print "null null null null" }'
}
delta() { if [ "$1" = null ] || [ "$2" = null ]; then echo null; else echo $(($2 - $1)); fi; }

# ---- part rate: server CPU per request at a fixed rate ----------------------------
RATE_ROWS=()
declare -A RATE_CPU=() RATE_P50=() RATE_P99=() RATE_FWD=() RATE_WK=()
rate_run() { # rate_run SETUP ROUND
    local s=$1 r=$2 f=${SETUP_FLEET[$1]} label=rate-$1-r$2 j first ra=() sp=() pids
    local s0 s1 c0 c1 rc0 rc1 e0 e1 x0 x1 w0 w1 oth stl ans fo fin ff fm per
    first=${FLEET_NODES[$f]%% *}
    [ "${SETUP_RING[$s]}" = 0 ] || ra=(--ring)
    # one process: the load generator's own view of it too (its measured phase)
    [ "$f" = f2 ] || [ "$f" = f3 ] || sp=(--server-pid "${NODE_PID[$first]}")
    j=$OUT/$label.json
    read -r -a pids <<<"$(fleet_pids "$f" | tr '\n' ' ')"
    wait_clean "$f" 60
    read -r -a w0 <<<"$(fwd_counters "$f")"
    s0=$(sample "${pids[*]}") x0=$(wakeups "${pids[@]}") e0=$(cpu_each "${pids[@]}") rc0=$(cpu_sum "$RS_REDIS_PID")
    rs_log "$label: ${SETUP_DESC[$s]}, $RATE req/s for ${DUR}s"
    timeout $((DUR + 90)) "$RS_LOADGEN" --target "rs://127.0.0.1:${NODE_PORT[$first]}" \
        "${ra[@]}" "${sp[@]}" --label "$label" --quiet --json "$j" --hiccups \
        --rate "$RATE" --connections 16 --pipeline 8 --duration "$DUR" \
        "${MIX[@]}" >"$OUT/$label.txt" 2>&1 &
    LG_TPID=$! # waited for in the background: a signal stops the run at once
    wait "$LG_TPID" || rs_die "$label failed (see $OUT/$label.txt)"
    LG_TPID=""
    wait_clean "$f" 60
    s1=$(sample "${pids[*]}") x1=$(wakeups "${pids[@]}") e1=$(cpu_each "${pids[@]}") rc1=$(cpu_sum "$RS_REDIS_PID")
    c0=$(awk '{ for (i = 1; i <= NF; i++) s += $i } END { printf "%.6f", s }' <<<"$e0")
    c1=$(awk '{ for (i = 1; i <= NF; i++) s += $i } END { printf "%.6f", s }' <<<"$e1")
    read -r -a w1 <<<"$(fwd_counters "$f")"
    read -r oth stl <<<"$(others_and_steal "$s0" "$s1")"
    ans=$(lgf "$j" totals.answered)
    fo=$(delta "${w0[0]}" "${w1[0]}") fin=$(delta "${w0[1]}" "${w1[1]}")
    ff=$(delta "${w0[2]}" "${w1[2]}") fm=$(delta "${w0[3]}" "${w1[3]}")
    local e cpu fwd wk
    e=$(lgf "$j" totals.errors)
    [ "$e" = 0 ] || note "$label: $e requests failed: $(tr -d '\n ' <<<"$(lgf "$j" errors)")"
    [ "$ff" = null ] || [ "$ff" = 0 ] || note "$label: $ff forward failures (readstates_fleet_forward_failures_total)"
    [ "$fm" = null ] || [ "$fm" = 0 ] || note "$label: $fm misrouted calls (readstates_fleet_misrouted_total)"
    [ "$fo" = "$fin" ] || note "$label: $fo calls forwarded out but $fin forwarded in over the nodes"
    if [ "${SETUP_RING[$s]}" = 1 ] && [ "$fo" != null ] && [ "$fo" != 0 ]; then
        note "$label: $fo calls forwarded although the load generator routed by the ring"
    fi
    cpu=$(div "$(awk -v a="$c0" -v b="$c1" 'BEGIN { print (b - a) * 1e6 }')" "$ans" %.2f)
    # each node's share of it, in node order (n0 first)
    per=$(awk -v a="$e0" -v b="$e1" -v n="$ans" 'BEGIN { k = split(a, x, " "); split(b, y, " ")
        for (i = 1; i <= k; i++) printf "%s%.1f", (i > 1 ? " / " : ""), (n > 0 ? (y[i] - x[i]) * 1e6 / n : 0) }')
    fwd=$(div "$fo" "$ans" %.3f)
    wk=$(div $((x1 - x0)) "$ans" %.3f)
    [ "$fo" != null ] || fwd="n/a"
    RATE_CPU[$s]+="$cpu " RATE_P50[$s]+="$(ms "$(lgf "$j" latency.all.p50_us)") "
    RATE_P99[$s]+="$(ms "$(lgf "$j" latency.all.p99_us)") " RATE_FWD[$s]+="$fwd "
    RATE_WK[$s]+="$wk "
    local own="-"
    [ ${#sp[@]} = 0 ] || own=$(div "$(lgf "$j" cpu.server_us_per_req)" 1 %.2f)
    RATE_ROWS+=("$r|${SETUP_DESC[$s]}|$(div "$(lgf "$j" totals.throughput_rps)" 1 %.0f)|$e|$(ms "$(lgf "$j" latency.all.p50_us)")|$(ms "$(lgf "$j" latency.all.p99_us)")|$(ms "$(lgf "$j" latency.all.p999_us)")|$cpu|$per|$own|$wk|$(div "$(lgf "$j" cpu.loadgen_us_per_req)" 1 %.2f)|$(div "$(awk -v a="$rc0" -v b="$rc1" 'BEGIN { print (b - a) * 1e6 }')" "$ans" %.2f)|$fwd|$(ms "$(lgf "$j" hiccups.p999_us)")|$(div "$(lgf "$j" steal_pct)" 1 %.1f)|$oth")
    rs_log "$label: server CPU $cpu us/req, forwarded out $fwd per request"
}
RATE_SETUPS=(solo one1 ring1 ring2 ring3 fwd3)
if [ $DO_RATE = 1 ]; then
    loadavg "before part rate"
    for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
        n=${#RATE_SETUPS[@]}
        for ((k = 0; k < n; k++)); do
            rate_run "${RATE_SETUPS[$(((k + ROUND - 1) % n))]}" "$ROUND"
        done
    done
    loadavg "after part rate"
fi

# ---- part max: closed-loop throughput, pinned -----------------------------------
MAX_ROWS=()
declare -A MAX_RPS=()
pin() { # pin PID CPU: every thread of the process
    taskset -a -p -c "$2" "$1" >/dev/null || rs_die "taskset -a -p -c $2 $1 failed"
}
max_run() { # max_run SETUP ROUND
    local s=$1 r=$2 f=${SETUP_FLEET[$1]} label=max-$1-r$2 j first ra=() pids lgpid=""
    local t0 t1 a0 a1 l0 l1 rd0 rd1 sw0 sw1 oth stl i c0 c1
    first=${FLEET_NODES[$f]%% *}
    [ "${SETUP_RING[$s]}" = 0 ] || ra=(--ring)
    j=$OUT/$label.json
    read -r -a pids <<<"$(fleet_pids "$f" | tr '\n' ' ')"
    wait_clean "$f" 120
    read -r -a w0 <<<"$(fwd_counters "$f")"
    c0=$(cpu_sum "${pids[@]}")
    rs_log "$label: ${SETUP_DESC[$s]}, closed loop for ${MAX_DUR}s"
    timeout $((MAX_DUR + 90)) "$RS_LOADGEN" --target "rs://127.0.0.1:${NODE_PORT[$first]}" \
        "${ra[@]}" --label "$label" --quiet --json "$j" --max \
        --connections 50 --pipeline 16 --duration "$MAX_DUR" \
        "${MIX[@]}" >"$OUT/$label.txt" 2>&1 &
    LG_TPID=$!
    local launched=$EPOCHREALTIME
    for ((i = 0; i < 40; i++)); do
        sleep 0.05
        lgpid=$(pgrep -P "$LG_TPID" | head -n 1 || true)
        [ -z "$lgpid" ] || break
    done
    [ -n "$lgpid" ] || rs_die "$label: the load generator did not start"
    # the window: from 1 s after the launch to 0.5 s before the measured end
    sleep "$(awk -v a="$launched" -v b="$EPOCHREALTIME" 'BEGIN { d = 1 - (b - a); print (d > 0 ? d : 0) }')"
    sw0=$(sample "${pids[*]}" "$lgpid")
    sleep "$(awk -v a="$launched" -v b="$EPOCHREALTIME" -v m="$MAX_DUR" 'BEGIN { d = m - 0.5 - (b - a); print (d > 0 ? d : 0) }')"
    sw1=$(sample "${pids[*]}" "$lgpid" 2>/dev/null) || sw1=""
    wait "$LG_TPID" || rs_die "$label failed (see $OUT/$label.txt)"
    LG_TPID=""
    [ -n "$sw1" ] || rs_die "$label: the load generator ended before the second CPU sample; use a longer --max-duration"
    read -r _ _ _ t0 a0 l0 rd0 <<<"$sw0"
    read -r _ _ _ t1 a1 l1 rd1 <<<"$sw1"
    read -r oth stl <<<"$(others_and_steal "$sw0" "$sw1")"
    local back
    back=$(fleet_metric "$f" readstates_dirty_users)
    wait_clean "$f" 120
    c1=$(cpu_sum "${pids[@]}")
    read -r -a w1 <<<"$(fwd_counters "$f")"
    local e fo ans rps
    e=$(lgf "$j" totals.errors)
    [ "$e" = 0 ] || note "$label: $e requests failed: $(tr -d '\n ' <<<"$(lgf "$j" errors)")"
    fo=$(delta "${w0[0]}" "${w1[0]}")
    if [ "${SETUP_RING[$s]}" = 1 ] && [ "$fo" != null ] && [ "$fo" != 0 ]; then
        note "$label: $fo calls forwarded although the load generator routed by the ring"
    fi
    ans=$(lgf "$j" totals.answered)
    rps=$(div "$(lgf "$j" totals.throughput_rps)" 1 %.0f)
    MAX_RPS[$s]+="$rps "
    cores() { awk -v a="$1" -v b="$2" -v x="$t0" -v y="$t1" 'BEGIN { printf "%.2f", (b - a) / (y - x) }'; }
    MAX_ROWS+=("$r|${SETUP_DESC[$s]}|$rps|$e|$(div "$(awk -v a="$c0" -v b="$c1" 'BEGIN { print (b - a) * 1e6 }')" "$ans" %.2f)|$(cores "$a0" "$a1")|$(cores "$l0" "$l1")|$(cores "$rd0" "$rd1")|$oth|$(div "$(lgf "$j" steal_pct)" 1 %.1f)|$stl|$back")
    rs_log "$label: $rps req/s"
}
MAX_SETUPS=(solo ring2)
if [ $DO_MAX = 1 ]; then
    pin "${NODE_PID[solo]}" 0
    pin "${NODE_PID[f2-n0]}" 0
    pin "${NODE_PID[f2-n1]}" 1
    rs_log "pinned: solo (pid ${NODE_PID[solo]}) and f2 n0 (pid ${NODE_PID[f2-n0]}) to CPU 0, f2 n1 (pid ${NODE_PID[f2-n1]}) to CPU 1"
    loadavg "before part max"
    for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
        order=(solo ring2)
        [ $((ROUND % 2)) = 1 ] || order=(ring2 solo)
        for s in "${order[@]}"; do max_run "$s" "$ROUND"; done
    done
    loadavg "after part max"
fi

# every node's counters at the end (cumulative: fill and runs)
for n in "${!NODE_HTTP[@]}"; do
    curl -s --max-time 5 "http://127.0.0.1:${NODE_HTTP[$n]}/metrics" >"$OUT/metrics-$n.txt" || true
done

# ---- tables -----------------------------------------------------------------------
row() { local IFS='|'; read -r -a f <<<"$1"; printf '| %s ' "${f[@]}"; printf '|\n'; }
# median and range of a list of numbers: "median (min-max)", or the one value
spread() {
    tr ' ' '\n' <<<"$1" | awk 'NF && $1 != "n/a" { v[++n] = $1 + 0 }
        END { if (!n) { print "n/a"; exit }
              for (i = 1; i <= n; i++) for (k = i + 1; k <= n; k++) if (v[k] < v[i]) { t = v[i]; v[i] = v[k]; v[k] = t }
              m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
              if (n == 1) printf "%s", v[1]; else printf "%s (%s-%s)", m, v[1], v[n] }'
}
{
    printf '\n%s, %s, nproc %s, %s; %s hot users x %s channels, write-behind, one redis-server\n' \
        "$(date -u +%Y-%m-%d)" "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
        "$(nproc)" "$(redis-server --version | awk '{ print $3 }')" "$USERS" "$CHANNELS"
    printf 'loadavg (1, 5, 15 min):'
    printf ' %s;' "${LOADS[@]}"
    printf '\nidle, no load (%s s; ms of CPU per second, %s): %s\n' "$IDLE_S" "$IDLE_WHO" "$IDLE"

    if [ $DO_RATE = 1 ]; then
        printf '\n**Server CPU per request at %s req/s** (open loop, 90%% Ack, 10%% GetReadStates, Zipf 0.99,\n' "$RATE"
        printf '16 connections x pipeline 8, %s s, nodes unpinned; server CPU = all nodes, until their flushes\n' "$DUR"
        printf 'drained; latency in ms from the schedule; median of %s round(s), range in brackets):\n\n' "$ROUNDS"
        printf '| setup | server CPU/req (us) | server wake-ups/req | p50 | p99 | forwarded per request |\n'
        printf '|---|---|---|---|---|---|\n'
        for s in "${RATE_SETUPS[@]}"; do
            printf '| %s | %s | %s | %s | %s | %s |\n' "${SETUP_DESC[$s]}" "$(spread "${RATE_CPU[$s]}")" \
                "$(spread "${RATE_WK[$s]}")" "$(spread "${RATE_P50[$s]}")" "$(spread "${RATE_P99[$s]}")" \
                "$(spread "${RATE_FWD[$s]}")"
        done
        printf '\nEvery run (own = the load generator'"'"'s --server-pid figure for a one-process setup, its\n'
        printf 'measured phase only; Redis = redis-server'"'"'s CPU over the same window as the servers'"'"'):\n\n'
        printf '| round | setup | answered/s | errors | p50 | p99 | p99.9 | server CPU/req (us) | per node n0 / n1 / n2 | own | server wake-ups/req | loadgen CPU/req | Redis CPU/req | forwarded per request | hiccup p99.9 | steal %% | others (cores) |\n'
        printf '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n'
        for r in "${RATE_ROWS[@]}"; do row "$r"; done
    fi
    if [ $DO_MAX = 1 ]; then
        printf '\n**Closed loop** (--max, 50 connections x pipeline 16, %s s, same mix): one process pinned\n' "$MAX_DUR"
        printf 'to CPU 0 against two nodes pinned to CPUs 0 and 1 (--ring); the load generator and Redis are\n'
        printf 'not pinned and share the same %s CPUs. Cores = CPU used from 1 s in to 0.5 s before the end:\n\n' "$(nproc)"
        printf '| setup | req/s, median (range) |\n|---|---|\n'
        for s in "${MAX_SETUPS[@]}"; do printf '| %s | %s |\n' "${SETUP_DESC[$s]}" "$(spread "${MAX_RPS[$s]}")"; done
        printf '\n| round | setup | req/s | errors | server CPU/req (us) | servers (cores) | loadgen (cores) | Redis (cores) | others (cores) | steal %% | steal %% (window) | dirty at end |\n'
        printf '|---|---|---|---|---|---|---|---|---|---|---|---|\n'
        for r in "${MAX_ROWS[@]}"; do row "$r"; done
        printf '\nRatio 2 nodes / 1 process per round:'
        for ((r = 1; r <= ROUNDS; r++)); do
            printf ' %s' "$(div "$(lgf "$OUT/max-ring2-r$r.json" totals.throughput_rps)" \
                "$(lgf "$OUT/max-solo-r$r.json" totals.throughput_rps)")"
        done
        printf '\n'
    fi
    if [ ${#NOTES[@]} -gt 0 ]; then
        printf '\nWarnings:\n\n'
        printf -- '- %s\n' "${NOTES[@]}"
    fi
    printf '\n(steal %%: the load generator'"'"'s measured phase; others: CPU used by processes other than\n'
    printf 'this benchmark'"'"'s, in cores, over the same window as the server CPU.)\n'
} | tee "$OUT/tables.md"
rs_log "results in $OUT (tables.md, per-run JSON and text, the servers' and Redis's logs)"
