#!/bin/sh
# spike-replay.sh: replay the latency-spike comparison on this machine.
#
# Discord's Go read-state service spiked about every two minutes: Go forces
# a collection at least that often, and each one marked the whole LRU cache.
# This runs the same load against two builds of readstated, one after the
# other, and writes one self-contained HTML report:
#
#   build-spike-nogc  ours: the cache on malloc, nothing ever collects
#   build-spike-gc    -DREADSTATES_GC=boehm: the cache on the Boehm heap, a
#                     full stop-the-world collection every --interval seconds
#
#   for each build:  readstated (memory only, same flags)
#                      <- readstate-loadgen --fill-users U --fill-channels C
#                      <- readstate-loadgen --rate R --duration D  (measured)
#                    stop readstated by PID; keep its log (gc_forced lines)
#   then:            spike_report.awk -> report.html + summary.txt
#
# Usage: loadgen/spike-replay.sh [--quick|--full|--smoke] [--states N]
#          [--out DIR] [--rate R] [--duration S] [--interval S]
#          [--channels-per-user C] [--no-build] [--nogc-build DIR]
#          [--gc-build DIR] [--nogc-bin PATH] [--gc-bin PATH] [--loadgen PATH]
#
#   --quick   (default) 5,000,000 states, collection every 30 s, 150 s
#             measured per build: about 6-7 minutes in all
#   --full    50,000,000 states, every 120 s (Go's forced interval), 600 s
#             measured per build: about 23 minutes (a fill of ~30 s and
#             2.0-2.4 GiB of RSS per build on a 2-vCPU machine)
#   --smoke   20,000 states, every 1 s, 6 s per build (the CI miniature)
#   --states N            read states in the cache (users x channels; 20
#                         channels per user unless --channels-per-user)
#   --rate R              requests per second, open loop (default 10,000;
#                         smoke 2,000); 90% Ack, 10% GetReadStates, Zipf users
#   --no-build            use the build directories as they are
#   --nogc-bin, --gc-bin, --loadgen   the programs themselves (default: bin/
#                         of the build directories; the no-GC build's load
#                         generator drives both runs)
#
# Needs: cmake, a C compiler, libgc (Boehm) and the project's dependencies;
# POSIX sh and awk; nothing else. Everything it starts it stops by PID, also
# on Ctrl-C; every wait is bounded.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

mode=quick
states=""
rate=""
duration=""
interval=""
cpu=20
out=""
build=1
nogc_build=""
gc_build=""
loadgen=""
bin_nogc=""
bin_gc=""
warmup=5

die() {
    echo "spike-replay: $*" >&2
    exit 2
}

usage() {
    sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case $1 in
    --quick | --full | --smoke) mode=${1#--} ;;
    --states) states=${2:?--states needs a value}; shift ;;
    --rate) rate=${2:?--rate needs a value}; shift ;;
    --duration) duration=${2:?--duration needs a value}; shift ;;
    --interval) interval=${2:?--interval needs a value}; shift ;;
    --channels-per-user) cpu=${2:?--channels-per-user needs a value}; shift ;;
    --out) out=${2:?--out needs a value}; shift ;;
    --no-build) build=0 ;;
    --nogc-build) nogc_build=${2:?--nogc-build needs a value}; shift ;;
    --gc-build) gc_build=${2:?--gc-build needs a value}; shift ;;
    --loadgen) loadgen=${2:?--loadgen needs a value}; shift ;;
    --nogc-bin) bin_nogc=${2:?--nogc-bin needs a value}; shift ;;
    --gc-bin) bin_gc=${2:?--gc-bin needs a value}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done

case $mode in
quick) d_states=5000000 d_interval=30 d_duration=150 d_rate=10000 ;;
full) d_states=50000000 d_interval=120 d_duration=600 d_rate=10000 ;;
smoke) d_states=20000 d_interval=1 d_duration=6 d_rate=2000 warmup=1 ;;
esac
states=${states:-$d_states}
interval=${interval:-$d_interval}
duration=${duration:-$d_duration}
rate=${rate:-$d_rate}
nogc_build=${nogc_build:-$root/build-spike-nogc}
gc_build=${gc_build:-$root/build-spike-gc}
out=${out:-$root/out/spike-$mode}

for v in states interval duration cpu; do
    eval "x=\$$v"
    case $x in '' | *[!0-9]*) die "--$v must be a whole number, got '$x'" ;; esac
done
case $rate in '' | *[!0-9.]*) die "--rate must be a number, got '$rate'" ;; esac
[ "$states" -gt 0 ] && [ "$cpu" -gt 0 ] && [ "$duration" -gt 0 ] || die "sizes must be > 0"
[ "$cpu" -le 1000 ] || die "--channels-per-user must be <= 1000"

users=$(((states + cpu - 1) / cpu))
states=$((users * cpu))
# Room for every state with slack for the arrays' growth policy: nothing
# may be evicted, or the two builds would not hold the same cache.
max_memory=$((states * 160 + 268435456))

mkdir -p "$out"
out=$(cd "$out" && pwd)
log() { echo "spike-replay: $*" >&2; }

# ---- processes: every one started is tracked by PID and stopped on exit --

pids=""
track() { pids="$pids $1"; }
untrack() {
    np=""
    for p in $pids; do [ "$p" = "$1" ] || np="$np $p"; done
    pids=$np
}

# Stop one process: SIGTERM, wait up to $2 seconds, then SIGKILL.
stop_pid() {
    p=$1
    kill -TERM "$p" 2>/dev/null || true
    n=0
    while kill -0 "$p" 2>/dev/null && [ $n -lt $(($2 * 10)) ]; do
        sleep 0.1
        n=$((n + 1))
    done
    if kill -0 "$p" 2>/dev/null; then
        log "pid $p did not stop in $2 s; killing it"
        kill -KILL "$p" 2>/dev/null || true
    fi
    wait "$p" 2>/dev/null || true
    untrack "$p"
}

cleanup() {
    for p in $pids; do stop_pid "$p" 5; done
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

# ---- builds -----------------------------------------------------------------

build_one() { # dir targets... (reads $gc_flag)
    dir=$1
    shift
    log "configuring $dir"
    cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
        -DREADSTATES_SANITIZE=OFF $gc_flag >"$out/cmake-$(basename "$dir").log" 2>&1 ||
        { tail -20 "$out/cmake-$(basename "$dir").log" >&2; die "configuring $dir failed"; }
    log "building $* in $dir"
    cmake --build "$dir" -j2 --target "$@" >>"$out/cmake-$(basename "$dir").log" 2>&1 ||
        { tail -30 "$out/cmake-$(basename "$dir").log" >&2; die "building $dir failed"; }
}

if [ $build -eq 1 ]; then
    gc_flag="-DREADSTATES_GC="
    build_one "$nogc_build" readstated readstate-loadgen
    gc_flag="-DREADSTATES_GC=boehm"
    build_one "$gc_build" readstated
fi

bin_nogc=${bin_nogc:-$nogc_build/bin/readstated}
bin_gc=${bin_gc:-$gc_build/bin/readstated}
loadgen=${loadgen:-$nogc_build/bin/readstate-loadgen}
for b in "$bin_nogc" "$bin_gc" "$loadgen"; do
    [ -x "$b" ] || die "missing $b (build it, or drop --no-build)"
done

# ---- extract the report's inputs -------------------------------------------

# CSV per-second rows -> sec answered p99_us max_us
series_of() {
    awk -F, 'NR > 1 { printf "%s\t%s\t%s\t%s\n", $1, $3, $6, $8 }' "$1"
}

# One value of a load generator result document ("-" when absent).
json_num() { # file key.key
    "$loadgen" field "$1" "$2" 2>/dev/null || echo "-"
}

# The whole-run spectrum of all requests -> label percentile value_us
spectrum_of() {
    for row in p50:p50_us:50 p90:p90_us:90 p99:p99_us:99 p99.9:p999_us:99.9 \
        p99.99:p9999_us:99.99 max:max_us:100; do
        IFS=: read -r label key pct <<EOS
$row
EOS
        v=$("$loadgen" field "$1" "latency.all.$key") || die "no latency.all.$key in $1"
        printf '%s\t%s\t%s\n' "$label" "$pct" "$v"
    done
}

# gc_forced log lines -> offset_ms duration_ms heap_bytes
collections_of() { # server.log meas_start_ms
    awk -v t0="$2" '/event=gc_forced / {
        s = ""; d = ""; h = ""
        for (i = 1; i <= NF; i++) {
            if ($i ~ /^start_unix_ms=/) s = substr($i, 15)
            else if ($i ~ /^duration_ms=/) d = substr($i, 13)
            else if ($i ~ /^heap_bytes=/) h = substr($i, 12)
        }
        if (s != "" && d != "") printf "%d\t%s\t%s\n", s - t0, d, h
    }' "$1"
}

# ---- one run ----------------------------------------------------------------

ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)

# Milliseconds since the epoch (GNU date; falls back to whole seconds).
now_ms() {
    t=$(date +%s%3N 2>/dev/null)
    case $t in *N | '') t=$(($(date +%s) * 1000)) ;; esac
    echo "$t"
}

# The machine's CPU time counters (all CPUs): "steal total" in ticks. On a
# virtual machine, steal is time the hypervisor gave our vCPUs to others:
# it shows up as latency that no process here caused.
cpu_ticks() {
    awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t; exit }' /proc/stat
}

# hiccups_of run.json: the platform hiccup meter's p99, p99.9 and max in ms.
hiccups_of() {
    local p99 p999 max
    p99=$(json_num "$1" hiccups.p99_us)
    p999=$(json_num "$1" hiccups.p999_us)
    max=$(json_num "$1" hiccups.max_us)
    awk -v a="$p99" -v b="$p999" -v c="$max" 'BEGIN {
        if (a == "-" || a == "null") { print "n/a"; exit }
        printf "p99 %.2f, p99.9 %.2f, max %.2f", a / 1000, b / 1000, c / 1000 }'
}

# steal_pct "before" "after": steal as a percentage of all CPU time between.
steal_pct() {
    echo "$1 $2" | awk '{ dt = $4 - $2; printf "%.1f", (dt > 0 ? 100 * ($3 - $1) / dt : 0) }'
}

# server_p99 dashboard.json first_s last_s: the server's own per-second Ack
# p99 (read to reply, in us) over those seconds, from its /dashboard.json
# history (method 1 is Ack): "median max ratio", or "- - -".
server_p99() {
    awk -v a="$2" -v b="$3" '
    function arr(name, k,   i, j, d, s) {
        i = index($0, "\"" name "\":[")
        if (i == 0) return ""
        s = substr($0, i + length(name) + 4)
        d = 0
        for (j = 1; j <= length(s); j++) {
            c = substr(s, j, 1)
            if (c == "[") d++
            else if (c == "]") { if (d == 0) return substr(s, 1, j - 1); d-- }
        }
        return ""
    }
    {
        nt = split(arr("t"), t, ",")
        p = arr("p99"); gsub(/^\[|\]$/, "", p)
        nm = split(p, m, "\\],\\[")
        if (nt == 0 || nm < 2) { print "- - -"; exit }
        nv = split(m[2], v, ",")
        n = 0
        for (i = 1; i <= nt && i <= nv; i++)
            if (t[i] + 0 >= a && t[i] + 0 <= b && v[i] + 0 > 0) x[++n] = v[i] + 0
        if (n == 0) { print "- - -"; exit }
        for (i = 2; i <= n; i++) { y = x[i]; for (j = i - 1; j >= 1 && x[j] > y; j--) x[j + 1] = x[j]; x[j + 1] = y }
        med = x[int((n + 1) / 2)]
        printf "%d %d %.1f\n", med, x[n], (med > 0 ? x[n] / med : 0)
    }' "$1"
}

# run_build name binary: start, fill, measure, stop; leaves files in $out/name/
run_build() {
    name=$1
    bin=$2
    dir=$out/$name
    rm -rf "$dir"
    mkdir -p "$dir"
    # Other work on the machine shows up as latency in both builds: note it.
    load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
    echo "$load" >"$dir/loadavg_before"
    if awk -v l="$load" -v n="$ncpu" 'BEGIN { exit !(l > n / 2) }'; then
        log "[$name] warning: load average $load on $ncpu CPUs; other work will show as latency"
    fi
    log "[$name] starting readstated ($states states to come)"
    "$bin" --listen 127.0.0.1:0 --port-file "$dir/port" --http 127.0.0.1:0 \
        --http-port-file "$dir/http_port" \
        --max-memory "$max_memory" --slow-request-ms 0 --log-level info \
        --gc-force-interval-s "$interval" 2>"$dir/server.log" >/dev/null &
    srv=$!
    track "$srv"
    n=0
    while [ ! -s "$dir/port" ] && [ $n -lt 300 ]; do
        kill -0 "$srv" 2>/dev/null || { cat "$dir/server.log" >&2; die "[$name] readstated exited"; }
        sleep 0.1
        n=$((n + 1))
    done
    [ -s "$dir/port" ] || die "[$name] readstated wrote no port file within 30 s"
    port=$(cat "$dir/port")
    target=rs://127.0.0.1:$port

    log "[$name] filling $users users x $cpu channels"
    fill_limit=$((states / 20000 + 120))
    timeout -k 10 "$fill_limit" "$loadgen" --target "$target" --fill-users "$users" \
        --fill-channels "$cpu" --connections 4 --pipeline 16 --duration "$fill_limit" \
        --quiet --json "$dir/fill.json" >"$dir/fill.txt" 2>&1 &
    lg=$!
    track "$lg"
    rc=0
    wait "$lg" || rc=$?
    untrack "$lg"
    [ $rc -eq 0 ] || { tail -20 "$dir/fill.txt" >&2; die "[$name] fill failed ($rc)"; }
    written=$(json_num "$dir/fill.json" totals.states_written)
    [ "$written" = "$states" ] || die "[$name] the fill wrote $written of $states states"

    log "[$name] measuring: $rate req/s for $duration s (+$warmup s warm-up)"
    run_limit=$((duration + warmup + 60))
    ticks_before=$(cpu_ticks)
    start_ms=$(now_ms)
    timeout -k 10 "$run_limit" "$loadgen" --target "$target" --rate "$rate" \
        --duration "$duration" --warmup "$warmup" --users "$users" \
        --channels-per-user "$cpu" --connections 16 --pipeline 4 --server-pid "$srv" \
        --label "$name" --json "$dir/run.json" --csv "$dir/run.csv" --html "$dir/run.html" \
        --hiccups --quiet >"$dir/run.txt" 2>&1 &
    lg=$!
    track "$lg"
    rc=0
    wait "$lg" || rc=$?
    untrack "$lg"
    [ $rc -eq 0 ] || { tail -20 "$dir/run.txt" >&2; die "[$name] measured run failed ($rc)"; }
    errors=$(json_num "$dir/run.json" totals.errors)
    [ "$errors" = 0 ] || log "[$name] warning: $errors requests failed (see $dir/run.txt)"
    # When the measured phase began on the wall clock, from the report (the
    # load generator starts its clock once its first connection is ready);
    # launch time plus warm-up if the report lacks it.
    meas=$(json_num "$dir/run.json" measured_start_unix_ms)
    case "$meas" in '' | - | null) meas=$((start_ms + warmup * 1000)) ;; esac
    echo "$meas" >"$dir/meas_start_ms"
    steal_pct "$ticks_before" "$(cpu_ticks)" >"$dir/steal_pct"
    # The server's own view: per-second latency from reading a request to
    # writing its answer, over the measured seconds (history: last 600 s).
    first_s=$((meas / 1000 + 1))
    last_s=$((first_s + duration - 2))
    if curl -sf --max-time 10 "http://127.0.0.1:$(cat "$dir/http_port")/dashboard.json" \
        >"$dir/dashboard.json" 2>/dev/null; then
        server_p99 "$dir/dashboard.json" "$first_s" "$last_s" >"$dir/server_p99"
    else
        echo "- - -" >"$dir/server_p99"
    fi

    stop_pid "$srv" 30
    log "[$name] done"
}

# ---- main -------------------------------------------------------------------

log "mode $mode: $states states ($users users x $cpu channels), $rate req/s," \
    "$duration s measured per build, forced collection every $interval s; output in $out"
run_build nogc "$bin_nogc"
run_build gc "$bin_gc"

series_of "$out/nogc/run.csv" >"$out/nogc.series"
series_of "$out/gc/run.csv" >"$out/gc.series"
spectrum_of "$out/nogc/run.json" >"$out/nogc.spectrum"
spectrum_of "$out/gc/run.json" >"$out/gc.spectrum"
collections_of "$out/gc/server.log" "$(cat "$out/gc/meas_start_ms")" >"$out/gc.collections"
grep -q 'event=gc_force_started' "$out/gc/server.log" ||
    die "the GC build did not start its forced collections (is $bin_gc from a -DREADSTATES_GC=boehm build?)"
if grep -q 'event=gc_forced ' "$out/nogc/server.log"; then
    die "the no-GC build logged forced collections: $bin_nogc is from a GC build"
fi

{
    printf 'states\t%s\n' "$states"
    printf 'users x channels\t%s x %s\n' "$users" "$cpu"
    printf 'rate\t%s\n' "$rate"
    printf 'duration_s\t%s\n' "$duration"
    printf 'warmup_s\t%s\n' "$warmup"
    printf 'gc_interval_s\t%s\n' "$interval"
    printf 'mode\t%s\n' "$mode"
    for b in nogc gc; do
        printf '%s: states written by the fill\t%s\n' "$b" "$(json_num "$out/$b/fill.json" totals.states_written)"
        printf '%s: answered\t%s\n' "$b" "$(json_num "$out/$b/run.json" totals.answered)"
        printf '%s: errors\t%s\n' "$b" "$(json_num "$out/$b/run.json" totals.errors)"
        printf '%s: server CPU us/request\t%s\n' "$b" "$(json_num "$out/$b/run.json" cpu.server_us_per_req)"
        printf '%s: load average before the run\t%s\n' "$b" "$(cat "$out/$b/loadavg_before")"
        printf '%s: hypervisor steal during the measured run (%% of CPU time)\t%s\n' "$b" \
            "$(cat "$out/$b/steal_pct")"
        read -r med max ratio <"$out/$b/server_p99"
        printf '%s: server-side Ack p99 per second, read to reply (us)\tmedian %s, max %s (%sx)\n' \
            "$b" "$med" "$max" "$ratio"
        printf '%s: hiccups of a load-generator thread sleeping 1 ms (ms late)\t%s\n' "$b" \
            "$(hiccups_of "$out/$b/run.json")"
    done
    printf 'machine\t%s, %s CPUs\n' "$(uname -srm)" "$ncpu"
    printf 'commit\t%s\n' "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    printf 'date\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$out/meta.tsv"

awk -f "$here/spike_report.awk" -v summary="$out/summary.txt" \
    "$out/meta.tsv" "$out/nogc.series" "$out/gc.series" "$out/nogc.spectrum" \
    "$out/gc.spectrum" "$out/gc.collections" >"$out/report.html"
{
    echo "server-side view (the server's own per-second Ack p99, read to reply) and the machine:"
    for b in nogc gc; do
        read -r med max ratio <"$out/$b/server_p99"
        printf '  %-5s server p99 median %s us, highest %s us (%sx); hypervisor steal %s%%;\n' \
            "$b" "$med" "$max" "$ratio" "$(cat "$out/$b/steal_pct")"
        printf '        loadgen thread hiccups (ms) %s\n' "$(hiccups_of "$out/$b/run.json")"
    done
} >>"$out/summary.txt"
cat "$out/summary.txt"
log "report: $out/report.html"
