/*
 * test_report.c: how the load generator's views render a result document:
 * counts (requests sent, answered, errors, states written) as whole
 * numbers, rates and latencies with their decimals, in the text summary,
 * the HTML report, the CSV rows and `compare`.
 *
 * The documents are built here by hand (the layout lg_report_build
 * writes), so each figure's rendering is known exactly.
 */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lg_report.h"

typedef struct fixture {
    char dir[64];
    char path[4][128]; /* scratch files in dir */
} fixture;

static int setup_(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/rs-lgreport-XXXXXX",
             tmp != NULL && tmp[0] != '\0' && strlen(tmp) < 32 ? tmp : "/tmp");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    for (int i = 0; i < 4; i++)
        snprintf(f->path[i], sizeof(f->path[i]), "%s/f%d", f->dir, i);
    *state = f;
    return 0;
}

static int teardown_(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 4; i++)
        unlink(f->path[i]);
    rmdir(f->dir);
    free(f);
    return 0;
}

static char *slurp_(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    static const size_t cap = 1 << 20;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t n = fread(buf, 1, cap - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* A 2 s rate run: 5000 requests, 10 errors, 2500.5 answered/s. With fill,
 * the totals of a fill run (45000 states written) instead. */
static json_t *doc_(const char *label, bool fill)
{
    json_t *lat = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "mean_us", 180.25,
                            "min_us", 40.5, "p50_us", 150.125, "p90_us", 300.0, "p99_us",
                            1250.0, "p999_us", 2000.0, "p9999_us", 4000.0, "max_us", 5000.5);
    json_object_set_new(lat, "count", json_integer(5000));
    json_t *seconds = json_array();
    for (int t = 0; t < 2; t++)
        json_array_append_new(
            seconds,
            json_pack("{s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:{s:{s:i, s:f, s:f, "
                      "s:f}}}",
                      "t", t, "sent", 2500, "answered", 2500, "errors", 5, "p50_us", 150.125,
                      "p99_us", 1250.0, "p999_us", 2000.0, "max_us", 5000.5, "methods", "ack",
                      "answered", 2500, "p50_us", 150.125, "p99_us", 1250.0, "max_us", 5000.5));
    json_t *totals = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f}",
                               "scheduled", 5000, "sent", 5000, "answered", 5000, "ok", 4990,
                               "errors", 10, "unsent", 0, "unanswered", 0, "duration_s", 2.0,
                               "elapsed_s", 2.0, "throughput_rps", 2500.5);
    if (fill)
        json_object_set_new(totals, "states_written", json_integer(45000));
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:s, s:{s:s, s:f, s:i, s:i, s:i, s:f, s:f, s:f}, s:o, s:{s:i}, "
        "s:{s:o}, s:o, s:n, s:f, s:{s:f, s:f, s:i, s:f, s:f}}",
        "tool", "readstate-loadgen", "version", "0", "label", label, "target",
        "rs://127.0.0.1:7480", "config", "mode", fill ? "fill" : "rate", "rate",
        fill ? 0.0 : 2500.0, "connections", 4, "pipeline", 2, "users", 1000, "zipf", 0.99,
        "cold_pct", 0.0, "warmup_s", 0.0, "totals", totals, "errors", "INTERNAL", 10, "latency",
        "all", lat, "seconds", seconds, "hiccups", "steal_pct", 1.25, "cpu", "loadgen_s", 0.5,
        "loadgen_us_per_req", 100.25, "server_pid", 1, "server_s", 0.25, "server_us_per_req",
        50.125);
    assert_non_null(doc);
    return doc;
}

static void text_of_(const json_t *doc, char **out)
{
    size_t len = 0;
    FILE *fp = open_memstream(out, &len);
    assert_non_null(fp);
    lg_report_text(fp, doc);
    assert_int_equal(fclose(fp), 0);
}

/* The text summary: counts whole, throughput with its decimal. */
static void test_text_counts(void **state)
{
    (void)state;
    json_t *doc = doc_("A", false);
    char *text = NULL;
    text_of_(doc, &text);
    assert_non_null(strstr(text, "requests: scheduled 5000  sent 5000  answered 5000  ok 4990"
                                 "  errors 10  (unsent 0, unanswered 0)\n"));
    assert_non_null(strstr(text, "throughput: 2500.5 answered/s"));
    assert_non_null(strstr(text, "4 connections x pipeline 2"));
    assert_null(strstr(text, "5000.0"));
    assert_null(strstr(text, "states written")); /* a rate run writes none */
    free(text);
    json_decref(doc);

    /* a fill run says how many states it wrote */
    doc = doc_("F", true);
    text_of_(doc, &text);
    assert_non_null(strstr(text, "fill: states written 45000\n"));
    assert_null(strstr(text, "45000.0"));
    free(text);
    json_decref(doc);
}

/* The HTML summary table: the count rows whole, the figures with two
 * decimals, the ratio of two runs too. */
static void test_html_counts(void **state)
{
    fixture *f = *state;
    json_t *docs[2] = {doc_("A", false), doc_("B", false)};
    assert_int_equal(lg_report_write_html(f->path[0], (const json_t *const *)docs, 1), 0);
    char *page = slurp_(f->path[0]);
    assert_non_null(strstr(page, "<tr><td>sent</td><td>5000</td></tr>"));
    assert_non_null(strstr(page, "<tr><td>answered</td><td>5000</td></tr>"));
    assert_non_null(strstr(page, "<tr><td>errors</td><td>10</td></tr>"));
    assert_non_null(strstr(page, "<td>2500.50</td>")); /* throughput keeps its decimals */
    assert_non_null(strstr(page, "<td>100.25</td>"));  /* CPU per request too */
    assert_null(strstr(page, "5000.00"));
    assert_null(strstr(page, "<td>10.00</td>"));
    assert_null(strstr(page, "states written")); /* fill runs only */
    free(page);

    assert_int_equal(lg_report_write_html(f->path[1], (const json_t *const *)docs, 2), 0);
    page = slurp_(f->path[1]);
    assert_non_null(strstr(page, "<tr><td>answered</td><td>5000</td><td>5000</td>"
                                 "<td>1.00</td></tr>"));
    assert_null(strstr(page, "5000.00"));
    free(page);
    json_decref(docs[0]);
    json_decref(docs[1]);

    json_t *fill = doc_("F", true);
    assert_int_equal(lg_report_write_html(f->path[2], (const json_t *const *)&fill, 1), 0);
    page = slurp_(f->path[2]);
    assert_non_null(strstr(page, "<tr><td>states written (fill)</td><td>45000</td></tr>"));
    assert_null(strstr(page, "45000.00"));
    free(page);
    json_decref(fill);
}

/* The CSV rows: counts whole, latencies with three decimals. */
static void test_csv_counts(void **state)
{
    fixture *f = *state;
    json_t *doc = doc_("A", false);
    assert_int_equal(lg_report_write_csv(f->path[0], doc), 0);
    char *csv = slurp_(f->path[0]);
    assert_non_null(strstr(csv, "\n0,2500,2500,5,150.125,1250.000,2000.000,5000.500,"
                                "2500,150.125,1250.000,5000.500,\n"));
    free(csv);
    json_decref(doc);
}

/* The three numbers after `name` on its line of `text`, as text. */
static void row_cells_(const char *text, const char *name, char cells[3][32])
{
    const char *p = text;
    size_t n = strlen(name);
    while (p != NULL && !(strncmp(p, name, n) == 0 && p[n] == ' '))
        p = (p = strchr(p, '\n')) != NULL ? p + 1 : NULL;
    if (p == NULL)
        fail_msg("no row '%s' in:\n%s", name, text);
    assert_int_equal(sscanf(p + n, " %31s %31s %31s", cells[0], cells[1], cells[2]), 3);
}

/* `compare A.json B.json`: counts whole, figures with decimals. */
static void test_compare_counts(void **state)
{
    fixture *f = *state;
    json_t *a = doc_("A", false), *b = doc_("B", false);
    assert_int_equal(lg_report_write_json(f->path[0], a), 0);
    assert_int_equal(lg_report_write_json(f->path[1], b), 0);
    json_decref(a);
    json_decref(b);

    /* compare prints to stdout: point it at a file for the call */
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    assert_true(saved >= 0);
    FILE *out = fopen(f->path[2], "w");
    assert_non_null(out);
    assert_true(dup2(fileno(out), STDOUT_FILENO) >= 0);
    char *argv[] = {"compare", f->path[0], f->path[1], NULL};
    int rc = lg_compare_main(3, argv);
    fflush(stdout);
    assert_true(dup2(saved, STDOUT_FILENO) >= 0);
    close(saved);
    fclose(out);
    assert_int_equal(rc, 0);

    char *text = slurp_(f->path[2]);
    char c[3][32];
    row_cells_(text, "answered", c);
    assert_string_equal(c[0], "5000");
    assert_string_equal(c[1], "5000");
    assert_string_equal(c[2], "1.00");
    row_cells_(text, "errors", c);
    assert_string_equal(c[0], "10");
    assert_string_equal(c[1], "10");
    row_cells_(text, "throughput (answered/s)", c);
    assert_string_equal(c[0], "2500.500");
    row_cells_(text, "p99 (ms)", c);
    assert_string_equal(c[0], "1.250");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_counts),
        cmocka_unit_test_setup_teardown(test_html_counts, setup_, teardown_),
        cmocka_unit_test_setup_teardown(test_csv_counts, setup_, teardown_),
        cmocka_unit_test_setup_teardown(test_compare_counts, setup_, teardown_),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
