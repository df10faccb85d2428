#!/bin/sh
# spike_smoke.sh: the spike replay in miniature, and checks on what it wrote.
#
#   spike_smoke.sh REPLAY NOGC_BIN GC_BIN LOADGEN OUT
#
# Runs REPLAY --smoke (20,000 states, a collection every second, 6 s of
# load per build) on the given programs, then fails unless both runs
# finished and the report holds both builds' series, at least one marked
# collection, the spectrum and no script. Performance is not asserted.
set -eu
[ $# -eq 5 ] || { echo "usage: $0 REPLAY NOGC_BIN GC_BIN LOADGEN OUT" >&2; exit 2; }
replay=$1 nogc_bin=$2 gc_bin=$3 loadgen=$4 out=$5

rm -rf "$out"
sh "$replay" --smoke --no-build --nogc-bin "$nogc_bin" --gc-bin "$gc_bin" \
    --loadgen "$loadgen" --out "$out"

. "$(dirname "$0")/smoke_checks.sh"
count() { grep -c -- "$1" "$2" 2>/dev/null || true; }
at_least() { [ "$(count "$1" "$2")" -ge "$3" ]; }

r=$out/report.html
check "report written" test -s "$r"
check "report is one HTML page" grep -q '</html>' "$r"
check "no script in the report" sh -c "! grep -qi '<script' '$r'"
for b in nogc gc; do
    for k in p99 max spectrum; do
        check "$b $k series drawn" grep -q "class=\"series\" data-build=\"$b\" data-kind=\"$k\"" "$r"
    done
    check "$b run answered requests" at_least '^[0-9]' "$out/$b.series" 3
    check "$b spectrum has p50..max" at_least '^p\|^max' "$out/$b.spectrum" 6
    check "$b server log kept" test -s "$out/$b/server.log"
done
check "a collection is marked on the chart" grep -q 'class="gcmark"' "$r"
check "a collection is in the table" grep -q '<tr class="collection">' "$r"
check "the GC build forced collections" at_least 'event=gc_forced ' "$out/gc/server.log" 1
check "the no-GC build forced none" sh -c "! grep -q 'event=gc_forced' '$out/nogc/server.log'"
check "the GC build used the collector's allocator" grep -q 'allocator=boehm-gc' "$out/gc/server.log"
check "summary has the GC ratio" grep -q 'GC build ratio (collection second max' "$out/summary.txt"
check "summary has our ratio" grep -q 'no-GC build ratio (highest per-second p99' "$out/summary.txt"
checks_done "spike smoke" "$out"
