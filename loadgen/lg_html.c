/*
 * lg_html.c: the self-contained HTML report: inline SVG charts and tables,
 * no scripts, no external files, so it opens from disk anywhere.
 *
 *   +------------------------------------------------------------+
 *   | summary table (throughput, errors, CPU per request) per run |
 *   | chart: p99 (solid) and max (dashed) per second, log scale,  |
 *   |        platform hiccup max per second (dotted, --hiccups)   |
 *   | chart: answered per second                                  |
 *   | spectrum table: p50 .. max per method per run (+ ratio)     |
 *   +------------------------------------------------------------+
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lg_report.h"

#define W  960
#define H  320
#define ML 80
#define MR 20
#define MT 20
#define MB 40

static const char *const colors_[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};

static double html_num(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : 0.0;
}

static void html_esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static const char *html_label(const json_t *doc)
{
    const char *s = json_string_value(json_object_get(doc, "label"));
    return s ? s : "run";
}

typedef struct axis {
    double tmax;   /* seconds on x */
    double lo, hi; /* y range (log10 ms, or linear) */
    bool log;
} axis;

static double html_x(const axis *a, double t)
{
    return ML + (W - ML - MR) * (a->tmax > 0 ? t / a->tmax : 0);
}

static double html_y(const axis *a, double v)
{
    double u = a->log ? log10(v > 0 ? v : pow(10, a->lo)) : v;
    double f = (u - a->lo) / (a->hi - a->lo);
    if (f < 0)
        f = 0;
    if (f > 1)
        f = 1;
    return MT + (H - MT - MB) * (1 - f);
}

static void html_frame(FILE *f, const axis *a, const char *title)
{
    fprintf(f,
            "<h2>%s</h2>\n<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
            "font-family='sans-serif' font-size='11'>\n",
            title, W, H);
    fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#888'/>\n", ML,
            MT, W - ML - MR, H - MT - MB);
    if (a->log) {
        for (int d = (int)a->lo; d <= (int)a->hi; d++) {
            double y = html_y(a, pow(10, d));
            fprintf(f, "<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#ddd'/>", ML, W - MR,
                    y, y);
            if (d >= 3)
                fprintf(f, "<text x='%d' y='%.1f' text-anchor='end'>%g s</text>\n", ML - 4,
                        y + 4, pow(10, d - 3));
            else
                fprintf(f, "<text x='%d' y='%.1f' text-anchor='end'>%g ms</text>\n", ML - 4,
                        y + 4, pow(10, d));
        }
    } else {
        for (int i = 0; i <= 4; i++) {
            double v = a->lo + (a->hi - a->lo) * i / 4;
            double y = html_y(a, v);
            fprintf(f, "<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#ddd'/>", ML, W - MR,
                    y, y);
            fprintf(f, "<text x='%d' y='%.1f' text-anchor='end'>%.0f</text>\n", ML - 4, y + 4,
                    v);
        }
    }
    double step = a->tmax > 10 ? ceil(a->tmax / 10) : 1;
    for (double t = 0; t <= a->tmax + 1e-9; t += step)
        fprintf(f, "<text x='%.1f' y='%d' text-anchor='middle'>%.0f s</text>\n", html_x(a, t),
                H - MB + 16, t);
}

static void html_line(FILE *f, const axis *a, const json_t *rows, const char *key, double scale,
                      const char *color, const char *dash)
{
    fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='1.5'%s points='", color, dash);
    size_t i;
    const json_t *r;
    json_array_foreach(rows, i, r)
    {
        double t = html_num(r, "t") + 0.5;
        double v = html_num(r, key) * scale;
        if (a->log && !(v > 0))
            continue; /* an empty second has no latency */
        fprintf(f, "%.1f,%.1f ", html_x(a, t), html_y(a, v));
    }
    fprintf(f, "'/>\n");
}

/* Whether a run measured the platform's hiccups (--hiccups). */
static bool html_has_hiccups(const json_t *doc)
{
    return json_is_object(json_object_get(doc, "hiccups"));
}

static void html_legend(FILE *f, const json_t *const *docs, int n, bool kinds)
{
    for (int i = 0; i < n; i++) {
        int y = MT + 14 + 14 * i;
        fprintf(f, "<line x1='%d' x2='%d' y1='%d' y2='%d' stroke='%s' stroke-width='2'/>",
                ML + 10, ML + 30, y - 4, y - 4, colors_[i]);
        fprintf(f, "<text x='%d' y='%d'>", ML + 34, y);
        html_esc(f, html_label(docs[i]));
        if (kinds)
            fprintf(f, " (solid p99, dashed max%s)",
                    html_has_hiccups(docs[i]) ? ", dotted platform hiccup max" : "");
        fprintf(f, "</text>\n");
    }
}

static void html_latency_chart(FILE *f, const json_t *const *docs, int n)
{
    axis a = {1, 0, 0, true};
    double vmin = 1e300, vmax = 0;
    for (int i = 0; i < n; i++) {
        const json_t *rows = json_object_get(docs[i], "seconds");
        size_t j;
        const json_t *r;
        a.tmax = fmax(a.tmax, (double)json_array_size(rows));
        json_array_foreach(rows, j, r)
        {
            double p = html_num(r, "p99_us") / 1e3, m = html_num(r, "max_us") / 1e3;
            double hic = html_num(r, "hiccup_max_us") / 1e3; /* 0 without --hiccups */
            if (p > 0)
                vmin = fmin(vmin, p);
            if (hic > 0)
                vmin = fmin(vmin, hic);
            vmax = fmax(vmax, fmax(m, hic));
        }
    }
    if (vmax <= 0)
        vmin = vmax = 1;
    a.lo = floor(log10(vmin));
    a.hi = ceil(log10(vmax));
    if (a.hi <= a.lo)
        a.hi = a.lo + 1;
    html_frame(f, &a, "Latency per second: p99 and max");
    for (int i = 0; i < n; i++) {
        const json_t *rows = json_object_get(docs[i], "seconds");
        html_line(f, &a, rows, "p99_us", 1e-3, colors_[i], "");
        html_line(f, &a, rows, "max_us", 1e-3, colors_[i], " stroke-dasharray='5,3'");
        if (html_has_hiccups(docs[i]))
            html_line(f, &a, rows, "hiccup_max_us", 1e-3, colors_[i],
                      " stroke-dasharray='1,3'");
    }
    html_legend(f, docs, n, true);
    fprintf(f, "</svg>\n");
}

static void html_rate_chart(FILE *f, const json_t *const *docs, int n)
{
    axis a = {1, 0, 1, false};
    for (int i = 0; i < n; i++) {
        const json_t *rows = json_object_get(docs[i], "seconds");
        size_t j;
        const json_t *r;
        a.tmax = fmax(a.tmax, (double)json_array_size(rows));
        json_array_foreach(rows, j, r) a.hi = fmax(a.hi, html_num(r, "answered") * 1.1);
    }
    html_frame(f, &a, "Answered per second");
    for (int i = 0; i < n; i++)
        html_line(f, &a, json_object_get(docs[i], "seconds"), "answered", 1, colors_[i], "");
    html_legend(f, docs, n, false);
    fprintf(f, "</svg>\n");
}

/* doc.obj.key, or doc.key for an empty obj; NULL when absent. */
static const json_t *html_field(const json_t *doc, const char *obj, const char *key)
{
    return json_object_get(obj[0] ? json_object_get(doc, obj) : doc, key);
}

static bool html_any_key(const json_t *const *docs, int n, const char *obj, const char *key)
{
    for (int i = 0; i < n; i++)
        if (html_field(docs[i], obj, key) != NULL)
            return true;
    return false;
}

static void html_summary_table(FILE *f, const json_t *const *docs, int n)
{
    /* an empty object: a key of the document itself; "hiccups" rows only
     * when some run has them; counts print as integers, figures with two
     * decimals */
    static const struct {
        const char *obj, *key, *name;
        bool count;
    } rows[] = {
        {"totals", "throughput_rps", "throughput (answered/s)", false},
        {"totals", "sent", "sent", true},
        {"totals", "answered", "answered", true},
        {"totals", "errors", "errors", true},
        {"totals", "states_written", "states written (fill)", true},
        {"cpu", "loadgen_us_per_req", "load generator CPU (us/request)", false},
        {"cpu", "server_us_per_req", "server CPU (us/request)", false},
        {"hiccups", "p99_us", "platform hiccup p99 (us, 1 ms sleeps)", false},
        {"hiccups", "p999_us", "platform hiccup p99.9 (us)", false},
        {"hiccups", "max_us", "platform hiccup max (us)", false},
        {"hiccups", "over_1ms_pct", "time in hiccups &gt; 1 ms (%)", false},
        {"", "steal_pct", "hypervisor steal (% of CPU time)", false},
    };
    bool any_hiccups = false;
    for (int i = 0; i < n; i++)
        any_hiccups |= html_has_hiccups(docs[i]);
    fprintf(f, "<h2>Summary</h2>\n<table><tr><th></th>");
    for (int i = 0; i < n; i++) {
        fprintf(f, "<th style='color:%s'>", colors_[i]);
        html_esc(f, html_label(docs[i]));
        fprintf(f, "</th>");
    }
    fprintf(f, "%s</tr>\n", n == 2 ? "<th>ratio 1st/2nd</th>" : "");
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        if (strcmp(rows[r].obj, "hiccups") == 0 && !any_hiccups)
            continue;
        if (rows[r].count && !html_any_key(docs, n, rows[r].obj, rows[r].key))
            continue; /* states written: fill runs only */
        fprintf(f, "<tr><td>%s</td>", rows[r].name);
        double v[4] = {0};
        bool have[4] = {false};
        for (int i = 0; i < n; i++) {
            const json_t *x = html_field(docs[i], rows[r].obj, rows[r].key);
            have[i] = json_is_number(x);
            v[i] = have[i] ? json_number_value(x) : 0;
            if (have[i] && rows[r].count)
                fprintf(f, "<td>%lld</td>", (long long)llround(v[i]));
            else if (have[i])
                fprintf(f, "<td>%.2f</td>", v[i]);
            else
                fprintf(f, "<td>n/a</td>");
        }
        if (n == 2) {
            if (have[0] && have[1] && v[1] != 0)
                fprintf(f, "<td>%.2f</td>", v[0] / v[1]);
            else
                fprintf(f, "<td>n/a</td>");
        }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n");
}

static void html_spectrum_table(FILE *f, const json_t *const *docs, int n)
{
    static const char *const heads[LG_REPORT_NPCT] = {"p50",   "p90",    "p99",
                                                      "p99.9", "p99.99", "max"};
    fprintf(f, "<h2>Latency spectrum (ms)</h2>\n<table><tr><th>run</th><th>method</th>"
               "<th>count</th>");
    for (int p = 0; p < LG_REPORT_NPCT; p++)
        fprintf(f, "<th>%s</th>", heads[p]);
    fprintf(f, "</tr>\n");
    for (int i = 0; i < n; i++) {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)json_object_get(docs[i], "latency"), k, v)
        {
            fprintf(f, "<tr><td style='color:%s'>", colors_[i]);
            html_esc(f, html_label(docs[i]));
            fprintf(f, "</td><td>%s</td><td>%.0f</td>", k, html_num(v, "count"));
            for (int p = 0; p < LG_REPORT_NPCT; p++)
                fprintf(f, "<td>%.3f</td>", html_num(v, lg_report_pct_keys[p]) / 1e3);
            fprintf(f, "</tr>\n");
        }
    }
    if (n == 2) {
        const json_t *a = json_object_get(json_object_get(docs[0], "latency"), "all");
        const json_t *b = json_object_get(json_object_get(docs[1], "latency"), "all");
        fprintf(f, "<tr><td>ratio 1st/2nd</td><td>all</td><td></td>");
        for (int p = 0; p < LG_REPORT_NPCT; p++) {
            double y = html_num(b, lg_report_pct_keys[p]);
            if (y > 0)
                fprintf(f, "<td>%.2f</td>", html_num(a, lg_report_pct_keys[p]) / y);
            else
                fprintf(f, "<td>n/a</td>");
        }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n");
}

int lg_report_write_html(const char *path, const json_t *const *docs, int n)
{
    if (n < 1 || n > 4)
        return -1;
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "readstate-loadgen: cannot write %s\n", path);
        return -1;
    }
    fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>readstate-loadgen: ");
    for (int i = 0; i < n; i++) {
        html_esc(f, html_label(docs[i]));
        fprintf(f, i + 1 < n ? " vs " : "");
    }
    fprintf(f, "</title>\n<style>body{font-family:sans-serif;margin:20px}"
               "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
               "text-align:right}</style></head><body>\n<h1>readstate-loadgen report</h1>\n");
    for (int i = 0; i < n; i++) {
        const json_t *cfg = json_object_get(docs[i], "config");
        fprintf(f, "<p style='color:%s'><b>", colors_[i]);
        html_esc(f, html_label(docs[i]));
        fprintf(f, "</b>: ");
        html_esc(f, json_string_value(json_object_get(docs[i], "target")));
        fprintf(f, ", mode %s", json_string_value(json_object_get(cfg, "mode")));
        if (html_num(cfg, "rate") > 0)
            fprintf(f, " at %.0f req/s", html_num(cfg, "rate"));
        fprintf(f,
                ", %.0f connections x pipeline %.0f, %.0f users, zipf %.2f, cold %.1f%%</p>\n",
                html_num(cfg, "connections"), html_num(cfg, "pipeline"), html_num(cfg, "users"),
                html_num(cfg, "zipf"), html_num(cfg, "cold_pct"));
    }
    html_summary_table(f, docs, n);
    html_latency_chart(f, docs, n);
    html_rate_chart(f, docs, n);
    html_spectrum_table(f, docs, n);
    fprintf(f, "</body></html>\n");
    int rc = ferror(f) ? -1 : 0;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}
