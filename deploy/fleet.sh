#!/usr/bin/env bash
# A local readstated fleet on 127.0.0.1: N readstated processes, one per
# core, sharing the users by the ring in Redis. For trying the fleet, tests
# and benchmarks. Nothing listens beyond loopback.
#
#   deploy/fleet.sh up N [--redis HOST:PORT | --redis-cluster [SEEDS]] [--replicas R]
#                        [--dir DIR] [--base-port P] [--no-pin] [-- READSTATED_FLAG...]
#   deploy/fleet.sh status [--dir DIR]
#   deploy/fleet.sh down [--dir DIR]
#
# up starts, unless --redis or --redis-cluster SEEDS names one, a private
# Redis: one redis-server (DIR/redis: data, redis.log, redis.pid), or with
# --redis-cluster alone a Redis Cluster of 3 primaries and R replicas each
# (default 1) through deploy/redis-cluster.sh (DIR/redis-cluster). Then N
# readstated processes n0..n<N-1>, each in DIR/<id> (readstated.log,
# readstated.pid, port, http_port):
#
#   readstated --node-id n<i> --listen 127.0.0.1:<tcp> --http 127.0.0.1:<http>
#              --redis ... | --redis-cluster ...   [READSTATED_FLAG...]
#
# on free ports (bound by readstated itself: --listen 127.0.0.1:0 and its
# port files; it advertises the bound address), or on P, P+1, ... with
# --base-port (TCP P+2i, HTTP P+2i+1, advertised as 127.0.0.1:P+2i). Node i
# is pinned to CPU i with taskset when N is at most the number of CPUs (and
# unpinned otherwise, or with --no-pin; up says which). Then it writes the
# ring (readstatectl cluster init: the slots split evenly, n0 first; a ring
# already in that Redis is replaced), waits until every node answers a
# Ping and uses that ring, prints the nodes (id, TCP, HTTP, PID, CPU) and,
# as the last line of stdout, the TCP addresses comma-separated (also in
# DIR/servers):
#
#   servers=$(deploy/fleet.sh up 4 | tail -n 1)
#   build/bin/readstatectl --server "${servers%%,*}" get 42   # any node answers
#
# DIR is a fresh `mktemp -d` unless --dir names one (empty or absent). A
# state file remembers it, so status and down need no --dir; up refuses to
# start a second fleet under the same state file. down stops each
# readstated by the PID in its pidfile (SIGTERM: it flushes to Redis; a
# bounded wait, then SIGKILL), then the private Redis, and removes DIR. A
# failed or interrupted up stops what it started and keeps DIR for its logs.
#
# Environment: READSTATED_BIN and READSTATECTL_BIN name the programs
# (default: build/bin/ of this source tree); REDIS_SERVER and REDIS_CLI the
# Redis ones (default: from PATH); READSTATES_FLEET_STATE the state file
# (default ${TMPDIR:-/tmp}/readstates-fleet-<uid>.state). A Redis password
# (for --redis or --redis-cluster SEEDS) goes in READSTATED_REDIS_PASSWORD,
# which the nodes read and readstatectl gets as READSTATECTL_REDIS_PASSWORD.
set -euo pipefail

prog=fleet.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/proc-lib.sh"
READSTATED_BIN=${READSTATED_BIN:-$root/build/bin/readstated}
READSTATECTL_BIN=${READSTATECTL_BIN:-$root/build/bin/readstatectl}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_CLI=${REDIS_CLI:-redis-cli}
state_file=${READSTATES_FLEET_STATE:-${TMPDIR:-/tmp}/readstates-fleet-$(id -u).state}
marker=.readstates-fleet
ready_timeout_s=30
node_stop_timeout_s=40 # readstated flushes within --shutdown-timeout-ms (25 s)


usage() {
  sed -n '5,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

is_hostport() { [[ $1 =~ ^[^,[:space:]]+:[0-9]+$ ]]; }
is_seeds() { [[ $1 =~ ^[^,[:space:]]+:[0-9]+(,[^,[:space:]]+:[0-9]+)*$ ]]; }




# A free loopback port (a bind test with python3; without it a random port
# that nothing answers on, a race caught when the server fails to bind).
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  else
    local p tries=0
    while [ $tries -lt 500 ]; do
      tries=$((tries + 1))
      p=$((20000 + RANDOM % 20000))
      (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
      echo "$p"
      return 0
    done
    return 1
  fi
}


# The fleet folder: --dir, else the one in the state file.
resolve_dir() {
  local dir=$1
  if [ -z "$dir" ]; then
    [ -s "$state_file" ] || die "no fleet is up (no state file $state_file); pass --dir DIR"
    dir=$(<"$state_file")
  fi
  [ -d "$dir" ] || die "no fleet folder $dir"
  [ -e "$dir/$marker" ] || die "$dir was not made by $prog up"
  echo "$dir"
}

# The node folders of DIR, in node order.
node_dirs() {
  local d i=0
  while d=$1/n$i && [ -d "$d" ]; do
    echo "$d"
    i=$((i + 1))
  done
  return 0
}

# readstatectl cluster ARGS against the fleet's Redis ($dir/redis.args).
ctl_cluster() {
  local dir=$1
  shift
  local -a redis_args
  read -r -a redis_args <"$dir/redis.args"
  local pass=${READSTATECTL_REDIS_PASSWORD:-${READSTATED_REDIS_PASSWORD:-}}
  READSTATECTL_REDIS_PASSWORD=$pass timeout 30 "$READSTATECTL_BIN" cluster "$@" "${redis_args[@]}"
}

# Stop everything DIR holds: the nodes first (they flush to Redis), then a
# private Redis.
stop_all() {
  local dir=$1 d pid pids=()
  while read -r d; do
    [ -n "$d" ] || continue
    pid=$(pid_of "$d/readstated.pid" readstated) && pids+=("$pid")
  done < <(node_dirs "$dir")
  term_and_wait $((SECONDS + node_stop_timeout_s)) "${pids[@]}"
  if [ -d "$dir/redis" ] && pid=$(pid_of "$dir/redis/redis.pid" redis); then
    term_and_wait $((SECONDS + 10)) "$pid"
  fi
  if [ -e "$dir/redis-cluster/.readstates-redis-cluster" ]; then
    READSTATES_CLUSTER_STATE=$dir/redis-cluster.state \
      "$here/redis-cluster.sh" down --dir "$dir/redis-cluster" || true
  fi
}

# One redis-server of DIR's own on a free port. Prints its address.
start_redis() {
  local dir=$1 port tries
  command -v "$REDIS_SERVER" >/dev/null 2>&1 ||
    die "redis-server not found (REDIS_SERVER=$REDIS_SERVER); install it: apt-get install redis-server (or deploy/install-deps.sh)"
  mkdir -p "$dir/redis"
  for tries in 1 2 3; do
    port=$(free_port) || die "no free port on 127.0.0.1"
    rm -f "$dir/redis/redis.pid"
    "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --protected-mode yes \
      --appendonly yes --appendfsync everysec --save "" \
      --dir "$dir/redis" --logfile "$dir/redis/redis.log" --pidfile "$dir/redis/redis.pid" \
      --daemonize yes >/dev/null || die "redis-server did not start (see $dir/redis/redis.log)"
    local deadline=$((SECONDS + 10))
    while [ $SECONDS -lt $deadline ]; do
      if [ "$(timeout 5 "$REDIS_CLI" -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] &&
        pid_of "$dir/redis/redis.pid" redis >/dev/null; then
        echo "127.0.0.1:$port"
        return 0
      fi
      # It wrote its pidfile and died: the port was taken meanwhile.
      if [ -s "$dir/redis/redis.pid" ] && ! pid_of "$dir/redis/redis.pid" redis >/dev/null; then
        break
      fi
      sleep 0.05
    done
    echo "$prog: redis-server on port $port did not come up (try $tries)" >&2
  done
  tail -n 20 "$dir/redis/redis.log" >&2 2>/dev/null || true
  die "redis-server does not answer PING"
}

# Wait until node folder $1 has its port files (readstated writes them once
# bound), or its process is gone.
wait_ports() {
  local d=$1 pid=$2 deadline=$((SECONDS + ready_timeout_s))
  until [ -s "$d/port" ] && [ -s "$d/http_port" ]; do
    if ! alive "$pid" || [ $SECONDS -ge $deadline ]; then
      tail -n 20 "$d/readstated.log" >&2 2>/dev/null || true
      die "readstated ${d##*/} did not start (see $d/readstated.log)"
    fi
    sleep 0.02
  done
}

cmd_up() {
  local n="" dir="" base_port="" redis="" seeds="" private_cluster=0 replicas=1 pin=1
  local -a extra=()
  while [ $# -gt 0 ]; do
    case $1 in
    --redis) redis=${2:?--redis needs HOST:PORT} && shift 2 ;;
    --redis-cluster)
      if [ $# -ge 2 ] && is_seeds "$2"; then
        seeds=$2
        shift 2
      else
        private_cluster=1
        shift
      fi
      ;;
    --replicas) replicas=${2:?--replicas needs a value} && shift 2 ;;
    --dir) dir=${2:?--dir needs a value} && shift 2 ;;
    --base-port) base_port=${2:?--base-port needs a value} && shift 2 ;;
    --no-pin) pin=0 && shift ;;
    --)
      shift
      extra=("$@")
      break
      ;;
    -*) usage ;;
    *)
      [ -z "$n" ] || usage
      n=$1
      shift
      ;;
    esac
  done
  { is_uint "$n" && [ "$n" -ge 1 ] && [ "$n" -le 1024 ]; } ||
    die "up needs the number of nodes N (1..1024)${n:+, got $n}"
  [ -z "$redis" ] || is_hostport "$redis" || die "--redis needs HOST:PORT, got $redis"
  local given=0
  [ -n "$redis" ] && given=$((given + 1))
  [ -n "$seeds" ] && given=$((given + 1))
  [ "$private_cluster" -eq 1 ] && given=$((given + 1))
  [ $given -le 1 ] || die "give one of --redis HOST:PORT, --redis-cluster SEEDS, --redis-cluster"
  is_uint "$replicas" || die "--replicas must be a number, got $replicas"
  if [ -n "$base_port" ]; then
    { is_uint "$base_port" && [ "$base_port" -ge 1024 ] && [ $((base_port + 2 * n - 1)) -le 65535 ]; } ||
      die "--base-port must be in 1024..$((65535 - 2 * n + 1)), got $base_port"
    local p
    for ((p = base_port; p < base_port + 2 * n; p++)); do
      port_in_use "$p" && die "port $p on 127.0.0.1 is in use"
    done
  fi
  [ -x "$READSTATED_BIN" ] || die "no readstated at $READSTATED_BIN (build it: cmake -S . -B build && cmake --build build -j; or set READSTATED_BIN)"
  [ -x "$READSTATECTL_BIN" ] || die "no readstatectl at $READSTATECTL_BIN (or set READSTATECTL_BIN)"
  local help
  help=$("$READSTATED_BIN" --help 2>/dev/null) || true
  [[ $help == *--node-id* ]] ||
    die "$READSTATED_BIN has no --node-id: it cannot run in a fleet (build a newer one)"

  # One fleet per state file: refuse to lose track of a running one.
  if [ -s "$state_file" ]; then
    local old d
    old=$(<"$state_file")
    if [ -d "$old" ]; then
      while read -r d; do
        [ -n "$d" ] && pid_of "$d/readstated.pid" readstated >/dev/null &&
          die "a fleet is already up in $old ($prog down first, or set READSTATES_FLEET_STATE)"
      done < <(node_dirs "$old")
    fi
  fi

  if [ -n "$dir" ]; then
    mkdir -p "$dir" || die "cannot create $dir"
    [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
    dir=$(cd "$dir" && pwd)
  else
    dir=$(mktemp -d "${TMPDIR:-/tmp}/readstates-fleet.XXXXXX") || die "mktemp -d failed"
  fi
  : >"$dir/$marker"
  echo "$dir" >"$state_file"

  # From here on, a failure or an interruption stops what was started.
  up_dir=$dir
  up_ok=0
  trap 'if [ "$up_ok" -eq 0 ]; then stop_all "$up_dir"; echo "$prog: failed; logs kept in $up_dir" >&2; fi' EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT

  local -a redis_args
  if [ -n "$redis" ]; then
    redis_args=(--redis "$redis")
  elif [ -n "$seeds" ]; then
    redis_args=(--redis-cluster "$seeds")
  elif [ "$private_cluster" -eq 1 ]; then
    local out
    out=$(READSTATES_CLUSTER_STATE=$dir/redis-cluster.state \
      "$here/redis-cluster.sh" up --dir "$dir/redis-cluster" --replicas "$replicas") ||
      die "the private Redis Cluster did not start"
    redis_args=(--redis-cluster "$(tail -n 1 <<<"$out")")
  else
    local raddr
    raddr=$(start_redis "$dir") || exit 1
    redis_args=(--redis "$raddr")
  fi
  echo "${redis_args[*]}" >"$dir/redis.args"

  local ncpu=1 pinned=0
  ncpu=$(nproc 2>/dev/null || echo 1)
  if [ "$pin" -eq 1 ] && [ "$n" -le "$ncpu" ] && command -v taskset >/dev/null 2>&1; then
    pinned=1
  fi

  local i d pid tcp http
  local -a pids=() launch
  for ((i = 0; i < n; i++)); do
    d=$dir/n$i
    mkdir "$d"
    if [ -n "$base_port" ]; then
      tcp=$((base_port + 2 * i))
      http=$((tcp + 1))
    else
      tcp=0
      http=0
    fi
    launch=()
    [ "$pinned" -eq 1 ] && launch=(taskset -c "$i")
    launch+=("$READSTATED_BIN" --node-id "n$i" --listen "127.0.0.1:$tcp"
      --http "127.0.0.1:$http" --port-file "$d/port" --http-port-file "$d/http_port"
      "${redis_args[@]}")
    [ -n "$base_port" ] && launch+=(--advertise "127.0.0.1:$tcp")
    "${launch[@]}" "${extra[@]}" </dev/null >"$d/readstated.log" 2>&1 &
    pid=$!
    echo "$pid" >"$d/readstated.pid"
    pids+=("$pid")
  done
  local -a node_args=()
  for ((i = 0; i < n; i++)); do
    d=$dir/n$i
    wait_ports "$d" "${pids[$i]}"
    node_args+=(--node "n$i=127.0.0.1:$(<"$d/port")")
  done

  local out gen
  out=$(ctl_cluster "$dir" init --json "${node_args[@]}") || die "readstatectl cluster init failed"
  gen=$(grep -o '"generation":"[0-9]*"' <<<"$out" | head -n 1 | tr -dc '0-9')
  [ -n "$gen" ] || die "readstatectl cluster init said no generation: $out"

  # Every node up, using that ring (it reads it every --ring-refresh-ms).
  local deadline=$((SECONDS + ready_timeout_s)) show=""
  while :; do
    show=$(ctl_cluster "$dir" show --json 2>/dev/null) || show=""
    [ "$(grep -o "\"ringGeneration\":\"$gen\"" <<<"$show" | wc -l)" -eq "$n" ] && break
    for ((i = 0; i < n; i++)); do
      alive "${pids[$i]}" || {
        tail -n 20 "$dir/n$i/readstated.log" >&2 2>/dev/null || true
        die "readstated n$i exited (see $dir/n$i/readstated.log)"
      }
    done
    [ $SECONDS -lt $deadline ] ||
      die "not every node uses ring generation $gen after ${ready_timeout_s}s: $(ctl_cluster "$dir" show 2>&1 || true)"
    sleep 0.1
  done

  local servers="" cpu
  : >"$dir/nodes"
  for ((i = 0; i < n; i++)); do
    d=$dir/n$i
    cpu=-
    [ "$pinned" -eq 1 ] && cpu=$i
    echo "n$i 127.0.0.1:$(<"$d/port") 127.0.0.1:$(<"$d/http_port") ${pids[$i]} $cpu" >>"$dir/nodes"
    servers+=${servers:+,}127.0.0.1:$(<"$d/port")
  done
  echo "$servers" >"$dir/servers"
  up_ok=1
  trap - EXIT TERM INT

  if [ "$pinned" -eq 1 ]; then
    echo "$prog: $n nodes, each pinned to its CPU (taskset -c <i>), ring generation $gen, in $dir" >&2
  else
    local why="--no-pin"
    [ "$pin" -eq 1 ] && why="$n nodes, $ncpu CPUs"
    [ "$pin" -eq 1 ] && [ "$n" -le "$ncpu" ] && why="no taskset"
    echo "$prog: $n nodes, unpinned ($why), ring generation $gen, in $dir" >&2
  fi
  echo "$prog: Redis ${redis_args[*]}" >&2
  {
    printf '%-6s %-22s %-22s %-8s %s\n' NODE TCP HTTP PID CPU
    while read -r id t h p c; do
      printf '%-6s %-22s %-22s %-8s %s\n' "$id" "$t" "$h" "$p" "$c"
    done <"$dir/nodes"
  } >&2
  echo "$servers"
}

cmd_down() {
  local dir=""
  while [ $# -gt 0 ]; do
    case $1 in
    --dir) dir=${2:?--dir needs a value} && shift 2 ;;
    *) usage ;;
    esac
  done
  dir=$(resolve_dir "$dir")
  stop_all "$dir"
  rm -rf -- "$dir"
  if [ -s "$state_file" ] && [ "$(<"$state_file")" = "$dir" ]; then
    rm -f -- "$state_file"
  fi
  echo "$prog: stopped and removed $dir" >&2
}

cmd_status() {
  local dir=""
  while [ $# -gt 0 ]; do
    case $1 in
    --dir) dir=${2:?--dir needs a value} && shift 2 ;;
    *) usage ;;
    esac
  done
  dir=$(resolve_dir "$dir")
  local d running=0 total=0 pid
  echo "fleet in $dir, Redis $(cat "$dir/redis.args" 2>/dev/null || echo unknown)"
  while read -r d; do
    [ -n "$d" ] || continue
    total=$((total + 1))
    if pid=$(pid_of "$d/readstated.pid" readstated); then
      running=$((running + 1))
      echo "${d##*/}: running, PID $pid"
    else
      echo "${d##*/}: not running (see $d/readstated.log)"
    fi
  done < <(node_dirs "$dir")
  echo
  ctl_cluster "$dir" show || true
  [ "$running" -eq "$total" ]
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
up) cmd_up "$@" ;;
down) cmd_down "$@" ;;
status) cmd_status "$@" ;;
-h | --help | help) usage ;;
*) usage ;;
esac
