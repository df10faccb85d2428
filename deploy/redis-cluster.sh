#!/usr/bin/env bash
# A local Redis Cluster on 127.0.0.1, for trying readstated's --redis-cluster,
# for tests and for benchmarks. Nothing listens beyond loopback.
#
#   deploy/redis-cluster.sh up [--dir DIR] [--primaries 3] [--replicas 1]
#                              [--base-port P] [--node-timeout-ms 1000]
#   deploy/redis-cluster.sh status [--dir DIR]
#   deploy/redis-cluster.sh down [--dir DIR]
#
# up starts primaries * (1 + replicas) redis-servers (daemonized, AOF
# everysec, no RDB snapshots), each in its own subfolder DIR/node-<port>
# (data, nodes.conf, redis.log, redis.pid), creates the cluster with
# `redis-cli --cluster create`, waits until every node reports
# cluster_state:ok with all 16384 slots covered and every replica is in
# sync, then prints the seed list (every node, 127.0.0.1:<port>,
# comma-separated) as the last line of stdout and writes it to DIR/seeds:
#
#   seeds=$(deploy/redis-cluster.sh up | tail -n 1)
#   build/bin/readstated --redis-cluster "$seeds"
#
# DIR is a fresh `mktemp -d` unless --dir names one (it must be empty or
# absent). The state file (below) remembers it, so status and down work
# without --dir. Ports are free loopback ports picked by a bind test unless
# --base-port is given (then P, P+1, ...); each node's cluster bus is its
# port + 10000. down stops each node by the PID in its pidfile (SIGTERM,
# replicas first, a bounded wait, then SIGKILL) and removes DIR.
#
# Environment: REDIS_SERVER and REDIS_CLI name the binaries (default:
# redis-server and redis-cli from PATH); READSTATES_CLUSTER_STATE the state
# file (default ${TMPDIR:-/tmp}/readstates-redis-cluster-<uid>.state).
set -euo pipefail

prog=redis-cluster.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/proc-lib.sh"
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_CLI=${REDIS_CLI:-redis-cli}
state_file=${READSTATES_CLUSTER_STATE:-${TMPDIR:-/tmp}/readstates-redis-cluster-$(id -u).state}
marker=.readstates-redis-cluster
ready_timeout_s=30
stop_timeout_s=10


usage() {
  sed -n '5,8p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}


need_bins() {
  command -v "$REDIS_SERVER" >/dev/null 2>&1 ||
    die "redis-server not found (REDIS_SERVER=$REDIS_SERVER); install it: apt-get install redis-server (or deploy/install-deps.sh)"
  command -v "$REDIS_CLI" >/dev/null 2>&1 ||
    die "redis-cli not found (REDIS_CLI=$REDIS_CLI); install it: apt-get install redis-tools"
}

cli() { # cli PORT args...: redis-cli on 127.0.0.1:PORT, bounded
  local port=$1
  shift
  timeout 5 "$REDIS_CLI" -h 127.0.0.1 -p "$port" "$@" 2>/dev/null
}

# The node folders of DIR, one per line (empty when there are none).
node_dirs() {
  local d
  for d in "$1"/node-*; do
    [ -d "$d" ] && echo "$d"
  done
  return 0
}

# The PID in a node's pidfile if that process still runs redis-server.
node_pid() { pid_of "$1/redis.pid" redis; }

# Free loopback ports: n ports p, each with p+10000 (its cluster bus) free.
pick_ports() {
  local n=$1
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$n" <<'EOF'
import socket, sys
n = int(sys.argv[1])
held, ports = [], []
for _ in range(500):
    if len(ports) == n:
        break
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    held.append(s)  # kept open so no port comes twice
    if p + 10000 > 65535:
        continue
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 10000))
    except OSError:
        continue
    finally:
        b.close()
    ports.append(p)
for s in held:
    s.close()
if len(ports) < n:
    sys.exit("no free ports")
print(" ".join(map(str, ports)))
EOF
  else
    # No python3: random ports in 20000..29999 (buses 30000..39999) that
    # nothing answers on (bash /dev/tcp); a race is caught when a node
    # fails to start.
    local ports=() p tries=0
    while [ ${#ports[@]} -lt "$n" ] && [ $tries -lt 500 ]; do
      tries=$((tries + 1))
      p=$((20000 + RANDOM % 10000))
      [[ " ${ports[*]} " == *" $p "* ]] && continue
      (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
      (exec 3<>"/dev/tcp/127.0.0.1/$((p + 10000))") 2>/dev/null && continue
      ports+=("$p")
    done
    [ ${#ports[@]} -eq "$n" ] || return 1
    echo "${ports[*]}"
  fi
}


# The cluster folder: --dir, else the one in the state file.
resolve_dir() {
  local dir=$1
  if [ -z "$dir" ]; then
    [ -s "$state_file" ] || die "no cluster is up (no state file $state_file); pass --dir DIR"
    dir=$(<"$state_file")
  fi
  [ -d "$dir" ] || die "no cluster folder $dir"
  [ -e "$dir/$marker" ] || die "$dir was not made by $prog up"
  echo "$dir"
}



# Stop every node of DIR by its pidfile: replicas first (a primary asked to
# stop waits for replicas that are still catching up), then the rest.
stop_nodes() {
  local dir=$1 d pid role reps=() others=()
  while read -r d; do
    [ -n "$d" ] || continue
    pid=$(node_pid "$d") || continue
    role=$(cli "${d##*/node-}" role | head -n 1) || role=""
    if [ "$role" = slave ]; then
      reps+=("$pid")
    else
      others+=("$pid")
    fi
  done < <(node_dirs "$dir")
  local deadline=$((SECONDS + stop_timeout_s))
  term_and_wait "$deadline" "${reps[@]}"
  term_and_wait "$deadline" "${others[@]}"
}

cluster_ok() { # every node: state ok, all slots covered, every node known
  local total=$1 port info
  shift
  for port in "$@"; do
    info=$(cli "$port" cluster info | tr -d '\r') || return 1
    grep -qx 'cluster_state:ok' <<<"$info" || return 1
    grep -qx 'cluster_slots_ok:16384' <<<"$info" || return 1
    grep -qx "cluster_known_nodes:$total" <<<"$info" || return 1
  done
}

replicas_synced() { # every replica: link to its primary up, sync done
  local port info
  for port in "$@"; do
    info=$(cli "$port" info replication | tr -d '\r') || return 1
    grep -qx 'role:slave' <<<"$info" || continue
    grep -qx 'master_link_status:up' <<<"$info" || return 1
    grep -qx 'master_sync_in_progress:0' <<<"$info" || return 1
  done
}

cmd_up() {
  local dir="" primaries=3 replicas=1 base_port="" node_timeout=1000
  while [ $# -gt 0 ]; do
    case $1 in
    --dir) dir=${2:?--dir needs a value} && shift 2 ;;
    --primaries) primaries=${2:?--primaries needs a value} && shift 2 ;;
    --replicas) replicas=${2:?--replicas needs a value} && shift 2 ;;
    --base-port) base_port=${2:?--base-port needs a value} && shift 2 ;;
    --node-timeout-ms) node_timeout=${2:?--node-timeout-ms needs a value} && shift 2 ;;
    *) usage ;;
    esac
  done
  { is_uint "$primaries" && [ "$primaries" -ge 3 ]; } ||
    die "--primaries must be 3 or more (Redis Cluster needs 3 primaries), got $primaries"
  is_uint "$replicas" || die "--replicas must be a number, got $replicas"
  { is_uint "$node_timeout" && [ "$node_timeout" -gt 0 ]; } ||
    die "--node-timeout-ms must be a positive number, got $node_timeout"
  local n=$((primaries * (1 + replicas)))
  need_bins

  # One cluster per state file: refuse to lose track of a running one.
  if [ -s "$state_file" ]; then
    local old d
    old=$(<"$state_file")
    if [ -d "$old" ]; then
      while read -r d; do
        [ -n "$d" ] && node_pid "$d" >/dev/null &&
          die "a cluster is already up in $old ($prog down first, or set READSTATES_CLUSTER_STATE)"
      done < <(node_dirs "$old")
    fi
  fi

  local ports
  if [ -n "$base_port" ]; then
    { is_uint "$base_port" && [ "$base_port" -ge 1024 ] && [ $((base_port + n - 1 + 10000)) -le 65535 ]; } ||
      die "--base-port must be in 1024..$((65535 - 10000 - n + 1)) (bus ports are port + 10000), got $base_port"
    local p
    ports=""
    for ((p = base_port; p < base_port + n; p++)); do
      port_in_use "$p" && die "port $p on 127.0.0.1 is in use"
      port_in_use $((p + 10000)) && die "port $((p + 10000)) on 127.0.0.1 (bus of $p) is in use"
      ports+="$p "
    done
  else
    ports=$(pick_ports "$n") || die "cannot find $n free ports on 127.0.0.1"
  fi
  # shellcheck disable=SC2206 # ports are numbers
  local port_list=($ports)

  if [ -n "$dir" ]; then
    mkdir -p "$dir" || die "cannot create $dir"
    [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
    dir=$(cd "$dir" && pwd)
  else
    dir=$(mktemp -d "${TMPDIR:-/tmp}/readstates-redis-cluster.XXXXXX") || die "mktemp -d failed"
  fi
  : >"$dir/$marker"
  echo "$dir" >"$state_file"

  # From here on, a failure stops what was started (up_dir, up_ok: the
  # EXIT trap runs outside this function).
  up_dir=$dir
  up_ok=0
  trap 'if [ "$up_ok" -eq 0 ]; then stop_nodes "$up_dir"; echo "$prog: failed; logs kept in $up_dir" >&2; fi' EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT

  local port nd
  for port in "${port_list[@]}"; do
    nd=$dir/node-$port
    mkdir "$nd"
    "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --protected-mode yes \
      --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-node-timeout "$node_timeout" \
      --appendonly yes --appendfsync everysec --save "" --repl-diskless-sync-delay 0 \
      --dir "$nd" --logfile "$nd/redis.log" --pidfile "$nd/redis.pid" \
      --daemonize yes >/dev/null ||
      die "redis-server did not start on port $port (see $nd/redis.log)"
  done
  local deadline=$((SECONDS + ready_timeout_s)) started=$SECONDS
  for port in "${port_list[@]}"; do
    nd=$dir/node-$port
    until [ "$(cli "$port" ping)" = PONG ]; do
      # Dead: its pidfile names no running process, or it never wrote one
      # (Redis writes it after binding its ports).
      if [ $SECONDS -ge $deadline ] || { [ -s "$nd/redis.pid" ] && ! node_pid "$nd" >/dev/null; } ||
        { [ ! -s "$nd/redis.pid" ] && [ $((SECONDS - started)) -ge 5 ]; }; then
        tail -n 20 "$nd/redis.log" >&2 2>/dev/null || true
        die "node 127.0.0.1:$port does not answer PING"
      fi
      sleep 0.05
    done
  done

  local addrs=()
  for port in "${port_list[@]}"; do
    addrs+=("127.0.0.1:$port")
  done
  local out
  if ! out=$(timeout 60 "$REDIS_CLI" --cluster create "${addrs[@]}" \
    --cluster-replicas "$replicas" --cluster-yes 2>&1); then
    echo "$out" >&2
    die "redis-cli --cluster create failed"
  fi

  until cluster_ok "$n" "${port_list[@]}" && replicas_synced "${port_list[@]}"; do
    [ $SECONDS -lt $deadline ] ||
      die "the cluster is not ready after ${ready_timeout_s}s (cluster_state, slot coverage or replica sync); see $dir/node-*/redis.log"
    sleep 0.05
  done

  local seeds
  seeds=$(
    IFS=,
    echo "${addrs[*]}"
  )
  echo "$seeds" >"$dir/seeds"
  up_ok=1
  trap - EXIT TERM INT
  echo "$prog: $primaries primaries, $replicas replica(s) each, in $dir" >&2
  echo "$seeds"
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
  stop_nodes "$dir"
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
  need_bins
  dir=$(resolve_dir "$dir")
  local d port
  while read -r d; do
    [ -n "$d" ] || continue
    port=${d##*/node-}
    if node_pid "$d" >/dev/null && [ "$(cli "$port" ping)" = PONG ]; then
      echo "cluster in $dir, seeds $(cat "$dir/seeds" 2>/dev/null || echo unknown)"
      timeout 30 "$REDIS_CLI" --cluster check "127.0.0.1:$port"
      return
    fi
  done < <(node_dirs "$dir")
  die "no node of the cluster in $dir answers"
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
