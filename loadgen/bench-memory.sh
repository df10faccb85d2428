#!/usr/bin/env bash
# bench-memory.sh: bytes of memory per cached read state, readstated beside
# Redis, in one run.
#
#   loadgen/bench-memory.sh [--users N] [--channels M]   (default 100000 x 10)
#
# readstated (memory only, tcmalloc) is started empty, its RSS read from
# /proc, then N*M states are written through the protocol with the load
# generator's fill mode (pipelined bulk acks), and RSS is read again: the
# growth divided by the states is the figure. The same states are written to
# a private redis-server through the Redis-direct target (one hash per user
# in the contract's format) and its INFO used_memory growth is divided the
# same way. Both processes are stopped by PID on exit.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"

users=100000
channels=10
while [ $# -gt 0 ]; do
    case "$1" in
    --users) users=$2; shift 2 ;;
    --channels) channels=$2; shift 2 ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) rs_die "unknown argument $1" ;;
    esac
done
states=$((users * channels))

rs_build
rs_tmp

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
redis_used() { redis-cli -h 127.0.0.1 -p "$RS_REDIS_PORT" info memory | tr -d '\r' |
    awk -F: '$1 == "used_memory" { print $2 }'; }

# readstated first, alone (memory only: nothing but the cache grows).
RS_REDIS_PORT=""
rs_start_server --max-memory 0 --log-level warn
sleep 0.5
before=$(rss_kib "$RS_SERVER_PID")
rs_log "filling readstated with $users users x $channels channels"
"$RS_LOADGEN" --target "rs://127.0.0.1:$RS_SERVER_PORT" --fill-users "$users" \
    --fill-channels "$channels" --quiet >/dev/null
sleep 1
after=$(rss_kib "$RS_SERVER_PID")
rs_stop_pid "$RS_SERVER_PID" 30
RS_SERVER_PID=""

rs_start_redis
rbefore=$(redis_used)
rs_log "filling redis-server with the same states"
"$RS_LOADGEN" --target "redis://127.0.0.1:$RS_REDIS_PORT" --fill-users "$users" \
    --fill-channels "$channels" --quiet >/dev/null
rafter=$(redis_used)
keys=$(redis-cli -h 127.0.0.1 -p "$RS_REDIS_PORT" dbsize | tr -d '\r')

awk -v s="$states" -v b="$before" -v a="$after" -v rb="$rbefore" -v ra="$rafter" \
    -v k="$keys" -v u="$users" 'BEGIN {
    ours = (a - b) * 1024 / s; theirs = (ra - rb) / s
    printf "states: %d over %d users (redis keys: %d)\n", s, u, k
    printf "%-34s %10s %14s\n", "", "growth MiB", "bytes/state"
    printf "%-34s %10.1f %14.1f\n", "readstated RSS (tcmalloc)", (a - b) / 1024, ours
    printf "%-34s %10.1f %14.1f\n", "redis-server used_memory (hashes)", (ra - rb) / 1048576, theirs
    printf "ratio readstated / redis: %.2f\n", ours / theirs
}'
