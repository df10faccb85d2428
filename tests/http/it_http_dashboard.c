/*
 * it_http_dashboard.c: the built-in dashboard in a real browser.
 *
 * readstated runs with its HTTP port, readstate-loadgen drives Ack and
 * GetReadStates at a fixed rate, and headless Chromium loads /dashboard:
 * the page must poll /dashboard.json, draw latency lines for both methods
 * and the other charts, and log no console errors. A screenshot is kept in
 * <build>/test-artifacts/dashboard.png.
 *
 * Chromium runs with --virtual-time-budget, so the page's 1 s polling
 * timer advances without waiting in real time (fetches still go to the
 * real server).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "http_test_client.h"
#include "rs_testsupport.h"

typedef struct seconds_wait {
    int port;
    int want; /* seconds of history with requests of two methods */
} seconds_wait;

static bool history_filled(void *arg)
{
    seconds_wait *w = arg;
    ht_response r;
    if (ht_get(w->port, "/dashboard.json", &r) != 0)
        return false;
    json_t *j = json_loads(r.body, 0, NULL);
    ht_response_free(&r);
    json_t *req = json_object_get(json_object_get(j, "history"), "requests");
    int full = 0;
    size_t n = json_array_size(json_array_get(req, 0));
    for (size_t i = 0; i < n; i++) {
        int methods = 0;
        for (size_t m = 0; m < json_array_size(req); m++)
            methods += json_integer_value(json_array_get(json_array_get(req, m), i)) > 0;
        full += methods >= 2;
    }
    json_decref(j);
    return full >= w->want;
}

/* Run Chromium headless on url with extra arguments; returns its exit
 * code and its stdout/stderr (caller frees). */
static int chromium(const char *url, const char *mode, char **out, char **err)
{
    char profile[PATH_MAX], flag_profile[PATH_MAX + 32];
    assert_int_equal(rs_tmpdir_create("chromium", profile, sizeof(profile)), 0);
    snprintf(flag_profile, sizeof(flag_profile), "--user-data-dir=%s", profile);
    const char *argv[] = {"chromium",
                          "--headless",
                          "--no-sandbox",
                          "--disable-gpu",
                          "--disable-quic",
                          "--no-first-run",
                          "--disable-background-networking",
                          "--disable-component-update",
                          "--disable-sync",
                          "--disable-extensions",
                          "--disable-dev-shm-usage",
                          flag_profile,
                          "--enable-logging=stderr",
                          "--v=0",
                          "--window-size=1400,1000",
                          "--virtual-time-budget=6000",
                          mode,
                          url,
                          NULL};
    int code = rs_run(argv, NULL, 120000, out, err);
    rs_tmpdir_remove(profile);
    return code;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static int attr_int(const char *dom, const char *attr)
{
    const char *p = strstr(dom, attr);
    return p != NULL ? atoi(p + strlen(attr)) : -1;
}

static bool line_has(const char *line, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(line + i, needle, n) == 0)
            return true;
    return false;
}

/* Chromium's stderr holds its own noise (D-Bus, GPU); page console
 * messages are the "CONSOLE" lines. The page logs nothing on success. */
static void check_console(const char *err)
{
    const char *p = err;
    int bad = 0;
    while (p != NULL && *p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (line_has(p, len, "CONSOLE") || line_has(p, len, "Uncaught")) {
            fprintf(stderr, "console: %.*s\n", (int)len, p);
            bad++;
        }
        p = eol ? eol + 1 : NULL;
    }
    assert_int_equal(bad, 0);
}

static void test_dashboard_in_chromium(void **state)
{
    (void)state;
    rs_test_server srv;
    rs_test_server_opts o = {.http = true};
    assert_int_equal(rs_test_server_start_opts(&srv, &o), 0);
    char target[64];
    snprintf(target, sizeof(target), "rs://127.0.0.1:%d", srv.port);
    const char *lg[] = {RS_HTTP_LOADGEN_BIN,
                        "--target",
                        target,
                        "--rate",
                        "1000",
                        "--connections",
                        "2",
                        "--duration",
                        "40",
                        "--ack",
                        "80",
                        "--get-one",
                        "20",
                        "--users",
                        "1000",
                        "--quiet",
                        NULL};
    rs_proc load;
    assert_int_equal(rs_proc_start(lg, NULL, &load), 0);
    seconds_wait w = {srv.http_port, 3};
    assert_true(rs_poll_until(history_filled, &w, 20000));

    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/dashboard", srv.http_port);
    char *dom = NULL, *err = NULL;
    int code = chromium(url, "--dump-dom", &dom, &err);
    if (code != 0 || dom == NULL)
        fail_msg("chromium --dump-dom exited %d:\n%s", code, err ? err : "");
    check_console(err);

    int polls = attr_int(dom, "data-polls=\"");
    int points = attr_int(dom, "data-points=\"");
    printf("dashboard: %d polls, %d seconds of history, %d lines drawn\n", polls, points,
           count(dom, "class=\"line\""));
    assert_true(polls >= 3);
    assert_true(points >= 3);
    assert_int_equal(attr_int(dom, "data-errors=\""), 0);
    assert_non_null(strstr(dom, "<div id=\"errors\"></div>"));
    assert_non_null(strstr(dom, "data-chart=\"latency-Ack\""));
    assert_non_null(strstr(dom, "data-chart=\"latency-GetReadStates\""));
    assert_non_null(strstr(dom, "data-chart=\"rps\""));
    assert_non_null(strstr(dom, "data-chart=\"hit-rate\""));
    assert_non_null(strstr(dom, "data-chart=\"dirty\""));
    assert_non_null(strstr(dom, "data-chart=\"redis\""));
    /* p50, p99, p99.9 and max for two methods, plus the other charts */
    assert_true(count(dom, "class=\"line\"") >= 10);
    assert_non_null(strstr(dom, "<b id=\"s-ready\" class=\"ok\">ready</b>"));
    free(dom);
    free(err);

    /* A screenshot for people, kept with the build. */
    mkdir(RS_HTTP_ARTIFACT_DIR, 0755);
    char shot[PATH_MAX + 32];
    snprintf(shot, sizeof(shot), "--screenshot=%s/dashboard.png", RS_HTTP_ARTIFACT_DIR);
    remove(RS_HTTP_ARTIFACT_DIR "/dashboard.png");
    code = chromium(url, shot, NULL, &err);
    if (code != 0)
        fail_msg("chromium --screenshot exited %d:\n%s", code, err ? err : "");
    check_console(err);
    free(err);
    size_t len = 0;
    char *png = rs_read_file(RS_HTTP_ARTIFACT_DIR "/dashboard.png", &len);
    assert_non_null(png);
    assert_true(len > 20000);
    assert_memory_equal(png, "\x89PNG", 4);
    free(png);
    printf("screenshot: %s/dashboard.png (%zu bytes)\n", RS_HTTP_ARTIFACT_DIR, len);

    rs_proc_stop(&load, 0, 10000, NULL);
    rs_proc_cleanup(&load);
    rs_test_server_cleanup(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dashboard_in_chromium),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
