# bench-lib.sh: shared by bench.sh and run-main.sh (sourced, not run).
#
# Builds readstated and readstate-loadgen (Release, tcmalloc) if needed,
# starts a private redis-server and readstated on free loopback ports in a
# temporary directory, and stops both by PID on exit. Every wait is bounded.

RS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RS_BUILD=${RS_BUILD:-$RS_ROOT/build-release}
RS_TMP=""
RS_REDIS_PID=""
RS_REDIS_PORT=""
RS_SERVER_PID=""
RS_SERVER_PORT=""

rs_log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
rs_die() { rs_log "error: $*"; exit 1; }

# rs_build [--no-build]: configure and build the two programs in $RS_BUILD
# (an incremental build: quick when nothing changed). With --no-build, use
# the programs already in $RS_BUILD/bin and build nothing; say what is
# missing when they are not there. The configure output stays in
# $RS_BUILD/configure.log. Only the runtime packages are needed: the test
# suite is skipped when cmocka is absent.
rs_build() {
    if [ "${1:-}" = "--no-build" ]; then
        local missing=()
        [ -x "$RS_BUILD/bin/readstated" ] || missing+=("$RS_BUILD/bin/readstated")
        [ -x "$RS_BUILD/bin/readstate-loadgen" ] || missing+=("$RS_BUILD/bin/readstate-loadgen")
        [ ${#missing[@]} -eq 0 ] || rs_die "--no-build: ${missing[*]} not built; run once without --no-build, or set RS_BUILD to a build directory that has them"
        command -v redis-server >/dev/null 2>&1 ||
            rs_die "--no-build: redis-server is not installed (deploy/install-deps.sh --runtime)"
        rs_log "using the existing build in $RS_BUILD (--no-build)"
    else
        "$RS_ROOT/deploy/install-deps.sh" --runtime || rs_die "could not install dependencies"
        rs_log "building in $RS_BUILD (Release, tcmalloc)"
        mkdir -p "$RS_BUILD"
        cmake -S "$RS_ROOT" -B "$RS_BUILD" -DCMAKE_BUILD_TYPE=Release \
            -DREADSTATES_TCMALLOC=ON -DREADSTATES_SANITIZE=OFF >"$RS_BUILD/configure.log" 2>&1 || {
            tail -20 "$RS_BUILD/configure.log" >&2
            rs_die "cmake configure failed (log: $RS_BUILD/configure.log)"
        }
        cmake --build "$RS_BUILD" -j2 --target readstated readstate-loadgen >/dev/null ||
            rs_die "build failed"
    fi
    RS_LOADGEN=$RS_BUILD/bin/readstate-loadgen
    RS_READSTATED=$RS_BUILD/bin/readstated
}

# Stop a PID: SIGTERM, wait up to $2 seconds, then SIGKILL.
rs_stop_pid() {
    local pid=$1 secs=${2:-30} i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
        sleep 0.1
    done
    rs_log "pid $pid did not stop in ${secs}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

rs_cleanup() {
    local rc=$?
    rs_stop_pid "$RS_SERVER_PID" 30
    rs_stop_pid "$RS_REDIS_PID" 10
    RS_SERVER_PID=""
    RS_REDIS_PID=""
    if [ -n "$RS_TMP" ] && [ -d "$RS_TMP" ]; then
        rm -rf "$RS_TMP"
    fi
    exit $rc
}

rs_tmp() {
    RS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/readstates-bench.XXXXXX")
    trap rs_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# A port that is free on 127.0.0.1 right now (the caller retries on a race).
rs_pick_port() {
    local p i
    for ((i = 0; i < 50; i++)); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# CPU seconds (user + system) a process has used, from /proc/<pid>/stat.
rs_cpu_s() {
    local tck
    tck=$(getconf CLK_TCK)
    awk -v t="$tck" '{ sub(/.*\) /, ""); print ($12 + $13) / t }' "/proc/$1/stat"
}

# rs_start_redis_in DIR [redis-server flags...]: a private redis-server on a
# free 127.0.0.1 port, its data in DIR/redis and its log in DIR/redis.log
# (no RDB snapshots; persistence as the flags say); sets RS_REDIS_PID and
# RS_REDIS_PORT.
rs_start_redis_in() {
    local dir=$1 try port i
    shift
    for ((try = 0; try < 5; try++)); do
        port=$(rs_pick_port) || rs_die "no free port"
        mkdir -p "$dir/redis"
        redis-server --bind 127.0.0.1 --port "$port" --dir "$dir/redis" --save "" \
            "$@" --daemonize no >"$dir/redis.log" 2>&1 &
        RS_REDIS_PID=$!
        for ((i = 0; i < 100; i++)); do
            if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
                RS_REDIS_PORT=$port
                return 0
            fi
            kill -0 "$RS_REDIS_PID" 2>/dev/null || break
            sleep 0.1
        done
        rs_stop_pid "$RS_REDIS_PID" 5 || true
        RS_REDIS_PID=""
    done
    cat "$dir/redis.log" >&2
    rs_die "redis-server did not start"
}

# rs_start_redis: the private redis-server in $RS_TMP, with appendonly
# everysec (production's persistence).
rs_start_redis() {
    rs_start_redis_in "$RS_TMP" --appendonly yes --appendfsync everysec
    rs_log "redis-server pid $RS_REDIS_PID on 127.0.0.1:$RS_REDIS_PORT (appendonly, everysec)"
}

# rs_start_cluster PRIMARIES REPLICAS: a private Redis Cluster in
# $RS_TMP/cluster (deploy/redis-cluster.sh up, with its own state file, so
# another cluster on this machine is left alone); sets RS_CLUSTER_DIR and
# RS_CLUSTER_SEEDS. rs_stop_cluster stops it by the PIDs in its pidfiles
# (also when up failed early); call it from the exit trap, after the
# readstated that flushes into it.
RS_CLUSTER_DIR=""
RS_CLUSTER_SEEDS=""
rs_start_cluster() {
    command -v redis-cli >/dev/null 2>&1 || rs_die "redis-cli is not installed (apt-get install redis-tools)"
    export READSTATES_CLUSTER_STATE=$RS_TMP/cluster.state
    RS_CLUSTER_DIR=$RS_TMP/cluster
    rs_log "starting a Redis Cluster: $1 primaries, $2 replica(s) each"
    RS_CLUSTER_SEEDS=$(timeout 120 "$RS_ROOT/deploy/redis-cluster.sh" up --dir "$RS_CLUSTER_DIR" \
        --primaries "$1" --replicas "$2" 2>"$RS_TMP/cluster-up.log" | tail -n 1) || RS_CLUSTER_SEEDS=""
    if [ -z "$RS_CLUSTER_SEEDS" ]; then
        cat "$RS_TMP/cluster-up.log" >&2
        rs_die "the Redis Cluster did not start"
    fi
    rs_log "Redis Cluster up, seeds $RS_CLUSTER_SEEDS"
}

rs_stop_cluster() {
    if [ -n "$RS_CLUSTER_DIR" ] && [ -d "$RS_CLUSTER_DIR" ]; then
        if ! "$RS_ROOT/deploy/redis-cluster.sh" down --dir "$RS_CLUSTER_DIR" 2>/dev/null; then
            local f pid # not made by up (it failed early): any node it left
            for f in "$RS_CLUSTER_DIR"/node-*/redis.pid; do
                [ -s "$f" ] || continue
                pid=$(<"$f")
                grep -q redis "/proc/$pid/cmdline" 2>/dev/null && rs_stop_pid "$pid" 10
            done
        fi
    fi
    RS_CLUSTER_DIR=""
}

# rs_start_server_in DIR [readstated flags...]: readstated with the framed
# port and the HTTP port (for /metrics) on free loopback ports, their numbers
# and its log in DIR; sets RS_SERVER_PID, RS_SERVER_PORT and HTTP_PORT.
HTTP_PORT=""
rs_start_server_in() {
    local dir=$1 i
    shift
    rm -f "$dir/port" "$dir/http_port"
    "$RS_READSTATED" --listen 127.0.0.1:0 --port-file "$dir/port" --http 127.0.0.1:0 \
        --http-port-file "$dir/http_port" --log-level warn "$@" \
        >"$dir/readstated.log" 2>&1 &
    RS_SERVER_PID=$!
    for ((i = 0; i < 150; i++)); do
        if [ -s "$dir/port" ] && [ -s "$dir/http_port" ]; then
            RS_SERVER_PORT=$(cat "$dir/port")
            HTTP_PORT=$(cat "$dir/http_port")
            return 0
        fi
        kill -0 "$RS_SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$dir/readstated.log" >&2
    rs_die "readstated did not start"
}

# rs_start_server [extra readstated flags...]: against the private Redis when
# one was started (rs_start_redis), else memory only.
rs_start_server() {
    local i redis=()
    [ -n "$RS_REDIS_PORT" ] && redis=(--redis "127.0.0.1:$RS_REDIS_PORT")
    rm -f "$RS_TMP/readstated.port"
    "$RS_READSTATED" --listen 127.0.0.1:0 --port-file "$RS_TMP/readstated.port" --http off \
        "${redis[@]}" "$@" >"$RS_TMP/readstated.log" 2>&1 &
    RS_SERVER_PID=$!
    for ((i = 0; i < 150; i++)); do
        if [ -s "$RS_TMP/readstated.port" ]; then
            RS_SERVER_PORT=$(cat "$RS_TMP/readstated.port")
            rs_log "readstated pid $RS_SERVER_PID on 127.0.0.1:$RS_SERVER_PORT"
            return 0
        fi
        kill -0 "$RS_SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$RS_TMP/readstated.log" >&2
    rs_die "readstated did not start"
}
