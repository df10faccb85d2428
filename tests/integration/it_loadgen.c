/*
 * it_loadgen.c: the real readstate-loadgen against a real readstated (and
 * a real redis-server for the Redis-direct baseline), judged by the
 * loadgen's own JSON results.
 *
 *   fixed rate      2 s at 2000 req/s: scheduled == sent == answered ==
 *                   rate * duration (within one request), zero errors
 *   coordinated     1000 req/s for 4 s; ~1.2 s in, the server is SIGSTOPped
 *   omission        for 1 s then SIGCONTed: the run still has every request
 *                   (none vanished), max >= 0.9 s, and the per-second p99 of
 *                   the window where the stall drained shows it
 *   all methods     every method of the mix against readstated: no errors
 *   hiccups         2000 req/s for 3 s with --hiccups; ~1.2 s in, the load
 *                   generator itself is SIGSTOPped for 300 ms: its hiccup
 *                   meter reports that stall (max >= 200 ms, in the JSON,
 *                   the per-second rows, the CSV, the text and compare);
 *                   a run without --hiccups has no hiccup figures
 *   fill            N*M states through pipelined bulk acks, then exit
 *   redis-direct    the same mix straight against Redis via the Lua scripts:
 *                   no errors, and the hash holds the service's format
 *
 * Assertions are on the load generator's results, never on how long the
 * test itself took; performance is not asserted.
 */
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rs_testsupport.h"

#ifndef RS_LOADGEN_BIN
#define RS_LOADGEN_BIN "readstate-loadgen"
#endif

typedef struct fixture {
    rs_test_server srv;
    char dir[PATH_MAX];
} fixture;

static const char *loadgen_bin_(void)
{
    const char *b = getenv("READSTATE_LOADGEN_BIN");
    return b && *b ? b : RS_LOADGEN_BIN;
}

static int setup_(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    if (rs_tmpdir_create("loadgen", f->dir, sizeof(f->dir)) != 0 ||
        rs_test_server_start(&f->srv, NULL) != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown_(void **state)
{
    fixture *f = *state;
    if (f == NULL)
        return 0;
    int rc = rs_proc_alive(&f->srv.proc) ? 0 : -1;
    if (rc != 0)
        fprintf(stderr, "readstated died during the test\n");
    rs_test_server_cleanup(&f->srv);
    rs_tmpdir_remove(f->dir);
    free(f);
    return rc;
}

static json_t *load_json_(const char *path)
{
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (j == NULL)
        fprintf(stderr, "%s: %s\n", path, jerr.text);
    return j;
}

static double num_(const json_t *doc, const char *a, const char *b)
{
    const json_t *v = json_object_get(json_object_get(doc, a), b);
    if (!json_is_number(v))
        fail_msg("%s.%s missing from the results", a, b);
    return json_number_value(v);
}

/* Run the loadgen to completion with argv (after the binary), bounded. */
static json_t *run_loadgen_(const char *json_path, const char *const *args)
{
    const char *argv[64];
    int n = 0;
    argv[n++] = loadgen_bin_();
    for (int i = 0; args[i] != NULL && n < 60; i++)
        argv[n++] = args[i];
    argv[n++] = "--connect-timeout"; /* a loaded test machine can be slow */
    argv[n++] = "30";
    argv[n++] = "--json";
    argv[n++] = json_path;
    argv[n] = NULL;
    char *out = NULL, *err = NULL;
    int rc = rs_run(argv, NULL, 120000, &out, &err);
    if (rc != 0)
        fprintf(stderr, "loadgen exit %d\nstdout:\n%s\nstderr:\n%s\n", rc, out ? out : "",
                err ? err : "");
    free(out);
    free(err);
    assert_int_equal(rc, 0);
    json_t *doc = load_json_(json_path);
    assert_non_null(doc);
    return doc;
}

/* The CSV has a header and one line per second; the HTML report and the
 * compare page stand alone (inline SVG, no scripts, no external files). */
static void check_outputs_(fixture *f, const char *json, const char *csv, const char *html,
                           size_t rows)
{
    char *text = rs_read_file(csv, NULL);
    assert_non_null(text);
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += (*p == '\n');
    assert_int_equal(lines, rows + 1);
    assert_true(strncmp(text, "t,sent,answered,errors,p50_us,p99_us", 36) == 0);
    free(text);
    char cmp_html[PATH_MAX + 16];
    snprintf(cmp_html, sizeof(cmp_html), "%s/compare.html", f->dir);
    const char *argv[] = {loadgen_bin_(), "compare", json, json, "--html", cmp_html, NULL};
    char *out = NULL;
    assert_int_equal(rs_run(argv, NULL, 30000, &out, NULL), 0);
    assert_non_null(out);
    assert_non_null(strstr(out, "throughput"));
    assert_non_null(strstr(out, "1.00")); /* a run against itself: ratio 1 */
    /* counts are whole numbers: "answered   4000   4000   1.00" */
    json_t *doc = load_json_(json);
    assert_non_null(doc);
    long long answered = (long long)num_(doc, "totals", "answered");
    json_decref(doc);
    const char *row = strstr(out, "\nanswered ");
    char a_cell[32] = "", b_cell[32] = "", ratio[32] = "", want[128];
    assert_non_null(row);
    assert_int_equal(sscanf(row + 9, "%31s %31s %31s", a_cell, b_cell, ratio), 3);
    snprintf(want, sizeof(want), "%lld", answered);
    assert_string_equal(a_cell, want);
    assert_string_equal(b_cell, want);
    assert_string_equal(ratio, "1.00");
    free(out);
    const char *pages[] = {html, cmp_html};
    for (int i = 0; i < 2; i++) {
        char *page = rs_read_file(pages[i], NULL);
        assert_non_null(page);
        assert_non_null(strstr(page, "<svg"));
        assert_non_null(strstr(page, "<polyline"));
        assert_non_null(strstr(page, "p99.99"));
        assert_null(strstr(page, "<script"));
        assert_null(strstr(page, "src="));
        assert_null(strstr(page, "href="));
        /* the summary's counts are whole numbers, not "4000.00" */
        snprintf(want, sizeof(want), "<tr><td>answered</td><td>%lld</td>", answered);
        if (strstr(page, want) == NULL)
            fail_msg("%s: no '%s'", pages[i], want);
        free(page);
    }
}

/* The CSV's last column must be named `name`; *max receives the largest
 * value in it (0 when every cell is empty). Returns 0, or -1 when the file
 * or the column is missing. */
static int csv_last_column_max_(const char *path, const char *name, double *max)
{
    char *text = rs_read_file(path, NULL);
    if (text == NULL)
        return -1;
    *max = 0;
    int rc = -1;
    size_t line = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l != NULL;
         l = strtok_r(NULL, "\n", &save), line++) {
        const char *last = strrchr(l, ',');
        last = last ? last + 1 : l;
        if (line == 0) {
            rc = strcmp(last, name) == 0 ? 0 : -1;
            if (rc != 0)
                break;
        } else if (*last != '\0' && atof(last) > *max) {
            *max = atof(last);
        }
    }
    free(text);
    return rc;
}

/* The state letter of a process (R, S, T, ...) from /proc/<pid>/stat, or
 * '?' when it cannot be read. */
static char proc_state_(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    char *s = rs_read_file(path, NULL);
    char st = '?';
    const char *p = s ? strrchr(s, ')') : NULL;
    if (p != NULL && p[1] == ' ')
        st = p[2];
    free(s);
    return st;
}

typedef struct proc_in_state {
    pid_t pid;
    char state;
} proc_in_state;

static bool proc_in_state_(void *arg)
{
    const proc_in_state *p = arg;
    return proc_state_(p->pid) == p->state;
}

static void test_fixed_rate_counts(void **state)
{
    fixture *f = *state;
    char target[64], pid[32], path[PATH_MAX + 16];
    snprintf(target, sizeof(target), "rs://127.0.0.1:%d", f->srv.port);
    snprintf(pid, sizeof(pid), "%d", (int)f->srv.proc.pid);
    snprintf(path, sizeof(path), "%s/rate.json", f->dir);
    char csv[PATH_MAX + 16], html[PATH_MAX + 16];
    snprintf(csv, sizeof(csv), "%s/rate.csv", f->dir);
    snprintf(html, sizeof(html), "%s/rate.html", f->dir);
    const char *args[] = {"--target",      target, "--rate",     "2000", "--duration", "2",
                          "--connections", "4",    "--pipeline", "4",    "--users",    "1000",
                          "--server-pid",  pid,    "--csv",      csv,    "--html",     html,
                          "--quiet",       NULL};
    json_t *doc = run_loadgen_(path, args);
    check_outputs_(f, path, csv, html, json_array_size(json_object_get(doc, "seconds")));
    double scheduled = num_(doc, "totals", "scheduled");
    double sent = num_(doc, "totals", "sent");
    double answered = num_(doc, "totals", "answered");
    assert_true(scheduled >= 3999 && scheduled <= 4001);
    assert_true(sent == scheduled);
    assert_true(answered == sent);
    assert_true(num_(doc, "totals", "errors") == 0);
    assert_true(num_(doc, "totals", "ok") == answered);
    /* every answer is in exactly one per-second window */
    const json_t *rows = json_object_get(doc, "seconds");
    assert_true(json_array_size(rows) >= 2);
    double sum = 0;
    size_t i;
    const json_t *r;
    double ack_sum = 0;
    json_array_foreach(rows, i, r)
    {
        sum += json_number_value(json_object_get(r, "answered"));
        const json_t *ack = json_object_get(json_object_get(r, "methods"), "ack");
        ack_sum += json_number_value(json_object_get(ack, "answered"));
    }
    assert_true(sum == answered);
    /* and per method too */
    assert_true(ack_sum == num_(json_object_get(doc, "latency"), "ack", "count"));
    assert_true(ack_sum > 0);
    /* the spectrum is ordered */
    const json_t *all = json_object_get(json_object_get(doc, "latency"), "all");
    assert_true(json_number_value(json_object_get(all, "count")) == answered);
    assert_true(json_number_value(json_object_get(all, "p50_us")) <=
                json_number_value(json_object_get(all, "p99_us")));
    assert_true(json_number_value(json_object_get(all, "p99_us")) <=
                json_number_value(json_object_get(all, "max_us")));
    /* both CPU figures are reported */
    assert_true(num_(doc, "cpu", "loadgen_us_per_req") > 0);
    assert_true(num_(doc, "cpu", "server_s") >= 0);
    /* without --hiccups: no hiccup figures anywhere, an empty CSV column */
    const json_t *hic = json_object_get(doc, "hiccups");
    assert_true(hic == NULL || json_is_null(hic));
    assert_null(json_object_get(json_object_get(doc, "cpu"), "hiccup_meter_s"));
    json_array_foreach(rows, i, r)
    {
        const json_t *v = json_object_get(r, "hiccup_max_us");
        assert_true(v == NULL || json_is_null(v));
    }
    double col_max = 0;
    assert_int_equal(csv_last_column_max_(csv, "hiccup_max_us", &col_max), 0);
    assert_true(col_max == 0);
    /* steal is measured either way (a number where /proc/stat exists) */
    const json_t *steal = json_object_get(doc, "steal_pct");
    assert_true(json_is_number(steal) || json_is_null(steal));
    json_decref(doc);
}

typedef struct log_has {
    const char *path;
    const char *needle;
} log_has;

static bool log_has_(void *arg)
{
    log_has *l = arg;
    char *s = rs_read_file(l->path, NULL);
    bool ok = s != NULL && strstr(s, l->needle) != NULL;
    free(s);
    return ok;
}

static void test_coordinated_omission(void **state)
{
    fixture *f = *state;
    char target[64], path[PATH_MAX + 16];
    snprintf(target, sizeof(target), "rs://127.0.0.1:%d", f->srv.port);
    snprintf(path, sizeof(path), "%s/co.json", f->dir);
    const char *argv[] = {loadgen_bin_(),
                          "--target",
                          target,
                          "--rate",
                          "1000",
                          "--duration",
                          "4",
                          "--connections",
                          "4",
                          "--users",
                          "1000",
                          "--drain",
                          "10",
                          "--connect-timeout",
                          "30",
                          "--live",
                          "--json",
                          path,
                          NULL};
    rs_proc lg;
    assert_int_equal(rs_proc_start(argv, NULL, &lg), 0);
    /* a little over one second into the measured run (its first live line) */
    log_has first = {lg.stderr_path, "[  1/4s"};
    bool started = rs_poll_until(log_has_, &first, 20000);
    if (!started)
        rs_proc_dump_log(&lg, "loadgen", stderr, 4096);
    assert_true(started);
    rs_sleep_ms(200);
    /* the stall itself: a fixed 1 s pause of the server is the point here */
    assert_int_equal(kill(f->srv.proc.pid, SIGSTOP), 0);
    rs_sleep_ms(1000);
    assert_int_equal(kill(f->srv.proc.pid, SIGCONT), 0);
    int st = 0;
    assert_int_equal(rs_proc_wait(&lg, 60000, &st), 0);
    if (rs_proc_exit_code(&lg) != 0)
        rs_proc_dump_log(&lg, "loadgen", stderr, 8192);
    assert_int_equal(rs_proc_exit_code(&lg), 0);
    rs_proc_cleanup(&lg);

    json_t *doc = load_json_(path);
    assert_non_null(doc);
    /* nothing vanished: the stalled second's requests are all there */
    double scheduled = num_(doc, "totals", "scheduled");
    assert_true(scheduled >= 3999 && scheduled <= 4001);
    assert_true(num_(doc, "totals", "answered") == scheduled);
    assert_true(num_(doc, "totals", "errors") == 0);
    /* latency counted from the schedule: the stall is in the max ... */
    double max_us = num_(json_object_get(doc, "latency"), "all", "max_us");
    assert_true(max_us >= 900000.0);
    /* ... and in the p99 of the second in which it drained */
    double best_p99 = 0;
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(doc, "seconds"), i, r)
    {
        double p = json_number_value(json_object_get(r, "p99_us"));
        if (p > best_p99)
            best_p99 = p;
    }
    assert_true(best_p99 >= 800000.0);
    /* most requests of the run waited: with 4 connections at depth 1 only a
     * handful were in flight, the rest queued and kept their schedule */
    const json_t *all = json_object_get(json_object_get(doc, "latency"), "all");
    assert_true(json_number_value(json_object_get(all, "p90_us")) >= 100000.0);
    json_decref(doc);
}

static void test_hiccups(void **state)
{
    fixture *f = *state;
    char target[64], path[PATH_MAX + 16], csv[PATH_MAX + 16];
    snprintf(target, sizeof(target), "rs://127.0.0.1:%d", f->srv.port);
    snprintf(path, sizeof(path), "%s/hiccups.json", f->dir);
    snprintf(csv, sizeof(csv), "%s/hiccups.csv", f->dir);
    const char *argv[] = {loadgen_bin_(),
                          "--target",
                          target,
                          "--rate",
                          "2000",
                          "--duration",
                          "3",
                          "--connections",
                          "4",
                          "--pipeline",
                          "4",
                          "--users",
                          "1000",
                          "--hiccups",
                          "--connect-timeout",
                          "30",
                          "--live",
                          "--json",
                          path,
                          "--csv",
                          csv,
                          NULL};
    rs_proc lg;
    assert_int_equal(rs_proc_start(argv, NULL, &lg), 0);
    /* a little over one second into the measured run (its first live line) */
    log_has first = {lg.stderr_path, "[  1/3s"};
    bool started = rs_poll_until(log_has_, &first, 20000);
    if (!started)
        rs_proc_dump_log(&lg, "loadgen", stderr, 4096);
    assert_true(started);
    rs_sleep_ms(200);
    /* the stall: the load generator itself, hiccup thread included, is
     * stopped; the 300 ms count from when the kernel says it is stopped */
    assert_int_equal(kill(lg.pid, SIGSTOP), 0);
    proc_in_state stopped = {lg.pid, 'T'};
    bool is_stopped = rs_poll_until(proc_in_state_, &stopped, 5000);
    if (is_stopped)
        rs_sleep_ms(300);
    assert_int_equal(kill(lg.pid, SIGCONT), 0);
    assert_true(is_stopped);
    int st = 0;
    assert_int_equal(rs_proc_wait(&lg, 60000, &st), 0);
    if (rs_proc_exit_code(&lg) != 0)
        rs_proc_dump_log(&lg, "loadgen", stderr, 8192);
    assert_int_equal(rs_proc_exit_code(&lg), 0);
    /* the text summary has the platform line */
    char *out = rs_read_file(lg.stdout_path, NULL);
    assert_non_null(out);
    assert_non_null(strstr(out, "platform hiccups (1 ms sleeps): p50"));
    assert_non_null(strstr(out, "time in hiccups > 1 ms:"));
    free(out);
    rs_proc_cleanup(&lg);

    json_t *doc = load_json_(path);
    assert_non_null(doc);
    assert_true(json_is_true(json_object_get(json_object_get(doc, "config"), "hiccups")));
    /* the meter saw the stall ... */
    const json_t *hic = json_object_get(doc, "hiccups");
    assert_true(json_is_object(hic));
    assert_true(num_(doc, "hiccups", "samples") > 0);
    double hic_max = num_(doc, "hiccups", "max_us");
    assert_true(hic_max >= 200000.0);
    assert_true(num_(doc, "hiccups", "p50_us") <= num_(doc, "hiccups", "p99_us"));
    assert_true(num_(doc, "hiccups", "p99_us") <= num_(doc, "hiccups", "p999_us"));
    assert_true(num_(doc, "hiccups", "p999_us") <= hic_max);
    /* 300 ms of a 3 s phase at least, but no more than all of it */
    double over = num_(doc, "hiccups", "over_1ms_pct");
    assert_true(over >= 5.0 && over <= 100.0);
    assert_true(num_(doc, "cpu", "hiccup_meter_s") >= 0);
    const json_t *steal = json_object_get(doc, "steal_pct");
    assert_true(json_is_number(steal) || json_is_null(steal));
    /* ... in exactly one per-second row, which holds the run's max */
    double row_max = 0;
    int big_rows = 0;
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(doc, "seconds"), i, r)
    {
        const json_t *v = json_object_get(r, "hiccup_max_us");
        assert_non_null(v); /* present in every row: a number or null */
        if (!json_is_number(v))
            continue;
        row_max = json_number_value(v) > row_max ? json_number_value(v) : row_max;
        big_rows += json_number_value(v) >= 200000.0;
    }
    assert_true(row_max == hic_max);
    assert_int_equal(big_rows, 1);
    /* the same stall delayed the requests due while it lasted: they went
     * out late and their latency counts from their schedule */
    assert_true(num_(json_object_get(doc, "latency"), "all", "max_us") >= 200000.0);
    assert_true(num_(doc, "totals", "errors") == 0);
    json_decref(doc);
    /* the CSV's hiccup column */
    double col_max = 0;
    assert_int_equal(csv_last_column_max_(csv, "hiccup_max_us", &col_max), 0);
    assert_true(col_max >= 200000.0);
    /* compare prints the hiccups side by side */
    const char *cargv[] = {loadgen_bin_(), "compare", path, path, NULL};
    char *cmp = NULL;
    assert_int_equal(rs_run(cargv, NULL, 30000, &cmp, NULL), 0);
    assert_non_null(cmp);
    assert_non_null(strstr(cmp, "platform hiccup p99 (ms)"));
    assert_non_null(strstr(cmp, "platform hiccup max (ms)"));
    free(cmp);
}

static void test_all_methods(void **state)
{
    fixture *f = *state;
    char target[64], path[PATH_MAX + 16];
    snprintf(target, sizeof(target), "rs://127.0.0.1:%d", f->srv.port);
    snprintf(path, sizeof(path), "%s/mix.json", f->dir);
    const char *args[] = {
        "--target", target,       "--max", "--duration", "1",   "--connections",
        "2",        "--pipeline", "8",     "--users",    "200", "--channels-per-user",
        "5",        "--ack",      "30",    "--get-one",  "20",  "--get-all",
        "15",       "--bulk-ack", "15",    "--mentions", "10",  "--set",
        "5",        "--ping",     "5",     "--cold",     "5",   "--quiet",
        NULL};
    json_t *doc = run_loadgen_(path, args);
    assert_true(num_(doc, "totals", "answered") > 0);
    assert_true(num_(doc, "totals", "errors") == 0);
    const json_t *lat = json_object_get(doc, "latency");
    static const char *const methods[] = {"ack",      "get_one", "get_all", "bulk_ack",
                                          "mentions", "set",     "ping"};
    for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++)
        assert_true(num_(lat, methods[m], "count") > 0);
    json_decref(doc);
}

static void test_fill(void **state)
{
    fixture *f = *state;
    char target[64], path[PATH_MAX + 16];
    snprintf(target, sizeof(target), "rs://127.0.0.1:%d", f->srv.port);
    snprintf(path, sizeof(path), "%s/fill.json", f->dir);
    const char *args[] = {"--target",        target, "--fill-users",  "300",
                          "--fill-channels", "150",  "--connections", "2",
                          "--pipeline",      "8",    "--quiet",       NULL};
    json_t *doc = run_loadgen_(path, args);
    /* 150 channels = one bulk ack of 100 and one of 50 per user */
    assert_true(num_(doc, "totals", "answered") == 600);
    assert_true(num_(doc, "totals", "states_written") == 300 * 150);
    assert_true(num_(doc, "totals", "errors") == 0);
    json_decref(doc);
}

static void test_redis_direct(void **state)
{
    fixture *f = *state;
    rs_test_redis redis;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    char target[64], path[PATH_MAX + 16];
    snprintf(target, sizeof(target), "redis://127.0.0.1:%d", redis.port);
    snprintf(path, sizeof(path), "%s/redis.json", f->dir);
    const char *args[] = {"--target",
                          target,
                          "--rate",
                          "500",
                          "--duration",
                          "1",
                          "--connections",
                          "2",
                          "--pipeline",
                          "4",
                          "--users",
                          "50",
                          "--channels-per-user",
                          "4",
                          "--ack",
                          "40",
                          "--get-one",
                          "15",
                          "--get-all",
                          "15",
                          "--bulk-ack",
                          "10",
                          "--mentions",
                          "10",
                          "--set",
                          "10",
                          "--quiet",
                          NULL};
    json_t *doc = run_loadgen_(path, args);
    double scheduled = num_(doc, "totals", "scheduled");
    assert_true(scheduled >= 499 && scheduled <= 501);
    assert_true(num_(doc, "totals", "answered") == scheduled);
    assert_true(num_(doc, "totals", "errors") == 0);
    json_decref(doc);

    /* the hash holds the service's field format, and acks moved forward */
    redisContext *rc = rs_test_redis_connect(&redis);
    assert_non_null(rc);
    redisReply *keys = redisCommand(rc, "KEYS readstates:{*}");
    assert_non_null(keys);
    assert_true(keys->type == REDIS_REPLY_ARRAY && keys->elements > 0);
    redisReply *h = redisCommand(rc, "HGETALL %s", keys->element[0]->str);
    assert_non_null(h);
    assert_true(h->type == REDIS_REPLY_ARRAY && h->elements >= 2);
    bool saw_version = false, saw_state = false;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const char *field = h->element[i]->str, *val = h->element[i + 1]->str;
        if (strcmp(field, "_v") == 0) {
            saw_version = atoll(val) > 0;
            continue;
        }
        unsigned long long v, m;
        unsigned c, fl;
        assert_int_equal(sscanf(val, "%llu:%llu:%u:%u", &v, &m, &c, &fl), 4);
        saw_state = true;
    }
    assert_true(saw_version && saw_state);
    freeReplyObject(h);
    freeReplyObject(keys);
    redisFree(rc);
    rs_test_redis_cleanup(&redis);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fixed_rate_counts, setup_, teardown_),
        cmocka_unit_test_setup_teardown(test_coordinated_omission, setup_, teardown_),
        cmocka_unit_test_setup_teardown(test_hiccups, setup_, teardown_),
        cmocka_unit_test_setup_teardown(test_all_methods, setup_, teardown_),
        cmocka_unit_test_setup_teardown(test_fill, setup_, teardown_),
        cmocka_unit_test_setup_teardown(test_redis_direct, setup_, teardown_),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
