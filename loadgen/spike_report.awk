# spike_report.awk: the latency-spike replay's report, one self-contained
# HTML page (inline SVG, no scripts), and a plain-text summary.
#
# POSIX awk, no extensions (checked with mawk). Run by spike-replay.sh:
#
#   awk -f spike_report.awk -v summary=DIR/summary.txt \
#       DIR/meta.tsv DIR/nogc.series DIR/gc.series DIR/nogc.spectrum \
#       DIR/gc.spectrum DIR/gc.collections > DIR/report.html
#
# Inputs, tab-separated, no header; a file is told apart by its name:
#   meta.tsv        key  value                     (shown as given)
#   *.series        sec  answered  p99_us  max_us  (one line per second of
#                   the measured phase, by completion time)
#   *.spectrum      label  percentile  value_us    (p50 .. p99.99, max)
#   gc.collections  offset_ms  duration_ms  heap_bytes
#                   (offset from the GC run's measured-phase start)
#
# The page:
#   [ summary ] [ per-second p99, both builds, collections marked ]
#   [ per-second max, same axis ] [ percentile spectrum ] [ tables ]
#
# Ratios (also in the summary file):
#   GC build: for each collection, the highest per-second max among the
#   seconds the collection overlaps (widened by DRAIN_MS for the backlog it
#   leaves), over the median per-second max of the run.
#   Ours: the highest per-second p99 over the median per-second p99.

BEGIN {
    FS = "\t"
    DRAIN_MS = 250
    W = 960; H = 250; ML = 72; MR = 24; MT = 28; MB = 44
    COL_GC = "#c0392b"; COL_GC_LIGHT = "#e6a39b"
    COL_NOGC = "#1f5fa8"; COL_NOGC_LIGHT = "#9dbce0"
    nmeta = 0; ncoll = 0
    nser["nogc"] = 0; nser["gc"] = 0
    nspec["nogc"] = 0; nspec["gc"] = 0
}

function base_(path,    n, parts) {
    n = split(path, parts, "/")
    return parts[n]
}

{
    f = base_(FILENAME)
    if (f == "meta.tsv") {
        meta_k[++nmeta] = $1; meta_v[nmeta] = $2; meta[$1] = $2
    } else if (f ~ /\.series$/) {
        b = (f ~ /^nogc/) ? "nogc" : "gc"
        i = ++nser[b]
        ser_t[b, i] = $1 + 0; ser_n[b, i] = $2 + 0
        ser_p99[b, i] = $3 + 0; ser_max[b, i] = $4 + 0
    } else if (f ~ /\.spectrum$/) {
        b = (f ~ /^nogc/) ? "nogc" : "gc"
        i = ++nspec[b]
        spec_l[b, i] = $1; spec_p[b, i] = $2 + 0; spec_v[b, i] = $3 + 0
    } else if (f == "gc.collections") {
        i = ++ncoll
        coll_off[i] = $1 + 0; coll_dur[i] = $2 + 0; coll_heap[i] = $3 + 0
    }
}

# ---- small helpers -------------------------------------------------------

function esc(s) {
    gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s)
    gsub(/"/, "\\&quot;", s)
    return s
}

function log10(x) { return log(x) / log(10) }

function floor_(x,    i) { i = int(x); return (i > x) ? i - 1 : i }

# Median of v[1..n] (copied and sorted; n is small: one value per second).
function median(v, n,    a, i, j, t) {
    if (n == 0) return 0
    for (i = 1; i <= n; i++) a[i] = v[i]
    for (i = 2; i <= n; i++) {
        t = a[i]
        for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
        a[j + 1] = t
    }
    if (n % 2) return a[(n + 1) / 2]
    return (a[n / 2] + a[n / 2 + 1]) / 2
}

# A latency in microseconds, human-readable.
function fmt_us(us) {
    if (us >= 1000000) return sprintf("%.2f s", us / 1000000)
    if (us >= 10000) return sprintf("%.0f ms", us / 1000)
    if (us >= 1000) return sprintf("%.1f ms", us / 1000)
    if (us >= 10) return sprintf("%.0f µs", us)
    return sprintf("%.1f µs", us)
}

function fmt_ratio(r) {
    if (r >= 100) return sprintf("%.0fx", r)
    if (r >= 10) return sprintf("%.1fx", r)
    return sprintf("%.2fx", r)
}

# ---- scales ----------------------------------------------------------------

function xs(t) { return ML + (W - ML - MR) * t / XMAX }

function ys(v) {
    if (v < YLO) v = YLO
    return MT + (H - MT - MB) * (1 - (log10(v) - log10(YLO)) / (log10(YHI) - log10(YLO)))
}

# Power-of-ten bounds around every value of the given kind, both builds.
function y_bounds(kind,    b, i, v, lo, hi) {
    lo = 0; hi = 0
    for (b in nser) {
        for (i = 1; i <= nser[b]; i++) {
            v = (kind == "p99") ? ser_p99[b, i] : ser_max[b, i]
            if (v <= 0) continue
            if (lo == 0 || v < lo) lo = v
            if (v > hi) hi = v
        }
    }
    if (lo == 0) { lo = 10; hi = 1000 }
    YLO = 10 ^ floor_(log10(lo))
    YHI = 10 ^ (floor_(log10(hi)) + 1)
    if (YHI <= YLO * 10) YHI = YLO * 100
}

function axes(title, ylabel,    d, v, y, t, step, nt) {
    printf "<text x=\"%d\" y=\"16\" class=\"ttl\">%s</text>\n", ML, esc(title)
    printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"frame\"/>\n", \
        ML, MT, W - ML - MR, H - MT - MB
    for (d = YLO; d <= YHI * 1.0001; d *= 10) {
        y = ys(d)
        printf "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>\n", \
            ML, W - MR, y, y
        printf "<text x=\"%d\" y=\"%.1f\" class=\"yl\">%s</text>\n", ML - 6, y + 4, fmt_us(d)
        for (v = 2 * d; v < 10 * d && v < YHI; v += d) {
            y = ys(v)
            printf "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid2\"/>\n", \
                ML, W - MR, y, y
        }
    }
    step = 1
    nt = XMAX
    while (nt / step > 12) step = (step == 1) ? 5 : (step == 5) ? 10 : (step == 10) ? 30 : step * 2
    for (t = 0; t <= XMAX; t += step) {
        printf "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" class=\"grid2\"/>\n", \
            xs(t), xs(t), MT, H - MB
        printf "<text x=\"%.1f\" y=\"%d\" class=\"xl\">%d s</text>\n", xs(t), H - MB + 16, t
    }
    printf "<text x=\"%d\" y=\"%d\" class=\"xl\">seconds since the measured phase began</text>\n", \
        ML + (W - ML - MR) / 2, H - 6
    printf "<text x=\"14\" y=\"%d\" class=\"yl\" transform=\"rotate(-90 14 %d)\">%s</text>\n", \
        MT + (H - MT - MB) / 2, MT + (H - MT - MB) / 2, esc(ylabel)
}

function collections_marks(    i, x0, x1) {
    for (i = 1; i <= ncoll; i++) {
        x0 = xs(coll_off[i] / 1000)
        x1 = xs((coll_off[i] + coll_dur[i]) / 1000)
        if (x1 - x0 < 2) x1 = x0 + 2
        if (x0 < ML || x0 > W - MR) continue
        printf "<g class=\"gcmark\" data-collection=\"%d\"><rect", i
        printf " x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>", \
            x0, MT, x1 - x0, H - MT - MB
        # Labels near the right edge go to the left of their mark.
        if (x0 > W - MR - 70)
            printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"end\">GC %s</text>", \
                x0 - 3, MT + 11, fmt_us(coll_dur[i] * 1000)
        else
            printf "<text x=\"%.1f\" y=\"%d\">GC %s</text>", x0 + 3, MT + 11, fmt_us(coll_dur[i] * 1000)
        printf "<title>forced collection %d at %.3f s: %.1f ms, heap %.1f MB</title></g>\n", \
            i, coll_off[i] / 1000, coll_dur[i], coll_heap[i] / 1048576
    }
}

function series_line(b, kind, color, dash,    i, pts, v) {
    pts = ""
    for (i = 1; i <= nser[b]; i++) {
        v = (kind == "p99") ? ser_p99[b, i] : ser_max[b, i]
        if (ser_n[b, i] == 0) continue
        # A step per second: the value holds over the whole window it covers.
        pts = pts sprintf("%.1f,%.1f %.1f,%.1f ", xs(ser_t[b, i]), ys(v), xs(ser_t[b, i] + 1), ys(v))
    }
    printf "<polyline class=\"series\" data-build=\"%s\" data-kind=\"%s\" fill=\"none\" " \
        "stroke=\"%s\" stroke-width=\"1.6\"%s points=\"%s\"/>\n", b, kind, color, dash, pts
}

function legend(x, y, color, text) {
    printf "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"4\" fill=\"%s\"/>", x, y - 4, color
    printf "<text x=\"%d\" y=\"%d\" class=\"lg\">%s</text>\n", x + 18, y, esc(text)
}

function time_chart(kind, title,    svgh) {
    y_bounds(kind)
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" " \
        "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\" class=\"chart\" id=\"chart-%s\">\n", \
        W, H, W, H, esc(title), kind
    axes(title, (kind == "p99") ? "p99 per second" : "max per second")
    collections_marks()
    series_line("nogc", kind, COL_NOGC, "")
    series_line("gc", kind, COL_GC, "")
    legend(W - MR - 330, 16, COL_NOGC, "no-GC build (ours)")
    legend(W - MR - 170, 16, COL_GC, "GC build (Boehm)")
    print "</svg>"
}

# The percentile spectrum: x by "nines" (p50, p90, p99, ... evenly), max last.
function spectrum_chart(    b, i, n, x, pts, lo, hi, v, col, pw) {
    n = nspec["nogc"] > nspec["gc"] ? nspec["nogc"] : nspec["gc"]
    if (n == 0) return
    lo = 0; hi = 0
    for (b in nspec)
        for (i = 1; i <= nspec[b]; i++) {
            v = spec_v[b, i]
            if (v <= 0) continue
            if (lo == 0 || v < lo) lo = v
            if (v > hi) hi = v
        }
    if (lo == 0) { lo = 10; hi = 1000 }
    YLO = 10 ^ floor_(log10(lo)); YHI = 10 ^ (floor_(log10(hi)) + 1)
    if (YHI <= YLO * 10) YHI = YLO * 100
    pw = (W - ML - MR) / (n > 1 ? n - 1 : 1)
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" " \
        "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"percentile spectrum\" " \
        "class=\"chart\" id=\"chart-spectrum\">\n", W, H, W, H
    XMAX = 1
    printf "<text x=\"%d\" y=\"16\" class=\"ttl\">Percentile spectrum, whole measured phase</text>\n", ML
    printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"frame\"/>\n", \
        ML, MT, W - ML - MR, H - MT - MB
    for (v = YLO; v <= YHI * 1.0001; v *= 10) {
        printf "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>\n", \
            ML, W - MR, ys(v), ys(v)
        printf "<text x=\"%d\" y=\"%.1f\" class=\"yl\">%s</text>\n", ML - 6, ys(v) + 4, fmt_us(v)
    }
    b = (nspec["nogc"] >= nspec["gc"]) ? "nogc" : "gc"
    for (i = 1; i <= n; i++) {
        x = ML + (i - 1) * pw
        printf "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" class=\"grid2\"/>\n", x, x, MT, H - MB
        printf "<text x=\"%.1f\" y=\"%d\" class=\"xl\">%s</text>\n", x, H - MB + 16, esc(spec_l[b, i])
    }
    for (b in nspec) {
        col = (b == "gc") ? COL_GC : COL_NOGC
        pts = ""
        for (i = 1; i <= nspec[b]; i++) {
            x = ML + (i - 1) * pw
            pts = pts sprintf("%.1f,%.1f ", x, ys(spec_v[b, i]))
            printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%s %s: %s</title></circle>\n", \
                x, ys(spec_v[b, i]), col, (b == "gc") ? "GC build" : "no-GC build", \
                esc(spec_l[b, i]), fmt_us(spec_v[b, i])
        }
        printf "<polyline class=\"series\" data-build=\"%s\" data-kind=\"spectrum\" " \
            "fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" points=\"%s\"/>\n", b, col, pts
    }
    legend(W - MR - 330, 16, COL_NOGC, "no-GC build (ours)")
    legend(W - MR - 170, 16, COL_GC, "GC build (Boehm)")
    print "</svg>"
}

# ---- the numbers -------------------------------------------------------------

function compute(    b, i, k, n, vals, s0, s1, m, lo_t, hi_t) {
    for (b in nser) {
        n = 0
        for (i = 1; i <= nser[b]; i++) if (ser_n[b, i] > 0) vals[++n] = ser_max[b, i]
        med_max[b] = median(vals, n)
        n = 0
        for (i = 1; i <= nser[b]; i++) if (ser_n[b, i] > 0) vals[++n] = ser_p99[b, i]
        med_p99[b] = median(vals, n)
        top_p99[b] = 0; top_p99_t[b] = 0; top_max[b] = 0
        for (i = 1; i <= nser[b]; i++) {
            if (ser_n[b, i] == 0) continue
            if (ser_p99[b, i] > top_p99[b]) { top_p99[b] = ser_p99[b, i]; top_p99_t[b] = ser_t[b, i] }
            if (ser_max[b, i] > top_max[b]) top_max[b] = ser_max[b, i]
        }
    }
    # Each collection's seconds: those overlapping [start, end + DRAIN_MS].
    ncoll_in = 0
    for (k = 1; k <= ncoll; k++) {
        coll_sec[k] = -1; coll_max[k] = -1; coll_ratio[k] = -1
        # Only collections that began in the measured phase count.
        if (coll_off[k] < 0 || coll_off[k] >= XMAX * 1000) continue
        lo_t = floor_(coll_off[k] / 1000)
        hi_t = floor_((coll_off[k] + coll_dur[k] + DRAIN_MS) / 1000)
        m = -1; s0 = -1
        for (i = 1; i <= nser["gc"]; i++) {
            if (ser_n["gc", i] == 0) continue
            if (ser_t["gc", i] < lo_t || ser_t["gc", i] > hi_t) continue
            if (ser_max["gc", i] > m) { m = ser_max["gc", i]; s0 = ser_t["gc", i] }
        }
        coll_sec[k] = s0
        coll_max[k] = m
        coll_ratio[k] = (m >= 0 && med_max["gc"] > 0) ? m / med_max["gc"] : -1
        if (m >= 0) ncoll_in++
    }
    ours_ratio = (med_p99["nogc"] > 0) ? top_p99["nogc"] / med_p99["nogc"] : -1
    gc_p99_ratio = (med_p99["gc"] > 0) ? top_p99["gc"] / med_p99["gc"] : -1
    nogc_max_ratio = (med_max["nogc"] > 0) ? top_max["nogc"] / med_max["nogc"] : -1
    # Median of the GC ratios, the headline number.
    n = 0
    for (k = 1; k <= ncoll; k++) if (coll_ratio[k] >= 0) vals[++n] = coll_ratio[k]
    gc_ratio_median = median(vals, n)
    gc_ratio_n = n
}

function write_summary(out,    k) {
    printf "spike replay: %s states, %s req/s, %s s measured per build, forced collection every %s s\n", \
        meta["states"], meta["rate"], meta["duration_s"], meta["gc_interval_s"] > out
    printf "GC build: %d forced collection(s) in the measured phase; median second's max %s\n", \
        gc_ratio_n, fmt_us(med_max["gc"]) > out
    for (k = 1; k <= ncoll; k++) {
        if (coll_ratio[k] < 0) continue
        printf "  collection at %7.1f s: %8.1f ms; max of its second %s = %s the median second's max\n", \
            coll_off[k] / 1000, coll_dur[k], fmt_us(coll_max[k]), fmt_ratio(coll_ratio[k]) > out
    }
    if (gc_ratio_n > 0)
        printf "GC build ratio (collection second max / median second max): median %s\n", \
            fmt_ratio(gc_ratio_median) > out
    else
        printf "GC build ratio: no collection fell in the measured phase\n" > out
    printf "no-GC build ratio (highest per-second p99 / median per-second p99): %s (%s / %s, at %d s)\n", \
        fmt_ratio(ours_ratio), fmt_us(top_p99["nogc"]), fmt_us(med_p99["nogc"]), top_p99_t["nogc"] > out
    printf "  for reference: GC build highest/median p99 %s; no-GC build highest/median max %s\n", \
        fmt_ratio(gc_p99_ratio), fmt_ratio(nogc_max_ratio) > out
}

function html_head() {
    print "<!DOCTYPE html>"
    print "<html lang=\"en\"><head><meta charset=\"utf-8\">"
    print "<title>readstates latency-spike replay</title>"
    print "<style>"
    print "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222}"
    print "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px}"
    print "table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}"
    print "td:first-child,th:first-child{text-align:left}.summary{background:#f6f6f6;padding:10px 14px;border-radius:6px}"
    print ".summary b.gc{color:" COL_GC "}.summary b.nogc{color:" COL_NOGC "}"
    print "svg.chart{display:block;margin:10px 0}.frame{fill:none;stroke:#888}.grid{stroke:#ddd}.grid2{stroke:#f0f0f0}"
    print "svg text{font:11px system-ui,sans-serif;fill:#444}.yl{text-anchor:end}.xl{text-anchor:middle}"
    print ".ttl{font-size:13px !important;font-weight:600;fill:#222 !important}.lg{fill:#222}"
    print ".gcmark rect{fill:" COL_GC ";fill-opacity:.22;stroke:" COL_GC ";stroke-opacity:.6}.gcmark text{fill:" COL_GC ";font-size:10px}"
    print ".note{color:#555;font-size:13px}"
    print "</style></head><body>"
}

function html_summary(    k) {
    print "<h1>Latency-spike replay: a garbage-collected build against ours, same load</h1>"
    printf "<p class=\"note\">%s states in the cache; %s requests per second (open loop, latency from each request's scheduled time); %s s measured per build, one build after the other; the GC build forces a full collection every %s s.</p>\n", \
        esc(meta["states"]), esc(meta["rate"]), esc(meta["duration_s"]), esc(meta["gc_interval_s"])
    print "<div class=\"summary\">"
    if (gc_ratio_n > 0)
        printf "<p><b class=\"gc\">GC build</b>: the second of each forced collection had a max latency of <b>%s</b> the median second's max (median over %d collections; median second's max %s).</p>\n", \
            fmt_ratio(gc_ratio_median), gc_ratio_n, fmt_us(med_max["gc"])
    else
        print "<p><b class=\"gc\">GC build</b>: no forced collection fell in the measured phase.</p>"
    printf "<p><b class=\"nogc\">No-GC build</b>: the highest per-second p99 was <b>%s</b> the median per-second p99 (%s against %s).</p>\n", \
        fmt_ratio(ours_ratio), fmt_us(top_p99["nogc"]), fmt_us(med_p99["nogc"])
    print "</div>"
}

function html_tables(    b, i, k, n, v1, v2) {
    print "<h2>Percentiles, whole measured phase</h2>"
    print "<table id=\"spectrum\"><tr><th>percentile</th><th>no-GC build</th><th>GC build</th><th>GC / no-GC</th></tr>"
    n = nspec["nogc"] > nspec["gc"] ? nspec["nogc"] : nspec["gc"]
    b = (nspec["nogc"] >= nspec["gc"]) ? "nogc" : "gc"
    for (i = 1; i <= n; i++) {
        v1 = spec_v["nogc", i]; v2 = spec_v["gc", i]
        printf "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", esc(spec_l[b, i]), \
            (i <= nspec["nogc"]) ? fmt_us(v1) : "-", (i <= nspec["gc"]) ? fmt_us(v2) : "-", \
            (v1 > 0 && v2 > 0) ? fmt_ratio(v2 / v1) : "-"
    }
    print "</table>"
    print "<h2>Forced collections (GC build)</h2>"
    print "<table id=\"collections\"><tr><th>#</th><th>at</th><th>duration</th><th>heap</th><th>max of its second</th><th>/ median second's max</th></tr>"
    for (k = 1; k <= ncoll; k++)
        printf "<tr class=\"collection\"><td>%d</td><td>%.3f s</td><td>%.1f ms</td><td>%.1f MB</td><td>%s</td><td>%s</td></tr>\n", \
            k, coll_off[k] / 1000, coll_dur[k], coll_heap[k] / 1048576, \
            (coll_max[k] >= 0) ? fmt_us(coll_max[k]) : "before or after the measured phase", \
            (coll_ratio[k] >= 0) ? fmt_ratio(coll_ratio[k]) : "-"
    print "</table>"
    print "<h2>Per-second medians</h2>"
    print "<table><tr><th></th><th>no-GC build</th><th>GC build</th></tr>"
    printf "<tr><td>median per-second p99</td><td>%s</td><td>%s</td></tr>\n", fmt_us(med_p99["nogc"]), fmt_us(med_p99["gc"])
    printf "<tr><td>highest per-second p99</td><td>%s</td><td>%s</td></tr>\n", fmt_us(top_p99["nogc"]), fmt_us(top_p99["gc"])
    printf "<tr><td>median per-second max</td><td>%s</td><td>%s</td></tr>\n", fmt_us(med_max["nogc"]), fmt_us(med_max["gc"])
    printf "<tr><td>highest per-second max</td><td>%s</td><td>%s</td></tr>\n", fmt_us(top_max["nogc"]), fmt_us(top_max["gc"])
    print "</table>"
    print "<h2>Run</h2><table id=\"meta\">"
    for (i = 1; i <= nmeta; i++)
        printf "<tr><td>%s</td><td>%s</td></tr>\n", esc(meta_k[i]), esc(meta_v[i])
    print "</table>"
}

function html_notes() {
    print "<h2>What this models, and what it does not</h2>"
    print "<p class=\"note\">The GC build puts every byte of the cache (users, state arrays, hash buckets) on the Boehm collector's heap as uncollectable objects: the collector never frees them (the cache still frees entries itself, as in our build), but every collection marks through all of them. A timer on the event loop forces a full, non-incremental, single-marker collection every interval, as Go forces one at least every two minutes; automatic collections are off, so these are the only ones, which matches a cache that makes little garbage. While the mark runs the event loop answers nothing: the spike is a stop-the-world pause whose length grows with the cache's pointer graph, as Go's mark work did.</p>"
    print "<p class=\"note\">It does not model Go 1.9's concurrent collector: Go marks alongside the program, with a quarter of the CPUs in background mark workers plus <i>mutator assists</i> that make allocating goroutines mark too, and stops the world only briefly; there the mark work shows up as requests competing with the collector for CPU. This build turns the same kind of work, proportional to the cache's pointer graph, into one pause on the thread that serves requests, so it shows where the latency comes from and how it grows with the cache, not the exact shape or size of Go's spikes. Boehm scans conservatively (every word of every object, pointer-free state arrays included), where Go skips pointer-free spans.</p>"
}

END {
    XMAX = 1
    for (b in nser)
        for (i = 1; i <= nser[b]; i++)
            if (ser_t[b, i] + 1 > XMAX) XMAX = ser_t[b, i] + 1
    compute()
    if (summary != "") write_summary(summary)
    html_head()
    html_summary()
    print "<h2>Tail latency over time</h2>"
    time_chart("p99", "Per-second p99 latency (log scale); shaded: forced collections")
    time_chart("max", "Per-second max latency (log scale); shaded: forced collections")
    spectrum_chart()
    html_tables()
    html_notes()
    print "</body></html>"
}
