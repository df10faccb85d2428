/*
 * lg_compare.c: `readstate-loadgen compare A.json B.json [--html out.html]`
 * prints two saved runs side by side with the ratio A/B of each figure
 * (throughput, the latency spectrum, CPU per request, and the platform's
 * hiccups and steal when both runs have them) and optionally writes
 * the combined HTML chart. `readstate-loadgen field FILE key.key` prints one
 * value of a saved run (for scripts).
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lg_report.h"

static const json_t *cmp_get2(const json_t *doc, const char *a, const char *b)
{
    return json_object_get(json_object_get(doc, a), b);
}

/* One run's value: a count (requests, errors) as a whole number, any other
 * figure scaled, with three decimals. */
static void cmp_cell(const json_t *x, double scale, bool count)
{
    if (!json_is_number(x))
        printf(" %14s", "n/a");
    else if (count)
        printf(" %14lld", (long long)llround(json_number_value(x)));
    else
        printf(" %14.3f", json_number_value(x) * scale);
}

static void cmp_line(const char *name, const json_t *x, const json_t *y, double scale,
                     bool count)
{
    printf("%-28s", name);
    cmp_cell(x, scale, count);
    cmp_cell(y, scale, count);
    if (json_is_number(x) && json_is_number(y) && json_number_value(y) != 0)
        printf(" %10.2f\n", json_number_value(x) / json_number_value(y));
    else
        printf(" %10s\n", "n/a");
}

/* A figure of both runs and the ratio A/B. */
static void cmp_row(const char *name, const json_t *x, const json_t *y, double scale)
{
    cmp_line(name, x, y, scale, false);
}

/* A count of both runs and the ratio A/B. */
static void cmp_count_row(const char *name, const json_t *x, const json_t *y)
{
    cmp_line(name, x, y, 1, true);
}

static void cmp_print_compare(const json_t *a, const json_t *b)
{
    const char *la = json_string_value(json_object_get(a, "label"));
    const char *lb = json_string_value(json_object_get(b, "label"));
    printf("%-28s %14.14s %14.14s %10s\n", "", la ? la : "A", lb ? lb : "B", "A/B");
    cmp_row("throughput (answered/s)", cmp_get2(a, "totals", "throughput_rps"),
            cmp_get2(b, "totals", "throughput_rps"), 1);
    cmp_count_row("answered", cmp_get2(a, "totals", "answered"),
                  cmp_get2(b, "totals", "answered"));
    cmp_count_row("errors", cmp_get2(a, "totals", "errors"), cmp_get2(b, "totals", "errors"));
    static const char *const names[LG_REPORT_NPCT] = {"p50 (ms)",   "p90 (ms)",    "p99 (ms)",
                                                      "p99.9 (ms)", "p99.99 (ms)", "max (ms)"};
    const json_t *sa = cmp_get2(a, "latency", "all"), *sb = cmp_get2(b, "latency", "all");
    for (int i = 0; i < LG_REPORT_NPCT; i++)
        cmp_row(names[i], json_object_get(sa, lg_report_pct_keys[i]),
                json_object_get(sb, lg_report_pct_keys[i]), 1e-3);
    cmp_row("loadgen CPU (us/request)", cmp_get2(a, "cpu", "loadgen_us_per_req"),
            cmp_get2(b, "cpu", "loadgen_us_per_req"), 1);
    cmp_row("server CPU (us/request)", cmp_get2(a, "cpu", "server_us_per_req"),
            cmp_get2(b, "cpu", "server_us_per_req"), 1);
    /* what the platform did in each run (--hiccups; steal always), when
     * both runs have it */
    const json_t *ha = json_object_get(a, "hiccups"), *hb = json_object_get(b, "hiccups");
    if (json_is_object(ha) && json_is_object(hb)) {
        cmp_row("platform hiccup p99 (ms)", json_object_get(ha, "p99_us"),
                json_object_get(hb, "p99_us"), 1e-3);
        cmp_row("platform hiccup p99.9 (ms)", json_object_get(ha, "p999_us"),
                json_object_get(hb, "p999_us"), 1e-3);
        cmp_row("platform hiccup max (ms)", json_object_get(ha, "max_us"),
                json_object_get(hb, "max_us"), 1e-3);
        cmp_row("time in hiccups > 1 ms (%)", json_object_get(ha, "over_1ms_pct"),
                json_object_get(hb, "over_1ms_pct"), 1);
    }
    const json_t *sa_ = json_object_get(a, "steal_pct"), *sb_ = json_object_get(b, "steal_pct");
    if (json_is_number(sa_) && json_is_number(sb_))
        cmp_row("hypervisor steal (%)", sa_, sb_, 1);
}

int lg_field_main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: readstate-loadgen field FILE.json key[.key...]\n");
        return 2;
    }
    json_error_t jerr;
    json_t *doc = json_load_file(argv[1], 0, &jerr);
    if (doc == NULL) {
        fprintf(stderr, "readstate-loadgen: %s: %s\n", argv[1], jerr.text);
        return 1;
    }
    char path[256];
    snprintf(path, sizeof(path), "%s", argv[2]);
    const json_t *v = doc;
    char *save = NULL;
    for (char *k = strtok_r(path, ".", &save); k != NULL && v != NULL;
         k = strtok_r(NULL, ".", &save))
        v = json_object_get(v, k);
    int rc = 0;
    if (json_is_integer(v))
        printf("%lld\n", (long long)json_integer_value(v));
    else if (json_is_real(v))
        printf("%.6f\n", json_real_value(v));
    else if (json_is_string(v))
        printf("%s\n", json_string_value(v));
    else if (json_is_null(v))
        printf("null\n");
    else {
        fprintf(stderr, "readstate-loadgen: %s: no value at %s\n", argv[1], argv[2]);
        rc = 1;
    }
    json_decref(doc);
    return rc;
}

int lg_compare_main(int argc, char **argv)
{
    const char *files[2] = {NULL, NULL}, *html = NULL;
    int nf = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--html") == 0 && i + 1 < argc)
            html = argv[++i];
        else if (argv[i][0] != '-' && nf < 2)
            files[nf++] = argv[i];
        else {
            fprintf(stderr,
                    "usage: readstate-loadgen compare A.json B.json [--html out.html]\n");
            return 2;
        }
    }
    if (nf != 2) {
        fprintf(stderr, "usage: readstate-loadgen compare A.json B.json [--html out.html]\n");
        return 2;
    }
    json_t *docs[2] = {NULL, NULL};
    int rc = 0;
    for (int i = 0; i < 2; i++) {
        json_error_t jerr;
        docs[i] = json_load_file(files[i], 0, &jerr);
        if (docs[i] == NULL || !json_is_object(docs[i])) {
            fprintf(stderr, "readstate-loadgen: %s: %s (line %d)\n", files[i], jerr.text,
                    jerr.line);
            rc = 1;
        }
    }
    if (rc == 0) {
        cmp_print_compare(docs[0], docs[1]);
        if (html != NULL && lg_report_write_html(html, (const json_t *const *)docs, 2) != 0)
            rc = 1;
    }
    json_decref(docs[0]);
    json_decref(docs[1]);
    return rc;
}
