#!/usr/bin/env bash
# bench-eviction.sh: readstated with a cache half the size of its data. N read
# states (users x 20 channels, snowflake-style ids) are written into a private
# redis-server through readstated in write-behind, with --max-memory at half
# of what the N states need in the cache; then a fixed-rate Zipf mix over all
# the users keeps evictions and loads from Redis running, and the script
# reports throughput, the tail, the per-second max (does eviction ever stall
# the event loop?), the eviction and load rates on both sides, and memory
# against the budget. One Markdown table.
#
#   loadgen/bench-eviction.sh [--states N] [--quick] [--rate R] [--duration S]
#       [--warmup S] [--zipf S] [--fraction F] [--channels C]
#       [--sample-states N] [--bytes-per-state B] [--redis-bps B]
#       [--probe-rate R] [--budget-gib G] [--reserve-gib G] [--out DIR]
#       [--no-build]
#
#   --states N          read states to fill (default 100000000: 5,000,000
#                       users x 20 channels)
#   --quick             2,000,000 states, 15 s measured (unless --states or
#                       --duration say otherwise): a check in about a minute
#   --rate R            requests/s of the measured phase, open loop (default
#                       20000)
#   --duration S        measured seconds (default 60; 15 with --quick)
#   --warmup S          seconds of the same load before measuring (default 5)
#   --zipf S            skew over all the filled users (default 0.99)
#   --fraction F        --max-memory as a fraction of the need (default 0.5)
#   --channels C        channels per user (default 20)
#   --sample-states N   the need is measured on a memory-only readstated
#                       filled with this many states first (default
#                       1000000, or N if smaller): its accounted bytes
#                       (readstates_cache_bytes) per state, times N
#   --bytes-per-state B skip that sample: the need is N x B bytes
#   --redis-bps B       Redis's bytes per state for the memory estimate
#                       (default 48; Redis 7 held 43.9 of used_memory per
#                       state at 100M in bench-capacity.sh); the run reports
#                       what it measured
#   --probe-rate R      a second load generator sends Ping at R/s on one
#                       connection (pipeline 8) beside the mix (default 1000; 0: none).
#                       Ping touches neither the cache nor Redis: its
#                       per-second max is how late the server's loop (or the
#                       machine) answered anything in that second, without
#                       the wait for a load from Redis that a miss adds
#   --budget-gib G      refuse when the estimated memory passes G GiB
#                       (default 20) or what the machine has available minus
#                       --reserve-gib (default 1.5)
#   --out DIR           output directory (default out/bench-eviction)
#   --no-build          use the programs already in $RS_BUILD (default
#                       build-release; any build with tcmalloc will do)
#
# Steps, each with a time limit:
# 1. The need: a memory-only readstated (--max-memory 0) is filled with the
#    sample (`readstate-loadgen --fill-users U --fill-channels C`) and its
#    readstates_cache_bytes / readstates_cache_states is the accounted bytes
#    per state; need = N x that, budget = need x --fraction. (The sample's
#    hash table is smaller than N's, so the need can come out a little low.)
# 2. The estimate: readstated at its budget, x 2 (its RSS runs above the
#    accounted bytes: allocator overhead, and heap that evictions free in
#    one size class while loads allocate in another; 1.5 to 2.0 times the
#    budget in 2M-state quick runs), + 256 MiB, plus Redis at N x
#    --redis-bps, + 15%; refused, with the figures, when it passes
#    --budget-gib or the available memory minus --reserve-gib (checked with
#    48 B/state before the sample, and again after it).
# 3. A redis-server on a free 127.0.0.1 port (no RDB, no AOF) and readstated
#    in write-behind into it, --max-memory at the budget, --dirty-budget
#    1TiB (the fill's writes must never be refused; the cache budget bounds
#    the dirty users anyway, since only flushed users can be evicted).
# 4. The fill: U*C states with pipelined bulk acks (4 connections x 16), at
#    least 50,000 states/s or it is stopped. Every user is new to the cache,
#    so each is first loaded from Redis (a miss: the key is not there yet),
#    and once the cache reaches its budget the oldest flushed users are
#    evicted: the fill already runs the eviction path. A sampler reads the
#    server's /metrics, its RSS, Redis's INFO and the machine's available
#    memory every second (fill-samples.txt), and stops the fill when
#    available memory falls under --reserve-gib. Then the script waits until
#    readstated reports no dirty user (readstates_dirty_users 0), so all N
#    states are in Redis (its key count is checked against the users).
# 5. The measured phase: `readstate-loadgen --rate R` with the default mix
#    (90% Ack, 10% GetReadStates of one channel), Zipf over all U users, 16
#    connections x pipeline 8, --hiccups; beside it the Ping probe; the
#    sampler again (phase-samples.txt). The cache starts the phase holding
#    the users filled last, the coldest of the Zipf, so the first seconds
#    load the most; the per-second figures show how that settles.
#
# Reported (table.md): fill time and rate, evictions and loads during it,
# drain time; the budget, accounted bytes (highest and at the end) and RSS
# against it, Redis's used_memory and RSS per state; the phase's achieved
# throughput and errors, p50/p99/p99.9/max (ms, open loop from the schedule),
# the per-second p99 and per-second max (lowest / median / highest over the
# measured seconds), the probe's p99, max and per-second max, the server's
# own per-second Ack p99 and max (read to reply, /dashboard.json: a miss's
# wait for Redis is in it), evictions and cache misses per second (the
# server's per-second counts: lowest / median / highest, and how many
# seconds had none), readstated's loads per second
# (readstates_redis_loads_total), Redis's own HGETALL calls per second (the
# load script runs one per load; INFO commandstats), its commands per
# second, keyspace hits and CPU, the hit ratio, the flushes (users and
# batches per second, a batch's mean round trip: a load waits in the same
# Redis queue), RSS and the allocator's allocated and heap bytes over the
# measured seconds, server CPU per request, how long the server's loop
# thread and Redis's waited for a CPU each second (/proc/PID/schedstat: the
# machine, not the server, delaying them), the requests the server logged
# as slow (over 100 ms read to reply) in the fill and in the phase, the
# hypervisor's steal (/proc/stat), the CPU other processes used, and the
# load generator's hiccups; then the five seconds with the highest max and
# the five with the highest Ping probe max, with what the server, the probe
# and the scheduler saw in them.
#
# Output in out/bench-eviction/ (or --out): table.md, results.tsv (one
# key/value a line), per-second.tsv, the load generators' JSON/CSV/HTML,
# the samplers' files, the servers' and Redis's logs, /metrics before and
# after the phase and the dashboard JSON. Loopback only; readstated,
# redis-server, the load generators and the sampler are stopped by PID on
# exit.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"

states=100000000
states_given=0
quick=0
rate=20000
duration=""
warmup=5
zipf=0.99
fraction=0.5
channels=20
sample_states=1000000
bps_given=""
redis_bps=48
probe_rate=1000
budget_gib=20
reserve_gib=1.5
out=$RS_ROOT/out/bench-eviction
build_arg=""
while [ $# -gt 0 ]; do
    case "$1" in
    --states) states=$2; states_given=1; shift 2 ;;
    --quick) quick=1; shift ;;
    --rate) rate=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --zipf) zipf=$2; shift 2 ;;
    --fraction) fraction=$2; shift 2 ;;
    --channels) channels=$2; shift 2 ;;
    --sample-states) sample_states=$2; shift 2 ;;
    --bytes-per-state) bps_given=$2; shift 2 ;;
    --redis-bps) redis_bps=$2; shift 2 ;;
    --probe-rate) probe_rate=$2; shift 2 ;;
    --budget-gib) budget_gib=$2; shift 2 ;;
    --reserve-gib) reserve_gib=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-build) build_arg=--no-build; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) rs_die "unknown argument $1 (see --help)" ;;
    esac
done
if [ "$quick" = 1 ]; then
    [ "$states_given" = 1 ] || states=2000000
    duration=${duration:-15}
fi
duration=${duration:-60}
for v in "$states" "$duration" "$warmup" "$channels" "$sample_states" "$probe_rate"; do
    case "$v" in '' | *[!0-9]*) rs_die "not a whole number: '$v'" ;; esac
done
for v in "$rate" "$zipf" "$fraction" "$redis_bps" "$budget_gib" "$reserve_gib" ${bps_given:+"$bps_given"}; do
    case "$v" in '' | *[!0-9.]* | *.*.*) rs_die "not a number: '$v'" ;; esac
done
if [ "$channels" -lt 1 ] || [ "$channels" -gt 1000 ]; then rs_die "--channels must be 1..1000"; fi
[ "$duration" -ge 3 ] || rs_die "--duration must be at least 3 s"
[ "$states" -ge "$((channels * 100))" ] || rs_die "--states must be at least 100 users' worth"
awk -v f="$fraction" 'BEGIN { exit !(f > 0 && f < 1) }' || rs_die "--fraction must be between 0 and 1"
awk -v r="$rate" 'BEGIN { exit !(r > 0) }' || rs_die "--rate must be above 0"
users=$(((states + channels - 1) / channels))
states=$((users * channels))
[ "$sample_states" -gt "$states" ] && sample_states=$states
sample_users=$(((sample_states + channels - 1) / channels))
sample_states=$((sample_users * channels))
budget_kib=$(awk -v g="$budget_gib" 'BEGIN { printf "%d", g * 1048576 }')
reserve_kib=$(awk -v g="$reserve_gib" 'BEGIN { printf "%d", g * 1048576 }')

rs_build $build_arg
command -v curl >/dev/null 2>&1 || rs_die "curl is needed (the server's /metrics)"
command -v redis-server >/dev/null 2>&1 || rs_die "redis-server is not installed"
command -v redis-cli >/dev/null 2>&1 || rs_die "redis-cli is not installed"
rs_tmp
mkdir -p "$out"
out=$(cd "$out" && pwd)
# this script's own files from an earlier run (nothing else in --out)
(cd "$out" && rm -f table.md results.tsv per-second.tsv server-seconds.txt fill.json fill.txt \
    fill-samples.txt fill-aborted phase-samples.txt phase-aborted run.json run.csv run.html run.txt \
    probe.json probe.csv probe.txt metrics-before.prom metrics-after.prom dashboard.json \
    readstated.log redis.log port http_port sample/fill.json sample/fill.txt sample/readstated.log \
    sample/port sample/http_port)

# ---- processes: readstated and redis-server are bench-lib's (stopped by
# rs_cleanup); the load generators and the sampler are tracked here. -------
EXTRA_PIDS=""
track() { EXTRA_PIDS="$EXTRA_PIDS $1"; }
untrack() {
    local p n=""
    for p in $EXTRA_PIDS; do [ "$p" = "$1" ] || n="$n $p"; done
    EXTRA_PIDS=$n
}
# rs_stop_pid's own `wait` returns the stopped process's status; under set -e
# every call here is made where errexit does not apply.
ev_cleanup() {
    local rc=$? p
    set +e
    for p in $EXTRA_PIDS; do rs_stop_pid "$p" 5; done
    EXTRA_PIDS=""
    # readstated first (it flushes into redis-server), both by PID; a big
    # cache takes a few seconds to free.
    rs_stop_pid "$RS_SERVER_PID" 120 || true
    RS_SERVER_PID=""
    (exit $rc)
    rs_cleanup
}
trap ev_cleanup EXIT

# ---- small readers -------------------------------------------------------
now_ms() { date +%s%3N; }
rss_kib() { awk '/^VmRSS:/ { print $2; exit }' "/proc/$1/status" 2>/dev/null || echo 0; }
memavail_kib() { awk '/^MemAvailable:/ { print $2; exit }' /proc/meminfo; }
# "steal busy total" ticks of all CPUs (busy = everything but idle and iowait)
cpu_ticks() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i;
    print $9, t - $5 - $6, t; exit }' /proc/stat; }
lg_field() { "$RS_LOADGEN" field "$1" "$2" 2>/dev/null || echo "-"; }
metric() { # http_port name: one unlabelled value from /metrics ("-" if none)
    { curl -sf --max-time 5 "http://127.0.0.1:$1/metrics" 2>/dev/null || true; } |
        awk -v n="$2" '$1 == n && !found { v = $2; found = 1 } END { print (found ? v : "-") }'
}
redis_cli() { redis-cli -h 127.0.0.1 -p "$RS_REDIS_PORT" "$@" 2>/dev/null | tr -d '\r'; }
redis_info() { # field of INFO memory
    redis_cli info memory | awk -F: -v k="$1" '$1 == k { print $2 }'
}
human() { awk -v n="$1" 'BEGIN { if (n >= 1e6 && n % 1e6 == 0) printf "%dM", n / 1e6;
    else if (n >= 1e3 && n % 1e3 == 0) printf "%dk", n / 1e3; else printf "%d", n }'; }
mib() { awk -v b="$1" 'BEGIN { if (b == "-" || b == "") print "-"; else printf "%.1f", b / 1048576 }'; }
us_ms() { awk -v u="$1" 'BEGIN { if (u == "-" || u == "null" || u == "") print "-"; else printf "%.3f", u / 1000 }'; }
# spread [FMT]: whitespace-separated numbers on stdin -> "n min median max"
# (each printed with FMT, default %.0f)
spread() {
    awk -v f="${1:-%.0f}" '{ for (i = 1; i <= NF; i++) if ($i != "-" && $i != "") x[++n] = $i + 0 }
    END { if (n == 0) { print "0 - - -"; exit }
        for (i = 2; i <= n; i++) { v = x[i]; for (j = i - 1; j >= 1 && x[j] > v; j--) x[j + 1] = x[j]; x[j + 1] = v }
        m = (n % 2) ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
        printf "%d " f " " f " " f "\n", n, x[1], m, x[n] }'
}

# One sample, one line: t_ms, the server's counters and gauges, its RSS,
# Redis's counters, used_memory, CPU and RSS, the machine's available memory.
SAMPLE_COLS="t_ms loads evictions misses hits cache_bytes cache_users dirty_users load_errors flush_users flush_batches flush_s alloc_bytes heap_bytes rs_rss_kib r_hgetall r_cmds r_kshits r_ksmisses r_used r_cpu_s r_rss_kib rs_run_ns rs_wait_ns r_wait_ns memavail_kib"
# col_of NAME: its column (1-based) in a sample line
col_of() { local i=0 c; for c in $SAMPLE_COLS; do i=$((i + 1)); [ "$c" = "$1" ] && { echo "$i"; return; }; done; echo 0; }
sample_line() {
    local m r st rw
    m=$({ curl -sf --max-time 2 "http://127.0.0.1:$HTTP_PORT/metrics" 2>/dev/null || true; } | awk '
        BEGIN { n = split("readstates_redis_loads_total readstates_cache_evictions_total readstates_cache_misses_total readstates_cache_hits_total readstates_cache_bytes readstates_cache_users readstates_dirty_users readstates_redis_load_errors_total readstates_flush_users_total readstates_flush_batches_total readstates_flush_duration_seconds_sum readstates_allocator_allocated_bytes readstates_allocator_heap_bytes", k, " ") }
        { v[$1] = $2 }
        END { for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? " " : ""), ((k[i] in v) ? v[k[i]] : "-") }')
    r=$({ redis-cli -h 127.0.0.1 -p "$RS_REDIS_PORT" info stats commandstats memory cpu 2>/dev/null || true; } |
        tr -d '\r' | awk -F: '
        $1 == "cmdstat_hgetall" { split($2, a, ","); sub(/calls=/, "", a[1]); h = a[1] }
        $1 == "total_commands_processed" { c = $2 }
        $1 == "keyspace_hits" { kh = $2 }
        $1 == "keyspace_misses" { km = $2 }
        $1 == "used_memory" { u = $2 }
        $1 == "used_cpu_sys" { cs = $2 }
        $1 == "used_cpu_user" { cu = $2 }
        END { printf "%s %s %s %s %s %s", (h == "" ? 0 : h), (c == "" ? "-" : c), (kh == "" ? "-" : kh),
            (km == "" ? "-" : km), (u == "" ? "-" : u), (cs == "" ? "-" : sprintf("%.3f", cs + cu)) }')
    # the server's time on a CPU and waiting for one (ns, its loop thread)
    # and Redis's main thread waiting for one
    st=$(awk '{ print $1, $2; exit }' "/proc/$RS_SERVER_PID/schedstat" 2>/dev/null || echo "- -")
    rw=$(awk '{ print $2; exit }' "/proc/$RS_REDIS_PID/schedstat" 2>/dev/null || echo "-")
    echo "$(now_ms) $m $(rss_kib "$RS_SERVER_PID") $r $(rss_kib "$RS_REDIS_PID") ${st:-- -} ${rw:--} $(memavail_kib)"
}

# sampler FILE VICTIM FLAG LIMIT_S: a sample a second into FILE while VICTIM
# (a PID) runs, for at most LIMIT_S samples; stops VICTIM when the machine's
# available memory falls under the reserve, and says so in FLAG.
sampler() {
    local file=$1 victim=$2 flag=$3 limit=$4 i line ma
    echo "$SAMPLE_COLS" >"$file"
    for ((i = 0; i < limit; i++)); do
        kill -0 "$victim" 2>/dev/null || break
        line=$(sample_line)
        echo "$line" >>"$file"
        ma=${line##* }
        if [ -n "$ma" ] && [ "$ma" -lt "$reserve_kib" ]; then
            echo "available memory ${ma} KiB < reserve ${reserve_kib} KiB" >"$flag"
            kill -TERM "$victim" 2>/dev/null || true
            return 0
        fi
        sleep 1
    done
}

# dash_series dashboard.json: one line per second of the server's history,
# "unix_s evictions misses hits dirty ack_requests ack_p99_us ack_max_us
# get_p99_us get_max_us ping_max_us".
dash_series() {
    awk '
    function arr(name,   i, j, d, s, c) {
        i = index($0, "\"" name "\":[")
        if (i == 0) return ""
        s = substr($0, i + length(name) + 4); d = 0
        for (j = 1; j <= length(s); j++) {
            c = substr(s, j, 1)
            if (c == "[") d++
            else if (c == "]") { if (d == 0) return substr(s, 1, j - 1); d-- }
        }
        return ""
    }
    function row(key, m,   p) { p = arr(key); gsub(/^\[|\]$/, "", p); split(p, rows, "\\],\\["); return rows[m] }
    {
        nm = split(arr("methods"), names, ",")
        for (i = 1; i <= nm; i++) { g = names[i]; gsub(/"/, "", g); mi[g] = i }
        nt = split(arr("t"), t, ",")
        split(arr("evictions"), ev, ","); split(arr("misses"), mis, ",")
        split(arr("hits"), hit, ","); split(arr("dirty"), dt, ",")
        split(row("requests", mi["Ack"]), arq, ","); split(row("p99", mi["Ack"]), ap99, ",")
        split(row("max", mi["Ack"]), amax, ","); split(row("p99", mi["GetReadStates"]), gp99, ",")
        split(row("max", mi["GetReadStates"]), gmax, ","); split(row("max", mi["Ping"]), pmax, ",")
        for (i = 1; i <= nt; i++)
            printf "%s %s %s %s %s %s %s %s %s %s %s\n", t[i], ev[i] + 0, mis[i] + 0, hit[i] + 0, dt[i] + 0,
                arq[i] + 0, ap99[i] + 0, amax[i] + 0, gp99[i] + 0, gmax[i] + 0, pmax[i] + 0
    }' "$1"
}

RESULTS=$out/results.tsv
: >"$RESULTS"
put() { printf '%s\t%s\n' "$1" "$2" >>"$RESULTS"; }

# ---- 1, 2: the need, the budget and the memory estimate --------------------
# estimate BPS: KiB needed by readstated at its budget and Redis holding all
estimate_kib() {
    awk -v s="$states" -v a="$1" -v f="$fraction" -v b="$redis_bps" 'BEGIN {
        printf "%d", s * a * f * 2 / 1024 + 262144 + s * b * 1.15 / 1024 }'
}
check_memory() { # bps what
    local est avail limit why
    est=$(estimate_kib "$1")
    avail=$(memavail_kib)
    limit=$((avail - reserve_kib))
    [ "$budget_kib" -lt "$limit" ] && limit=$budget_kib
    EST_KIB=$est
    if [ "$est" -gt "$limit" ]; then
        why=$(awk -v e="$est" -v l="$limit" -v bg="$budget_kib" -v a="$avail" -v r="$reserve_kib" \
            -v x="$1" -v y="$redis_bps" -v f="$fraction" -v s="$states" -v w="$2" 'BEGIN {
            printf "estimated %.1f GiB for %d states (readstated: %.1f B/state %s x %.2f x 2 + 0.25 GiB; Redis: %.0f B/state x 1.15) > limit %.1f GiB (budget %.1f GiB, available %.1f GiB - reserve %.1f GiB)",
                e / 1048576, s, x, w, f, y, l / 1048576, bg / 1048576, a / 1048576, r / 1048576 }')
        rs_log "SKIPPED: $why"
        put status skipped
        put note "$why"
        {
            echo "Eviction at scale: $(human "$states") states: skipped."
            echo
            echo "$why"
        } >"$out/table.md"
        cat "$out/table.md"
        exit 0
    fi
}

rs_log "eviction: $(human "$states") states ($users users x $channels channels), --max-memory at $fraction of their need; $rate req/s, Zipf $zipf over all users, ${duration}s after ${warmup}s of warm-up; output in $out"
if [ -n "$bps_given" ]; then
    bps=$bps_given
    bps_how="given (--bytes-per-state)"
    check_memory "$bps" "(given)"
else
    check_memory 48 "(assumed before the sample)"
    mkdir -p "$out/sample"
    rs_start_server_in "$out/sample" --max-memory 0
    rs_log "sample: memory-only readstated pid $RS_SERVER_PID; filling $(human "$sample_states") states ($sample_users users)"
    rc=0
    timeout -k 10 $((sample_states / 100000 + 60)) "$RS_LOADGEN" --target "rs://127.0.0.1:$RS_SERVER_PORT" \
        --fill-users "$sample_users" --fill-channels "$channels" --connections 4 --pipeline 16 \
        --duration $((sample_states / 100000 + 60)) --quiet --json "$out/sample/fill.json" \
        >"$out/sample/fill.txt" 2>&1 || rc=$?
    s_bytes=$(metric "$HTTP_PORT" readstates_cache_bytes)
    s_states=$(metric "$HTTP_PORT" readstates_cache_states)
    rs_stop_pid "$RS_SERVER_PID" 60 || true
    RS_SERVER_PID=""
    if [ "$rc" != 0 ] || [ "$s_states" != "$sample_states" ]; then
        tail -5 "$out/sample/fill.txt" >&2 || true
        rs_die "the sample fill failed (exit $rc, $s_states of $sample_states states in the cache)"
    fi
    bps=$(awk -v b="$s_bytes" -v s="$s_states" 'BEGIN { printf "%.2f", b / s }')
    bps_how="measured: readstates_cache_bytes $s_bytes / $s_states states of a memory-only sample"
    check_memory "$bps" "(measured)"
fi
need_bytes=$(awk -v s="$states" -v b="$bps" 'BEGIN { printf "%.0f", s * b }')
max_memory=$(awk -v n="$need_bytes" -v f="$fraction" 'BEGIN { printf "%.0f", n * f }')
rs_log "need: $states states x $bps B/state ($bps_how) = $(mib "$need_bytes") MiB; --max-memory $max_memory ($(mib "$max_memory") MiB); estimated peak memory $((EST_KIB / 1024)) MiB, available $(($(memavail_kib) / 1024)) MiB"
put states "$states"
put users "$users"
put channels "$channels"
put bytes_per_state "$bps"
put bytes_per_state_how "$bps_how"
put need_bytes "$need_bytes"
put max_memory "$max_memory"
put estimate_kib "$EST_KIB"

# ---- 3: Redis and readstated -------------------------------------------------
rs_start_redis_in "$out" --appendonly no
rs_log "redis-server pid $RS_REDIS_PID on 127.0.0.1:$RS_REDIS_PORT (no AOF, no RDB)"
rs_start_server_in "$out" --redis "127.0.0.1:$RS_REDIS_PORT" --durability write-behind \
    --max-memory "$max_memory" --dirty-budget 1TiB
rs_log "readstated pid $RS_SERVER_PID on 127.0.0.1:$RS_SERVER_PORT (http $HTTP_PORT), write-behind, --max-memory $max_memory"
sleep 0.5
srv_max_bytes=$(metric "$HTTP_PORT" readstates_cache_max_bytes)
[ "$srv_max_bytes" = "$max_memory" ] || rs_log "warning: the server reports readstates_cache_max_bytes $srv_max_bytes, not $max_memory"
rss0=$(rss_kib "$RS_SERVER_PID")
rused0=$(redis_info used_memory)
rrss0=$(rss_kib "$RS_REDIS_PID")

# slow LO HI: the server's slow_request lines (read to reply over
# --slow-request-ms, 100 by default) among lines LO+1..HI of its log: "count
# max_us method_of_max"
log_lines() { wc -l <"$out/readstated.log" 2>/dev/null || echo 0; }
slow() {
    awk -v a="$1" -v b="$2" 'NR > a && NR <= b && /event=slow_request/ {
        n++; l = $0; sub(/.*latency_us=/, "", l); sub(/[^0-9].*/, "", l)
        m = $0; sub(/.*method=/, "", m); sub(/ .*/, "", m)
        if (l + 0 > mx) { mx = l + 0; mm = m } }
        END { printf "%d %s %s\n", n, (n ? mx : "-"), (n ? mm : "-") }' "$out/readstated.log"
}

# ---- 4: the fill, then the drain ----------------------------------------------
log0=$(log_lines)
fill_limit=$((states / 50000 + 60))
rs_log "filling $(human "$states") states (time limit ${fill_limit}s)"
t0=$(now_ms)
timeout -k 10 "$fill_limit" "$RS_LOADGEN" --target "rs://127.0.0.1:$RS_SERVER_PORT" \
    --fill-users "$users" --fill-channels "$channels" --connections 4 --pipeline 16 \
    --duration "$fill_limit" --quiet --json "$out/fill.json" >"$out/fill.txt" 2>&1 &
lg=$!
track "$lg"
sampler "$out/fill-samples.txt" "$lg" "$out/fill-aborted" $((fill_limit + 30)) &
sp=$!
track "$sp"
rc=0
wait "$lg" || rc=$?
untrack "$lg"
t1=$(now_ms)
wait "$sp" 2>/dev/null || true
untrack "$sp"
written=$(lg_field "$out/fill.json" totals.states_written)
if [ -s "$out/fill-aborted" ] || [ "$rc" != 0 ] || [ "$written" != "$states" ]; then
    if [ -s "$out/fill-aborted" ]; then
        note="fill stopped by the memory watchdog: $(cat "$out/fill-aborted")"
    elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        note="fill passed its ${fill_limit}s limit"
    else
        note="fill failed (exit $rc, $written of $states states written)"
    fi
    tail -5 "$out/fill.txt" >&2 || true
    put status failed
    put note "$note"
    rs_die "$note"
fi
fill_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
fill_rate=$(awk -v s="$states" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", s * 1000 / (b - a) }')
fill_ev=$(metric "$HTTP_PORT" readstates_cache_evictions_total)
fill_loads=$(metric "$HTTP_PORT" readstates_redis_loads_total)
fill_peak_bytes=$(awk -v c="$(col_of cache_bytes)" 'NR > 1 && $c != "-" && $c > m { m = $c } END { printf "%d", m }' "$out/fill-samples.txt")
fill_peak_rss=$(awk -v c="$(col_of rs_rss_kib)" 'NR > 1 && $c > m { m = $c } END { printf "%d", m }' "$out/fill-samples.txt")
rs_log "filled in ${fill_s}s ($fill_rate states/s): $fill_ev evictions, $fill_loads loads; accounted bytes at most $(mib "$fill_peak_bytes") MiB of $(mib "$max_memory")"

dlimit=$((states / 50000 + 60))
td=$(now_ms)
dirty=-
for ((d = 0; d < dlimit * 2; d++)); do
    dirty=$(metric "$HTTP_PORT" readstates_dirty_users)
    [ "$dirty" = 0 ] && break
    sleep 0.5
done
drain_s=$(awk -v a="$td" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
[ "$dirty" = 0 ] || rs_die "the flush did not drain within ${dlimit}s ($dirty users dirty)"
keys=$(redis_cli dbsize)
rs_log "flushed to Redis ${drain_s}s after the fill; Redis holds $keys keys for $users users"
[ "$keys" = "$users" ] || rs_log "warning: Redis holds $keys keys, not $users"
sleep 1
rss1=$(rss_kib "$RS_SERVER_PID")
rused1=$(redis_info used_memory)
rrss1=$(rss_kib "$RS_REDIS_PID")
redis_bps_used=$(awk -v a="$rused0" -v b="$rused1" -v s="$states" 'BEGIN { printf "%.1f", (b - a) / s }')
redis_bps_rss=$(awk -v a="$rrss0" -v b="$rrss1" -v s="$states" 'BEGIN { printf "%.1f", (b - a) * 1024 / s }')
filled_bytes=$(metric "$HTTP_PORT" readstates_cache_bytes)
filled_users=$(metric "$HTTP_PORT" readstates_cache_users)
put fill_s "$fill_s"
put fill_rate "$fill_rate"
put fill_evictions "$fill_ev"
put fill_loads "$fill_loads"
put fill_peak_cache_bytes "$fill_peak_bytes"
put fill_peak_rss_kib "$fill_peak_rss"
put drain_s "$drain_s"
put redis_keys "$keys"
put redis_bps_used "$redis_bps_used"
put redis_bps_rss "$redis_bps_rss"
put rss_start_kib "$rss0"
put rss_filled_kib "$rss1"
put filled_cache_bytes "$filled_bytes"
put filled_cache_users "$filled_users"

# ---- 5: the measured phase ----------------------------------------------------
log1=$(log_lines)
curl -sf --max-time 10 "http://127.0.0.1:$HTTP_PORT/metrics" >"$out/metrics-before.prom" || true
load1=$(cut -d' ' -f1 /proc/loadavg)
ticks0=$(cpu_ticks)
cpu0=$(rs_cpu_s "$RS_SERVER_PID")
rcpu0=$(rs_cpu_s "$RS_REDIS_PID")
w0=$(now_ms)
rs_log "fixed rate: $rate req/s for ${duration}s (+${warmup}s warm-up), Zipf $zipf over $users users; Ping probe ${probe_rate}/s; load average $load1"
plimit=$((duration + warmup + 60))
pr=""
if [ "$probe_rate" -gt 0 ]; then
    timeout -k 10 "$plimit" "$RS_LOADGEN" --target "rs://127.0.0.1:$RS_SERVER_PORT" \
        --rate "$probe_rate" --duration "$duration" --warmup "$warmup" --ping 100 \
        --connections 1 --pipeline 8 --label "Ping probe" \
        --json "$out/probe.json" --csv "$out/probe.csv" --quiet >"$out/probe.txt" 2>&1 &
    pr=$!
    track "$pr"
fi
timeout -k 10 "$plimit" "$RS_LOADGEN" --target "rs://127.0.0.1:$RS_SERVER_PORT" \
    --rate "$rate" --duration "$duration" --warmup "$warmup" --users "$users" \
    --channels-per-user "$channels" --zipf "$zipf" --connections 16 --pipeline 8 \
    --server-pid "$RS_SERVER_PID" --hiccups --label "eviction $(human "$states")" \
    --json "$out/run.json" --csv "$out/run.csv" --html "$out/run.html" --quiet \
    >"$out/run.txt" 2>&1 &
lg=$!
track "$lg"
sampler "$out/phase-samples.txt" "$lg" "$out/phase-aborted" $((plimit + 5)) &
sp=$!
track "$sp"
rc=0
wait "$lg" || rc=$?
untrack "$lg"
prc=0
if [ -n "$pr" ]; then
    wait "$pr" || prc=$?
    untrack "$pr"
fi
w1=$(now_ms)
ticks1=$(cpu_ticks)
cpu1=$(rs_cpu_s "$RS_SERVER_PID")
rcpu1=$(rs_cpu_s "$RS_REDIS_PID")
wait "$sp" 2>/dev/null || true
untrack "$sp"
curl -sf --max-time 10 "http://127.0.0.1:$HTTP_PORT/metrics" >"$out/metrics-after.prom" || true
curl -sf --max-time 10 "http://127.0.0.1:$HTTP_PORT/dashboard.json" >"$out/dashboard.json" || true
rss2=$(rss_kib "$RS_SERVER_PID")
log2=$(log_lines)
read -r slow_fill_n slow_fill_max slow_fill_m < <(slow "$log0" "$log1") || true
read -r slow_phase_n slow_phase_max slow_phase_m < <(slow "$log1" "$log2") || true
rused2=$(redis_info used_memory)
rrss2=$(rss_kib "$RS_REDIS_PID")
[ -s "$out/phase-aborted" ] && rs_die "the phase was stopped by the memory watchdog: $(cat "$out/phase-aborted")"
if [ "$rc" != 0 ]; then
    tail -5 "$out/run.txt" >&2 || true
    put status failed
    put note "fixed-rate run failed (exit $rc)"
    rs_die "the fixed-rate run failed (exit $rc)"
fi
[ "$prc" = 0 ] || rs_log "warning: the Ping probe exited $prc (its figures are left out)"
put status ok

# ---- the figures ---------------------------------------------------------------
J=$out/run.json
throughput=$(awk -v x="$(lg_field "$J" totals.throughput_rps)" 'BEGIN { printf "%.0f", x }')
answered=$(lg_field "$J" totals.answered)
errors=$(lg_field "$J" totals.errors)
unanswered=$(lg_field "$J" totals.unanswered)
p50_ms=$(us_ms "$(lg_field "$J" latency.all.p50_us)")
p99_ms=$(us_ms "$(lg_field "$J" latency.all.p99_us)")
p999_ms=$(us_ms "$(lg_field "$J" latency.all.p999_us)")
max_ms=$(us_ms "$(lg_field "$J" latency.all.max_us)")
hic_p99_ms=$(us_ms "$(lg_field "$J" hiccups.p99_us)")
hic_p999_ms=$(us_ms "$(lg_field "$J" hiccups.p999_us)")
hic_max_ms=$(us_ms "$(lg_field "$J" hiccups.max_us)")
srv_us_req=$(awk -v x="$(lg_field "$J" cpu.server_us_per_req)" 'BEGIN { if (x == "-") print "-"; else printf "%.2f", x }')
meas=$(lg_field "$J" measured_start_unix_ms)
case "$meas" in '' | - | null) meas=$((w0 + warmup * 1000)) ;; esac
meas_end=$((meas + duration * 1000))

# per-second rows of the mix (the measured seconds only: t < duration)
read -r _ ps_p99_min ps_p99_med ps_p99_max < <(awk -F, -v d="$duration" 'NR > 1 && $1 < d && $3 > 0 { printf "%s ", $6 / 1000 }' "$out/run.csv" | spread %.3f) || true
read -r ps_n ps_max_min ps_max_med ps_max_max < <(awk -F, -v d="$duration" 'NR > 1 && $1 < d && $3 > 0 { printf "%s ", $8 / 1000 }' "$out/run.csv" | spread %.3f) || true
read -r _ ps_hic_min ps_hic_med ps_hic_max < <(awk -F, -v d="$duration" 'NR > 1 && $1 < d && $3 > 0 && $NF != "" { printf "%s ", $NF / 1000 }' "$out/run.csv" | spread %.3f) || true
ps_tput_min=$(awk -F, -v d="$duration" 'NR > 1 && $1 < d { if (m == "" || $3 < m) m = $3 } END { print (m == "" ? "-" : m) }' "$out/run.csv")

# the probe
probe_p99_ms=- probe_p999_ms=- probe_max_ms=- pb_max_min=- pb_max_med=- pb_max_max=- probe_answered=-
if [ -n "$pr" ] && [ "$prc" = 0 ] && [ -s "$out/probe.json" ]; then
    probe_p99_ms=$(us_ms "$(lg_field "$out/probe.json" latency.all.p99_us)")
    probe_p999_ms=$(us_ms "$(lg_field "$out/probe.json" latency.all.p999_us)")
    probe_max_ms=$(us_ms "$(lg_field "$out/probe.json" latency.all.max_us)")
    probe_answered=$(lg_field "$out/probe.json" totals.answered)
    read -r _ pb_max_min pb_max_med pb_max_max < <(awk -F, -v d="$duration" 'NR > 1 && $1 < d && $3 > 0 { printf "%s ", $8 / 1000 }' "$out/probe.csv" | spread %.3f) || true
fi

# the server's seconds: the ones inside the measured window (the tick that
# ends a second is stamped with it; the seconds that may straddle the start
# or the end are left out, as in bench-capacity.sh)
dash_series "$out/dashboard.json" >"$out/server-seconds.txt" 2>/dev/null || : >"$out/server-seconds.txt"
first_s=$((meas / 1000 + 2))
last_s=$((meas_end / 1000 - 1))
inwin() { awk -v a="$first_s" -v b="$last_s" -v c="$1" '$1 >= a && $1 <= b { printf "%s ", $c }' "$out/server-seconds.txt"; }
read -r srv_n ev_min ev_med ev_max < <(inwin 2 | spread) || true
read -r _ mis_min mis_med mis_max < <(inwin 3 | spread) || true
read -r _ dirty_min dirty_med dirty_max < <(inwin 5 | spread) || true
read -r _ sack_p99_min sack_p99_med sack_p99_max < <(awk -v a="$first_s" -v b="$last_s" '$1 >= a && $1 <= b && $6 > 0 { printf "%s ", $7 }' "$out/server-seconds.txt" | spread) || true
read -r _ sack_max_min sack_max_med sack_max_max < <(awk -v a="$first_s" -v b="$last_s" '$1 >= a && $1 <= b && $6 > 0 { printf "%s ", $8 }' "$out/server-seconds.txt" | spread) || true
ev_zero=$(awk -v a="$first_s" -v b="$last_s" '$1 >= a && $1 <= b && $2 == 0 { n++ } END { print n + 0 }' "$out/server-seconds.txt")
mis_zero=$(awk -v a="$first_s" -v b="$last_s" '$1 >= a && $1 <= b && $3 == 0 { n++ } END { print n + 0 }' "$out/server-seconds.txt")
# the first and the last five of those seconds: how the miss rate settled
mis_first5=$(awk -v a="$first_s" -v b="$last_s" '$1 >= a && $1 <= b { x[++n] = $3 } END { for (i = 1; i <= 5 && i <= n; i++) printf "%s%s", (i > 1 ? " " : ""), x[i] }' "$out/server-seconds.txt")
mis_last5=$(awk -v a="$first_s" -v b="$last_s" '$1 >= a && $1 <= b { x[++n] = $3 } END { for (i = (n > 5 ? n - 4 : 1); i <= n; i++) s = s (s == "" ? "" : " ") x[i]; print s }' "$out/server-seconds.txt")

# the sampler's seconds (counter deltas between consecutive samples inside
# the measured window, per second of their real interval)
awk -v a="$meas" -v b="$meas_end" 'NR > 1 && $1 >= a && $1 <= b' "$out/phase-samples.txt" >"$RS_TMP/win.txt"
nwin=$(wc -l <"$RS_TMP/win.txt")
[ "$nwin" -ge 2 ] || rs_die "the sampler has $nwin sample(s) inside the measured window (need 2)"
rates() { # column: per-second rates between consecutive samples
    awk -v c="$1" '{ if (n++ && $c != "-" && p != "-") printf "%.1f ", ($c - p) * 1000 / ($1 - t); p = $c; t = $1 }' "$RS_TMP/win.txt"
}
total_rate() { # column: (last - first) / seconds between them
    awk -v c="$1" 'NR == 1 { t0 = $1; v0 = $c } { t1 = $1; v1 = $c }
        END { if (v0 == "-" || v1 == "-" || t1 <= t0) print "-"; else printf "%.0f", (v1 - v0) * 1000 / (t1 - t0) }' "$RS_TMP/win.txt"
}
ev_rate=$(total_rate "$(col_of evictions)")
loads_rate=$(total_rate "$(col_of loads)")
mis_rate=$(total_rate "$(col_of misses)")
hits_rate=$(total_rate "$(col_of hits)")
r_hgetall_rate=$(total_rate "$(col_of r_hgetall)")
r_cmds_rate=$(total_rate "$(col_of r_cmds)")
r_kshits_rate=$(total_rate "$(col_of r_kshits)")
load_err=$(awk -v c="$(col_of load_errors)" 'NR == 1 { a = $c } { b = $c } END { print (a == "-" || b == "-") ? "-" : b - a }' "$RS_TMP/win.txt")
# the flushes: users and batches per second, a batch's mean round trip (sent
# to acknowledged; a load sent behind them waits in the same Redis queue)
flush_users_rate=$(total_rate "$(col_of flush_users)")
flush_batches_rate=$(total_rate "$(col_of flush_batches)")
flush_rt_ms=$(awk -v b="$(col_of flush_batches)" -v d="$(col_of flush_s)" 'NR == 1 { b0 = $b; d0 = $d } { b1 = $b; d1 = $d }
    END { if (b0 == "-" || d0 == "-" || b1 <= b0) print "-"; else printf "%.2f", (d1 - d0) * 1000 / (b1 - b0) }' "$RS_TMP/win.txt")
# RSS and the allocator over the measured window: first and last sample
read -r rss_w0 rss_w1 alloc_w0 alloc_w1 heap_w0 heap_w1 rss_slope < <(awk -v r="$(col_of rs_rss_kib)" \
    -v a="$(col_of alloc_bytes)" -v h="$(col_of heap_bytes)" 'NR == 1 { t0 = $1; r0 = $r; a0 = $a; h0 = $h } { t1 = $1; r1 = $r; a1 = $a; h1 = $h }
    END { printf "%d %d %s %s %s %s %.2f\n", r0, r1, a0, a1, h0, h1, (t1 > t0 ? (r1 - r0) / 1024 * 1000 / (t1 - t0) : 0) }' "$RS_TMP/win.txt") || true
r_cores=$(awk -v c="$(col_of r_cpu_s)" 'NR == 1 { t0 = $1; v0 = $c } { t1 = $1; v1 = $c }
    END { if (v0 == "-" || t1 <= t0) print "-"; else printf "%.2f", (v1 - v0) * 1000 / (t1 - t0) }' "$RS_TMP/win.txt")
read -r _ rl_min rl_med rl_max < <(rates "$(col_of loads)" | spread) || true
read -r _ rh_min rh_med rh_max < <(rates "$(col_of r_hgetall)" | spread) || true
rh_zero=$(rates "$(col_of r_hgetall)" | awk '{ for (i = 1; i <= NF; i++) if ($i + 0 == 0) n++ } END { print n + 0 }')
waits() { # column of a cumulative wait in ns: ms waited per second, per interval
    awk -v r="$1" '{ if (n++ && $r != "-" && p != "-") printf "%.2f ", ($r - p) / 1e6 * 1000 / ($1 - t); p = $r; t = $1 }' "$RS_TMP/win.txt"
}
read -r _ rq_min rq_med rq_max < <(waits "$(col_of rs_wait_ns)" | spread %.1f) || true
read -r _ rrq_min rrq_med rrq_max < <(waits "$(col_of r_wait_ns)" | spread %.1f) || true
hit_ratio=$(awk -v h="$hits_rate" -v m="$mis_rate" 'BEGIN { if (h == "-" || m == "-" || h + m == 0) print "-"; else printf "%.4f", h / (h + m) }')
# memory over the phase (all samples, warm-up included)
phase_peak_bytes=$(awk -v c="$(col_of cache_bytes)" 'NR > 1 && $c != "-" && $c > m { m = $c } END { printf "%d", m }' "$out/phase-samples.txt")
phase_peak_rss=$(awk -v c="$(col_of rs_rss_kib)" 'NR > 1 && $c > m { m = $c } END { printf "%d", m }' "$out/phase-samples.txt")
end_bytes=$(awk '$1 == "readstates_cache_bytes" { print $2 }' "$out/metrics-after.prom")
end_users=$(awk '$1 == "readstates_cache_users" { print $2 }' "$out/metrics-after.prom")
end_states=$(awk '$1 == "readstates_cache_states" { print $2 }' "$out/metrics-after.prom")
steal_pct=$(echo "$ticks0 $ticks1" | awk '{ d = $6 - $3; printf "%.1f", (d > 0 ? 100 * ($4 - $1) / d : 0) }')
lg_s=$(lg_field "$J" cpu.loadgen_s)
hm_s=$(lg_field "$J" cpu.hiccup_meter_s)
pl_s=0
[ -n "$pr" ] && [ "$prc" = 0 ] && pl_s=$(lg_field "$out/probe.json" cpu.loadgen_s)
others_cores=$(echo "$ticks0 $ticks1" | awk -v tck="$(getconf CLK_TCK)" -v s0="$cpu0" -v s1="$cpu1" \
    -v r0="$rcpu0" -v r1="$rcpu1" -v l="$lg_s" -v h="$hm_s" -v p="$pl_s" -v w0="$w0" -v w1="$w1" '{
    busy = ($5 - $2) / tck; ours = (s1 - s0) + (r1 - r0) + (l == "-" ? 0 : l) + (h == "-" ? 0 : h) + (p == "-" ? 0 : p)
    o = (busy - ours) / ((w1 - w0) / 1000); printf "%.2f", (o < 0 ? 0 : o) }')
srv_cores=$(awk -v a="$cpu0" -v b="$cpu1" -v w0="$w0" -v w1="$w1" 'BEGIN { printf "%.2f", (b - a) * 1000 / (w1 - w0) }')

for k in throughput answered errors unanswered p50_ms p99_ms p999_ms max_ms ps_p99_min ps_p99_med \
    ps_p99_max ps_n ps_max_min ps_max_med ps_max_max ps_hic_min ps_hic_med ps_hic_max ps_tput_min \
    probe_answered probe_p99_ms probe_p999_ms probe_max_ms pb_max_min pb_max_med pb_max_max srv_n \
    ev_min ev_med ev_max ev_zero mis_min mis_med mis_max mis_zero dirty_min dirty_med dirty_max \
    sack_p99_min sack_p99_med sack_p99_max sack_max_min sack_max_med sack_max_max ev_rate loads_rate \
    mis_rate hits_rate hit_ratio rl_min rl_med rl_max r_hgetall_rate rh_min rh_med rh_max rh_zero \
    r_cmds_rate r_kshits_rate r_cores load_err flush_users_rate flush_batches_rate flush_rt_ms \
    rss_w0 rss_w1 alloc_w0 alloc_w1 heap_w0 heap_w1 rss_slope slow_fill_n slow_fill_max slow_fill_m slow_phase_n slow_phase_max slow_phase_m rq_min rq_med rq_max rrq_min rrq_med rrq_max phase_peak_bytes phase_peak_rss end_bytes end_users \
    end_states rss2 rused2 rrss2 steal_pct others_cores srv_cores srv_us_req load1 hic_p99_ms \
    hic_p999_ms hic_max_ms; do
    put "$k" "${!k:--}"
done

# ---- per-second.tsv: the mix's, the probe's and the server's seconds side
# by side (the server's second is the tick that ended about then, +-1 s) ----
{
    printf 't\tanswered\tp99_ms\tmax_ms\thiccup_max_ms\tprobe_max_ms\tserver_unix_s\tevictions\tmisses\tdirty_users\tserver_ack_p99_us\tserver_ack_max_us\tserver_cpu_ms\tserver_runqueue_wait_ms\tredis_hgetall\n'
    awk -F, -v d="$duration" -v s0="$((meas / 1000))" -v pf="$out/probe.csv" -v sf="$out/server-seconds.txt" \
        -v qf="$out/phase-samples.txt" -v meas="$meas" -v cr="$(col_of rs_run_ns)" -v cw="$(col_of rs_wait_ns)" \
        -v ch="$(col_of r_hgetall)" '
    BEGIN {
        # each sampler interval goes to the second its middle falls in
        getline l < qf
        while ((getline l < qf) > 0) {
            split(l, a, " ")
            if (n++ && a[cr] != "-" && pr != "-") {
                i = int(((a[1] + pt) / 2 - meas) / 1000)
                if ((a[1] + pt) / 2 >= meas) {
                    dt = (a[1] - pt) / 1000
                    run[i] = sprintf("%.1f", (a[cr] - pr) / 1e6 / dt); wt[i] = sprintf("%.1f", (a[cw] - pw) / 1e6 / dt)
                    hg[i] = sprintf("%.0f", (a[ch] - ph) / dt)
                }
            }
            pt = a[1]; pr = a[cr]; pw = a[cw]; ph = a[ch]
        }
        while ((getline l < pf) > 0) { split(l, a, ","); if (a[1] ~ /^[0-9]+$/) pm[a[1]] = a[8] / 1000 }
        while ((getline l < sf) > 0) { split(l, a, " "); ev[a[1]] = a[2]; mi[a[1]] = a[3]; dtu[a[1]] = a[5]; ap[a[1]] = a[7]; am[a[1]] = a[8] }
    }
    NR > 1 && $1 < d {
        u = s0 + $1 + 1
        printf "%s\t%s\t%.3f\t%.3f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", $1, $3, $6 / 1000, $8 / 1000,
            ($NF == "" ? "-" : sprintf("%.3f", $NF / 1000)), (($1 in pm) ? sprintf("%.3f", pm[$1]) : "-"), u,
            ((u in ev) ? ev[u] : "-"), ((u in mi) ? mi[u] : "-"), ((u in dtu) ? dtu[u] : "-"),
            ((u in ap) ? ap[u] : "-"), ((u in am) ? am[u] : "-"), (($1 in run) ? run[$1] : "-"),
            (($1 in wt) ? wt[$1] : "-"), (($1 in hg) ? hg[$1] : "-")
    }' "$out/run.csv"
} >"$out/per-second.tsv"

# ---- the table ---------------------------------------------------------------------
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || a == "" || b + 0 == 0) print "-"; else printf "%.1f%%", 100 * a / b }'; }
{
    echo "Eviction at scale: $(human "$states") read states ($users users x $channels channels, snowflake-style ids) in a private redis-server, readstated in write-behind with --max-memory at $fraction of their need; then $rate req/s (90% Ack, 10% GetReadStates, Zipf $zipf over all $users users, 16 connections x pipeline 8) for ${duration}s after ${warmup}s of warm-up, open loop; latency in ms from the schedule."
    echo "Machine: $(nproc) CPUs, $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -r), Redis $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'); commit $(git -C "$RS_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown); $(date -u +%Y-%m-%dT%H:%MZ); build $(basename "$RS_BUILD")."
    echo
    echo "| what | measured |"
    echo "|---|---|"
    echo "| need and budget | $states states x $bps accounted B/state ($bps_how) = $(mib "$need_bytes") MiB; --max-memory $max_memory B ($(mib "$max_memory") MiB) |"
    echo "| fill | ${fill_s} s, $fill_rate states/s; during it $fill_loads loads (every user, new to the cache, is looked up in Redis first) and $fill_ev evictions; accounted bytes at most $(mib "$fill_peak_bytes") MiB ($(pct "$fill_peak_bytes" "$max_memory") of the budget), RSS at most $(awk -v k="$fill_peak_rss" 'BEGIN { printf "%.1f", k / 1024 }') MiB |"
    echo "| drain (dirty users to 0) | ${drain_s} s after the fill; Redis keys $keys (users $users) |"
    echo "| Redis memory | used_memory $redis_bps_used B/state, RSS $redis_bps_rss B/state (growth over the fill); at the end used_memory $(mib "$rused2") MiB, RSS $(awk -v k="$rrss2" 'BEGIN { printf "%.1f", k / 1024 }') MiB |"
    echo "| readstated memory | accounted bytes: at most $(mib "$phase_peak_bytes") MiB in the phase ($(pct "$phase_peak_bytes" "$max_memory") of the budget), $(mib "$end_bytes") MiB at its end for $end_users users / $end_states states; RSS $(awk -v k="$rss1" 'BEGIN { printf "%.1f", k / 1024 }') MiB after the fill, at most $(awk -v k="$phase_peak_rss" 'BEGIN { printf "%.1f", k / 1024 }') MiB in the phase, $(awk -v k="$rss2" 'BEGIN { printf "%.1f", k / 1024 }') MiB at its end ($(awk -v k="$rss2" -v b="$max_memory" 'BEGIN { printf "%.2f", k * 1024 / b }') x the budget; $(awk -v k="$rss0" 'BEGIN { printf "%.1f", k / 1024 }') MiB at start) |"
    echo "| throughput | $throughput answered/s ($answered answered, $errors errors, $unanswered unanswered); lowest second $ps_tput_min |"
    echo "| latency p50 / p99 / p99.9 / max | $p50_ms / $p99_ms / $p999_ms / $max_ms |"
    echo "| per-second p99, lowest / median / highest | $ps_p99_min / $ps_p99_med / $ps_p99_max (over $ps_n s) |"
    echo "| **per-second max**, lowest / median / highest | **$ps_max_min / $ps_max_med / $ps_max_max** |"
    echo "| Ping probe ($probe_rate/s, 1 connection): p99 / p99.9 / max; per-second max lowest / median / highest | $probe_p99_ms / $probe_p999_ms / $probe_max_ms; $pb_max_min / $pb_max_med / $pb_max_max ($probe_answered answered) |"
    echo "| load generator's hiccups (1 ms sleeps): p99 / p99.9 / max; per-second max lowest / median / highest | $hic_p99_ms / $hic_p999_ms / $hic_max_ms; $ps_hic_min / $ps_hic_med / $ps_hic_max |"
    echo "| server per-second Ack p99, lowest / median / highest (µs, read to reply) | $sack_p99_min / $sack_p99_med / $sack_p99_max (over $srv_n s) |"
    echo "| server per-second Ack max, lowest / median / highest (µs) | $sack_max_min / $sack_max_med / $sack_max_max |"
    echo "| evictions/s: phase; per second lowest / median / highest; seconds with none | $ev_rate; $ev_min / $ev_med / $ev_max; $ev_zero of $srv_n |"
    echo "| cache misses/s: phase; per second lowest / median / highest; seconds with none | $mis_rate; $mis_min / $mis_med / $mis_max; $mis_zero of $srv_n (first 5 s: $mis_first5; last 5 s: $mis_last5) |"
    echo "| hit ratio | $hit_ratio |"
    echo "| readstated loads/s (readstates_redis_loads_total): phase; per second lowest / median / highest; load errors | $loads_rate; $rl_min / $rl_med / $rl_max; $load_err |"
    echo "| Redis HGETALL/s (INFO commandstats): phase; per second lowest / median / highest; seconds with none | $r_hgetall_rate; $rh_min / $rh_med / $rh_max; $rh_zero of $((nwin - 1)) |"
    echo "| Redis commands/s, keyspace hits/s, CPU (cores) | $r_cmds_rate, $r_kshits_rate, $r_cores |"
    echo "| dirty users per second, lowest / median / highest | $dirty_min / $dirty_med / $dirty_max |"
    echo "| flushes: users/s, batches/s, a batch's mean round trip (ms, sent to acknowledged) | $flush_users_rate, $flush_batches_rate, $flush_rt_ms |"
    echo "| over the measured seconds: RSS, allocator's allocated / heap (MiB) | RSS $(awk -v a="$rss_w0" -v b="$rss_w1" 'BEGIN { printf "%.1f -> %.1f", a / 1024, b / 1024 }') ($rss_slope MiB/s); allocated $(mib "$alloc_w0") -> $(mib "$alloc_w1"), heap $(mib "$heap_w0") -> $(mib "$heap_w1") |"
    echo "| requests over 100 ms read to reply (the server's slow_request log): fill; phase with its warm-up | $slow_fill_n (slowest $slow_fill_max µs, $slow_fill_m); $slow_phase_n (slowest $slow_phase_max µs, $slow_phase_m) |"
    echo "| server CPU | $srv_us_req µs/request, $srv_cores cores |"
    echo "| waiting for a CPU (ms per second, /proc/PID/schedstat), lowest / median / highest: the server's loop thread; Redis's | $rq_min / $rq_med / $rq_max; $rrq_min / $rrq_med / $rrq_max |"
    echo "| steal, other processes, load average before | $steal_pct%, $others_cores cores, $load1 |"
    echo
    echo "The five seconds with the highest max (the mix's second t from the measured start; the server's figures are of the second its tick ended about then, +-1 s):"
    echo
    echo "| t | max | p99 | Ping probe max | hiccup max | server Ack max µs | evictions | misses | dirty users | server CPU / run-queue wait (ms) |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    awk -F'\t' 'NR > 1' "$out/per-second.tsv" | sort -t$'\t' -k4,4 -g -r | head -5 |
        awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |\n", $1, $4, $3, $6, $5, $12, $8, $9, $10, $13, $14 }'
    if [ -n "$pr" ] && [ "$prc" = 0 ]; then
        echo
        echo "The five seconds with the highest Ping probe max (a stall of the server's loop would show here first):"
        echo
        echo "| t | Ping probe max | hiccup max | mix max | server Ack max µs | evictions | misses | dirty users | server CPU / run-queue wait (ms) |"
        echo "|---|---|---|---|---|---|---|---|---|"
        awk -F'\t' 'NR > 1 && $6 != "-"' "$out/per-second.tsv" | sort -t$'\t' -k6,6 -g -r | head -5 |
            awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |\n", $1, $6, $5, $4, $12, $8, $9, $10, $13, $14 }'
    fi
} >"$out/table.md"

# ---- stop (readstated first: it flushes the phase's acks) ---------------------
rs_stop_pid "$RS_SERVER_PID" 120 || true
RS_SERVER_PID=""
rs_stop_pid "$RS_REDIS_PID" 30 || true
RS_REDIS_PID=""

cat "$out/table.md"
rs_log "table: $out/table.md; per second: $out/per-second.tsv; all: $out/"
if [ "$ev_zero" != 0 ] || [ "$rh_zero" != 0 ]; then
    rs_log "note: $ev_zero measured second(s) without an eviction, $rh_zero sampler interval(s) without a Redis load"
fi
