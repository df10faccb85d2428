#!/usr/bin/env bash
# bench-instructions.sh: instructions per cache-hit Ack, counted by
# callgrind, for comparing two builds where wall-clock CPU is too noisy to
# settle a few percent (a shared VM). Instruction counts do not depend on
# the machine's load.
#
#   loadgen/bench-instructions.sh [--no-build] [--duration S]
#
# Runs readstated under `valgrind --tool=callgrind` (in $RS_BUILD, default
# build-release), fills 20,000 users x 10 channels, zeroes the counters,
# drives 10 s (--duration) of closed-loop Acks on those users (4
# connections) and dumps: the server's instructions over that run divided
# by the Acks answered. Three runs: memory-only with 1 and 16 in flight,
# and write-behind into a private redis-server (no persistence) with 16.
# The count covers the whole server process (dispatch, cache, flushes,
# libevent, protobuf-c), not the kernel. To compare commits, build each in
# its own worktree and run this with RS_BUILD pointing at each build and
# --no-build. Needs valgrind (apt-get install -y valgrind); about a minute.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"

BUILD_ARG=""
DURATION=10
while [ $# -gt 0 ]; do
    case "$1" in
    --no-build) BUILD_ARG=--no-build; shift ;;
    --duration) DURATION=$2; shift 2 ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) rs_die "unknown argument $1" ;;
    esac
done
command -v callgrind_control >/dev/null 2>&1 ||
    rs_die "valgrind is not installed (apt-get install -y valgrind)"

rs_build $BUILD_ARG
rs_tmp
real=$RS_READSTATED
cat >"$RS_TMP/cg-readstated" <<WRAP
#!/bin/sh
exec valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$RS_TMP/cg.%p" "$real" "\$@"
WRAP
chmod +x "$RS_TMP/cg-readstated"
RS_READSTATED=$RS_TMP/cg-readstated

run() { # label in-flight [readstated flags...]
    local label=$1 depth=$2 dir ir n
    shift 2
    dir=$RS_TMP/$label
    mkdir -p "$dir"
    rs_start_server_in "$dir" "$@"
    timeout 300 "$RS_LOADGEN" --target "rs://127.0.0.1:$RS_SERVER_PORT" --fill-users 20000 \
        --fill-channels 10 --quiet >"$dir/fill.txt" 2>&1 || rs_die "$label: the fill failed"
    sleep 2 # write-behind: the fill's flushes land before counting starts
    callgrind_control --zero "$RS_SERVER_PID" >/dev/null 2>&1
    timeout $((DURATION + 120)) "$RS_LOADGEN" --target "rs://127.0.0.1:$RS_SERVER_PORT" --max \
        --ack 100 --users 20000 --channels-per-user 10 --connections 4 --pipeline "$depth" \
        --duration "$DURATION" --quiet --json "$dir/run.json" >"$dir/run.txt" 2>&1 ||
        rs_die "$label: the run failed"
    callgrind_control --dump=run "$RS_SERVER_PID" >/dev/null 2>&1
    sleep 1
    ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$RS_TMP/cg.$RS_SERVER_PID.1")
    n=$("$RS_LOADGEN" field "$dir/run.json" totals.ok)
    rs_stop_pid "$RS_SERVER_PID" 30
    RS_SERVER_PID=""
    if [ -z "$ir" ] || [ "${n:-0}" -le 0 ]; then
        rs_die "$label: no count (instructions '$ir', Acks '$n')"
    fi
    printf '| %s | %s | %s | %s | %d |\n' "$label" "$depth" "$n" "$ir" $((ir / n))
}

rs_log "callgrind: $RS_BUILD ($(git -C "$RS_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "| run | in flight | Acks | instructions | instructions per Ack |"
echo "|---|---|---|---|---|"
run memory 1
run memory 16
rs_start_redis_in "$RS_TMP" --appendonly no
run write-behind 16 --redis "127.0.0.1:$RS_REDIS_PORT" --durability write-behind
