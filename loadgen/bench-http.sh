#!/usr/bin/env bash
# bench-http.sh: readstated's CPU per Ack over each of its transports, side
# by side in one invocation: framed TCP, Connect over HTTP/1.1, gRPC over
# HTTP/2 (h2c with prior knowledge) and Connect over HTTP/2.
#
#   loadgen/bench-http.sh [--duration S] [--rounds N] [--conns C]
#                         [--depths "1 16"] [--transports "..."]
#                         [--users N] [--channels M] [--out DIR] [--no-build]
#
# Per round a fresh memory-only readstated (--max-memory 0) with both ports
# on free loopback ports, filled with users x channels states (every Ack a
# cache hit), then, for each depth M of --depths and each transport (the
# order rotates by round), one closed-loop run of S seconds (default 8) with
# C connections (default 16) and M requests in flight per connection.
# Held equal: the method (Ack), C, M, one client thread, closed loop, no
# warm-up, the same server process. Transports and tools:
#   tcp              readstate-loadgen --max --ack 100 --pipeline M
#                    (uniform over the users and channels: --zipf 0;
#                    message ids rise, so every Ack applies)
#   connect-h1       wrk, Connect unary application/proto over HTTP/1.1,
#                    M pipelined requests per batch (a Lua script makes
#                    each body: uniform user and channel, rising message
#                    ids: every Ack applies, as over tcp)
#   connect-h1-fixed wrk, the same but one fixed body (one user, one
#                    channel, one message id: after the first, every Ack
#                    is a no-op); the workload counterpart of the next two
#   grpc-h2          h2load -c C -m M, gRPC (5-byte envelope + the same
#                    fixed body, content-type application/grpc, te: trailers)
#   connect-h2       h2load -c C -m M, Connect unary application/proto over
#                    h2c, the same fixed body
# Not equal: h2load sends one body per run (no per-request bodies), so its
# rows are one hot user's no-op Acks; connect-h1 minus connect-h1-fixed
# (same tool, same transport, same round) is what the workload difference
# costs, and the summary adds it back for an adjusted ratio. wrk sends a
# pipelined batch and waits for all of it; the load generator and h2load
# refill each slot as its answer arrives. wrk's percentiles are shown only
# without pipelining (with it, they mix per-batch samples and requests).
#
# For every run: the tool's throughput and p50/p99 (the load generator's
# own; wrk's, per batch; h2load's from its --log-file), the server's CPU
# (utime+stime from /proc/PID/stat over the tool's whole run) per request
# answered (the delta of readstates_rpc_calls_total{protocol=...} from
# /metrics, cross-checked against the tool's count: they may differ by the
# requests in flight at the end, C x M, no more), the client's CPU per
# request, the ratio of server CPU per request to tcp's (same round, same
# depth), the hypervisor's steal and the CPU other processes used. Any
# failed request fails the run loudly: the load generator's errors, wrk's
# non-2xx and socket errors, h2load's failed/errored/non-2xx, the server's
# non-2xx responses by handler, and readstates_http_enveloped_errors_total
# (gRPC's grpc-status, sent with HTTP 200) which must not move. Prints
# Markdown tables, also written with every tool's output to
# out/bench-http-<time>/ (or --out DIR). Needs h2load (nghttp2-client), wrk,
# protoc (protobuf-compiler) and curl. Every run is bounded; the server is
# started and stopped by its PID. About 5 minutes with the defaults.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"

DUR=8
ROUNDS=3
CONNS=16
DEPTHS="1 16"
TRANSPORTS="tcp connect-h1 connect-h1-fixed grpc-h2 connect-h2"
USERS=20000
CHANNELS=20
OUT_DIR=""
BUILD_ARG=""
while [ $# -gt 0 ]; do
    case "$1" in
    --duration) DUR=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --conns | --connections) CONNS=$2; shift 2 ;;
    --depths) DEPTHS=$2; shift 2 ;;
    --transports) TRANSPORTS=$2; shift 2 ;;
    --users) USERS=$2; shift 2 ;;
    --channels) CHANNELS=$2; shift 2 ;;
    --out) OUT_DIR=$2; shift 2 ;;
    --no-build) BUILD_ARG=--no-build; shift ;;
    -h | --help) sed -n '2,54p' "$0"; exit 0 ;;
    *) rs_die "unknown argument $1" ;;
    esac
done
for v in "$DUR" "$ROUNDS" "$CONNS" "$USERS" "$CHANNELS" $DEPTHS; do
    [[ $v =~ ^[1-9][0-9]*$ ]] || rs_die "not a positive integer: $v"
done
for t in $TRANSPORTS; do
    case $t in tcp | connect-h1 | connect-h1-fixed | grpc-h2 | connect-h2) ;;
    *) rs_die "unknown transport $t" ;; esac
done
need() { command -v "$1" >/dev/null 2>&1 || rs_die "needs $1 ($2)"; }
need h2load "apt-get install nghttp2-client"
need wrk "apt-get install wrk"
need protoc "apt-get install protobuf-compiler"
need curl "apt-get install curl"

rs_build $BUILD_ARG
rs_tmp
[ -n "$OUT_DIR" ] || OUT_DIR=$RS_ROOT/out/bench-http-$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
TCK=$(getconf CLK_TCK)
NPROC=$(nproc)
PROTO_DIR=$RS_ROOT/proto
ACK_PATH=/readstates.v1.ReadStates/Ack

# ---- bodies ---------------------------------------------------------------
# The load generator's hot user of rank r is ((HOT_USER_MS + r) << 22) |
# ((r * 0x9e37) & 0xfff), its channel c ((CHANNEL_MS + (r * 131 + c) %
# 2^20) << 22) | 1 (loadgen/lg_work.c); the fixed body is rank 1, channel 0.
snowflake_now() { echo $((($(date +%s%3N) - 1420070400000) << 22)); }
FIX_USER=$((((31536000000 + 1) << 22) | ((1 * 0x9e37) & 0xfff)))
FIX_CHAN=$((((12960000000 + 131 % 1048576) << 22) | 1))
printf 'user_id: %s\nchannel_id: %s\nmessage_id: %s\n' "$FIX_USER" "$FIX_CHAN" "$(snowflake_now)" |
    protoc -I "$PROTO_DIR" --encode=readstates.v1.AckRequest "$PROTO_DIR/readstates.proto" \
        >"$RS_TMP/ack.bin" || rs_die "protoc could not encode the Ack body"
BODY_LEN=$(stat -c %s "$RS_TMP/ack.bin")
[ "$BODY_LEN" -lt 256 ] || rs_die "unexpected body length $BODY_LEN"
{ # gRPC: not compressed (0), length (4 bytes, big-endian), message
    printf "\\x00\\x00\\x00\\x00\\x$(printf %02x "$BODY_LEN")"
    cat "$RS_TMP/ack.bin"
} >"$RS_TMP/ack.grpc"
cp "$RS_TMP/ack.bin" "$RS_TMP/ack.grpc" "$OUT_DIR/"

# wrk: M Connect Acks per batch (one wrk.format each, concatenated).
# args: USERS CHANNELS M MODE BASE_MESSAGE_ID PATH SEED; MODE applied (a
# body per request: uniform user and channel, message ids from BASE up) or
# fixed (the fixed body above, M times). 64-bit ids are LuaJIT uint64 cdata.
cat >"$RS_TMP/ack.lua" <<'EOF'
local users, chans, pipeline, msg, path, fixed
local function varint(x)
    local t = {}
    while x >= 128ULL do
        t[#t + 1] = string.char(tonumber(x % 128ULL) + 128)
        x = x / 128ULL
    end
    t[#t + 1] = string.char(tonumber(x))
    return table.concat(t)
end
local function u64(s)
    local v = 0ULL
    for i = 1, #s do v = v * 10ULL + (s:byte(i) - 48) end
    return v
end
local function user_id(r) return (31536000000ULL + r) * 4194304ULL + bit.band(r * 40503, 4095) end
local function channel_id(r, c) return (12960000000ULL + (r * 131 + c) % 1048576) * 4194304ULL + 1ULL end
local headers = { ["Content-Type"] = "application/proto" }
local function body(u, c, m) return "\8" .. varint(u) .. "\16" .. varint(c) .. "\24" .. varint(m) end
function init(args)
    users, chans, pipeline = tonumber(args[1]), tonumber(args[2]), tonumber(args[3])
    msg, path = u64(args[5]), args[6]
    math.randomseed(tonumber(args[7]))
    if args[4] == "fixed" then
        local b = body(u64(args[8]), u64(args[9]), msg)
        local r = {}
        for i = 1, pipeline do r[i] = wrk.format("POST", path, headers, b) end
        fixed = table.concat(r)
    end
end
function request()
    if fixed then return fixed end
    local r = {}
    for i = 1, pipeline do
        msg = msg + 1ULL
        local k = math.random(users)
        r[i] = wrk.format("POST", path, headers, body(user_id(k), channel_id(k, math.random(chans) - 1), msg))
    end
    return table.concat(r)
end
function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("WRK requests=%d non2xx=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d\n",
        summary.requests, e.status, e.connect, e.read, e.write, e.timeout,
        latency:percentile(50), latency:percentile(99)))
end
EOF
cp "$RS_TMP/ack.lua" "$OUT_DIR/"

# ---- the server -----------------------------------------------------------
HTTP_PORT=""
start_server() {
    local i
    rm -f "$RS_TMP/tcp.port" "$RS_TMP/http.port"
    "$RS_READSTATED" --listen 127.0.0.1:0 --port-file "$RS_TMP/tcp.port" \
        --http 127.0.0.1:0 --http-port-file "$RS_TMP/http.port" --max-memory 0 \
        --log-level warn >"$OUT_DIR/readstated-$1.log" 2>&1 &
    RS_SERVER_PID=$!
    for ((i = 0; i < 150; i++)); do
        if [ -s "$RS_TMP/tcp.port" ] && [ -s "$RS_TMP/http.port" ]; then
            RS_SERVER_PORT=$(cat "$RS_TMP/tcp.port")
            HTTP_PORT=$(cat "$RS_TMP/http.port")
            rs_log "readstated (memory only) pid $RS_SERVER_PID, framed TCP 127.0.0.1:$RS_SERVER_PORT, HTTP 127.0.0.1:$HTTP_PORT"
            return 0
        fi
        kill -0 "$RS_SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$OUT_DIR/readstated-$1.log" >&2
    rs_die "readstated did not start"
}

scrape() {
    curl -sf --max-time 10 "http://127.0.0.1:$HTTP_PORT/metrics" >"$1" ||
        rs_die "could not read /metrics"
}
# metric FILE 'name{labels}': its value (0 when absent)
metric() { awk -v k="$2" '$1 == k { v = $2 } END { print v + 0 }' "$1"; }
mdelta() { echo $(($(metric "$2" "$3") - $(metric "$1" "$3"))); }
# non-2xx HTTP responses of a handler between two scrapes
non2xx() {
    awk -v h="handler=\"$3\"" '
        index($1, "readstates_http_requests_total{") == 1 && index($1, h) && $1 !~ /code="2xx"/ {
            v[FILENAME] += $2 }
        END { print v[ARGV[2]] - v[ARGV[1]] + 0 }' "$1" "$2"
}

# sample: "uptime busy steal server children" in seconds: busy and steal of
# the whole machine (/proc/stat), the server's utime+stime, and the CPU of
# this shell's reaped children (the tool, through timeout).
sample() {
    awk -v t="$TCK" -v srv="/proc/$RS_SERVER_PID/stat" '
        FILENAME == "/proc/uptime" { up = $1; next }
        FILENAME == "/proc/stat" { if ($1 == "cpu") { busy = ($2 + $3 + $4 + $7 + $8) / t; steal = $9 / t }; next }
        FILENAME == srv { sub(/.*\) /, ""); s = ($12 + $13) / t; next }
        { sub(/.*\) /, ""); ch = ($14 + $15) / t }
        END { printf "%.2f %.2f %.2f %.2f %.2f\n", up, busy, steal, s, ch }' \
        /proc/uptime /proc/stat "/proc/$RS_SERVER_PID/stat" "/proc/$$/stat"
}

field() { "$RS_LOADGEN" field "$1" "$2" 2>/dev/null || echo null; }
# percentile P of the third column (us) of an h2load --log-file
log_pct() { cut -f3 "$1" | sort -n | awk -v p="$2" '{ v[NR] = $1 } END { i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; print v[i] + 0 }'; }

ROWS=()
# run ROUND DEPTH TRANSPORT
run() {
    local r=$1 m=$2 t=$3 base="$OUT_DIR/r$1-m$2-$3" proto tool tool_n rps p50 p99 errs=""
    local m0=$base.metrics0 m1=$base.metrics1 s0 s1 handler
    case $t in
    tcp) proto=tcp handler="" ;;
    connect-*) proto=connect handler=connect ;;
    grpc-h2) proto=grpc handler=enveloped_rpc ;;
    esac
    rs_log "round $r, $CONNS connections x $m in flight, $t, ${DUR}s"
    scrape "$m0"
    s0=$(sample)
    case $t in
    tcp)
        tool=readstate-loadgen
        timeout $((DUR + 60)) "$RS_LOADGEN" --target "rs://127.0.0.1:$RS_SERVER_PORT" --max \
            --ack 100 --users "$USERS" --channels-per-user "$CHANNELS" --zipf 0 \
            --connections "$CONNS" --pipeline "$m" --duration "$DUR" --warmup 0 --quiet \
            --seed "$r" --json "$base.json" >"$base.txt" 2>&1 || errs="the load generator failed"
        ;;
    connect-h1 | connect-h1-fixed)
        tool=wrk
        local mode=applied
        [ $t = connect-h1-fixed ] && mode=fixed
        timeout $((DUR + 60)) wrk -t 1 -c "$CONNS" -d "${DUR}s" -s "$RS_TMP/ack.lua" \
            "http://127.0.0.1:$HTTP_PORT" -- "$USERS" "$CHANNELS" "$m" "$mode" \
            "$(snowflake_now)" "$ACK_PATH" "$r" "$FIX_USER" "$FIX_CHAN" >"$base.txt" 2>&1 ||
            errs="wrk failed"
        ;;
    grpc-h2 | connect-h2)
        tool=h2load
        local hdr=(-H 'content-type: application/proto') body=$RS_TMP/ack.bin
        [ $t = grpc-h2 ] && hdr=(-H 'content-type: application/grpc' -H 'te: trailers') &&
            body=$RS_TMP/ack.grpc
        timeout $((DUR + 60)) h2load -t 1 -c "$CONNS" -m "$m" -D "$DUR" -d "$body" "${hdr[@]}" \
            --log-file "$base.log" "http://127.0.0.1:$HTTP_PORT$ACK_PATH" >"$base.txt" 2>&1 ||
            errs="h2load failed"
        ;;
    esac
    s1=$(sample)
    scrape "$m1"
    [ -z "$errs" ] || { tail -20 "$base.txt" >&2; rs_die "round $r depth $m $t: $errs (see $base.txt)"; }

    # the tool's count, throughput, latency and errors
    case $tool in
    readstate-loadgen)
        tool_n=$(field "$base.json" totals.answered)
        rps=$(field "$base.json" totals.throughput_rps)
        p50=$(field "$base.json" latency.all.p50_us)
        p99=$(field "$base.json" latency.all.p99_us)
        [ "$(field "$base.json" totals.errors)" = 0 ] ||
            errs="$(field "$base.json" totals.errors) errors"
        ;;
    wrk)
        local line
        line=$(grep '^WRK ' "$base.txt") || rs_die "round $r depth $m $t: no summary from wrk (see $base.txt)"
        kv() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$line"; }
        tool_n=$(kv requests)
        rps=$(awk '/^Requests\/sec:/ { print $2 }' "$base.txt")
        p50=null p99=null # pipelined, wrk's percentiles mix batches and requests
        [ "$m" = 1 ] && p50=$(kv p50_us) && p99=$(kv p99_us)
        local k
        for k in non2xx connect read write timeout; do
            [ "$(kv $k)" = 0 ] || errs="$errs wrk $k errors: $(kv $k);"
        done
        ;;
    h2load)
        local req codes
        req=$(grep '^requests:' "$base.txt") || rs_die "round $r depth $m $t: no summary from h2load (see $base.txt)"
        codes=$(grep '^status codes:' "$base.txt")
        tool_n=$(awk '{ print $8 }' <<<"$req")                    # succeeded
        rps=$(awk '/^finished in/ { print $4 }' "$base.txt")
        [ "$(awk '{ print $10 + $12 + $14 }' <<<"$req")" = 0 ] || errs="h2load: $req;"
        [ "$(awk '{ print $3 }' <<<"$codes" | tr -d ,)" = "$(awk '{ print $6 }' <<<"$req")" ] &&
            [ "$(awk '{ print $5 + $7 + $9 }' <<<"$codes")" = 0 ] || errs="$errs h2load $codes;"
        [ "$(awk '$2 != 200' "$base.log" | wc -l)" = 0 ] || errs="$errs statuses other than 200 in the log;"
        p50=$(log_pct "$base.log" 50)
        p99=$(log_pct "$base.log" 99)
        rm -f "$base.log"
        ;;
    esac
    # the server's side: calls, non-2xx responses, gRPC/enveloped statuses
    local n e
    n=$(mdelta "$m0" "$m1" "readstates_rpc_calls_total{protocol=\"$proto\"}")
    if [ -n "$handler" ]; then
        e=$(non2xx "$m0" "$m1" "$handler")
        [ "$e" = 0 ] || errs="$errs server: $e non-2xx $handler responses;"
    fi
    for p in grpc grpc_web grpc_web_text connect_stream; do
        e=$(mdelta "$m0" "$m1" "readstates_http_enveloped_errors_total{protocol=\"$p\"}")
        [ "$e" = 0 ] || errs="$errs server: readstates_http_enveloped_errors_total{protocol=\"$p\"} +$e;"
    done
    [ "${tool_n:-0}" -gt 0 ] 2>/dev/null || errs="$errs the tool counted no answers;"
    awk -v a="$n" -v b="${tool_n:-0}" -v slack=$((CONNS * m + CONNS)) \
        'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= slack) }' ||
        errs="$errs server counted $n $proto calls, $tool $tool_n (more apart than $CONNS x $m in flight);"
    [ -z "$errs" ] || rs_die "round $r depth $m $t:$errs (see $base.txt)"

    local us cl steal oth
    read -r us cl steal oth < <(awk -v a="$s0" -v b="$s1" -v n="$n" -v np="$NPROC" 'BEGIN {
        split(a, x, " "); split(b, y, " "); el = y[1] - x[1]; if (el <= 0) el = 1e-9
        srv = y[4] - x[4]; cl = y[5] - x[5]
        oth = ((y[2] - x[2]) - srv - cl) / el; if (oth < 0) oth = 0
        printf "%.2f %.2f %.1f %.2f\n", srv * 1e6 / n, cl * 1e6 / n, 100 * (y[3] - x[3]) / (el * np), oth }')
    ROWS+=("$r $m $t $tool $rps $us $cl $p50 $p99 $n $tool_n $steal $oth")
    rs_log "  $t: $(printf %.0f "$rps") req/s, server $us us/req, client $cl us/req, steal $steal%"
}

T_LIST=($TRANSPORTS)
NT=${#T_LIST[@]}
for ((round = 1; round <= ROUNDS; round++)); do
    start_server "$round"
    rs_log "fill: $USERS users x $CHANNELS channels"
    timeout 300 "$RS_LOADGEN" --target "rs://127.0.0.1:$RS_SERVER_PORT" --quiet \
        --fill-users "$USERS" --fill-channels "$CHANNELS" --connections 8 --pipeline 16 \
        --duration 250 >"$OUT_DIR/fill-$round.txt" 2>&1 || rs_die "fill failed (see $OUT_DIR/fill-$round.txt)"
    for m in $DEPTHS; do
        for ((i = 0; i < NT; i++)); do
            run "$round" "$m" "${T_LIST[$(((i + round - 1) % NT))]}"
        done
    done
    rs_stop_pid "$RS_SERVER_PID" 30
    RS_SERVER_PID=""
done

# ---- tables ---------------------------------------------------------------
TABLES=$OUT_DIR/tables.md
rows() { printf '%s\n' "${ROWS[@]}"; }
# value of column C for ROUND DEPTH TRANSPORT
col() { rows | awk -v r="$1" -v m="$2" -v t="$3" -v c="$4" '$1 == r && $2 == m && $3 == t { print $c }'; }
{
    printf '## bench-http.sh: server CPU per Ack by transport\n\n'
    printf '%s; %s x %s in flight; %s s per run; %s round(s); %s users x %s channels, memory-only readstated; nproc %s, %s; commit %s\n\n' \
        "$(date -u +%Y-%m-%dT%H:%MZ)" "$CONNS" "$DEPTHS" "$DUR" "$ROUNDS" "$USERS" "$CHANNELS" "$NPROC" \
        "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
        "$(git -C "$RS_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    printf '| round | in flight/conn | transport | tool | req/s | server µs/req | / tcp | client µs/req | p50 ms | p99 ms | server calls | tool count | steal %% | others (cores) |\n'
    printf '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n'
    rows | while read -r r m t tool rps us cl p50 p99 n tn steal oth; do
        tcp=$(col "$r" "$m" tcp 6)
        awk -v r="$r" -v m="$m" -v t="$t" -v tool="$tool" -v rps="$rps" -v us="$us" -v tcp="$tcp" \
            -v cl="$cl" -v p50="$p50" -v p99="$p99" -v n="$n" -v tn="$tn" -v st="$steal" -v o="$oth" 'BEGIN {
            ratio = (tcp != "" && tcp > 0) ? sprintf("%.2f", us / tcp) : "n/a"
            l50 = (p50 == "null") ? "n/a" : sprintf("%.2f", p50 / 1000)
            l99 = (p99 == "null") ? "n/a" : sprintf("%.2f", p99 / 1000)
            printf "| %s | %s | %s | %s | %.0f | %.2f | %s | %.2f | %s | %s | %d | %d | %s | %s |\n",
                r, m, t, tool, rps, us, ratio, cl, l50, l99, n, tn, st, o }'
    done
    printf '\nSummary, median over the rounds (min-max). "/ tcp" is server CPU per request over\n'
    printf 'tcp'"'"'s in the same round and depth. "adjusted" (fixed-body rows only) adds back the\n'
    printf 'workload difference measured over HTTP/1.1 in the same round (connect-h1 minus\n'
    printf 'connect-h1-fixed: applied Acks over many users against one user'"'"'s no-op Acks).\n\n'
    printf '| in flight/conn | transport | req/s | server µs/req | / tcp | adjusted / tcp |\n'
    printf '|---|---|---|---|---|---|\n'
    for m in $DEPTHS; do
        for t in $TRANSPORTS; do
            vals=""
            for ((r = 1; r <= ROUNDS; r++)); do
                us=$(col "$r" "$m" "$t" 6)
                tcp=$(col "$r" "$m" tcp 6)
                h1=$(col "$r" "$m" connect-h1 6)
                h1f=$(col "$r" "$m" connect-h1-fixed 6)
                vals+="$(col "$r" "$m" "$t" 5) $us ${tcp:-x} ${h1:-x} ${h1f:-x}"$'\n'
            done
            fixed=0
            case $t in grpc-h2 | connect-h2) fixed=1 ;; esac
            awk -v m="$m" -v t="$t" -v fixed="$fixed" '
                function med(a, n,   i, j, x) { for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
                    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
                function fmt(a, n, f) { if (n == 0) return "n/a"; return sprintf(f " (" f "-" f ")", med(a, n), a[1], a[n]) }
                NF >= 2 { q[++nq] = $1; u[++nu] = $2
                    if ($3 != "x" && $3 > 0) { rt[++nr] = $2 / $3
                        if (fixed && $4 != "x" && $5 != "x") ad[++na] = ($2 + $4 - $5) / $3 } }
                END { printf "| %s | %s | %s | %s | %s | %s |\n", m, t, fmt(q, nq, "%.0f"), fmt(u, nu, "%.2f"),
                          fmt(rt, nr, "%.2f"), fixed ? fmt(ad, na, "%.2f") : "" }' <<<"$vals"
        done
    done
    printf '\nsteal %%: the hypervisor'"'"'s share of all CPU time during the run (/proc/stat);\n'
    printf 'others: cores used by processes other than the server and the tool.\n'
} >"$TABLES"
printf '\n'
cat "$TABLES"
rs_log "tables and every tool's output in $OUT_DIR"
