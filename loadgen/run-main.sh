#!/usr/bin/env bash
# run-main.sh: the README's main job. Builds (Release, tcmalloc), starts a
# private redis-server and readstated on free loopback ports, pre-loads some
# read states, drives the service at a fixed rate for ~20 s with the
# open-loop load generator (with its platform hiccup meter), prints the
# latency report and the platform's own hiccups beside it, and stops both
# processes by PID.
#
#   loadgen/run-main.sh [--rate R] [--duration S] [--users N] [--out DIR]
#                       [--redis-cluster] [--fleet N] [--no-build]
#
# --redis-cluster: the same job with readstated on a private Redis Cluster
# (3 primaries, 1 replica each: deploy/redis-cluster.sh up in the run's own
# temporary folder) instead of the single redis-server; readstated stops
# first (flushing into the cluster), then every node, by the PIDs in their
# pidfiles, on any exit (failure and Ctrl-C included).
#
# --fleet N: the job on a fleet of N readstated processes (deploy/fleet.sh
# up N in the run's temporary folder: one per core when N <= nproc, the ring
# written, over a private redis-server, or the private Redis Cluster with
# --redis-cluster), driven by the ring-aware load generator (--ring: each
# request straight to its user's owner); the server CPU reported is node
# n0's. deploy/fleet.sh down stops every node and the Redis it started.
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
CLUSTER=0
FLEET=0
while [ $# -gt 0 ]; do
    case "$1" in
    --rate) RATE=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --users) USERS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --redis-cluster) CLUSTER=1; shift ;;
    --fleet) FLEET=$2; shift 2 ;;
    --no-build) BUILD_ARG=--no-build; shift ;;
    -h | --help) sed -n '2,28p' "$0"; exit 0 ;;
    *) rs_die "unknown argument $1" ;;
    esac
done

rs_build $BUILD_ARG
rs_tmp
[ -n "$OUT" ] || OUT=$RS_ROOT/out/main
mkdir -p "$OUT"
RING_ARG=""
if [ "$FLEET" -gt 0 ]; then
    # fleet.sh starts and stops the nodes and their Redis (by PID).
    FLEET_DIR=$RS_TMP/fleet
    fleet_cleanup() {
        local rc=$?
        set +e
        [ -d "$FLEET_DIR" ] && "$RS_ROOT/deploy/fleet.sh" down --dir "$FLEET_DIR" >/dev/null 2>&1
        (exit $rc)
        rs_cleanup
    }
    trap fleet_cleanup EXIT
    export READSTATES_FLEET_STATE=$RS_TMP/fleet.state READSTATES_CLUSTER_STATE=$RS_TMP/cluster.state
    export READSTATED_BIN=$RS_READSTATED READSTATECTL_BIN=$RS_BUILD/bin/readstatectl
    store=()
    [ $CLUSTER = 1 ] && store=(--redis-cluster)
    rs_log "starting a fleet of $FLEET readstated processes ${store[*]}"
    servers=$(timeout 180 "$RS_ROOT/deploy/fleet.sh" up "$FLEET" "${store[@]}" --dir "$FLEET_DIR" \
        2>"$RS_TMP/fleet-up.log" | tail -n 1) || servers=""
    if [ -z "$servers" ]; then
        cat "$RS_TMP/fleet-up.log" >&2
        rs_die "the fleet did not start"
    fi
    rs_log "fleet up: $servers"
    first=${servers%%,*}
    RS_SERVER_PORT=${first##*:}
    RS_SERVER_PID=$(<"$FLEET_DIR/n0/readstated.pid")
    RING_ARG=--ring
elif [ $CLUSTER = 1 ]; then
    # The cluster's nodes daemonize: this run stops them (after readstated,
    # which flushes into them), then rs_cleanup stops the rest and exits.
    cluster_cleanup() {
        local rc=$?
        set +e
        rs_stop_pid "$RS_SERVER_PID" 30
        RS_SERVER_PID=""
        rs_stop_cluster
        (exit $rc)
        rs_cleanup
    }
    trap cluster_cleanup EXIT
    rs_start_cluster 3 1
    rs_start_server --redis-cluster "$RS_CLUSTER_SEEDS"
else
    rs_start_redis
    rs_start_server
fi

rs_log "pre-loading $USERS users x $CHANNELS channels"
timeout 300 "$RS_LOADGEN" --target "rs://127.0.0.1:$RS_SERVER_PORT" $RING_ARG --fill-users "$USERS" \
    --fill-channels "$CHANNELS" --connections 8 --pipeline 16 --quiet \
    --json "$OUT/fill.json" >/dev/null
rs_log "filled $("$RS_LOADGEN" field "$OUT/fill.json" totals.states_written) states"

rs_log "fixed rate: $RATE req/s for $DURATION s (90% ack, 10% get), latency from the schedule"
timeout $((DURATION + 120)) "$RS_LOADGEN" --target "rs://127.0.0.1:$RS_SERVER_PORT" $RING_ARG \
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
