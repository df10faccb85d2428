#!/usr/bin/env bash
# shellcheck disable=SC2034 # the per-size columns are read indirectly by row()
# bench-capacity.sh: how readstated behaves as its cache grows. One fresh
# readstated per size, filled to N read states (users x 20 channels,
# snowflake-style ids), then the same fixed-rate mix for the same time; the
# sizes side by side in one Markdown table and one chart.
#
#   loadgen/bench-capacity.sh [--sizes "1000000 10000000 50000000 100000000"]
#       [--mode memory|redis|both] [--duration S] [--rate R] [--quick]
#       [--budget-gib G] [--reserve-gib G] [--channels C] [--warmup S]
#       [--perf] [--out DIR] [--no-build]
#
#   --mode memory   readstated alone (--max-memory 0: nothing is evicted)
#   --mode redis    readstated in write-behind into a private redis-server
#                   (127.0.0.1, a free port, no AOF and no RDB snapshots:
#                   this measures memory and the loop, not Redis's disk)
#   --mode both     memory, then redis (default: memory)
#   --duration S    fixed-rate phase per size (default 30; 10 with --quick)
#   --rate R        requests/s of that phase, open loop (default 20000)
#   --quick         sizes 1M and 10M only, 10 s phases
#   --budget-gib G  skip a size whose estimated memory (readstated, plus
#                   Redis in redis mode) passes G GiB (default 20) or what
#                   the machine has available minus --reserve-gib (default
#                   1.5); the estimate uses the bytes per state measured at
#                   the smaller sizes of the same run (48 B for readstated
#                   and 100 B for Redis before any is measured)
#   --perf          perf record -g on readstated for up to 10 s in the
#                   middle of each fixed-rate phase (<mode>-<states>/perf.txt
#                   and perf-flat.txt, reported after the phase so perf
#                   report takes no CPU from it); if perf cannot attach, 5
#                   gdb backtraces (each stops the server for a moment)
#   --no-build      use the programs already in $RS_BUILD (default
#                   build-release; any build with tcmalloc will do)
#
# Per size: readstated starts empty (--max-memory 0, --http on a free
# port), its RSS is read (/proc/PID/status VmRSS), `readstate-loadgen
# --fill-users U --fill-channels C` writes U*C states (pipelined bulk
# acks, 4 connections x 16), RSS is read again: growth / states = bytes
# per state; fill time and rate from the wall clock around the fill. In
# redis mode the script then waits until readstated reports no dirty user
# (the drain), and reads Redis's used_memory and RSS growth. Then
# `readstate-loadgen --rate R` runs the default mix (90% Ack, 10%
# GetReadStates of one channel, Zipf 0.99 over the U filled users, 16
# connections x pipeline 8, 5 s warm-up, --hiccups) and the script keeps:
# p50/p99/p99.9/max of the whole phase, the spread of the per-second p99s
# (min/median/max) and the largest per-second max, the server's own
# read-to-reply p99 (from the readstates_request_duration_seconds bucket
# deltas over the phase, Ack and GetReadStates, interpolated in the bucket
# like histogram_quantile, so coarse; and the median and highest of its
# exact per-second Ack p99 from /dashboard.json), the largest server-side
# BulkAck read-to-reply of any second of the fill (a stall inside a request,
# e.g. a hash table doubling, shows there), the hypervisor's steal, the
# CPU used by other processes on the machine, the load average, and the
# load generator's hiccups. A watchdog samples memory every second during
# the fill and stops it if the machine's available memory falls under
# --reserve-gib. Every phase has a time limit; everything started is
# stopped by PID on exit.
#
# Output in out/capacity/ (or --out): table.md, results.tsv, report.html
# (a run of one mode keeps the other mode's rows already in results.tsv)
# (the table, the chart of latency against size, bytes per state and fill
# rate, and each size's per-second p99 and max), and per size
# <mode>-<states>/ with the load generator's JSON/CSV/HTML, the server's
# log and the fill's memory samples.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"

sizes="1000000 10000000 50000000 100000000"
sizes_given=0
mode=memory
duration=""
rate=20000
quick=0
budget_gib=20
reserve_gib=1.5
channels=20
warmup=5
perf=0
out=$RS_ROOT/out/capacity
build_arg=""
while [ $# -gt 0 ]; do
    case "$1" in
    --sizes) sizes=$2; sizes_given=1; shift 2 ;;
    --mode) mode=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --budget-gib) budget_gib=$2; shift 2 ;;
    --reserve-gib) reserve_gib=$2; shift 2 ;;
    --channels) channels=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --perf) perf=1; shift ;;
    --out) out=$2; shift 2 ;;
    --no-build) build_arg=--no-build; shift ;;
    -h | --help) sed -n '3,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) rs_die "unknown argument $1 (see --help)" ;;
    esac
done
if [ "$quick" = 1 ]; then
    [ "$sizes_given" = 1 ] || sizes="1000000 10000000"
    duration=${duration:-10}
fi
duration=${duration:-30}
case "$mode" in memory) modes=memory ;; redis) modes=redis ;; both) modes="memory redis" ;;
*) rs_die "--mode must be memory, redis or both" ;; esac
for v in "$duration" "$channels" "$warmup" $sizes; do
    case "$v" in '' | *[!0-9]*) rs_die "not a whole number: '$v'" ;; esac
done
case "$rate" in '' | *[!0-9.]*) rs_die "--rate must be a number" ;; esac
[ "$channels" -ge 1 ] && [ "$channels" -le 1000 ] || rs_die "--channels must be 1..1000"
sizes=$(printf '%s\n' $sizes | sort -n -u | tr '\n' ' ')
budget_kib=$(awk -v g="$budget_gib" 'BEGIN { printf "%d", g * 1048576 }')
reserve_kib=$(awk -v g="$reserve_gib" 'BEGIN { printf "%d", g * 1048576 }')

rs_build $build_arg
command -v curl >/dev/null 2>&1 || rs_die "curl is needed (the server's /metrics)"
if [[ " $modes " == *" redis "* ]]; then
    command -v redis-server >/dev/null 2>&1 || rs_die "redis-server is not installed"
    command -v redis-cli >/dev/null 2>&1 || rs_die "redis-cli is not installed"
fi
rs_tmp
mkdir -p "$out"
out=$(cd "$out" && pwd)

# ---- processes: readstated and redis-server are bench-lib's (stopped by
# rs_cleanup); the fill, the watchdog and perf are tracked here. ----------
EXTRA_PIDS=""
track() { EXTRA_PIDS="$EXTRA_PIDS $1"; }
untrack() {
    local p n=""
    for p in $EXTRA_PIDS; do [ "$p" = "$1" ] || n="$n $p"; done
    EXTRA_PIDS=$n
}
# rs_stop_pid's own `wait` returns the stopped process's status, and under
# set -e a non-zero one (a load generator stopped by TERM) would end the
# shell there: every call here is made where errexit does not apply.
cap_cleanup() {
    local rc=$? p
    set +e
    for p in $EXTRA_PIDS; do rs_stop_pid "$p" 5; done
    EXTRA_PIDS=""
    # readstated first (in redis mode it flushes into redis-server), both
    # by PID; a big cache takes a few seconds to free.
    rs_stop_pid "$RS_SERVER_PID" 120 || true
    RS_SERVER_PID=""
    (exit $rc)
    rs_cleanup
}
trap cap_cleanup EXIT

# ---- small readers -------------------------------------------------------
now_ms() { date +%s%3N; }
rss_kib() { awk '/^VmRSS:/ { print $2; exit }' "/proc/$1/status" 2>/dev/null || echo 0; }
memavail_kib() { awk '/^MemAvailable:/ { print $2; exit }' /proc/meminfo; }
# "steal busy total" ticks of all CPUs (busy = everything but idle and iowait)
cpu_ticks() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i;
    print $9, t - $5 - $6, t; exit }' /proc/stat; }
lg_field() { "$RS_LOADGEN" field "$1" "$2" 2>/dev/null || echo "-"; }
metric() { # http_port name: one unlabelled value from /metrics ("-" if none)
    # (awk reads to the end: an early exit would fail curl's write, and the
    # pipeline, under pipefail)
    { curl -sf --max-time 5 "http://127.0.0.1:$1/metrics" 2>/dev/null || true; } |
        awk -v n="$2" '$1 == n && !found { v = $2; found = 1 } END { print (found ? v : "-") }'
}
redis_info() { # field of INFO memory
    redis-cli -h 127.0.0.1 -p "$RS_REDIS_PORT" info memory 2>/dev/null | tr -d '\r' |
        awk -F: -v k="$1" '$1 == k { print $2 }'
}
human() { awk -v n="$1" 'BEGIN { if (n >= 1e6 && n % 1e6 == 0) printf "%dM", n / 1e6;
    else if (n >= 1e3 && n % 1e3 == 0) printf "%dk", n / 1e3; else printf "%d", n }'; }

# bucket_p99 before.prom after.prom: the server's p99 (us) over Ack and
# GetReadStates from the histogram's bucket deltas, linear within the bucket.
bucket_p99() {
    awk 'FNR == 1 { f++ }
    /^readstates_request_duration_seconds_bucket\{method="(Ack|GetReadStates)",le="/ {
        le = $1; sub(/.*le="/, "", le); sub(/".*/, "", le)
        if (f == 1) c0[le] += $2; else c1[le] += $2
        if (!(le in seen)) { seen[le] = 1; if (le != "+Inf") les[++n] = le + 0 }
    }
    END {
        for (i = 2; i <= n; i++) { v = les[i]; for (j = i - 1; j >= 1 && les[j] > v; j--) les[j + 1] = les[j]; les[j + 1] = v }
        tot = c1["+Inf"] - c0["+Inf"]
        if (tot <= 0) { print "-"; exit }
        q = 0.99 * tot; prev = 0; lo = 0
        for (i = 1; i <= n; i++) {
            k = les[i] ""
            for (kk in c1) if (kk + 0 == les[i] && kk != "+Inf") k = kk
            cum = c1[k] - c0[k]
            if (cum >= q) {
                v = (cum > prev) ? lo + (les[i] - lo) * (q - prev) / (cum - prev) : les[i]
                printf "%.0f\n", v * 1e6; exit
            }
            prev = cum; lo = les[i]
        }
        printf ">%.0f\n", lo * 1e6
    }' "$1" "$2"
}

# dash_stat dashboard.json METHOD KEY FIRST_S LAST_S: over the seconds in
# [FIRST_S, LAST_S] with requests of METHOD, "n median max t_of_max" of its
# per-second KEY (p99, max: us), or "0 - - -".
dash_stat() {
    awk -v meth="$2" -v key="$3" -v a="$4" -v b="$5" '
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
    {
        nm = split(arr("methods"), names, ",")
        mi = 0
        for (i = 1; i <= nm; i++) { g = names[i]; gsub(/"/, "", g); if (g == meth) mi = i }
        nt = split(arr("t"), t, ",")
        p = arr(key); gsub(/^\[|\]$/, "", p); split(p, rows, "\\],\\[")
        r = arr("requests"); gsub(/^\[|\]$/, "", r); split(r, rrows, "\\],\\[")
        if (mi == 0 || nt == 0) { print "0 - - -"; exit }
        nv = split(rows[mi], v, ","); split(rrows[mi], rq, ",")
        n = 0; mx = -1; tmx = "-"
        for (i = 1; i <= nt && i <= nv; i++)
            if (t[i] + 0 >= a && t[i] + 0 <= b && rq[i] + 0 > 0) {
                x[++n] = v[i] + 0
                if (v[i] + 0 > mx) { mx = v[i] + 0; tmx = t[i] }
            }
        if (n == 0) { print "0 - - -"; exit }
        for (i = 2; i <= n; i++) { y = x[i]; for (j = i - 1; j >= 1 && x[j] > y; j--) x[j + 1] = x[j]; x[j + 1] = y }
        printf "%d %d %d %s\n", n, x[int((n + 1) / 2)], x[n], tmx
    }' "$1"
}

# ---- one size --------------------------------------------------------------
RESULTS=$out/results.tsv
COLS="mode states users status note fill_s fill_rate drain_s rss_before_mib rss_after_mib bps_rss bps_acct fill_peak_rss_mib redis_bps redis_rss_bps p50_ms p99_ms p999_ms max_ms ps_p99_min_ms ps_p99_med_ms ps_p99_max_ms ps_max_max_ms srv_p99_us srv_ps_p99_med_us srv_ps_p99_max_us srv_ps_max_us fill_srv_max_us answered errors srv_us_req steal_pct others_cores load1 hic_p999_ms hic_max_ms"
# Rows of the other mode from an earlier run into the same directory are
# kept (run memory and redis separately, get one table); this run's mode
# replaces its own rows.
kept=""
if [ -f "$RESULTS" ] && [ "$(head -1 "$RESULTS")" = "$(printf '%s\n' "$COLS" | tr ' ' '\t')" ]; then
    kept=$(awk -F'\t' -v ms=" $modes " 'NR > 1 && index(ms, " " $1 " ") == 0' "$RESULTS")
fi
printf '%s\n' "$COLS" | tr ' ' '\t' >"$RESULTS"
if [ -n "$kept" ]; then
    printf '%s\n' "$kept" >>"$RESULTS"
    rs_log "kept $(printf '%s\n' "$kept" | wc -l) row(s) of the other mode from $RESULTS"
fi
SKIPPED=""

row() { # the columns of $COLS, from variables of the same names ("-" if unset)
    local c sep="" line=""
    for c in $COLS; do
        line+="$sep${!c:--}"
        sep=$'\t'
    done
    printf '%s\n' "$line" >>"$RESULTS"
}

# Bytes per state measured so far in this run (the estimates for the next
# size): readstated RSS, Redis RSS.
est_rs_bps=48
est_redis_bps=100
redis_measured=0

# The fill's watchdog: every second, "t_ms rss_kib redis_rss_kib
# memavail_kib cache_users" into $1; stops PID $2 (the fill) when the machine's
# available memory falls under the reserve, and says so in $3.
watchdog() {
    local file=$1 victim=$2 flag=$3 ma r rr
    while kill -0 "$victim" 2>/dev/null; do
        ma=$(memavail_kib)
        r=$(rss_kib "$RS_SERVER_PID")
        rr=0
        [ -n "$RS_REDIS_PID" ] && rr=$(rss_kib "$RS_REDIS_PID")
        echo "$(now_ms) $r $rr $ma $(metric "$HTTP_PORT" readstates_cache_users)" >>"$file"
        if [ "$ma" -lt "$reserve_kib" ]; then
            echo "available memory ${ma} KiB < reserve ${reserve_kib} KiB" >"$flag"
            kill -TERM "$victim" 2>/dev/null || true
            return 0
        fi
        sleep 1
    done
}

run_size() { # mode states
    local m=$1 states=$2 users dir est_kib avail_kib limit_kib why
    users=$(((states + channels - 1) / channels))
    states=$((users * channels))
    dir=$out/$m-$states
    rm -rf "$dir"
    mkdir -p "$dir"
    # shellcheck disable=SC2034 # read by row()
    local mode=$m status note fill_s fill_rate drain_s rss_before_mib rss_after_mib bps_rss \
        bps_acct fill_peak_rss_mib redis_bps redis_rss_bps p50_ms p99_ms p999_ms max_ms \
        ps_p99_min_ms ps_p99_med_ms ps_p99_max_ms ps_max_max_ms srv_p99_us srv_ps_p99_med_us \
        srv_ps_p99_max_us srv_ps_max_us fill_srv_max_us answered errors srv_us_req steal_pct \
        others_cores load1 hic_p999_ms hic_max_ms

    # -- memory budget: skip what would not fit, and say why
    est_kib=$(awk -v s="$states" -v a="$est_rs_bps" -v b="$est_redis_bps" -v m="$m" 'BEGIN {
        k = s * a * 1.15 / 1024 + 131072; if (m == "redis") k += s * b * 1.15 / 1024; printf "%d", k }')
    avail_kib=$(memavail_kib)
    limit_kib=$((avail_kib - reserve_kib))
    [ "$budget_kib" -lt "$limit_kib" ] && limit_kib=$budget_kib
    if [ "$est_kib" -gt "$limit_kib" ]; then
        why=$(awk -v e="$est_kib" -v l="$limit_kib" -v b="$budget_kib" -v a="$avail_kib" \
            -v r="$reserve_kib" -v x="$est_rs_bps" -v y="$est_redis_bps" -v m="$m" 'BEGIN {
            printf "estimated %.1f GiB (readstated %.0f B/state%s, +15%%) > limit %.1f GiB (budget %.1f GiB, available %.1f GiB - reserve %.1f GiB)",
                e / 1048576, x, (m == "redis" ? sprintf(" + Redis %.0f B/state", y) : ""),
                l / 1048576, b / 1048576, a / 1048576, r / 1048576 }')
        rs_log "[$m $(human "$states")] SKIPPED: $why"
        SKIPPED+="$m $(human "$states"): $why"$'\n'
        status=skipped
        note=$why
        row
        return 0
    fi

    # -- start
    if [ "$m" = redis ]; then
        rs_start_redis_in "$dir" --appendonly no
        rs_log "[$m $(human "$states")] redis-server pid $RS_REDIS_PID on 127.0.0.1:$RS_REDIS_PORT (no AOF, no RDB)"
        # Write-behind; the fill outruns the flush, so the dirty budget must
        # hold the whole cache or the fill's writes would be refused.
        rs_start_server_in "$dir" --max-memory 0 --redis "127.0.0.1:$RS_REDIS_PORT" \
            --durability write-behind --dirty-budget 1TiB
    else
        RS_REDIS_PORT=""
        rs_start_server_in "$dir" --max-memory 0
    fi
    rs_log "[$m $(human "$states")] readstated pid $RS_SERVER_PID on 127.0.0.1:$RS_SERVER_PORT (http $HTTP_PORT); $users users x $channels channels, estimated $((est_kib / 1024)) MiB"
    sleep 0.5
    local rss0 rss1 rused0=0 rused1=0 rrss0=0 rrss1=0 t0 t1 fill_limit lg rc=0 first_s last_s
    rss0=$(rss_kib "$RS_SERVER_PID")
    if [ "$m" = redis ]; then
        rused0=$(redis_info used_memory)
        rrss0=$(rss_kib "$RS_REDIS_PID")
    fi

    # -- fill (bounded: at least 100,000 states/s, or it is stopped)
    fill_limit=$((states / 100000 + 60))
    rs_log "[$m $(human "$states")] filling (time limit ${fill_limit}s)"
    t0=$(now_ms)
    timeout -k 10 "$fill_limit" "$RS_LOADGEN" --target "rs://127.0.0.1:$RS_SERVER_PORT" \
        --fill-users "$users" --fill-channels "$channels" --connections 4 --pipeline 16 \
        --duration "$fill_limit" --quiet --json "$dir/fill.json" >"$dir/fill.txt" 2>&1 &
    lg=$!
    track "$lg"
    watchdog "$dir/fill-memory.txt" "$lg" "$dir/fill-aborted" &
    local wd=$!
    track "$wd"
    wait "$lg" || rc=$?
    untrack "$lg"
    t1=$(now_ms)
    wait "$wd" 2>/dev/null || true
    untrack "$wd"
    local written
    written=$(lg_field "$dir/fill.json" totals.states_written)
    if [ -s "$dir/fill-aborted" ] || [ "$rc" != 0 ] || [ "$written" != "$states" ]; then
        status=failed
        if [ -s "$dir/fill-aborted" ]; then
            note="fill stopped by the memory watchdog: $(cat "$dir/fill-aborted")"
        elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
            note="fill passed its ${fill_limit}s limit"
        else
            note="fill failed (exit $rc, $written of $states states written)"
        fi
        rs_log "[$m $(human "$states")] FAILED: $note"
        tail -5 "$dir/fill.txt" >&2 || true
        SKIPPED+="$m $(human "$states"): $note"$'\n'
        rs_stop_pid "$RS_SERVER_PID" 120 || true
        RS_SERVER_PID=""
        [ "$m" = redis ] && { rs_stop_pid "$RS_REDIS_PID" 30 || true; RS_REDIS_PID=""; }
        row
        return 0
    fi
    fill_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1000 }')
    fill_rate=$(awk -v s="$states" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", s * 1000 / (b - a) }')

    # -- redis: wait until every user has been flushed (bounded)
    if [ "$m" = redis ]; then
        local dlimit d td dirty=-
        dlimit=$((states / 50000 + 60))
        td=$(now_ms)
        for ((d = 0; d < dlimit * 2; d++)); do
            dirty=$(metric "$HTTP_PORT" readstates_dirty_users)
            [ "$dirty" = 0 ] && break
            sleep 0.5
        done
        drain_s=$(awk -v a="$td" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
        if [ "$dirty" != 0 ]; then
            note="flush did not drain within ${dlimit}s ($dirty users dirty); measured anyway"
            rs_log "[$m $(human "$states")] warning: $note"
        else
            rs_log "[$m $(human "$states")] flushed to Redis ${drain_s}s after the fill"
        fi
    fi
    sleep 1
    rss1=$(rss_kib "$RS_SERVER_PID")
    rss_before_mib=$(awk -v k="$rss0" 'BEGIN { printf "%.1f", k / 1024 }')
    rss_after_mib=$(awk -v k="$rss1" 'BEGIN { printf "%.1f", k / 1024 }')
    bps_rss=$(awk -v a="$rss0" -v b="$rss1" -v s="$states" 'BEGIN { printf "%.1f", (b - a) * 1024 / s }')
    bps_acct=$(awk -v b="$(metric "$HTTP_PORT" readstates_cache_bytes)" -v s="$states" \
        'BEGIN { printf "%.1f", b / s }')
    fill_peak_rss_mib=$(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { printf "%.1f", m / 1024 }' \
        "$dir/fill-memory.txt" 2>/dev/null || echo -)
    est_rs_bps=$(awk -v x="$bps_rss" 'BEGIN { printf "%.1f", (x < 30 ? 30 : x) }')
    if [ "$m" = redis ]; then
        rused1=$(redis_info used_memory)
        rrss1=$(rss_kib "$RS_REDIS_PID")
        redis_bps=$(awk -v a="$rused0" -v b="$rused1" -v s="$states" 'BEGIN { printf "%.1f", (b - a) / s }')
        redis_rss_bps=$(awk -v a="$rrss0" -v b="$rrss1" -v s="$states" 'BEGIN { printf "%.1f", (b - a) * 1024 / s }')
        echo "keys $(redis-cli -h 127.0.0.1 -p "$RS_REDIS_PORT" dbsize | tr -d '\r') used_memory $rused0 -> $rused1 rss_kib $rrss0 -> $rrss1" >"$dir/redis-memory.txt"
        if [ "$states" -ge 1000000 ] || [ "$redis_measured" = 0 ]; then
            est_redis_bps=$(awk -v x="$redis_bps" -v y="$redis_rss_bps" 'BEGIN { printf "%.1f", (x > y ? x : y) }')
            redis_measured=1
        fi
    fi
    rs_log "[$m $(human "$states")] filled in ${fill_s}s ($fill_rate states/s); RSS $rss_before_mib -> $rss_after_mib MiB: $bps_rss B/state (accounted $bps_acct)${redis_bps:+; Redis $redis_bps B/state used_memory, $redis_rss_bps RSS}"

    # The fill's worst second on the server (read to reply, BulkAck).
    curl -sf --max-time 10 "http://127.0.0.1:$HTTP_PORT/dashboard.json" >"$dir/dashboard-fill.json" || true
    local fs fn fmed fmax ft
    read -r fn fmed fmax ft < <(dash_stat "$dir/dashboard-fill.json" BulkAck max \
        $((t0 / 1000)) $((t1 / 1000 + 1)) 2>/dev/null || echo "0 - - -") || true
    fill_srv_max_us=$fmax
    if [ "$fn" != 0 ]; then
        # the users in the cache around that second (the watchdog's samples)
        local fu
        fu=$(awk -v t="$ft" 'int($1 / 1000) <= t + 1 && int($1 / 1000) >= t - 1 { s = s " " $5 } END { print s }' \
            "$dir/fill-memory.txt" 2>/dev/null || true)
        echo "fill: $fn seconds, per-second BulkAck max (read to reply) median ${fmed} us, highest ${fmax} us at unix second $ft ($((ft - t0 / 1000)) s into the fill; cache users sampled around it:${fu})" >"$dir/fill-server.txt"
    fi

    # -- the fixed-rate phase
    local ticks0 ticks1 cpu0 cpu1 rcpu0=0 rcpu1=0 w0 w1 lg_s pp=""
    load1=$(cut -d' ' -f1 /proc/loadavg)
    curl -sf --max-time 10 "http://127.0.0.1:$HTTP_PORT/metrics" >"$dir/metrics-before.prom" || true
    ticks0=$(cpu_ticks)
    cpu0=$(rs_cpu_s "$RS_SERVER_PID")
    [ "$m" = redis ] && rcpu0=$(rs_cpu_s "$RS_REDIS_PID")
    w0=$(now_ms)
    rs_log "[$m $(human "$states")] fixed rate: $rate req/s for ${duration}s (+${warmup}s warm-up), load average $load1"
    rc=0
    timeout -k 10 $((duration + warmup + 60)) "$RS_LOADGEN" --target "rs://127.0.0.1:$RS_SERVER_PORT" \
        --rate "$rate" --duration "$duration" --warmup "$warmup" --users "$users" \
        --channels-per-user "$channels" --connections 16 --pipeline 8 \
        --server-pid "$RS_SERVER_PID" --hiccups --label "$m $(human "$states")" \
        --json "$dir/run.json" --csv "$dir/run.csv" --html "$dir/run.html" --quiet \
        >"$dir/run.txt" 2>&1 &
    lg=$!
    track "$lg"
    if [ "$perf" = 1 ]; then
        local pdur=$((duration - duration / 3 - 1))
        [ "$pdur" -gt 10 ] && pdur=10
        [ "$pdur" -lt 1 ] && pdur=1
        sleep $((warmup + duration / 3))
        if kill -0 "$lg" 2>/dev/null; then
            rs_log "[$m $(human "$states")] perf record -g on pid $RS_SERVER_PID for $pdur s"
            if timeout -k 5 $((pdur + 20)) perf record -q -F 999 -g -p "$RS_SERVER_PID" -o "$dir/perf.data" \
                -- sleep "$pdur" >"$dir/perf-record.txt" 2>&1; then
                pp=perf # reported once the load generator is done: perf report takes a CPU
            else
                rs_log "[$m $(human "$states")] perf could not record ($(tail -1 "$dir/perf-record.txt")); 5 gdb backtraces instead (each stops the server for a moment)"
                local g
                for g in 1 2 3 4 5; do
                    echo "--- sample $g" >>"$dir/gdb.txt"
                    timeout 20 gdb -p "$RS_SERVER_PID" -batch -ex bt >>"$dir/gdb.txt" 2>&1 || true
                    sleep 1
                done
                pp=gdb
            fi
        fi
    fi
    wait "$lg" || rc=$?
    untrack "$lg"
    w1=$(now_ms)
    ticks1=$(cpu_ticks)
    cpu1=$(rs_cpu_s "$RS_SERVER_PID")
    [ "$m" = redis ] && rcpu1=$(rs_cpu_s "$RS_REDIS_PID")
    curl -sf --max-time 10 "http://127.0.0.1:$HTTP_PORT/metrics" >"$dir/metrics-after.prom" || true
    curl -sf --max-time 10 "http://127.0.0.1:$HTTP_PORT/dashboard.json" >"$dir/dashboard.json" || true
    if [ "$pp" = perf ]; then
        timeout 120 perf report -i "$dir/perf.data" --no-children --stdio --percent-limit 0.5 \
            2>/dev/null | grep -v '^$' | head -400 >"$dir/perf.txt" || true
        timeout 120 perf report -i "$dir/perf.data" --no-children --stdio -g none --percent-limit 0.3 \
            2>/dev/null | grep -v '^#' | grep -v '^$' | head -60 >"$dir/perf-flat.txt" || true
    fi
    if [ "$rc" != 0 ]; then
        status=failed
        note="fixed-rate run failed (exit $rc)"
        tail -5 "$dir/run.txt" >&2 || true
    else
        status=ok
    fi
    local J=$dir/run.json
    us_ms() { awk -v u="$1" 'BEGIN { if (u == "-" || u == "null" || u == "") print "-"; else printf "%.3f", u / 1000 }'; }
    p50_ms=$(us_ms "$(lg_field "$J" latency.all.p50_us)")
    p99_ms=$(us_ms "$(lg_field "$J" latency.all.p99_us)")
    p999_ms=$(us_ms "$(lg_field "$J" latency.all.p999_us)")
    max_ms=$(us_ms "$(lg_field "$J" latency.all.max_us)")
    answered=$(lg_field "$J" totals.answered)
    errors=$(lg_field "$J" totals.errors)
    hic_p999_ms=$(us_ms "$(lg_field "$J" hiccups.p999_us)")
    hic_max_ms=$(us_ms "$(lg_field "$J" hiccups.max_us)")
    srv_us_req=$(lg_field "$J" cpu.server_us_per_req)
    srv_us_req=$(awk -v x="$srv_us_req" 'BEGIN { if (x == "-") print "-"; else printf "%.2f", x }')
    read -r ps_p99_min_ms ps_p99_med_ms ps_p99_max_ms ps_max_max_ms < <(awk -F, 'NR > 1 && $3 > 0 {
        n++; p[n] = $6 / 1000; if ($8 / 1000 > mx) mx = $8 / 1000 }
        END { if (n == 0) { print "- - - -"; exit }
            for (i = 2; i <= n; i++) { v = p[i]; for (j = i - 1; j >= 1 && p[j] > v; j--) p[j + 1] = p[j]; p[j + 1] = v }
            printf "%.3f %.3f %.3f %.3f\n", p[1], (n % 2 ? p[(n + 1) / 2] : (p[n / 2] + p[n / 2 + 1]) / 2), p[n], mx }' \
        "$dir/run.csv" 2>/dev/null || echo "- - - -") || true
    srv_p99_us=$(bucket_p99 "$dir/metrics-before.prom" "$dir/metrics-after.prom" 2>/dev/null || echo -)
    local meas sn smed smax st
    meas=$(lg_field "$J" measured_start_unix_ms)
    case "$meas" in '' | - | null) meas=$((w0 + warmup * 1000)) ;; esac
    first_s=$((meas / 1000 + 1))
    last_s=$((first_s + duration - 2))
    read -r sn smed smax st < <(dash_stat "$dir/dashboard.json" Ack p99 "$first_s" "$last_s" 2>/dev/null ||
        echo "0 - - -") || true
    srv_ps_p99_med_us=$smed
    srv_ps_p99_max_us=$smax
    read -r sn smed smax st < <(dash_stat "$dir/dashboard.json" Ack max "$first_s" "$last_s" 2>/dev/null ||
        echo "0 - - -") || true
    srv_ps_max_us=$smax
    steal_pct=$(echo "$ticks0 $ticks1" | awk '{ d = $6 - $3; printf "%.1f", (d > 0 ? 100 * ($4 - $1) / d : 0) }')
    lg_s=$(lg_field "$J" cpu.loadgen_s)
    local hm_s
    hm_s=$(lg_field "$J" cpu.hiccup_meter_s)
    others_cores=$(echo "$ticks0 $ticks1" | awk -v tck="$(getconf CLK_TCK)" -v s0="$cpu0" -v s1="$cpu1" \
        -v r0="$rcpu0" -v r1="$rcpu1" -v l="$lg_s" -v h="$hm_s" -v w0="$w0" -v w1="$w1" '{
        busy = ($5 - $2) / tck; ours = (s1 - s0) + (r1 - r0) + (l == "-" ? 0 : l) + (h == "-" ? 0 : h)
        o = (busy - ours) / ((w1 - w0) / 1000); printf "%.2f", (o < 0 ? 0 : o) }')
    rs_log "[$m $(human "$states")] p50 $p50_ms p99 $p99_ms p99.9 $p999_ms max $max_ms ms; per-second p99 $ps_p99_min_ms..$ps_p99_max_ms (median $ps_p99_med_ms) ms; server p99 ${srv_p99_us} us (buckets), per-second Ack p99 median $srv_ps_p99_med_us us; steal $steal_pct%, others $others_cores cores${pp:+; $pp samples in $dir}"

    # -- stop (readstated first: in redis mode it flushes the phase's acks)
    rs_stop_pid "$RS_SERVER_PID" 120 || true
    RS_SERVER_PID=""
    if [ "$m" = redis ]; then
        rs_stop_pid "$RS_REDIS_PID" 30 || true
        RS_REDIS_PID=""
        RS_REDIS_PORT=""
    fi
    row
}

# ---- main ------------------------------------------------------------------
rs_log "capacity: sizes $sizes; modes $modes; $rate req/s for ${duration}s per size; budget ${budget_gib} GiB, reserve ${reserve_gib} GiB; output in $out"
for m in $modes; do
    for s in $sizes; do
        run_size "$m" "$s"
    done
done

# ---- the table ---------------------------------------------------------------
{
    echo "Capacity: one readstated per size, filled, then $rate req/s (90% Ack, 10% GetReadStates, Zipf 0.99 over the filled users, 16 connections x pipeline 8) for ${duration}s after ${warmup}s of warm-up; latency in ms from the schedule."
    echo "Machine: $(nproc) CPUs, $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -r); commit $(git -C "$RS_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown); $(date -u +%Y-%m-%dT%H:%MZ); build $RS_BUILD."
    echo
    echo "| mode | states | fill s | fill states/s | Redis drain s | RSS MiB | B/state RSS (accounted) | Redis B/state used (RSS) | p50 | p99 | p99.9 | max | per-second p99 min / median / max | worst second's max | server p99 µs (buckets) | server per-second Ack p99 median / max µs | server worst Ack µs | fill's worst BulkAck µs | errors | server µs/req | steal % | others (cores) | hiccup p99.9 / max |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    function v(k) { return $c[k] }
    function h(n) { return (n >= 1e6 && n % 1e6 == 0) ? sprintf("%dM", n / 1e6) : n }
    v("status") == "skipped" || v("status") == "failed" {
        printf "| %s | %s | %s: %s |||||||||||||||||||||\n", v("mode"), h(v("states")), v("status"), v("note"); next }
    {
        printf "| %s | %s | %s | %s | %s | %s | %s (%s) | %s | %s | %s | %s | %s | %s / %s / %s | %s | %s | %s / %s | %s | %s | %s | %s | %s | %s | %s / %s |\n",
            v("mode"), h(v("states")), v("fill_s"), v("fill_rate"), v("drain_s"), v("rss_after_mib"),
            v("bps_rss"), v("bps_acct"),
            (v("redis_bps") == "-" ? "-" : v("redis_bps") " (" v("redis_rss_bps") ")"),
            v("p50_ms"), v("p99_ms"), v("p999_ms"), v("max_ms"),
            v("ps_p99_min_ms"), v("ps_p99_med_ms"), v("ps_p99_max_ms"), v("ps_max_max_ms"),
            v("srv_p99_us"), v("srv_ps_p99_med_us"), v("srv_ps_p99_max_us"), v("srv_ps_max_us"),
            v("fill_srv_max_us"), v("errors"), v("srv_us_req"), v("steal_pct"), v("others_cores"),
            v("hic_p999_ms"), v("hic_max_ms")
    }' "$RESULTS"
    if [ -n "$SKIPPED" ]; then
        echo
        echo "Skipped or stopped:"
        printf '%s' "$SKIPPED" | sed 's/^/- /'
    fi
} >"$out/table.md"

# ---- the report: table + chart (inline SVG written by awk) ------------------
for f in "$out"/*-*/run.csv; do
    [ -f "$f" ] || continue
    d=$(basename "$(dirname "$f")")
    awk -F, -v id="$d" 'NR > 1 && $3 > 0 { printf "%s\t%s\t%s\t%s\n", id, $1, $6, $8 }' "$f"
done >"$RS_TMP/series.tsv"
awk -F'\t' -v title="readstated capacity: $rate req/s for ${duration}s per size" \
    -v tablemd="$out/table.md" '
function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }
function l10(x) { return log(x) / log(10) }
function fl(x,  i) { i = int(x); return (i > x) ? i - 1 : i }
function h(n) { return (n >= 1e6 && n % 1e6 == 0) ? sprintf("%dM", n / 1e6) : n }
function fmt(ms) { return ms >= 1000 ? sprintf("%.0f s", ms / 1000) : ms >= 1 ? sprintf("%g ms", ms) : sprintf("%g µs", ms * 1000) }
function ys(v) { if (v < YLO) v = YLO; return MT + PH * (1 - (l10(v) - l10(YLO)) / (l10(YHI) - l10(YLO))) }
function xs(i) { return ML + PW * (i - 0.5) / NS }
FNR == 1 { f++ }
f == 1 && FNR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
f == 1 {
    n++; for (k in c) R[n, k] = $c[k]
    if (!($c["states"] in sidx)) { sidx[$c["states"]] = 1; sz[++NS] = $c["states"] + 0 }
    next
}
f == 2 { ns++; S_id[ns] = $1; S_t[ns] = $2 + 0; S_p99[ns] = $3 / 1000; S_max[ns] = $4 / 1000; next }
END {
    for (i = 2; i <= NS; i++) { v = sz[i]; for (j = i - 1; j >= 1 && sz[j] > v; j--) sz[j + 1] = sz[j]; sz[j + 1] = v }
    for (i = 1; i <= NS; i++) pos[sz[i]] = i
    print "<!doctype html><html><head><meta charset=\"utf-8\"><title>" esc(title) "</title><style>"
    print "body{font:14px sans-serif;margin:20px;max-width:1300px} table{border-collapse:collapse;font-size:12px} td,th{border:1px solid #ccc;padding:2px 5px;text-align:right}"
    print "svg text{font:11px sans-serif} .grid{stroke:#ddd} .frame{fill:none;stroke:#999} .note{color:#555}</style></head><body>"
    print "<h2>" esc(title) "</h2>"
    W = 1100; H = 330; ML = 70; MR = 200; MT = 30; MB = 40; PW = W - ML - MR; PH = H - MT - MB
    # latency against size
    lo = 0; hi = 0
    for (i = 1; i <= n; i++) if (R[i, "status"] == "ok")
        for (k = 0; k < 8; k++) {
            key = (k == 0) ? "p50_ms" : (k == 1) ? "p99_ms" : (k == 2) ? "p999_ms" : (k == 3) ? "max_ms" : (k == 4) ? "ps_p99_min_ms" : (k == 5) ? "ps_p99_max_ms" : (k == 6) ? "srv_ps_p99_med_us" : "srv_p99_us"
            v = R[i, key]; if (v == "-" || v == "" || v ~ />/) continue
            v += 0; if (key ~ /_us$/) v /= 1000
            if (v <= 0) continue
            if (lo == 0 || v < lo) lo = v; if (v > hi) hi = v
        }
    if (lo == 0) { lo = 0.01; hi = 100 }
    YLO = 10 ^ fl(l10(lo)); YHI = 10 ^ (fl(l10(hi)) + 1)
    print "<h3>Latency against cache size</h3><svg width=\"" W "\" height=\"" H "\">"
    printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"frame\"/>\n", ML, MT, PW, PH
    for (d = YLO; d <= YHI * 1.001; d *= 10) {
        printf "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/><text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", ML, ML + PW, ys(d), ys(d), ML - 5, ys(d) + 4, fmt(d)
    }
    for (i = 1; i <= NS; i++)
        printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s states</text>\n", xs(i), MT + PH + 18, h(sz[i])
    nk = split("p50_ms:p50:2,1:0 p99_ms:p99:2.5,0:0 p999_ms:p99.9:2,4 3:0 max_ms:max:1.5,2 2:0 srv_ps_p99_med_us:server Ack p99 (median second):1.5,1 3:1 srv_p99_us:server p99 (buckets):1.5,6 2:1", keys, " ")
    ly = MT + 8
    for (mi = 0; mi < 2; mi++) {
        md = mi ? "redis" : "memory"; col = mi ? "#c0392b" : "#1f5fa8"; off = mi ? 6 : -6
        have = 0
        for (i = 1; i <= n; i++) if (R[i, "mode"] == md && R[i, "status"] == "ok") have = 1
        if (!have) continue
        for (kk = 1; kk <= nk; kk++) {
            split(keys[kk], kp, ":"); key = kp[1]; split(kp[3], sty, ","); sw = sty[1]; da = sty[2]
            path = ""
            for (i = 1; i <= n; i++) {
                if (R[i, "mode"] != md || R[i, "status"] != "ok") continue
                v = R[i, key]; if (v == "-" || v == "" || v ~ />/) continue
                v += 0; if (key ~ /_us$/) v /= 1000; if (v <= 0) continue
                x = xs(pos[R[i, "states"]]) + off
                path = path (path == "" ? "M" : "L") sprintf("%.1f,%.1f", x, ys(v))
                printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"><title>%s %s %s: %s</title></circle>\n", x, ys(v), col, md, h(R[i, "states"]), kp[2], fmt(v)
            }
            if (path != "") printf "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" stroke-dasharray=\"%s\"/>\n", path, col, sw, (da == "0" ? "none" : da)
            printf "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"%s\" stroke-dasharray=\"%s\"/><text x=\"%d\" y=\"%d\">%s %s</text>\n", W - MR + 10, W - MR + 35, ly, ly, col, sw, (da == "0" ? "none" : da), W - MR + 40, ly + 4, md, kp[2]
            ly += 15
        }
        # the per-second p99 spread: a bar from the lowest to the highest second
        for (i = 1; i <= n; i++) {
            if (R[i, "mode"] != md || R[i, "status"] != "ok" || R[i, "ps_p99_min_ms"] == "-") continue
            x = xs(pos[R[i, "states"]]) + off * 2
            printf "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"5\" opacity=\"0.35\"><title>%s %s per-second p99 %s .. %s</title></line>\n", x, x, ys(R[i, "ps_p99_min_ms"] + 0), ys(R[i, "ps_p99_max_ms"] + 0), col, md, h(R[i, "states"]), fmt(R[i, "ps_p99_min_ms"] + 0), fmt(R[i, "ps_p99_max_ms"] + 0)
        }
        printf "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"5\" opacity=\"0.35\"/><text x=\"%d\" y=\"%d\">%s per-second p99 range</text>\n", W - MR + 10, W - MR + 35, ly, ly, col, W - MR + 40, ly + 4, md
        ly += 22
    }
    print "</svg>"
    # bytes per state and fill rate
    H2 = 200; PH2 = H2 - MT - MB; bmax = 0; rmax = 0
    for (i = 1; i <= n; i++) if (R[i, "status"] == "ok") {
        if (R[i, "bps_rss"] + 0 > bmax) bmax = R[i, "bps_rss"] + 0
        if (R[i, "redis_rss_bps"] != "-" && R[i, "redis_rss_bps"] + 0 > bmax) bmax = R[i, "redis_rss_bps"] + 0
        if (R[i, "fill_rate"] + 0 > rmax) rmax = R[i, "fill_rate"] + 0 }
    if (bmax == 0) bmax = 50; if (rmax == 0) rmax = 1
    bmax = bmax * 1.15; rmax = rmax * 1.15
    print "<h3>Memory per state (bars, left axis) and fill rate (lines, right axis)</h3><svg width=\"" W "\" height=\"" H2 "\">"
    printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"frame\"/>\n", ML, MT, PW, PH2
    for (k = 0; k <= 4; k++) {
        y = MT + PH2 * (1 - k / 4)
        printf "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/><text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.0f B</text><text x=\"%d\" y=\"%.1f\">%.2fM/s</text>\n", ML, ML + PW, y, y, ML - 5, y + 4, bmax * k / 4, ML + PW + 5, y + 4, rmax * k / 4 / 1e6
    }
    for (i = 1; i <= NS; i++)
        printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s states</text>\n", xs(i), MT + PH2 + 18, h(sz[i])
    for (mi = 0; mi < 2; mi++) {
        md = mi ? "redis" : "memory"; col = mi ? "#c0392b" : "#1f5fa8"; path = ""
        for (i = 1; i <= n; i++) {
            if (R[i, "mode"] != md || R[i, "status"] != "ok") continue
            x = xs(pos[R[i, "states"]]) + (mi ? 4 : -40)
            b = R[i, "bps_rss"] + 0; y = MT + PH2 * (1 - b / bmax)
            printf "<rect x=\"%.1f\" y=\"%.1f\" width=\"16\" height=\"%.1f\" fill=\"%s\" opacity=\"0.6\"><title>%s %s: readstated %s B/state RSS</title></rect><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x, y, MT + PH2 - y, col, md, h(R[i, "states"]), b, x + 8, y - 3, b
            if (md == "redis" && R[i, "redis_rss_bps"] != "-") {
                b = R[i, "redis_rss_bps"] + 0; y = MT + PH2 * (1 - b / bmax)
                printf "<rect x=\"%.1f\" y=\"%.1f\" width=\"16\" height=\"%.1f\" fill=\"#7f8c8d\" opacity=\"0.6\"><title>%s: redis-server %s B/state RSS</title></rect><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x + 18, y, MT + PH2 - y, h(R[i, "states"]), b, x + 26, y - 3, b
            }
            y = MT + PH2 * (1 - R[i, "fill_rate"] / rmax)
            path = path (path == "" ? "M" : "L") sprintf("%.1f,%.1f", xs(pos[R[i, "states"]]), y)
            printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%s %s fill %s states/s</title></circle>\n", xs(pos[R[i, "states"]]), y, col, md, h(R[i, "states"]), R[i, "fill_rate"]
        }
        if (path != "") printf "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"/>\n", path, col
    }
    printf "<text x=\"%d\" y=\"%d\">blue: memory only; red: write-behind (grey bar: redis-server RSS)</text>\n", ML, 16
    print "</svg>"
    # per-second p99 and max of every size, on one time axis
    XM = 0; lo = 0; hi = 0
    for (i = 1; i <= ns; i++) { if (S_t[i] > XM) XM = S_t[i]
        if (S_p99[i] > 0 && (lo == 0 || S_p99[i] < lo)) lo = S_p99[i]; if (S_max[i] > hi) hi = S_max[i] }
    if (ns > 0) {
        if (XM < 1) XM = 1
        YLO = 10 ^ fl(l10(lo)); YHI = 10 ^ (fl(l10(hi)) + 1)
        print "<h3>Per-second p99 (solid) and max (dotted) of each size</h3><svg width=\"" W "\" height=\"" H "\">"
        printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"frame\"/>\n", ML, MT, PW, PH
        for (d = YLO; d <= YHI * 1.001; d *= 10)
            printf "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/><text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", ML, ML + PW, ys(d), ys(d), ML - 5, ys(d) + 4, fmt(d)
        for (t = 0; t <= XM; t += (XM > 40 ? 10 : 5))
            printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d s</text>\n", ML + PW * t / XM, MT + PH + 18, t
        split("#1f5fa8 #27ae60 #8e44ad #d35400 #c0392b #16a085 #2c3e50 #f39c12", pal, " ")
        nid = 0; ly = MT + 8
        for (i = 1; i <= ns; i++) if (!(S_id[i] in idn)) { idn[S_id[i]] = ++nid; ids[nid] = S_id[i] }
        for (k = 1; k <= nid; k++) {
            col = pal[(k - 1) % 8 + 1]; p1 = ""; p2 = ""
            for (i = 1; i <= ns; i++) if (S_id[i] == ids[k]) {
                x = ML + PW * S_t[i] / XM
                if (S_p99[i] > 0) p1 = p1 (p1 == "" ? "M" : "L") sprintf("%.1f,%.1f", x, ys(S_p99[i]))
                if (S_max[i] > 0) p2 = p2 (p2 == "" ? "M" : "L") sprintf("%.1f,%.1f", x, ys(S_max[i]))
            }
            printf "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"/><path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1\" stroke-dasharray=\"2 2\"/>\n", p1, col, p2, col
            printf "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/><text x=\"%d\" y=\"%d\">%s</text>\n", W - MR + 10, W - MR + 35, ly, ly, col, W - MR + 40, ly + 4, esc(ids[k])
            ly += 15
        }
        print "</svg>"
    }
    print "<h3>Table</h3><pre>"
    while ((getline line < tablemd) > 0) print esc(line)
    print "</pre><p class=\"note\">Latency: open loop, from each request&apos;s scheduled send time to its answer&apos;s arrival (kernel receive stamps). Server figures: read to reply, from the server&apos;s own histograms; they cannot see a stall of the whole process. Read steal and others before comparing rows.</p></body></html>"
}' "$RESULTS" "$RS_TMP/series.tsv" >"$out/report.html"

cat "$out/table.md"
rs_log "table: $out/table.md; chart and table: $out/report.html; per size: $out/<mode>-<states>/"
