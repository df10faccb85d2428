# proc-lib.sh: process and port helpers shared by deploy/redis-cluster.sh
# and deploy/fleet.sh (sourced; each sets $prog first). Everything is on
# 127.0.0.1; processes are found by the PID in their pidfile and stopped by
# it, never by name.

die() {
  echo "$prog: $*" >&2
  exit 1
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# True while PID runs (an exited daemon stays a zombie until whoever
# adopted it reaps it: that counts as gone).
alive() {
  local stat
  kill -0 "$1" 2>/dev/null || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# The PID in pidfile $1 if that process still runs a program whose command
# line holds $2 (a recycled PID belongs to some other program: leave it).
pid_of() {
  local pidfile=$1 what=$2 pid cmdline
  [ -s "$pidfile" ] || return 1
  pid=$(<"$pidfile")
  is_uint "$pid" || return 1
  alive "$pid" || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$what"* ]] || return 1
  echo "$pid"
}

# SIGTERM the PIDs given, wait for them until the deadline (seconds since
# start, $SECONDS), then SIGKILL those left.
term_and_wait() {
  local deadline=$1 pid left
  shift
  [ $# -gt 0 ] || return 0
  for pid in "$@"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  while :; do
    left=()
    for pid in "$@"; do
      alive "$pid" && left+=("$pid")
    done
    [ ${#left[@]} -eq 0 ] && return 0
    [ $SECONDS -ge "$deadline" ] && break
    sleep 0.05
  done
  echo "$prog: SIGKILL after the stop timeout: ${left[*]}" >&2
  for pid in "${left[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  deadline=$((SECONDS + 5))
  for pid in "${left[@]}"; do
    while alive "$pid" && [ $SECONDS -lt $deadline ]; do
      sleep 0.05
    done
  done
}

# True when port P of 127.0.0.1 is taken (a bind test when python3 is
# there, else a connect test).
port_in_use() {
  local p=$1
  if command -v python3 >/dev/null 2>&1; then
    if python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' \
      "$p" 2>/dev/null; then
      return 1
    fi
    return 0
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null
  fi
}
