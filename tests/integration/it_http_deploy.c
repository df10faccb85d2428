/*
 * it_http_deploy.c: the deploy files against the real tools.
 *
 * - promtool checks deploy/prometheus/prometheus.yml and rules.yml;
 * - systemd-analyze verifies deploy/systemd/readstated.service, and
 *   readstated speaks Type=notify (READY=1, STOPPING=1) to a socket
 *   standing in for systemd's $NOTIFY_SOCKET;
 * - promtool test rules runs deploy/prometheus/rules_test.yml (the alerts
 *   fire with their instance label and name it in their description);
 * - histogram_quantile, computed by promtool's engine over the buckets the
 *   server's metrics code renders for known latencies, and the recording
 *   rules over the same buckets, land in the 1-2-5 step of the true quantile;
 * - a real Prometheus (loopback, ephemeral port, temporary TSDB, rules
 *   evaluated every second) scrapes a real readstated on a real Redis
 *   Cluster while readstate-loadgen drives it: the p99 PromQL query and the p99
 *   recording rule give a finite value in (0, 1 s), the recording rules
 *   keep instance and method, and every query of every Grafana panel, with
 *   $instance set to that instance as Grafana would, returns data;
 * - every metric name the Grafana dashboard and the rules use is one the
 *   server exports (or a recording rule of rules.yml).
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <jansson.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "http_test_client.h"
#include "metrics_render.h"
#include "rs_testsupport.h"

#define DEPLOY RS_HTTP_SOURCE_DIR "/deploy"

static void run_ok(const char *const argv[])
{
    char *out = NULL, *err = NULL;
    int code = rs_run(argv, NULL, 60000, &out, &err);
    if (code != 0)
        fail_msg("%s %s exited %d:\n%s\n%s", argv[0], argv[1], code, out ? out : "",
                 err ? err : "");
    free(out);
    free(err);
}

static void test_promtool(void **state)
{
    (void)state;
    const char *cfg[] = {"promtool", "check", "config", DEPLOY "/prometheus/prometheus.yml",
                         NULL};
    run_ok(cfg);
    const char *rules[] = {"promtool", "check", "rules", DEPLOY "/prometheus/rules.yml", NULL};
    run_ok(rules);
    /* the alerts' labels and annotations, and the rules' labels */
    char *t = rs_read_file(DEPLOY "/prometheus/rules_test.yml", NULL);
    assert_non_null(t);
    assert_non_null(strstr(t, "alertname: ReadstatesP99High"));
    free(t);
    const char *unit[] = {"promtool", "test", "rules", DEPLOY "/prometheus/rules_test.yml",
                          NULL};
    run_ok(unit);
}

/* ---- histogram_quantile by promtool over the rendered buckets ---------- */

/* The contract's bucket (1, 2, 5 per decade, 1 us .. 10 s) that holds v_ns,
 * as [lo, hi] seconds: the resolution a quantile must reach. */
static void contract_bucket(uint64_t v_ns, double *lo, double *hi)
{
    static const uint64_t steps[] = {1, 2, 5};
    uint64_t prev = 0;
    for (uint64_t decade = 1000; decade <= 10000000000ULL; decade *= 10)
        for (int i = 0; i < 3; i++) {
            uint64_t g = decade * steps[i];
            if (v_ns <= g) {
                *lo = (double)prev / 1e9;
                *hi = (double)g / 1e9;
                return;
            }
            prev = g;
        }
    fail_msg("%" PRIu64 " ns is over 10 s", v_ns);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

#define QT_MAX 10000

/* Known latencies (ns); returns how many, 0 past the last. None puts a
 * quantile the rules compute (0.5, 0.99, 0.999) or 0.9 exactly on a
 * cumulative count, where one float ulp would pick the next bucket. */
static size_t qt_dist(int which, uint64_t *ns, const char **name)
{
    size_t n = 0;
    double v = 1000;
    switch (which) {
    case 0:
        *name = "all at 5 us";
        for (; n < 1000; n++)
            ns[n] = 5000;
        break;
    case 1:
        *name = "99.5% at 3 us, 0.5% at 40 ms";
        for (; n < 10000; n++)
            ns[n] = n % 200 == 0 ? 40000000 : 3000;
        break;
    case 2:
        *name = "cache hits spread over 4..8 us";
        for (; n < 4001; n++)
            ns[n] = 4000 + n;
        break;
    case 3: /* 1 us * 10^(i/1000) */
        *name = "log-uniform over 1 us .. 10 s";
        for (; n < 7001; n++, v *= 1.0023052380778996)
            ns[n] = (uint64_t)v;
        break;
    default: break;
    }
    return n;
}

/* One promtool expectation: LO <= expr <= HI (expr evaluated once per
 * side), as a sample of value 1 with the given labels. */
static void qt_expect(FILE *f, const char *expr, double lo, double hi, const char *labels)
{
    fprintf(f,
            "      - expr: '(%s >= bool %.17g) * (%s <= bool %.17g)'\n"
            "        eval_time: 2m\n"
            "        exp_samples:\n"
            "          - labels: '%s'\n"
            "            value: 1\n",
            expr, lo * (1 - 1e-9), expr, hi * (1 + 1e-9), labels);
}

/* Known latencies go through the server's metrics_record and render as
 * /metrics text; its _bucket samples become promtool input series (counters
 * rising at a steady rate, one instance per distribution), and promtool
 * evaluates histogram_quantile and the recording rules of rules.yml over
 * them: each must land in the contract's bucket of the true quantile. */
static void test_quantiles_promtool(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX + 32];
    assert_int_equal(rs_tmpdir_create("quantiles", dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/quantiles_test.yml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "rule_files:\n  - %s/prometheus/rules.yml\n"
            "evaluation_interval: 15s\n"
            "tests:\n  - interval: 15s\n    input_series:\n",
            DEPLOY);
    uint64_t *ns = malloc(QT_MAX * sizeof(uint64_t));
    assert_non_null(ns);
    char *exprs = NULL;
    size_t exprs_len = 0;
    FILE *e = open_memstream(&exprs, &exprs_len);
    assert_non_null(e);
    fprintf(e, "    promql_expr_test:\n");
    int nchecks = 0;
    const char *prefix = "readstates_request_duration_seconds_bucket{method=\"GetReadStates\",";
    for (int d = 0;; d++) {
        const char *name = NULL;
        size_t n = qt_dist(d, ns, &name);
        if (n == 0)
            break;
        rs_metrics *m = calloc(1, sizeof(*m));
        assert_int_equal(metrics_init(m), 0);
        for (size_t i = 0; i < n; i++)
            metrics_record(m, RS_METHOD_GET, RS_OK, ns[i]);
        rs_metrics_view v = {.m = m, .ready = true};
        struct evbuffer *b = evbuffer_new();
        assert_int_equal(metrics_render_prometheus(b, &v), 0);
        size_t len = evbuffer_get_length(b);
        char *text = malloc(len + 1);
        evbuffer_remove(b, text, len);
        text[len] = '\0';
        evbuffer_free(b);
        char inst[32];
        snprintf(inst, sizeof(inst), "127.0.0.1:%d", 9100 + d);
        int nb = 0;
        for (char *p = text; (p = strstr(p, prefix)) != NULL; p++) {
            if (p != text && p[-1] != '\n')
                continue;
            char *le = p + strlen(prefix), *sp = strchr(le, ' ');
            assert_non_null(sp);
            /* e.g. le="1e-06"} 0  ->  a counter rising by that much per 15 s */
            fprintf(f,
                    "      - series: "
                    "'readstates_request_duration_seconds_bucket{job=\"readstated\","
                    "instance=\"%s\",method=\"GetReadStates\",%.*s'\n"
                    "        values: '0+%" PRIu64 "x8'\n",
                    inst, (int)(sp - le), le, (uint64_t)strtoull(sp + 1, NULL, 10));
            nb++;
        }
        assert_int_equal(nb, RS_METRICS_NBUCKETS + 1);
        free(text);
        metrics_destroy(m);
        free(m);

        qsort(ns, n, sizeof(ns[0]), cmp_u64);
        char labels[160], sel[128], expr[256];
        snprintf(labels, sizeof(labels),
                 "{instance=\"%s\",job=\"readstated\",method=\"GetReadStates\"}", inst);
        snprintf(sel, sizeof(sel), "{instance=\"%s\"}", inst);
        fprintf(e, "      # %s\n", name);
        static const double raw_qs[] = {0.5, 0.9, 0.99, 0.999};
        for (size_t k = 0; k < sizeof(raw_qs) / sizeof(raw_qs[0]); k++) {
            double lo, hi;
            contract_bucket(ns[(size_t)ceil(raw_qs[k] * (double)n) - 1], &lo, &hi);
            snprintf(expr, sizeof(expr),
                     "histogram_quantile(%g, readstates_request_duration_seconds_bucket%s)",
                     raw_qs[k], sel);
            qt_expect(e, expr, lo, hi, labels);
            nchecks++;
        }
        static const struct {
            const char *rule;
            double q;
        } rules[] = {
            {"readstates:request_duration_seconds:p50_by_method_1m", 0.5},
            {"readstates:request_duration_seconds:p99_by_method_1m", 0.99},
            {"readstates:request_duration_seconds:p999_by_method_1m", 0.999},
        };
        for (size_t k = 0; k < sizeof(rules) / sizeof(rules[0]); k++) {
            double lo, hi;
            contract_bucket(ns[(size_t)ceil(rules[k].q * (double)n) - 1], &lo, &hi);
            snprintf(expr, sizeof(expr), "%s%s", rules[k].rule, sel);
            qt_expect(e, expr, lo, hi, labels);
            nchecks++;
        }
        /* the per-instance rule keeps instance too */
        double lo, hi;
        contract_bucket(ns[(size_t)ceil(0.99 * (double)n) - 1], &lo, &hi);
        snprintf(expr, sizeof(expr), "readstates:request_duration_seconds:p99_1m%s", sel);
        snprintf(labels, sizeof(labels), "{instance=\"%s\",job=\"readstated\"}", inst);
        qt_expect(e, expr, lo, hi, labels);
        nchecks++;
    }
    fclose(e);
    fputs(exprs, f);
    free(exprs);
    free(ns);
    assert_int_equal(fclose(f), 0);
    const char *argv[] = {"promtool", "test", "rules", path, NULL};
    char *out = NULL, *err = NULL;
    int code = rs_run(argv, NULL, 60000, &out, &err);
    if (code != 0)
        fail_msg("promtool test rules %s exited %d:\n%s\n%s", path, code, out ? out : "",
                 err ? err : "");
    printf("promtool: %d quantile checks in the true quantile's 1-2-5 step\n", nchecks);
    free(out);
    free(err);
    rs_tmpdir_remove(dir);
}

static void test_systemd_unit(void **state)
{
    (void)state;
    /* verify needs ExecStart to exist: point it at the built binary */
    char dir[PATH_MAX], path[PATH_MAX + 32];
    assert_int_equal(rs_tmpdir_create("unit", dir, sizeof(dir)), 0);
    char *unit = rs_read_file(DEPLOY "/systemd/readstated.service", NULL);
    assert_non_null(unit);
    assert_non_null(strstr(unit, "Type=notify"));
    assert_non_null(strstr(unit, "LimitNOFILE="));
    const char *exec = "ExecStart=/usr/local/bin/readstated";
    char *at = strstr(unit, exec);
    assert_non_null(at);
    size_t n = strlen(unit) + PATH_MAX;
    char *copy = malloc(n);
    snprintf(copy, n, "%.*sExecStart=%s%s", (int)(at - unit), unit, rs_test_readstated_bin(),
             at + strlen(exec));
    snprintf(path, sizeof(path), "%s/readstated.service", dir);
    assert_int_equal(rs_write_file(path, copy), 0);
    const char *argv[] = {"systemd-analyze", "verify", path, NULL};
    char *out = NULL, *err = NULL;
    int code = rs_run(argv, NULL, 60000, &out, &err);
    if (code != 0 || (err != NULL && strstr(err, "readstated.service") != NULL))
        fail_msg("systemd-analyze verify: %d\n%s%s", code, out ? out : "", err ? err : "");
    free(out);
    free(err);
    free(copy);
    free(unit);
    rs_tmpdir_remove(dir);
}

/* Wait (bounded) for a datagram on fd containing `want`. */
static bool notify_wait(int fd, const char *want, int timeout_ms)
{
    long long deadline = rs_mono_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - rs_mono_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
            return false;
        char buf[1024];
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        if (strstr(buf, want) != NULL)
            return true;
    }
}

static void test_systemd_notify(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX + 32], env_sock[PATH_MAX + 64];
    assert_int_equal(rs_tmpdir_create("notify", dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/notify.sock", dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof(sa.sun_path));
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    snprintf(env_sock, sizeof(env_sock), "NOTIFY_SOCKET=%s", path);
    const char *env[] = {env_sock, NULL};
    rs_test_server srv;
    rs_test_server_opts o = {.env = env, .http = true};
    assert_int_equal(rs_test_server_start_opts(&srv, &o), 0);
    assert_true(notify_wait(fd, "READY=1", 10000));
    int ws = 0;
    assert_int_equal(rs_test_server_stop(&srv, 20000, &ws), 0);
    assert_true(notify_wait(fd, "STOPPING=1", 2000));
    assert_int_equal(rs_proc_exit_code(&srv.proc), 0);
    rs_test_server_cleanup(&srv);
    close(fd);
    rs_tmpdir_remove(dir);
}

/* ---- a real Prometheus ---------------------------------------------- */

typedef struct prom {
    rs_proc proc;
    int port;
    char dir[PATH_MAX];
} prom;

static bool prom_ready(void *arg)
{
    prom *p = arg;
    ht_response r;
    if (!rs_proc_alive(&p->proc) || ht_get(p->port, "/-/ready", &r) != 0)
        return false;
    bool ok = r.status == 200;
    ht_response_free(&r);
    return ok;
}

static int prom_start(prom *p, int target_port)
{
    memset(p, 0, sizeof(*p));
    if (rs_tmpdir_create("prometheus", p->dir, sizeof(p->dir)) != 0)
        return -1;
    char cfg[PATH_MAX + 32], text[2048], data[PATH_MAX + 32], flag_cfg[PATH_MAX + 64],
        flag_data[PATH_MAX + 64], flag_listen[64];
    snprintf(cfg, sizeof(cfg), "%s/prometheus.yml", p->dir);
    snprintf(data, sizeof(data), "%s/data", p->dir);
    snprintf(text, sizeof(text),
             "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
             "rule_files:\n  - %s/prometheus/rules.yml\n"
             "scrape_configs:\n  - job_name: readstated\n    static_configs:\n"
             "      - targets: [\"127.0.0.1:%d\"]\n",
             DEPLOY, target_port);
    if (rs_write_file(cfg, text) != 0)
        return -1;
    snprintf(flag_cfg, sizeof(flag_cfg), "--config.file=%s", cfg);
    snprintf(flag_data, sizeof(flag_data), "--storage.tsdb.path=%s", data);
    for (int attempt = 0; attempt < 5; attempt++) {
        p->port = rs_free_port();
        snprintf(flag_listen, sizeof(flag_listen), "--web.listen-address=127.0.0.1:%d",
                 p->port);
        const char *argv[] = {"prometheus", flag_cfg,           flag_data,
                              flag_listen,  "--log.level=warn", NULL};
        if (rs_proc_start(argv, NULL, &p->proc) != 0)
            return -1;
        if (rs_poll_until(prom_ready, p, 30000))
            return 0;
        rs_proc_dump_log(&p->proc, "prometheus", stderr, 2000);
        rs_proc_cleanup(&p->proc); /* a lost race for the port: try another */
    }
    return -1;
}

static void prom_stop(prom *p)
{
    rs_proc_stop(&p->proc, 0, 20000, NULL);
    rs_proc_cleanup(&p->proc);
    rs_tmpdir_remove(p->dir);
}

static void url_encode(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    for (; *in && o + 4 < outlen; in++) {
        unsigned char c = (unsigned char)*in;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, outlen - o, "%%%02X", c);
    }
    out[o] = '\0';
}

/* GET a Prometheus API path with the query string built from promql
 * (URL-encoded after `param=`); returns its JSON "data" (caller decrefs), or
 * NULL on any failure. */
static json_t *prom_api(int port, const char *api, const char *param, const char *promql)
{
    char enc[8192], path[8400];
    url_encode(promql, enc, sizeof(enc));
    snprintf(path, sizeof(path), "%s?%s=%s", api, param, enc);
    ht_response r;
    if (ht_get(port, path, &r) != 0)
        return NULL;
    json_t *data = NULL;
    json_t *j = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
    if (json_is_string(json_object_get(j, "status")) &&
        strcmp(json_string_value(json_object_get(j, "status")), "success") == 0)
        data = json_incref(json_object_get(j, "data"));
    json_decref(j);
    ht_response_free(&r);
    return data;
}

/* The result vector of an instant query (caller decrefs), or NULL. */
static json_t *prom_result(int port, const char *promql)
{
    json_t *data = prom_api(port, "/api/v1/query", "query", promql);
    json_t *res = json_is_array(json_object_get(data, "result"))
                      ? json_incref(json_object_get(data, "result"))
                      : NULL;
    json_decref(data);
    return res;
}

/* The first sample of an instant query, or NAN when there is none. */
static double prom_query(int port, const char *promql)
{
    json_t *res = prom_result(port, promql);
    double v = NAN;
    json_t *val = json_array_get(json_object_get(json_array_get(res, 0), "value"), 1);
    if (json_is_string(val))
        v = strtod(json_string_value(val), NULL);
    json_decref(res);
    return v;
}

typedef struct query_wait {
    int port;
    const char *promql;
    double value;
} query_wait;

static bool query_sane(void *arg)
{
    query_wait *q = arg;
    q->value = prom_query(q->port, q->promql);
    return isfinite(q->value) && q->value > 0 && q->value < 1.0;
}

/* Copy s into out with every `from` replaced by `to`. */
static void replace_all(const char *s, const char *from, const char *to, char *out, size_t len)
{
    size_t o = 0, fl = strlen(from), tl = strlen(to);
    while (*s && o + 1 < len) {
        if (strncmp(s, from, fl) == 0 && o + tl < len) {
            memcpy(out + o, to, tl);
            o += tl;
            s += fl;
        } else {
            out[o++] = *s++;
        }
    }
    out[o] = '\0';
}

/* One query of a Grafana panel, its template variables filled in. */
typedef struct panel_query {
    char title[128];
    char ref[8];
    char expr[2048];
    bool has_data;
} panel_query;

typedef struct panel_queries {
    panel_query *v;
    size_t n;
    int port;
} panel_queries;

/* Grafana's values for the template variables, for a Prometheus scraping
 * every second: $instance with one instance selected, regex-escaped as the
 * Prometheus datasource does for a multi-value variable ("." -> "\\." in
 * the PromQL string), and $__rate_interval, Grafana's max($__interval +
 * scrape interval, 4 scrape intervals), here 4 s. */
static void panel_expr(const char *raw, const char *instance, char *out, size_t len)
{
    char esc[128], tmp[2048];
    replace_all(instance, ".", "\\\\.", esc, sizeof(esc));
    replace_all(raw, "$instance", esc, tmp, sizeof(tmp));
    replace_all(tmp, "$__rate_interval", "4s", out, len);
    if (strchr(out, '$') != NULL)
        fail_msg("a template variable the test does not fill: %s", out);
}

/* Every target of every panel of the dashboard. tcmalloc's series exist
 * only in builds that link it. */
static void panel_queries_load(panel_queries *pq, const char *instance)
{
    json_error_t err;
    json_t *dash = json_load_file(DEPLOY "/grafana/dashboards/readstates.json", 0, &err);
    if (dash == NULL)
        fail_msg("Grafana dashboard JSON: %s line %d", err.text, err.line);
    size_t i, k;
    json_t *panel, *target;
    pq->v = calloc(256, sizeof(panel_query));
    pq->n = 0;
    json_array_foreach(json_object_get(dash, "panels"), i, panel)
    {
        json_array_foreach(json_object_get(panel, "targets"), k, target)
        {
            const char *expr = json_string_value(json_object_get(target, "expr"));
            assert_non_null(expr);
            if (!RS_HTTP_TCMALLOC && strstr(expr, "readstates_allocator_") != NULL)
                continue;
            assert_true(pq->n < 256);
            panel_query *q = &pq->v[pq->n++];
            snprintf(q->title, sizeof(q->title), "%s",
                     json_string_value(json_object_get(panel, "title")));
            snprintf(q->ref, sizeof(q->ref), "%s",
                     json_string_value(json_object_get(target, "refId")));
            panel_expr(expr, instance, q->expr, sizeof(q->expr));
        }
    }
    json_decref(dash);
}

/* True once every panel query has returned a non-empty result. */
static bool panels_have_data(void *arg)
{
    panel_queries *pq = arg;
    bool all = true;
    for (size_t i = 0; i < pq->n; i++) {
        panel_query *q = &pq->v[i];
        if (q->has_data)
            continue;
        json_t *res = prom_result(pq->port, q->expr);
        q->has_data = json_array_size(res) > 0;
        json_decref(res);
        all = all && q->has_data;
    }
    return all;
}

/* The single value of the Grafana template variable's query,
 * label_values(readstates_build_info, instance), into out. */
static bool instance_label(int port, char *out, size_t len)
{
    json_t *data =
        prom_api(port, "/api/v1/label/instance/values", "match[]", "readstates_build_info");
    bool ok = json_array_size(data) == 1 && json_is_string(json_array_get(data, 0));
    if (ok)
        snprintf(out, len, "%s", json_string_value(json_array_get(data, 0)));
    json_decref(data);
    return ok;
}

/* A result vector whose first series has label `name` equal to `want`. */
static bool result_label_is(int port, const char *promql, const char *name, const char *want)
{
    json_t *res = prom_result(port, promql);
    const char *got = json_string_value(
        json_object_get(json_object_get(json_array_get(res, 0), "metric"), name));
    bool ok = got != NULL && strcmp(got, want) == 0;
    json_decref(res);
    return ok;
}

static void test_prometheus_scrapes_p99_and_panels(void **state)
{
    (void)state;
    /* A Redis Cluster, so the cluster panels have data too (the others do
     * on either store). */
    rs_test_redis redis;
    assert_int_equal(rs_test_redis_start_cluster(&redis), 0);
    char addr[256];
    const char *args[] = {"--redis-cluster", rs_test_redis_addr(&redis, addr, sizeof(addr)),
                          NULL};
    rs_test_server srv;
    rs_test_server_opts o = {.args = args, .http = true};
    assert_int_equal(rs_test_server_start_opts(&srv, &o), 0);
    prom p;
    assert_int_equal(prom_start(&p, srv.http_port), 0);

    char target[64];
    snprintf(target, sizeof(target), "rs://127.0.0.1:%d", srv.port);
    const char *lg[] = {RS_HTTP_LOADGEN_BIN,
                        "--target",
                        target,
                        "--rate",
                        "2000",
                        "--connections",
                        "4",
                        "--duration",
                        "40",
                        "--users",
                        "1000",
                        "--quiet",
                        NULL};
    rs_proc load;
    assert_int_equal(rs_proc_start(lg, NULL, &load), 0);
    /* one error, for the panel of errors by code */
    const char *bad = "{\"userId\":\"0\",\"channelId\":\"1\"}";
    ht_response r;
    assert_int_equal(ht_request(srv.http_port, "POST", "/readstates.v1.ReadStates/Ack",
                                "application/json", bad, strlen(bad), NULL, &r),
                     0);
    assert_int_equal(r.status, 400);
    ht_response_free(&r);

    query_wait q = {p.port,
                    "histogram_quantile(0.99, sum by (le) "
                    "(rate(readstates_request_duration_seconds_bucket[10s])))",
                    NAN};
    bool ok = rs_poll_until(query_sane, &q, 30000);
    if (!ok) {
        rs_proc_dump_log(&p.proc, "prometheus", stderr, 3000);
        rs_proc_dump_log(&load, "loadgen", stderr, 2000);
        fail_msg("p99 query never gave a sane value (last %g)", q.value);
    }
    printf("p99 from Prometheus under load: %.6f s\n", q.value);
    assert_true(prom_query(p.port, "up{job=\"readstated\"}") == 1.0);

    /* the instance Grafana's variable offers: the scrape target */
    char instance[64], want[64];
    assert_true(instance_label(p.port, instance, sizeof(instance)));
    snprintf(want, sizeof(want), "127.0.0.1:%d", srv.http_port);
    assert_string_equal(instance, want);

    /* every query of every panel, $instance = that instance */
    panel_queries pq = {.port = p.port};
    panel_queries_load(&pq, instance);
    assert_true(pq.n >= 40);
    bool all = rs_poll_until(panels_have_data, &pq, 20000);
    int empty = 0;
    for (size_t i = 0; i < pq.n; i++) {
        if (!pq.v[i].has_data) {
            fprintf(stderr, "no data: panel \"%s\" %s: %s\n", pq.v[i].title, pq.v[i].ref,
                    pq.v[i].expr);
            empty++;
        }
    }
    printf("%zu Grafana panel queries with $instance=%s: %d without data\n", pq.n, instance,
           empty);
    assert_true(all);
    assert_int_equal(empty, 0);
    free(pq.v);

    /* the recording rules keep instance (and method) */
    query_wait rule = {p.port, "readstates:request_duration_seconds:p99_1m", NAN};
    assert_true(rs_poll_until(query_sane, &rule, 20000));
    printf("p99 recording rule: %.6f s\n", rule.value);
    assert_true(result_label_is(p.port, rule.promql, "instance", instance));
    query_wait by_method = {
        p.port, "readstates:request_duration_seconds:p99_by_method_1m{method=\"Ack\"}", NAN};
    assert_true(rs_poll_until(query_sane, &by_method, 20000));
    assert_true(result_label_is(p.port, by_method.promql, "instance", instance));
    assert_true(result_label_is(p.port, by_method.promql, "method", "Ack"));

    rs_proc_stop(&load, 0, 10000, NULL);
    rs_proc_cleanup(&load);
    prom_stop(&p);
    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&redis);
}

/* ---- metric names in the dashboard and the rules ----------------------- */

typedef struct names {
    char **v;
    size_t n, cap;
} names;

static void names_add(names *ns, const char *s, size_t len)
{
    for (size_t i = 0; i < ns->n; i++)
        if (strlen(ns->v[i]) == len && strncmp(ns->v[i], s, len) == 0)
            return;
    if (ns->n == ns->cap) {
        ns->cap = ns->cap ? ns->cap * 2 : 64;
        ns->v = realloc(ns->v, ns->cap * sizeof(char *));
    }
    ns->v[ns->n++] = strndup(s, len);
}

static void names_free(names *ns)
{
    for (size_t i = 0; i < ns->n; i++)
        free(ns->v[i]);
    free(ns->v);
}

static bool is_ident(char c, bool first)
{
    return isalpha((unsigned char)c) || c == '_' || c == ':' ||
           (!first && isdigit((unsigned char)c));
}

/* The metric names a PromQL expression reads: identifiers that are not
 * functions, keywords, label names (inside {} or a by/without list) or
 * range/duration text. */
static void promql_metrics(const char *e, names *out)
{
    static const char *const kw[] = {"by",          "without", "on",  "ignoring", "group_left",
                                     "group_right", "and",     "or",  "unless",   "bool",
                                     "offset",      "inf",     "nan", NULL};
    /* aggregations may put "by (...)" between their name and "(" */
    static const char *const agg[] = {"sum",          "min",    "max",  "avg",     "count",
                                      "stddev",       "stdvar", "topk", "bottomk", "quantile",
                                      "count_values", "group",  NULL};
    const char *p = e;
    while (*p) {
        if (*p == '"' || *p == '\'') {
            char q = *p++;
            while (*p && *p != q)
                p += *p == '\\' && p[1] ? 2 : 1;
            if (*p)
                p++;
        } else if (*p == '{' || *p == '[') {
            char close = *p == '{' ? '}' : ']';
            while (*p && *p != close) {
                if (*p == '"') {
                    p++;
                    while (*p && *p != '"')
                        p += *p == '\\' && p[1] ? 2 : 1;
                }
                if (*p)
                    p++;
            }
            if (*p)
                p++;
        } else if (*p == '$') {
            p++;
            while (is_ident(*p, false))
                p++;
        } else if (isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))) {
            while (isalnum((unsigned char)*p) || *p == '.')
                p++;
        } else if (is_ident(*p, true)) {
            const char *s = p;
            while (is_ident(*p, false))
                p++;
            size_t len = (size_t)(p - s);
            const char *q = p;
            while (*q == ' ')
                q++;
            bool keyword = false, aggregation = false;
            for (int i = 0; kw[i]; i++)
                keyword = keyword || (strlen(kw[i]) == len && strncasecmp(kw[i], s, len) == 0);
            for (int i = 0; agg[i]; i++)
                aggregation =
                    aggregation || (strlen(agg[i]) == len && strncmp(agg[i], s, len) == 0);
            if (keyword && *q == '(') { /* a label list: skip it */
                while (*q && *q != ')')
                    q++;
                p = *q ? q + 1 : q;
            } else if (!keyword && !aggregation && *q != '(') {
                names_add(out, s, len);
            }
        } else {
            p++;
        }
    }
}

static void collect_exprs(json_t *j, names *metrics, int *nexpr)
{
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
        {
            if (strcmp(k, "expr") == 0 && json_is_string(v)) {
                promql_metrics(json_string_value(v), metrics);
                (*nexpr)++;
            } else {
                collect_exprs(v, metrics, nexpr);
            }
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) collect_exprs(v, metrics, nexpr);
    }
}

/* Recording rule names ("- record: x") and the metric names of every
 * "expr:" in rules.yml (one-line or a "|" block). */
static void rules_names(const char *text, names *records, names *metrics)
{
    char *copy = strdup(text), *save = NULL;
    bool in_block = false;
    size_t block_indent = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t indent = strspn(line, " ");
        char *t = line + indent;
        if (in_block && indent > block_indent) {
            promql_metrics(t, metrics);
            continue;
        }
        in_block = false;
        if (strncmp(t, "- record:", 9) == 0) {
            char *v = t + 9 + strspn(t + 9, " ");
            names_add(records, v, strcspn(v, " #"));
        } else if (strncmp(t, "expr:", 5) == 0) {
            char *v = t + 5 + strspn(t + 5, " ");
            if (*v == '|') {
                in_block = true;
                block_indent = indent;
            } else {
                promql_metrics(v, metrics);
            }
        }
    }
    free(copy);
}

/* Whether the scrape holds a sample named exactly `name`. */
static bool exported(const char *scrape, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = scrape; (p = strstr(p, name)) != NULL; p += n)
        if ((p == scrape || p[-1] == '\n') && (p[n] == ' ' || p[n] == '{'))
            return true;
    return false;
}

static void test_dashboard_and_rules_use_exported_names(void **state)
{
    (void)state;
    /* On a Redis Cluster: its store exports every name the single one does
     * and the cluster's own. */
    rs_test_redis redis;
    assert_int_equal(rs_test_redis_start_cluster(&redis), 0);
    char addr[256];
    const char *args[] = {"--redis-cluster", rs_test_redis_addr(&redis, addr, sizeof(addr)),
                          NULL};
    rs_test_server srv;
    rs_test_server_opts o = {.args = args, .http = true};
    assert_int_equal(rs_test_server_start_opts(&srv, &o), 0);
    ht_response scrape;
    assert_int_equal(ht_get(srv.http_port, "/metrics", &scrape), 0);
    assert_int_equal(scrape.status, 200);

    json_error_t err;
    json_t *dash = json_load_file(DEPLOY "/grafana/dashboards/readstates.json", 0, &err);
    if (dash == NULL)
        fail_msg("Grafana dashboard JSON: %s line %d", err.text, err.line);
    names used = {0}, records = {0};
    int nexpr = 0;
    collect_exprs(dash, &used, &nexpr);
    /* the template variable's query reads readstates_build_info */
    json_t *tmpl =
        json_array_get(json_object_get(json_object_get(dash, "templating"), "list"), 0);
    const char *def = json_string_value(json_object_get(tmpl, "definition"));
    assert_non_null(def);
    assert_non_null(strstr(def, "label_values(readstates_build_info, instance)"));
    assert_true(exported(scrape.body, "readstates_build_info"));
    char *rules = rs_read_file(DEPLOY "/prometheus/rules.yml", NULL);
    assert_non_null(rules);
    rules_names(rules, &records, &used);
    assert_true(nexpr >= 20);
    assert_true(records.n >= 5);

    int bad = 0;
    for (size_t i = 0; i < used.n; i++) {
        const char *m = used.v[i];
        bool rule = false;
        for (size_t k = 0; k < records.n; k++)
            rule = rule || strcmp(records.v[k], m) == 0;
        bool builtin = strcmp(m, "up") == 0;
        /* tcmalloc's figures exist only in builds that link it */
        if (!RS_HTTP_TCMALLOC && strncmp(m, "readstates_allocator_", 21) == 0)
            builtin = true;
        if (!rule && !builtin && !exported(scrape.body, m)) {
            fprintf(stderr, "not exported by readstated: %s\n", m);
            bad++;
        }
    }
    printf("%zu metric names in %d dashboard expressions and the rules: %d unknown\n", used.n,
           nexpr, bad);
    assert_int_equal(bad, 0);
    assert_true(used.n >= 25);
    names_free(&used);
    names_free(&records);
    free(rules);
    json_decref(dash);
    ht_response_free(&scrape);
    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&redis);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_promtool),
        cmocka_unit_test(test_quantiles_promtool),
        cmocka_unit_test(test_systemd_unit),
        cmocka_unit_test(test_systemd_notify),
        cmocka_unit_test(test_dashboard_and_rules_use_exported_names),
        cmocka_unit_test(test_prometheus_scrapes_p99_and_panels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
