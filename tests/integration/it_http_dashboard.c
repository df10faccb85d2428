/*
 * it_http_dashboard.c: the built-in dashboard in a real browser.
 *
 * readstated runs with its HTTP port, readstate-loadgen drives Ack and
 * GetReadStates at a fixed rate, and headless Chromium loads /dashboard:
 * the page must poll /dashboard.json, draw latency lines for both methods
 * and the other charts, and log no console errors. A screenshot is kept in
 * <build>/test-artifacts/dashboard.png.
 *
 * A second test sends one short burst of SetReadState and, a few seconds
 * later, one of DeleteReadStates (the real client, nothing else running),
 * each inside one tick of the server's 1 s history, so each method has a
 * lone second of traffic between empty seconds. In Chromium, both latency
 * panels must draw that second: the DOM must hold a marker
 * (<circle class="dot">) in each panel's chart, and a screenshot
 * (<build>/test-artifacts/dashboard-lone.png, decoded here with zlib) must
 * show series-coloured pixels inside each panel's plot area, all within a
 * few pixels of one x. A line-only chart draws nothing for such a second.
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
#include <zlib.h>

#include "http_test_client.h"
#include "rs_client.h"
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

/* ---- the screenshot ------------------------------------------------------ */

typedef struct rgb_image {
    unsigned w, h;
    unsigned char *px; /* w * h * 3 bytes, row by row */
} rgb_image;

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Decode an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium's
 * --screenshot writes) into RGB. Returns 0, or -1 for anything else. */
static int png_decode(const unsigned char *buf, size_t len, rgb_image *img)
{
    unsigned char *idat = NULL, *raw = NULL, *zero = NULL;
    size_t idat_len = 0, pos = 8;
    unsigned w = 0, h = 0, ch = 0;
    memset(img, 0, sizeof(*img));
    if (len < 8 || memcmp(buf, "\x89PNG\r\n\x1a\n", 8) != 0)
        return -1;
    while (pos + 12 <= len) {
        uint32_t n = be32(buf + pos);
        const unsigned char *type = buf + pos + 4, *data = buf + pos + 8;
        if (n > len - pos - 12)
            goto fail;
        if (memcmp(type, "IHDR", 4) == 0 && n >= 13) {
            w = be32(data);
            h = be32(data + 4);
            if (data[8] != 8 || data[12] != 0 || (data[9] != 2 && data[9] != 6))
                goto fail;
            ch = data[9] == 6 ? 4 : 3;
        } else if (memcmp(type, "IDAT", 4) == 0) {
            unsigned char *grown = realloc(idat, idat_len + n + 1);
            if (grown == NULL)
                goto fail;
            idat = grown;
            memcpy(idat + idat_len, data, n);
            idat_len += n;
        } else if (memcmp(type, "IEND", 4) == 0) {
            break;
        }
        pos += 12 + (size_t)n;
    }
    if (ch == 0 || w == 0 || h == 0 || w > 8192 || h > 8192 || idat == NULL)
        goto fail;
    size_t stride = (size_t)w * ch, raw_len = (size_t)h * (stride + 1);
    uLongf out_len = (uLongf)raw_len;
    raw = malloc(raw_len);
    zero = calloc(1, stride);
    img->px = malloc((size_t)w * h * 3);
    if (raw == NULL || zero == NULL || img->px == NULL ||
        uncompress(raw, &out_len, idat, (uLong)idat_len) != Z_OK || out_len != raw_len)
        goto fail;
    for (size_t y = 0; y < h; y++) {
        unsigned char *cur = raw + y * (stride + 1) + 1;
        const unsigned char *prev = y ? cur - (stride + 1) : zero;
        int filter = cur[-1];
        for (size_t i = 0; i < stride; i++) {
            int a = i >= ch ? cur[i - ch] : 0, b = prev[i], c = i >= ch ? prev[i - ch] : 0;
            switch (filter) {
            case 0: break;
            case 1: cur[i] = (unsigned char)(cur[i] + a); break;
            case 2: cur[i] = (unsigned char)(cur[i] + b); break;
            case 3: cur[i] = (unsigned char)(cur[i] + (a + b) / 2); break;
            case 4: cur[i] = (unsigned char)(cur[i] + paeth(a, b, c)); break;
            default: goto fail;
            }
        }
        for (size_t x = 0; x < w; x++)
            memcpy(img->px + (y * w + x) * 3, cur + x * ch, 3);
    }
    img->w = w;
    img->h = h;
    free(idat);
    free(raw);
    free(zero);
    return 0;
fail:
    free(idat);
    free(raw);
    free(zero);
    free(img->px);
    img->px = NULL;
    return -1;
}

/* The page's colours (dashboard.html): panel background and the four
 * latency series (p50, p99, p99.9, max). */
#define PANEL_RGB 0x171c24u
static const unsigned latency_rgb[] = {0x4caf50u, 0xd29922u, 0xe5534bu, 0x8b949eu};

static bool rgb_near(const rgb_image *img, unsigned x, unsigned y, unsigned rgb, int tol)
{
    const unsigned char *p = img->px + ((size_t)y * img->w + x) * 3;
    int d = abs(p[0] - (int)(rgb >> 16)) + abs(p[1] - (int)(rgb >> 8 & 0xff)) +
            abs(p[2] - (int)(rgb & 0xff));
    return d <= tol;
}

typedef struct px_box {
    int x0, y0, x1, y1; /* inclusive */
} px_box;

/* Runs of at least 300 px of panel colour on row y, left to right. */
static int panel_runs(const rgb_image *img, int y, px_box *out, int max)
{
    int n = 0;
    for (int x = 0; x < (int)img->w && n < max;) {
        if (!rgb_near(img, (unsigned)x, (unsigned)y, PANEL_RGB, 0)) {
            x++;
            continue;
        }
        int start = x;
        while (x < (int)img->w && rgb_near(img, (unsigned)x, (unsigned)y, PANEL_RGB, 0))
            x++;
        if (x - start >= 300)
            out[n++] = (px_box){start, y, x - 1, y};
    }
    return n;
}

/* The panels of the latency grid's first row, left to right: the first
 * screenshot row with a wide run of panel colour is their top (the header
 * pills are narrow); each panel ends where its left padding does. */
static int latency_panels(const rgb_image *img, px_box *out, int max)
{
    px_box tmp[1];
    int top = -1;
    for (int y = 0; y < (int)img->h && top < 0; y++)
        if (panel_runs(img, y, tmp, 1) > 0)
            top = y;
    if (top < 0 || top + 5 >= (int)img->h)
        return 0;
    int n = panel_runs(img, top + 5, out, max); /* below the rounded corners */
    for (int i = 0; i < n; i++) {
        out[i].y0 = top;
        for (int y = top; y < (int)img->h &&
                          rgb_near(img, (unsigned)out[i].x0 + 8, (unsigned)y, PANEL_RGB, 0);
             y++)
            out[i].y1 = y;
    }
    return n;
}

/* Pixels of a latency series colour inside a panel's plot area (the chart's
 * grid, without its axis labels or the legend); *x_lo and *x_hi receive
 * their x range. The geometry follows dashboard.html: padding 8px 10px, an
 * <svg> of viewBox 560 x 170 at full width as the panel's last child, plot
 * area x 52..552, y 8..150 in viewBox units. */
static int plot_pixels(const rgb_image *img, px_box p, int *x_lo, int *x_hi)
{
    double s = ((p.x1 - p.x0 + 1) - 20.0) / 560.0;
    double svg_x = p.x0 + 10, svg_y = p.y1 + 1 - 8 - 170.0 * s;
    int xa = (int)(svg_x + 52 * s - 2), xb = (int)(svg_x + 552 * s + 4);
    int ya = (int)(svg_y + 8 * s - 4), yb = (int)(svg_y + 150 * s + 2);
    int n = 0;
    *x_lo = INT32_MAX;
    *x_hi = -1;
    for (int y = ya < 0 ? 0 : ya; y <= yb && y < (int)img->h; y++)
        for (int x = xa; x <= xb && x < (int)img->w; x++)
            for (size_t c = 0; c < sizeof(latency_rgb) / sizeof(latency_rgb[0]); c++)
                if (rgb_near(img, (unsigned)x, (unsigned)y, latency_rgb[c], 24)) {
                    n++;
                    *x_lo = x < *x_lo ? x : *x_lo;
                    *x_hi = x > *x_hi ? x : *x_hi;
                    break;
                }
    printf("plot area x %d..%d y %d..%d: %d series pixels, x %d..%d\n", xa, xb, ya, yb, n,
           *x_lo, *x_hi);
    return n;
}

/* The <svg> of chart `id` in a DOM dump (up to its </svg>), malloc'd. */
static char *chart_svg(const char *dom, const char *id)
{
    char key[96];
    snprintf(key, sizeof(key), "data-chart=\"%s\"", id);
    const char *start = strstr(dom, key);
    const char *end = start != NULL ? strstr(start, "</svg>") : NULL;
    if (end == NULL)
        return NULL;
    char *svg = malloc((size_t)(end - start) + 1);
    assert_non_null(svg);
    memcpy(svg, start, (size_t)(end - start));
    svg[end - start] = '\0';
    return svg;
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
    /* Its latency panels (Ack, GetReadStates) hold lines: series-coloured
     * pixels across seconds of history, as the lone-second test reads them. */
    rgb_image img;
    assert_int_equal(png_decode((const unsigned char *)png, len, &img), 0);
    free(png);
    px_box panels[3];
    assert_int_equal(latency_panels(&img, panels, 3), 2);
    for (int k = 0; k < 2; k++) {
        int x_lo, x_hi, lit = plot_pixels(&img, panels[k], &x_lo, &x_hi);
        assert_true(lit >= 20);
        assert_true(x_hi - x_lo >= 10);
    }
    free(img.px);
    printf("screenshot: %s/dashboard.png (%zu bytes)\n", RS_HTTP_ARTIFACT_DIR, len);

    rs_proc_stop(&load, 0, 10000, NULL);
    rs_proc_cleanup(&load);
    rs_test_server_cleanup(&srv);
}

/* ---- lone seconds --------------------------------------------------------- */

/* GET /dashboard.json parsed, or NULL. */
static json_t *dash_get(int port)
{
    ht_response r;
    if (ht_get(port, "/dashboard.json", &r) != 0)
        return NULL;
    json_t *j = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
    ht_response_free(&r);
    return j;
}

static int method_index(json_t *j, const char *name)
{
    json_t *methods = json_object_get(j, "methods");
    for (size_t m = 0; m < json_array_size(methods); m++)
        if (strcmp(json_string_value(json_array_get(methods, m)), name) == 0)
            return (int)m;
    return -1;
}

/* history.requests[m]: requests per second of method m, oldest first. */
static json_t *method_requests(json_t *j, int m)
{
    return json_array_get(json_object_get(json_object_get(j, "history"), "requests"),
                          (size_t)m);
}

static long long req_at(json_t *req, size_t i)
{
    return json_integer_value(json_array_get(req, i));
}

/* Seconds with requests whose neighbours (both present) have none. */
static int lone_seconds(json_t *req, int *nonzero)
{
    size_t n = json_array_size(req);
    int lone = 0;
    *nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        if (req_at(req, i) == 0)
            continue;
        (*nonzero)++;
        lone += i > 0 && i + 1 < n && req_at(req, i - 1) == 0 && req_at(req, i + 1) == 0;
    }
    return lone;
}

static long long newest_second(json_t *j)
{
    json_t *t = json_object_get(json_object_get(j, "history"), "t");
    size_t n = json_array_size(t);
    return n ? json_integer_value(json_array_get(t, n - 1)) : 0;
}

typedef struct tick_wait {
    int port;
    long long after;  /* newest history second seen before */
    const char *name; /* for burst_closed: the method */
} tick_wait;

/* The server closed a new second of history since tw->after. */
static bool new_tick(void *arg)
{
    tick_wait *tw = arg;
    json_t *j = dash_get(tw->port);
    bool ok = j != NULL && newest_second(j) > tw->after;
    json_decref(j);
    return ok;
}

/* The method's newest second with requests is followed by a closed second. */
static bool burst_closed(void *arg)
{
    tick_wait *tw = arg;
    json_t *j = dash_get(tw->port);
    int m = j != NULL ? method_index(j, tw->name) : -1;
    bool ok = false;
    if (m >= 0) {
        json_t *req = method_requests(j, m);
        size_t n = json_array_size(req);
        for (size_t i = n; i-- > 0;)
            if (req_at(req, i) > 0) {
                ok = i + 1 < n;
                break;
            }
    }
    json_decref(j);
    return ok;
}

#define BURST_CALLS 20

/* One burst of method `name` (SetReadState or DeleteReadStates) right after
 * a tick, so it falls into one second; then wait until the second after it
 * is closed too. Retried (3 times at most) until the history shows a lone
 * second of that method. */
static void lone_burst(int port, rs_client *c, const char *name, bool set)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        json_t *j = dash_get(port);
        assert_non_null(j);
        tick_wait tw = {port, newest_second(j), name};
        json_decref(j);
        assert_true(rs_poll_until(new_tick, &tw, 5000));
        long long t0 = rs_mono_ms();
        for (uint64_t i = 0; i < BURST_CALLS; i++) {
            uint64_t channel = 7;
            rs_status st = set ? rs_client_set(c, 100 + i, channel, 1000 + i, 0, NULL)
                               : rs_client_delete(c, 100 + i, &channel, 1, false, NULL, NULL);
            if (st != RS_OK)
                fail_msg("%s: %s (%s)", name, rs_status_name(st), rs_client_errmsg(c));
        }
        long long took = rs_mono_ms() - t0;
        assert_true(rs_poll_until(burst_closed, &tw, 5000));
        j = dash_get(port);
        assert_non_null(j);
        int nonzero = 0,
            lone = lone_seconds(method_requests(j, method_index(j, name)), &nonzero);
        json_decref(j);
        printf("%s: burst of %d calls in %lld ms; %d lone of %d seconds with traffic\n", name,
               BURST_CALLS, took, lone, nonzero);
        if (lone > 0)
            return;
    }
    fail_msg("%s: no lone second of traffic after 3 bursts", name);
}

static void test_lone_second_drawn(void **state)
{
    (void)state;
    static const char *names[] = {"SetReadState", "DeleteReadStates"};
    rs_test_server srv;
    rs_test_server_opts o = {.http = true};
    assert_int_equal(rs_test_server_start_opts(&srv, &o), 0);
    char errbuf[256];
    rs_client *c = rs_client_connect("127.0.0.1", srv.port, 10000, errbuf, sizeof(errbuf));
    if (c == NULL)
        fail_msg("connect: %s", errbuf);
    lone_burst(srv.http_port, c, names[0], true);
    lone_burst(srv.http_port, c, names[1], false);
    rs_client_close(c);

    /* Which latency panel each method gets: the page shows one per method
     * with traffic, in the order of `methods`. */
    json_t *j = dash_get(srv.http_port);
    assert_non_null(j);
    int panel_of[2] = {-1, -1}, seconds[2] = {0, 0}, shown = 0;
    json_t *methods = json_object_get(j, "methods");
    for (size_t m = 0; m < json_array_size(methods); m++) {
        int nonzero = 0;
        lone_seconds(method_requests(j, (int)m), &nonzero);
        if (nonzero == 0)
            continue;
        for (int k = 0; k < 2; k++)
            if (strcmp(json_string_value(json_array_get(methods, m)), names[k]) == 0) {
                panel_of[k] = shown;
                seconds[k] = nonzero;
            }
        shown++;
    }
    json_decref(j);
    assert_true(panel_of[0] >= 0 && panel_of[1] >= 0);
    assert_true(shown <= 3); /* one row of the grid at this window width */

    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/dashboard", srv.http_port);
    char *dom = NULL, *err = NULL;
    int code = chromium(url, "--dump-dom", &dom, &err);
    if (code != 0 || dom == NULL)
        fail_msg("chromium --dump-dom exited %d:\n%s", code, err ? err : "");
    check_console(err);
    assert_int_equal(attr_int(dom, "data-errors=\""), 0);
    assert_true(attr_int(dom, "data-polls=\"") >= 1);
    int dots[2], lit[2], spread[2];
    for (int k = 0; k < 2; k++) {
        char id[64];
        snprintf(id, sizeof(id), "latency-%s", names[k]);
        char *svg = chart_svg(dom, id);
        if (svg == NULL)
            fail_msg("no chart %s in the page", id);
        dots[k] = count(svg, "class=\"dot\"");
        printf("%s: %d markers in the DOM\n", id, dots[k]);
        if (dots[k] < 1)
            printf("%s\n", svg);
        free(svg);
    }
    free(dom);
    free(err);

    /* The screenshot: series-coloured pixels in each panel's plot area. */
    mkdir(RS_HTTP_ARTIFACT_DIR, 0755);
    char shot[PATH_MAX + 32];
    snprintf(shot, sizeof(shot), "--screenshot=%s/dashboard-lone.png", RS_HTTP_ARTIFACT_DIR);
    remove(RS_HTTP_ARTIFACT_DIR "/dashboard-lone.png");
    code = chromium(url, shot, NULL, &err);
    if (code != 0)
        fail_msg("chromium --screenshot exited %d:\n%s", code, err ? err : "");
    check_console(err);
    free(err);
    size_t len = 0;
    char *png = rs_read_file(RS_HTTP_ARTIFACT_DIR "/dashboard-lone.png", &len);
    assert_non_null(png);
    rgb_image img;
    assert_int_equal(png_decode((const unsigned char *)png, len, &img), 0);
    free(png);
    px_box panels[3];
    int n = latency_panels(&img, panels, 3);
    printf("screenshot %ux%u: %d latency panels in the first row\n", img.w, img.h, n);
    assert_int_equal(n, shown);
    for (int k = 0; k < 2; k++) {
        px_box p = panels[panel_of[k]];
        printf("%s: panel x %d..%d y %d..%d\n", names[k], p.x0, p.x1, p.y0, p.y1);
        int x_lo, x_hi;
        lit[k] = plot_pixels(&img, p, &x_lo, &x_hi);
        spread[k] = lit[k] > 0 ? x_hi - x_lo : 0;
    }
    free(img.px);
    printf("screenshot: %s/dashboard-lone.png\n", RS_HTTP_ARTIFACT_DIR);
    /* Both checks ran; now judge them. */
    for (int k = 0; k < 2; k++) {
        if (dots[k] < 1 || lit[k] < 3)
            fail_msg("%s: the lone second is not drawn (%d markers in the DOM, %d series "
                     "pixels in the screenshot's plot area)",
                     names[k], dots[k], lit[k]);
        /* One second of traffic: one mark, not a line across the chart. */
        if (seconds[k] == 1 && spread[k] > 12)
            fail_msg("%s: a lone second drawn %d px wide", names[k], spread[k]);
    }
    rs_test_server_cleanup(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dashboard_in_chromium),
        cmocka_unit_test(test_lone_second_drawn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
