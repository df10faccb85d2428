#!/usr/bin/env bash
# bench-tls.sh: what TLS costs readstated per request, plain and TLS side by
# side in one invocation (memory-only server, so only the transport differs).
#
#   loadgen/bench-tls.sh [--duration S] [--rate R] [--rounds N] [--no-build]
#
# A throwaway CA and server certificate (openssl command, P-256) in a
# temporary directory. Per round, for plain rs:// and then rss://, a fresh
# readstated (the same flags plus --tls-cert/--tls-key for TLS) and three
# runs of the 90/10 ack/get mix against it, 16 connections:
#   - closed loop, pipeline 16 (batches: records carry many answers)
#   - closed loop, pipeline 1 (one request per record: TLS's worst case)
#   - fixed rate (default 20000 req/s), pipeline 8
# It prints the server's CPU per request (from /proc, over the measured
# phase), the throughput and p99, and the TLS/plain ratio of server CPU per
# request for each run, with the run's hypervisor steal. Every run is bounded.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"

DUR=8
RATE=20000
ROUNDS=2
BUILD_ARG=""
while [ $# -gt 0 ]; do
    case "$1" in
    --duration) DUR=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --no-build) BUILD_ARG=--no-build; shift ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) rs_die "unknown argument $1" ;;
    esac
done
command -v openssl >/dev/null || rs_die "needs the openssl command (apt-get install openssl)"

rs_build $BUILD_ARG
rs_tmp
CERTS=$RS_TMP/certs
mkdir -p "$CERTS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$CERTS/key.pem" -out "$CERTS/cert.pem" -days 2 -subj /CN=localhost \
    -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null || rs_die "openssl could not make a certificate"

MIX=(--ack 90 --get-one 10 --users 20000 --channels-per-user 20 --connections 16 --quiet)
field() { "$RS_LOADGEN" field "$1" "$2" 2>/dev/null || echo null; }
num() { awk -v v="$1" -v f="$2" 'BEGIN { if (v == "null" || v == "") print "n/a"; else printf f, v }'; }
ms() { awk -v v="$1" 'BEGIN { if (v == "null" || v == "") print "n/a"; else printf "%.3f", v / 1000 }'; }

# run_one LABEL SCHEME JSON [loadgen args...]
run_one() {
    local label=$1 scheme=$2 json=$3
    shift 3
    local tls=()
    [ "$scheme" = rss ] && tls=(--tls-ca "$CERTS/cert.pem")
    timeout $((DUR + 120)) "$RS_LOADGEN" --target "$scheme://127.0.0.1:$RS_SERVER_PORT" \
        "${tls[@]}" "${MIX[@]}" --duration "$DUR" --warmup 1 --server-pid "$RS_SERVER_PID" \
        --json "$json" "$@" >/dev/null || rs_die "$label: the load generator failed"
    [ "$(field "$json" totals.errors)" = 0 ] || rs_die "$label: $(field "$json" totals.errors) errors"
}

printf '\n%-6s %-5s %-22s %12s %14s %10s %8s\n' round mode run "req/s" "server us/req" "p99 ms" steal%
results=()
for ((round = 1; round <= ROUNDS; round++)); do
    for scheme in rs rss; do
        flags=(--max-memory 0 --log-level warn)
        [ "$scheme" = rss ] && flags+=(--tls-cert "$CERTS/cert.pem" --tls-key "$CERTS/key.pem")
        rs_start_server "${flags[@]}"
        for run in p16 p1 rate; do
            json=$RS_TMP/$round-$scheme-$run.json
            case $run in
            p16) run_one "$scheme $run" "$scheme" "$json" --max --pipeline 16 ;;
            p1) run_one "$scheme $run" "$scheme" "$json" --max --pipeline 1 ;;
            rate) run_one "$scheme $run" "$scheme" "$json" --rate "$RATE" --pipeline 8 ;;
            esac
            us=$(field "$json" cpu.server_us_per_req)
            printf '%-6s %-5s %-22s %12s %14s %10s %8s\n' "$round" "$scheme" "$run" \
                "$(num "$(field "$json" totals.throughput_rps)" %.0f)" "$(num "$us" %.2f)" \
                "$(ms "$(field "$json" latency.all.p99_us)")" \
                "$(num "$(field "$json" steal_pct)" %.1f)"
            results+=("$round $scheme $run $us")
        done
        rs_stop_pid "$RS_SERVER_PID" 30
        RS_SERVER_PID=""
    done
done

printf '\nserver CPU per request, TLS / plain (same round, same run):\n'
for ((round = 1; round <= ROUNDS; round++)); do
    for run in p16 p1 rate; do
        plain=$(printf '%s\n' "${results[@]}" | awk -v r="$round" -v k="$run" '$1 == r && $2 == "rs" && $3 == k { print $4 }')
        tls=$(printf '%s\n' "${results[@]}" | awk -v r="$round" -v k="$run" '$1 == r && $2 == "rss" && $3 == k { print $4 }')
        awk -v r="$round" -v k="$run" -v p="$plain" -v t="$tls" 'BEGIN {
            if (p == "null" || t == "null" || p + 0 == 0) printf "  round %s %-5s n/a\n", r, k;
            else printf "  round %s %-5s %.2f us plain, %.2f us TLS: %.2fx (+%.2f us)\n", r, k, p, t, t / p, t - p }'
    done
done
