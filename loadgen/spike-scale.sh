#!/bin/sh
# spike-scale.sh: the latency-spike replay at several cache sizes, one chart.
#
# Runs loadgen/spike-replay.sh once per size, same mode and load for all
# (quick unless told otherwise), each into RUNS/spike-N, then reads every
# run's files and writes, under --out:
#
#   scale.tsv    one row per size (the numbers below, raw)
#   table.md     the README's table
#   scale.svg    one chart: the GC build's collection pauses (median, with
#                min-max) and both builds' p99.9 and max, against the states
#   index.html   the chart and the table, self-contained
#
# Usage: loadgen/spike-scale.sh [--sizes "5000000 20000000 50000000"]
#          [--runs DIR] [--out DIR] [--no-run] [--loadgen PATH]
#          [-- spike-replay arguments...]
#
#   --sizes LIST   read states per run (default 5M, 20M, 50M)
#   --runs DIR     where the runs go, one DIR/spike-N each (default out)
#   --out DIR      where the chart and table go (default out/spike-scale)
#   --no-run       only read runs already in DIR/spike-N
#   --loadgen P    readstate-loadgen, to read its JSON (default: the
#                  spike replay's no-GC build)
#   after --:      passed to every spike-replay.sh run (default: --quick);
#                  e.g. -- --quick --no-build --duration 90
#
# Per size: the GC build's forced collections that began in the measured
# phase (their pause from the collector's own timing, the gc_forced log
# lines); the whole-run p99, p99.9 and max of each build (client side, from
# each request's scheduled time); the worst per-second p99, p99.9 and max
# among the seconds each collection overlaps (plus 250 ms for its backlog,
# as in spike_report.awk); each build's fill time; the cache's states and
# evictions at the end (from /dashboard.json); steal and load average.
#
# POSIX sh and awk (checked with mawk); it starts no process of its own
# besides spike-replay.sh, which stops everything it starts.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

sizes="5000000 20000000 50000000"
runs=$root/out
out=""
run=1
loadgen=""

die() {
    echo "spike-scale: $*" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
    --sizes) sizes=${2:?--sizes needs a value}; shift ;;
    --runs) runs=${2:?--runs needs a value}; shift ;;
    --out) out=${2:?--out needs a value}; shift ;;
    --no-run) run=0 ;;
    --loadgen) loadgen=${2:?--loadgen needs a value}; shift ;;
    -h | --help) sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done
[ $# -gt 0 ] || set -- --quick
out=${out:-$runs/spike-scale}
loadgen=${loadgen:-$root/build-spike-nogc/bin/readstate-loadgen}
for n in $sizes; do
    case $n in '' | *[!0-9]*) die "--sizes: '$n' is not a whole number" ;; esac
done

if [ $run -eq 1 ]; then
    for n in $sizes; do
        echo "spike-scale: $n states: spike-replay.sh $* --states $n --out $runs/spike-$n" >&2
        t0=$(date +%s)
        "$here/spike-replay.sh" "$@" --states "$n" --out "$runs/spike-$n"
        echo "$(($(date +%s) - t0))" >"$runs/spike-$n/wall_s"
    done
fi
[ -x "$loadgen" ] || die "missing $loadgen (--loadgen, or build the spike replay)"

mkdir -p "$out"

# One value of a load generator JSON document ("-" when absent).
jf() { "$loadgen" field "$1" "$2" 2>/dev/null || echo "-"; }

# One number of the dashboard's "cache" object.
cache_of() { # dashboard.json key
    sed -n "s/.*\"cache\":{[^}]*\"$2\":\([0-9]*\).*/\1/p" "$1" 2>/dev/null | head -n 1
}

# The seconds each measured collection overlaps -> worst p99 p999 max (us).
coll_seconds() { # run.csv gc.collections duration_s
    awk -F'[,\t]' -v dur="$3" '
    FNR == 1 { f++ }
    f == 1 && FNR > 1 { p99[$1] = $6; p999[$1] = $7; mx[$1] = $8; n[$1] = $3 }
    f == 2 && $1 >= 0 && $1 < dur * 1000 {
        lo = int($1 / 1000); hi = int(($1 + $2 + 250) / 1000)
        for (s = lo; s <= hi; s++) {
            if (!(s in n) || n[s] == 0) continue
            if (p99[s] > a) a = p99[s]
            if (p999[s] > b) b = p999[s]
            if (mx[s] > c) c = mx[s]
        }
    }
    END { printf "%.0f\t%.0f\t%.0f\n", a, b, c }' "$1" "$2"
}

spec() { # X.spectrum label -> value_us
    awk -F'\t' -v l="$2" '$1 == l { print $3; exit }' "$1"
}

tsv=$out/scale.tsv
{
    printf 'states\tduration_s\tinterval_s\trate\tn_coll\tpause_min_ms\tpause_med_ms\tpause_max_ms\theap_mb'
    printf '\tgc_p99_us\tgc_p999_us\tgc_max_us\tgc_coll_p99_us\tgc_coll_p999_us\tgc_coll_max_us'
    printf '\tnogc_p99_us\tnogc_p999_us\tnogc_max_us'
    printf '\tnogc_fill_s\tgc_fill_s\tnogc_states\tgc_states\tnogc_evictions\tgc_evictions'
    printf '\tnogc_steal\tgc_steal\tnogc_load\tgc_load\tnogc_hiccup_max_us\tgc_hiccup_max_us\twall_s\n'
} >"$tsv"

for n in $sizes; do
    d=$runs/spike-$n
    [ -s "$d/meta.tsv" ] || die "no run in $d (run it, or drop --no-run)"
    st=$(awk -F'\t' '$1 == "states" { print $2 }' "$d/meta.tsv")
    dur=$(awk -F'\t' '$1 == "duration_s" { print $2 }' "$d/meta.tsv")
    iv=$(awk -F'\t' '$1 == "gc_interval_s" { print $2 }' "$d/meta.tsv")
    rate=$(awk -F'\t' '$1 == "rate" { print $2 }' "$d/meta.tsv")
    pauses=$(awk -F'\t' -v dur="$dur" '$1 >= 0 && $1 < dur * 1000 { print $2 "\t" $3 }' \
        "$d/gc.collections" | sort -n | awk -F'\t' '
        { v[NR] = $1; h[NR] = $2 }
        END {
            if (NR == 0) { printf "0\t-\t-\t-\t-"; exit }
            med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%d\t%s\t%s\t%s\t%.0f", NR, v[1], med, v[NR], h[int((NR + 1) / 2)] / 1048576
        }')
    row="$st	$dur	$iv	$rate	$pauses"
    row="$row	$(spec "$d/gc.spectrum" p99)	$(spec "$d/gc.spectrum" p99.9)	$(spec "$d/gc.spectrum" max)"
    row="$row	$(coll_seconds "$d/gc/run.csv" "$d/gc.collections" "$dur")"
    row="$row	$(spec "$d/nogc.spectrum" p99)	$(spec "$d/nogc.spectrum" p99.9)	$(spec "$d/nogc.spectrum" max)"
    row="$row	$(jf "$d/nogc/fill.json" totals.elapsed_s)	$(jf "$d/gc/fill.json" totals.elapsed_s)"
    for b in nogc gc; do row="$row	$(cache_of "$d/$b/dashboard.json" states)"; done
    for b in nogc gc; do row="$row	$(cache_of "$d/$b/dashboard.json" evictions)"; done
    row="$row	$(cat "$d/nogc/steal_pct")	$(cat "$d/gc/steal_pct")"
    row="$row	$(cat "$d/nogc/loadavg_before")	$(cat "$d/gc/loadavg_before")"
    row="$row	$(jf "$d/nogc/run.json" hiccups.max_us)	$(jf "$d/gc/run.json" hiccups.max_us)"
    row="$row	$(cat "$d/wall_s" 2>/dev/null || echo -)"
    printf '%s\n' "$row" >>"$tsv"
done

machine="$(nproc 2>/dev/null || echo '?') CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1), $(uname -sr)"

awk -F'\t' -v table="$out/table.md" -v svg="$out/scale.svg" -v machine="$machine" '
function ms(us) {
    if (us == "-" || us == "") return "-"
    us /= 1000
    if (us >= 100) return sprintf("%.0f", us)
    if (us >= 10) return sprintf("%.1f", us)
    return sprintf("%.2f", us)
}
function mil(s) {
    if (s < 1000000) return (s / 1000) "k"
    return (s % 1000000 == 0) ? (s / 1000000) "M" : sprintf("%.1fM", s / 1000000)
}
function log10(x) { return log(x) / log(10) }
function fl(x,   i) { i = int(x); return (i > x) ? i - 1 : i }
function X(s) { return ML + (W - ML - MR) * s / XMAX }
function Y(v) {
    if (v < YLO) v = YLO
    return MT + (H - MT - MB) * (1 - (log10(v) - log10(YLO)) / (log10(YHI) - log10(YLO)))
}
function fmt(v) { return (v >= 100) ? sprintf("%.0f ms", v) : (v >= 10) ? sprintf("%.1f ms", v) : sprintf("%.2f ms", v) }
function line(key, color, dash, width, label, lx, ly,    i, pts) {
    pts = ""
    for (i = 1; i <= n; i++) pts = pts sprintf("%.1f,%.1f ", X(S[i]), Y(V[key, i]))
    printf "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s points=\"%s\"/>\n", \
        color, width, dash, pts > svg
    for (i = 1; i <= n; i++)
        printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.2\" fill=\"%s\"><title>%s at %s states: %s</title></circle>\n", \
            X(S[i]), Y(V[key, i]), color, label, mil(S[i]), fmt(V[key, i]) > svg
    printf "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"%s\"%s/>", \
        lx, lx + 24, ly, ly, color, width, dash > svg
    printf "<text x=\"%d\" y=\"%d\" class=\"lg\">%s</text>\n", lx + 30, ly + 4, label > svg
}
NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
{
    n++
    S[n] = $c["states"]
    for (k in c) R[k, n] = $c[k]
}
END {
    # ---- the table ----
    print "| states | GC pause min / median / max (ms) | GC heap | GC build p99 / p99.9 / max (ms) | GC build, collection seconds: worst p99 / p99.9 / max (ms) | ours p99 / p99.9 / max (ms) | fill, ours / GC (s) | steal, ours / GC |" > table
    print "|---|---|---|---|---|---|---|---|" > table
    for (i = 1; i <= n; i++)
        printf "| %s | %s / %s / %s (%s collections) | %s MiB | %s / %s / %s | %s / %s / %s | %s / %s / %s | %.0f / %.0f | %s%% / %s%% |\n", \
            mil(S[i]), ms(R["pause_min_ms", i] * 1000), ms(R["pause_med_ms", i] * 1000), ms(R["pause_max_ms", i] * 1000), R["n_coll", i], \
            R["heap_mb", i], ms(R["gc_p99_us", i]), ms(R["gc_p999_us", i]), ms(R["gc_max_us", i]), \
            ms(R["gc_coll_p99_us", i]), ms(R["gc_coll_p999_us", i]), ms(R["gc_coll_max_us", i]), \
            ms(R["nogc_p99_us", i]), ms(R["nogc_p999_us", i]), ms(R["nogc_max_us", i]), \
            R["nogc_fill_s", i], R["gc_fill_s", i], R["nogc_steal", i], R["gc_steal", i] > table

    # ---- the chart: x linear in states, y log in ms ----
    W = 760; H = 500; ML = 70; MR = 24; MT = 36; MB = 112
    XMAX = 0
    for (i = 1; i <= n; i++) {
        if (S[i] > XMAX) XMAX = S[i]
        V["pmed", i] = R["pause_med_ms", i]; V["pmin", i] = R["pause_min_ms", i]; V["pmax", i] = R["pause_max_ms", i]
        V["gmax", i] = R["gc_max_us", i] / 1000; V["g999", i] = R["gc_p999_us", i] / 1000
        V["nmax", i] = R["nogc_max_us", i] / 1000; V["n999", i] = R["nogc_p999_us", i] / 1000
    }
    step = 10 ^ fl(log10(XMAX))
    if (XMAX / step < 3) step /= 2
    XMAX = (int(XMAX / step) + 1) * step
    lo = 0; hi = 0
    for (k in V) { v = V[k]; if (v <= 0) continue; if (lo == 0 || v < lo) lo = v; if (v > hi) hi = v }
    # The proportional reference: the least-squares line through the origin
    # over every size'"'"'s median pause (ms per state).
    sxy = 0; sxx = 0
    for (i = 1; i <= n; i++) { sxy += S[i] * V["pmed", i]; sxx += S[i] * S[i] }
    refk = (sxx > 0) ? sxy / sxx : 0
    if (refk * XMAX > hi) hi = refk * XMAX
    YLO = 10 ^ fl(log10(lo)); YHI = 10 ^ (fl(log10(hi)) + 1)
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"GC pause and tail latency against cache size\">\n", W, H, W, H > svg
    print "<style>text{font:11px system-ui,sans-serif;fill:#444}.yl{text-anchor:end}.xl{text-anchor:middle}.ttl{font-size:13px;font-weight:600;fill:#222}.lg{fill:#222}.frame{fill:none;stroke:#888}.grid{stroke:#ddd}.grid2{stroke:#f0f0f0}.val{font-size:10px}</style>" > svg
    printf "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", W, H > svg
    printf "<text x=\"%d\" y=\"16\" class=\"ttl\">Latency-spike replay at scale: the GC build'"'"'s collection pauses and both builds'"'"' tails</text>\n", ML > svg
    printf "<text x=\"%d\" y=\"30\">%s; %s req/s, %s s per build, a collection every %s s</text>\n", ML, machine, R["rate", 1], R["duration_s", 1], R["interval_s", 1] > svg
    printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"frame\"/>\n", ML, MT, W - ML - MR, H - MT - MB > svg
    for (d = YLO; d <= YHI * 1.0001; d *= 10) {
        printf "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>\n", ML, W - MR, Y(d), Y(d) > svg
        printf "<text x=\"%d\" y=\"%.1f\" class=\"yl\">%s</text>\n", ML - 6, Y(d) + 4, (d >= 1000) ? (d / 1000) " s" : (d >= 1 ? d " ms" : d * 1000 " µs") > svg
        for (v = 2 * d; v < 10 * d && v < YHI; v += d)
            printf "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid2\"/>\n", ML, W - MR, Y(v), Y(v) > svg
    }
    for (s = 0; s <= XMAX; s += step) {
        printf "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" class=\"grid2\"/>\n", X(s), X(s), MT, H - MB > svg
        printf "<text x=\"%.1f\" y=\"%d\" class=\"xl\">%s</text>\n", X(s), H - MB + 16, (s == 0) ? "0" : mil(s) > svg
    }
    printf "<text x=\"%d\" y=\"%d\" class=\"xl\">read states in the cache (linear)</text>\n", ML + (W - ML - MR) / 2, H - MB + 34 > svg
    printf "<text x=\"14\" y=\"%d\" class=\"yl\" transform=\"rotate(-90 14 %d)\">latency, ms (log)</text>\n", MT + (H - MT - MB) / 2, MT + (H - MT - MB) / 2 > svg
    # The proportional fit, from the origin.
    pts = ""
    for (j = 1; j <= 40; j++) { s = XMAX * j / 40; if (refk * s >= YLO) pts = pts sprintf("%.1f,%.1f ", X(s), Y(refk * s)) }
    printf "<polyline fill=\"none\" stroke=\"#999\" stroke-width=\"1\" stroke-dasharray=\"2,3\" points=\"%s\"/>\n", pts > svg
    # GC pause min-max whiskers.
    for (i = 1; i <= n; i++) {
        printf "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#c0392b\" stroke-width=\"6\" stroke-opacity=\".3\"/>\n", \
            X(S[i]), X(S[i]), Y(V["pmin", i]), Y(V["pmax", i]) > svg
        printf "<text x=\"%.1f\" y=\"%.1f\" class=\"val\" fill=\"#c0392b\">%s</text>\n", X(S[i]) + 7, Y(V["pmed", i]) + 12, fmt(V["pmed", i]) > svg
        printf "<text x=\"%.1f\" y=\"%.1f\" class=\"val\">%s</text>\n", X(S[i]) + 7, Y(V["nmax", i]) - 6, fmt(V["nmax", i]) > svg
    }
    ly = H - MB + 56
    line("pmed", "#c0392b", "", 2.2, "GC build: collection pause (median; bar: min-max)", ML, ly)
    line("gmax", "#c0392b", " stroke-dasharray=\"6,3\"", 1.4, "GC build: max latency", ML, ly + 18)
    line("g999", "#e6a39b", " stroke-dasharray=\"2,2\"", 1.4, "GC build: p99.9", ML, ly + 36)
    line("nmax", "#1f5fa8", "", 2.2, "ours: max latency", ML + 360, ly)
    line("n999", "#9dbce0", " stroke-dasharray=\"2,2\"", 1.4, "ours: p99.9", ML + 360, ly + 18)
    printf "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#999\" stroke-dasharray=\"2,3\"/><text x=\"%d\" y=\"%d\" class=\"lg\">pause fit through 0: %.1f ms per million states</text>\n", \
        ML + 360, ML + 384, ly + 36, ly + 36, ML + 390, ly + 40, refk * 1000000 > svg
    print "</svg>" > svg
}' "$tsv"

{
    echo '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>readstates latency-spike replay at scale</title>'
    echo '<style>body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222}table{border-collapse:collapse}td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child{text-align:left}</style></head><body>'
    echo '<h1 style="font-size:20px">Latency-spike replay at scale</h1>'
    cat "$out/scale.svg"
    echo '<table>'
    awk -F'|' 'NR == 2 { next } {
        t = (NR == 1) ? "th" : "td"; printf "<tr>"
        for (i = 2; i < NF; i++) { gsub(/^ +| +$/, "", $i); printf "<%s>%s</%s>", t, $i, t }
        print "</tr>" }' "$out/table.md"
    echo '</table>'
    echo "<p>Runs: $(for n in $sizes; do printf '%s ' "$runs/spike-$n/report.html"; done)</p>"
    echo '</body></html>'
} >"$out/index.html"
cat "$out/table.md"
echo "spike-scale: $out/index.html, $out/scale.svg" >&2
