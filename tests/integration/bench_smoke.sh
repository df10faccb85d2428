#!/bin/sh
# bench_smoke.sh: the capacity and eviction benchmarks in miniature, so the
# scripts keep working, and the one figure of theirs that does not depend
# on the machine: the cache's accounted bytes per state.
#
#   bench_smoke.sh LOADGEN_DIR BUILD OUT
#
# BUILD holds bin/readstated and bin/readstate-loadgen (a tcmalloc build).
# Runs loadgen/bench-capacity.sh on 100,000 states (memory and write-behind,
# 2 s at 2,000 req/s) and loadgen/bench-eviction.sh on 200,000 states with
# a cache of half their need (3 s), then fails unless: both wrote their
# tables; no request failed; the cache took at most 30 accounted bytes per
# state (users x 20 channels: 24-byte states, storage/cache.h); the
# eviction run evicted and loaded in its measured phase, and Redis held
# every user after the fill. Latency is not asserted.
set -eu
[ $# -eq 3 ] || { echo "usage: $0 LOADGEN_DIR BUILD OUT" >&2; exit 2; }
lg=$1 build=$2 out=$3
rm -rf "$out"
mkdir -p "$out"

RS_BUILD=$build bash "$lg/bench-capacity.sh" --no-build --sizes 100000 --mode both \
    --duration 2 --warmup 1 --rate 2000 --out "$out/capacity" >"$out/capacity.log" 2>&1 ||
    { cat "$out/capacity.log" >&2; echo "FAILED: bench-capacity.sh" >&2; exit 1; }
RS_BUILD=$build bash "$lg/bench-eviction.sh" --no-build --states 200000 --duration 3 \
    --warmup 1 --rate 2000 --probe-rate 100 --bytes-per-state 29 \
    --out "$out/eviction" >"$out/eviction.log" 2>&1 ||
    { cat "$out/eviction.log" >&2; echo "FAILED: bench-eviction.sh" >&2; exit 1; }

. "$(dirname "$0")/smoke_checks.sh"

# A column of the capacity table's row for `mode`, by its header's text.
cap_col() { # mode header-prefix
    awk -F'|' -v mode="$1" -v want="$2" '
        /^\| mode \|/ { for (i = 2; i <= NF; i++) { h = $i; gsub(/^ +| +$/, "", h);
                        if (index(h, want) == 1) col = i } }
        col && $2 ~ "^ " mode " $" { v = $col; gsub(/^ +| +$/, "", v); print v }' \
        "$out/capacity/table.md"
}
accounted() { # mode: the bytes per state in brackets
    cap_col "$1" "B/state RSS" | sed -n 's/.*(\([0-9.]*\)).*/\1/p'
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 <= b + 0) }'; }
gt0() { awk -v a="$1" 'BEGIN { exit !(a != "" && a + 0 > 0) }'; }

t=$out/capacity/table.md
check "capacity table written" test -s "$t"
for m in memory redis; do
    check "capacity $m row present" test -n "$(cap_col $m states)"
    check "capacity $m: no errors" test "$(cap_col $m errors)" = 0
    check "capacity $m: at most 30 accounted bytes per state ($(accounted $m))" \
        le "$(accounted $m)" 30
done

e=$out/eviction/table.md
check "eviction table written" test -s "$e"
check "eviction: every answer, no errors" grep -q '(6000 answered, 0 errors, 0 unanswered)' "$e"
keys=$(sed -n 's/.*Redis keys \([0-9]*\) (users \([0-9]*\)).*/\1 \2/p' "$e")
check "eviction: Redis holds every user ($keys)" test "$(echo "$keys" | awk '{print ($1 == $2 && $1 == 10000)}')" = 1
ev=$(sed -n 's/^| evictions\/s: phase[^|]*| \([0-9.]*\);.*/\1/p' "$e")
check "eviction: evictions in the measured phase ($ev/s)" gt0 "$ev"
ld=$(sed -n 's/^| readstated loads\/s[^|]*| \([0-9.]*\);.*/\1/p' "$e")
check "eviction: loads from Redis in the measured phase ($ld/s)" gt0 "$ld"

checks_done "bench smoke" "$out"
